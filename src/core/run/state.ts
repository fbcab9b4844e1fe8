/**
 * Run state: everything needed to tell the truth about a run after the orchestrator died. It
 * lives under the repository's git common dir (never in the working tree or on lane branches),
 * one folder per run, written atomically with a schema version. A corrupt file is reported and
 * set aside, never silently reset.
 */
import { LanesError } from '../errors';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/fsx';
import { FindingRecordSchema, LoopBackSchema } from './findings';

export const STATE_VERSION = 1;

export const LANE_STATUSES = ['queued', 'blocked', 'running', 'verifying', 'passed', 'failed', 'timed-out', 'cancelled', 'skipped'] as const;
export type LaneStatus = (typeof LANE_STATUSES)[number];
export const FINAL_STATUSES: ReadonlySet<LaneStatus> = new Set(['passed', 'failed', 'timed-out', 'cancelled', 'skipped']);
export const ACTIVE_STATUSES: ReadonlySet<LaneStatus> = new Set(['running', 'verifying']);

/** A process we started: the PID, what we ran, and its start time (identity against PID reuse). */
const ProcessRecord = z.object({ pid: z.number(), argv: z.array(z.string()), startTime: z.string().optional(), startedAt: z.string() });
export type ProcessRecord = z.infer<typeof ProcessRecord>;

const VerifyResult = z.object({
  command: z.string(),
  exitCode: z.number().nullable(),
  passed: z.boolean(),
  outputTail: z.string(),
  durationMs: z.number(),
});
export type VerifyResult = z.infer<typeof VerifyResult>;

const AttemptRecord = z.object({
  attempt: z.number(),
  startedAt: z.string(),
  endedAt: z.string().optional(),
  agentArgv: z.array(z.string()),
  exitCode: z.number().nullable().optional(),
  exit: z.string().optional(),
  changed: z.boolean().optional(),
  head: z.string().optional(),
  verify: VerifyResult.optional(),
  failure: z.string().optional(),
  /** What the agent used, from its machine-readable output (absent: the CLI does not say). */
  usage: z
    .object({
      inputTokens: z.number().optional(),
      outputTokens: z.number().optional(),
      cachedInputTokens: z.number().optional(),
      costUsd: z.number().optional(),
      turns: z.number().optional(),
      permissionDenials: z.number().optional(),
      premiumRequests: z.number().optional(),
    })
    .optional(),

  briefFile: z.string(),
});
export type AttemptRecord = z.infer<typeof AttemptRecord>;

const LaneState = z.object({
  id: z.string(),
  status: z.enum(LANE_STATUSES),
  reason: z.string().optional(),
  branch: z.string(),
  worktree: z.string(),
  /** The commit the lane started from: the run's base, or the merge of its dependencies. */
  base: z.string().optional(),
  head: z.string().optional(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  /** Time spent running and verifying (excludes waiting), summed over attempts. */
  busyMs: z.number().default(0),
  attempts: z.array(AttemptRecord).default([]),
  process: ProcessRecord.optional(),
  warnings: z.array(z.string()).default([]),
  portBase: z.number(),
  /** What the lane's programs run in: a sandbox (bubblewrap, sandbox-exec) or none. */
  isolation: z.enum(['bwrap', 'sandbox-exec', 'none']).optional(),
  /** false: the lane's sandbox has no network. */
  network: z.boolean().optional(),
});
export type LaneState = z.infer<typeof LaneState>;

export const RunStateSchema = z.object({
  stateVersion: z.literal(STATE_VERSION),
  runId: z.string(),
  repoRoot: z.string(),
  planFile: z.string(),
  planHash: z.string(),
  /** The plan as the run read it (later edits to the file do not change a running run). */
  planText: z.string(),
  baseCommit: z.string(),
  baseRef: z.string().optional(),
  worktreeRoot: z.string(),
  maxParallel: z.number(),
  status: z.enum(['running', 'finished', 'interrupted', 'cancelled']),
  startedAt: z.string(),
  endedAt: z.string().optional(),
  wallMs: z.number().optional(),
  orchestrator: ProcessRecord.optional(),
  selectedLanes: z.array(z.string()).optional(),
  lanes: z.array(LaneState),
  warnings: z.array(z.string()).default([]),
  cleaned: z.boolean().optional(),
  /** Set once the run's budget was spent: why no new lane started after that. */
  budgetSpent: z.string().optional(),
  /** Findings lanes raised about each other (and the merge queue, on evidence), in order. */
  findings: z.array(FindingRecordSchema).default([]),
  /** Every loop-back: a lane sent back to its agent with another lane's finding, or why not. */
  loopBacks: z.array(LoopBackSchema).default([]),
});
export type RunState = z.infer<typeof RunStateSchema>;

export class StateError extends LanesError {
  constructor(
    message: string,
    readonly reason: 'corrupt' | 'newerVersion' | 'notFound',
    readonly file: string,
  ) {
    super(message);
    this.name = 'StateError';
  }
}

/** Where a repository's lanes data lives: <git common dir>/lanes. */
export function lanesDir(commonDir: string): string {
  return path.join(commonDir, 'lanes');
}

export interface RunPaths {
  dir: string;
  state: string;
  lock: string;
  logs: string;
  briefs: string;
  memory: string;
  report: string;
  /** The merge queue's last result. */
  queue: string;
  /** Lanes' own temp folders (TMPDIR in their sandboxes). */
  tmp: string;
  /** What the guard keeps from before the run (.git/config, hooks, guarded ignored files). */
  guard: string;
}

export function runPaths(commonDir: string, runId: string): RunPaths {
  const dir = path.join(lanesDir(commonDir), 'runs', runId);
  return {
    dir,
    state: path.join(dir, 'state.json'),
    lock: path.join(dir, 'orchestrator.lock'),
    logs: path.join(dir, 'logs'),
    briefs: path.join(dir, 'briefs'),
    memory: path.join(dir, 'memory'),
    report: path.join(dir, 'report.md'),
    queue: path.join(dir, 'queue.json'),
    tmp: path.join(dir, 'tmp'),
    guard: path.join(dir, 'guard'),
  };

}

export async function writeState(commonDir: string, state: RunState): Promise<void> {
  const p = runPaths(commonDir, state.runId);
  await fs.mkdir(p.dir, { recursive: true });
  await writeFileAtomic(p.state, JSON.stringify(state, null, 2) + '\n');
}

export async function readState(commonDir: string, runId: string): Promise<RunState> {
  const file = runPaths(commonDir, runId).state;
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new StateError(`run ${runId} has no state file (${file})`, 'notFound', file);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new StateError(`run ${runId}: state file is corrupt (${(e as Error).message})`, 'corrupt', file);
  }
  const v = (raw as { stateVersion?: unknown } | null)?.stateVersion;
  if (typeof v === 'number' && v > STATE_VERSION) {
    throw new StateError(`run ${runId} was written by a newer Agent Lanes (state version ${v}); update Agent Lanes`, 'newerVersion', file);
  }
  const parsed = RunStateSchema.safeParse(raw);
  if (!parsed.success) {
    throw new StateError(`run ${runId}: state file is corrupt (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`, 'corrupt', file);
  }
  return parsed.data;
}

