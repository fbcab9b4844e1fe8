import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { EngineOptions, Orchestrator, RunEvent } from '../../src/core/run/orchestrator';
import type { RunState } from '../../src/core/run/state';
import { createTempRepo, TempRepo, tempDir } from './repo';

export const AGENT = path.join(__dirname, '../fixtures/agents/agent.js');

/** An agent command running the scripted test agent with these steps. */
export const agent = (...steps: string[]) => ({ command: ['node', AGENT, ...steps] });

export interface PlanLane {
  id: string;
  brief?: string;
  dependsOn?: string[];
  agent?: unknown;
  verify?: unknown;
  timeoutMinutes?: number;
  retries?: number;
  scope?: string[];
}

export function writePlan(repo: TempRepo, lanes: PlanLane[], extra: Record<string, unknown> = {}, commit = true): void {
  const plan = { version: 1, goal: 'test goal', maxParallel: 4, ...extra, lanes: lanes.map((l) => ({ brief: `work for ${l.id}`, ...l })) };
  mkdirSync(path.join(repo.dir, '.lanes'), { recursive: true });
  writeFileSync(path.join(repo.dir, '.lanes/plan.json'), JSON.stringify(plan, null, 2));
  if (commit) repo.commitAll('plan');
}

export interface Ran {
  state: RunState;
  events: RunEvent[];
  o: Orchestrator;
}

export async function runPlan(repo: TempRepo, opts: Partial<EngineOptions> = {}, during?: (o: Orchestrator, events: RunEvent[]) => void): Promise<Ran> {
  const o = await Orchestrator.prepare({ cwd: repo.dir, worktreeRoot: tempDir('lanes-wt-'), ...opts });
  const events: RunEvent[] = [];
  o.onEvent((e) => events.push(e));
  during?.(o, events);
  const state = await o.run();
  return { state, events, o };
}

export function newRepo(): TempRepo {
  return createTempRepo({ 'README.md': '# sample\n', 'src/a.ts': 'export const a = 1;\n' });
}

export function statusOf(state: RunState): Record<string, string> {
  return Object.fromEntries(state.lanes.map((l) => [l.id, l.status]));
}

export function readText(p: string): string {
  return readFileSync(p, 'utf8');
}

/** Whether a PID is alive (zombies count as dead). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

export async function waitFor(cond: () => boolean, timeoutMs = 15000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Processes (by host PID) whose command line contains `marker`. Sandboxed agents see their own
 * PID namespace, so the PIDs they write down mean nothing outside it: tests find their
 * processes by a unique word in the command line instead.
 */
export function processesMentioning(marker: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.includes(marker) && alive(Number(name))) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}