/**
 * Move a corrupt state file aside (state.json.corrupt-<time>) so the run can be inspected by
 * hand, and say where it went.
 */
export async function setAsideCorrupt(file: string): Promise<string> {
  const dest = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  await fs.rename(file, dest);
  return dest;
}

/**
 * Run ids, newest first (ids start with a UTC timestamp). A run folder without a state file (a
 * process killed between making the folder and its first write) is no run: it is left out, so
 * it never hides the runs before it.
 */
export async function listRuns(commonDir: string): Promise<string[]> {
  const dir = path.join(lanesDir(commonDir), 'runs');
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((n) => /^\d{8}-\d{6}-[0-9a-f]{4}$/.test(n));
  } catch {
    return [];
  }
  const present = await Promise.all(names.map((n) => fs.stat(path.join(dir, n, 'state.json')).then(() => true, () => false)));
  return names.filter((_, i) => present[i]).sort().reverse();
}


export function newRunId(now = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const stamp = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  // The suffix keeps ids in creation order within a second (milliseconds, then a random nibble):
  // "the latest run" is the first id in descending order.
  const suffix = now.getUTCMilliseconds() * 16 + Math.floor(Math.random() * 16);
  return `${stamp}-${suffix.toString(16).padStart(4, '0')}`;
}

/**
 * A lane's times: this attempt's (from its own start, not the lane's first), and the total over
 * every attempt (busy time, with the one under way counted so far).
 */
export function laneTimes(l: LaneState, now = Date.now()): { attemptMs?: number; totalMs: number } {
  const last = l.attempts[l.attempts.length - 1];
  const live = !!last && !last.endedAt && (l.status === 'running' || l.status === 'verifying');
  const attemptMs = last ? (last.endedAt ? Date.parse(last.endedAt) : live ? now : Date.parse(last.startedAt)) - Date.parse(last.startedAt) : undefined;
  return { attemptMs, totalMs: l.busyMs + (live ? now - Date.parse(last.startedAt) : 0) };
}

/** A run's wall time: its end minus its start (what a report shows beside them). */
export function runWallMs(state: Pick<RunState, 'startedAt' | 'endedAt' | 'wallMs'>): number | undefined {
  if (state.startedAt && state.endedAt) return Math.max(0, Date.parse(state.endedAt) - Date.parse(state.startedAt));
  return state.wallMs;
}

/** 12s, 3m05s, 1h02m. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function laneBranch(runId: string, laneId: string): string {
  return `lanes/${runId}/${laneId}`;
}

/** Snapshot refs keep work that a forced cleanup or a discard removed. */
export const SNAPSHOT_REF_PREFIX = 'refs/lanes/snapshots/';
