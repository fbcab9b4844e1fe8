/**
 * One attempt of a lane: the brief, the agent's environment, the agent run through the lane
 * runner with its output captured, commits noticed while it works, what it left behind
 * committed, and the lane's verify. It reports what happened; the judge decides what it means.
 */
import { createWriteStream, promises as fs } from 'node:fs';
import { AgentUsage, createStreamParser, streamFormatOf } from '../agents/streams';


import * as path from 'node:path';
import { agentArgv, commandArgv, describeCommand, ResolvedAgent } from '../agents/resolve';
import { gitOut } from '../git/git';
import type { LaneGraph } from '../plan/graph';
import type { Lane, Plan } from '../plan/schema';
import { describeExit } from '../util/proc';
import { writeFileInside } from '../util/fsx';
import { processStartTime } from '../util/processInfo';
import { buildBrief } from './brief';
import type { AttemptOutcome } from './judge';
import { memoryFile, readMemory, WORKTREE_RUN_DIR, worktreeMemoryDir } from './memory';
import { type FindingRecord, worktreeFindingsDir } from './findings';

import type { LogSink } from './boundedLog';
import type { LaneRunner } from './runner';
import type { SandboxPolicy } from './sandbox';

import type { AttemptRecord, LaneState, LaneStatus, RunPaths } from './state';
import type { LaneWorkspace } from './workspace';

/** Briefs longer than this go to the agent by file (one argv element may hold 128 KiB). */
export const LONG_BRIEF_BYTES = 100 * 1024;

/** How often a running lane's branch is checked for commits its agent made. */
export const COMMIT_POLL_MS = 2000;

const nowIso = () => new Date().toISOString();
const tail = (s: string, n: number) => (s.length > n ? '…' + s.slice(s.length - n) : s);

/** Why the lane's worktree can no longer be used as the lane's, if it cannot. */
async function brokenWorktree(l: LaneState): Promise<string | undefined> {
  if (!(await fs.stat(l.worktree).then((s) => s.isDirectory(), () => false))) {
    return `the agent deleted its worktree (${l.worktree}); the lane's branch ${l.branch} keeps its commits`;
  }
  const branch = await gitOut(['symbolic-ref', '--quiet', 'HEAD'], { cwd: l.worktree, readOnly: true }).catch(() => '');
  if (branch !== `refs/heads/${l.branch}`) {
    return `the agent switched its worktree to ${branch ? branch.replace(/^refs\/heads\//, 'branch ') : 'a detached HEAD'}; the lane's branch ${l.branch} keeps its commits`;
  }
  return undefined;
}

export interface AttemptContext {

  runId: string;
  repoRoot: string;
  plan: Plan;
  graph: LaneGraph;
  paths: RunPaths;
  runner: LaneRunner;
  workspace: LaneWorkspace;
  lane(id: string): LaneState;
  /** The lane's environment (LANES_* variables on a clean base). */
  env(l: LaneState, briefFile: string, briefText: string, attempt: number, extra: Record<string, string>): NodeJS.ProcessEnv;
  setStatus(l: LaneState, status: LaneStatus, reason?: string): void;
  /** Persist soon (failures are the orchestrator's to handle). */
  persist(): void;
  warn(message: string, l: LaneState): void;
  /** Compare the user's checkout and shared git state with the baseline. */
  guard(l: LaneState): Promise<void>;
  /** Bring the lane's own notes (in its worktree) into the run's shared memory. */
  collectMemory(l: LaneState): Promise<void>;
  /** Record the findings the lane's agent wrote; returns how many this attempt raised in all. */
  collectFindings(l: LaneState, attempt: number): Promise<number>;
  /** Findings for this lane that are not done with (for its brief). */
  findingsFor(l: LaneState): Promise<FindingRecord[]>;
  onCommit(l: LaneState, head: string): void;
}

export interface AttemptInput {
  l: LaneState;
  lane: Lane;
  agent: ResolvedAgent;
  start: string;
  previousFailure?: string;
  feedback?: string;
  timeoutMs: number;
  signal: AbortSignal;
  /** Whether the lane is over its budget, given what this attempt used so far. */
  overBudget?: (current: AgentUsage, attemptMs: number) => string | undefined;
  /** What is left of the lane's money budget: passed to CLIs that can cap it themselves. */
  maxBudgetUsd?: number;
  log: LogSink;
  output: (chunk: string, stream: 'stdout' | 'stderr' | 'verify') => void;
  /** The lane's sandbox (none: the agent runs as the user's own process). */
  sandbox?: SandboxPolicy;
}

export async function runAttempt(c: AttemptContext, i: AttemptInput): Promise<{ outcome: AttemptOutcome; rec: AttemptRecord }> {
  const { l, lane, agent } = i;
  const attempt = l.attempts.length + 1;
  const briefFile = path.join(c.paths.briefs, `${l.id}-${attempt}.md`);
  await c.collectMemory(l); // a retry sees what its earlier attempt noted
  const brief = await buildBrief({
    plan: c.plan,
    lane,
    runId: c.runId,
    attempt,
    repoRoot: c.repoRoot,
    worktree: l.worktree,
    branch: l.branch,
    base: i.start,
    memoryDir: worktreeMemoryDir(l.worktree),
    memoryFile: memoryFile(worktreeMemoryDir(l.worktree), l.id),
    memory: await readMemory(c.paths.memory),
    dependencies: c.graph.dependenciesOf(l.id).map((d) => ({ id: d, head: c.lane(d).head! })),
    previousFailure: i.previousFailure,
    feedback: i.feedback,
    findingsDir: worktreeFindingsDir(worktreeMemoryDir(l.worktree)),
    findings: await c.findingsFor(l),
  });
  await fs.writeFile(briefFile, brief);
  // One argument may hold 128 KiB at most (E2BIG beyond): a long brief goes by file, into the
  // worktree (agents may read only there) in a folder no commit takes, and {brief} becomes a
  // pointer to it.
  let briefArg = brief;
  if (Buffer.byteLength(brief) > LONG_BRIEF_BYTES && agent.argv.some((a) => a.includes('{brief}'))) {
    const inWorktree = await writeFileInside(l.worktree, WORKTREE_RUN_DIR, 'brief.md', brief);
    briefArg = `Your brief is too long to pass on the command line (${Buffer.byteLength(brief)} bytes). It is in the file ${inWorktree} (inside your worktree, never committed). Read that file first, all of it, then do what it says.`;
  }
  const argv = agentArgv(agent, { brief: briefArg, briefFile, lane: l.id, worktree: l.worktree });
  // Claude Code can enforce a money cap itself: the lane's remaining budget, as well.
  if (i.maxBudgetUsd !== undefined && path.basename(argv[0] ?? '') === 'claude' && argv.includes('-p') && !argv.includes('--max-budget-usd')) {
    argv.push('--max-budget-usd', String(Math.max(0.0001, +i.maxBudgetUsd.toFixed(4))));
  }
  const rec: AttemptRecord = { attempt, startedAt: nowIso(), agentArgv: argv, briefFile };
  l.attempts.push(rec);
  c.setStatus(l, 'running', `attempt ${attempt}: ${agent.name}`);
  const format = streamFormatOf(argv);
  const parser = format ? createStreamParser(format) : undefined;
  // The raw stream is kept beside the readable log, for whoever needs the details.
  const raw = parser ? createWriteStream(path.join(c.paths.logs, `${l.id}-${attempt}.${format}.jsonl`)) : undefined;
  raw?.on('error', () => undefined);
  i.log.write(`\n[lanes] ===== attempt ${attempt} · ${rec.startedAt} · ${argv.map((a) => JSON.stringify(a)).join(' ')}\n`);
  const t0 = Date.now();
  const headBefore = l.head ?? i.start;
  let output = '';

  // Commits the agent makes while it works are noticed (for the live conflict radar), not
  // only the one Agent Lanes makes when it exits.
  // The lane's budget, checked as usage arrives and as time passes: over it, the attempt stops.
  const attemptAbort = new AbortController();
  const onLaneAbort = () => attemptAbort.abort();
  if (i.signal.aborted) attemptAbort.abort();
  else i.signal.addEventListener('abort', onLaneAbort, { once: true });
  let overBy: string | undefined;
  const checkBudget = () => {
    if (overBy || !i.overBudget) return;
    overBy = i.overBudget(parser ? parser.usage : {}, Date.now() - t0);
    if (overBy) {
      i.log.write(`\n[lanes] stopping the agent: ${overBy}\n`);
      attemptAbort.abort();
    }
  };
  let polling = false;
  const watch = setInterval(() => {
    checkBudget();
    if (polling) return;
    polling = true;
    gitOut(['rev-parse', '--verify', '--quiet', `refs/heads/${l.branch}`], { cwd: c.repoRoot, readOnly: true })
      .then((tip) => {
        if (tip && tip !== (l.head ?? i.start)) {
          l.head = tip;
          c.onCommit(l, tip);
        }
      })
      .catch(() => undefined)
      .finally(() => (polling = false));
  }, COMMIT_POLL_MS);
  let r;
  try {
    r = await c.runner.run({
      argv,
      cwd: l.worktree,
      env: c.env(l, briefFile, brief, attempt, agent.env),
      signal: attemptAbort.signal,
      timeoutMs: i.timeoutMs,
      sandbox: i.sandbox,
      onSpawn: (pid, spawned) => {
        l.process = { pid, argv: [...spawned], startTime: processStartTime(pid), startedAt: nowIso() };
        c.persist();
      },
      onOutput: (chunk, s) => {
        // A CLI in a machine-readable mode: its stream is parsed; people see readable text.
        const shown = parser && s === 'stdout' ? parser.feed(chunk) : chunk;
        if (parser && s === 'stdout') raw?.write(chunk);
        output = tail(output + shown, 8000);
        if (shown) i.output(shown, s);
        if (parser && s === 'stdout') checkBudget();
      },
    });
    if (parser) {
      const rest = parser.end();
      if (rest) {
        output = tail(output + rest, 8000);
        i.output(rest, 'stdout');
      }
    }
  } finally {
    clearInterval(watch);
    i.signal.removeEventListener('abort', onLaneAbort);
    l.process = undefined;
    if (raw) await new Promise<void>((res) => raw.end(res));
  }
  if (parser) {
    rec.usage = { ...parser.usage };
    if (parser.skipped.count) i.log.write(`[lanes] ${parser.skipped.count} line(s) of the agent's ${parser.format} output were not understood and skipped, e.g. ${parser.skipped.samples[0]}\n`);
    if (rec.usage.permissionDenials) c.warn(`the agent was refused ${rec.usage.permissionDenials} tool call(s) for lack of permission (attempt ${attempt})`, l);
  }
  rec.exitCode = r.code;
  rec.exit = describeExit(r);
  if (r.heldOpen) {
    c.warn('the agent left a process running that escaped its process group (setsid) and held its output open; the lane went on without it. Run lanes in the sandbox to end every process of a lane with it', l);
  }
  i.log.write(`\n[lanes] agent ${rec.exit} after ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

  // An agent that took its worktree away (deleted it, or switched it to another branch) did not
  // do the lane's work there: say exactly that; the lane's branch keeps whatever it committed.
  const broke = await brokenWorktree(l);
  if (broke) {
    i.log.write(`[lanes] ${broke}\n`);
    rec.endedAt = nowIso();
    l.busyMs += Date.now() - t0;
    return { outcome: { agentName: agent.name, cancelled: false, timedOut: false, exitCode: r.code, exit: describeExit(r), changed: false, outputTail: output, timeoutMs: i.timeoutMs, broken: broke }, rec };
  }

  // What the agent noted reaches the shared memory before anything later starts, and the
  // findings it raised reach the run before anything is decided.
  await c.collectMemory(l).catch((e: unknown) => c.warn(`could not read the lane's notes: ${(e as Error).message}`, l));
  const raised = await c.collectFindings(l, attempt).catch((e: unknown) => {
    c.warn(`could not read the lane's findings: ${(e as Error).message}`, l);
    return 0;
  });
  // The guard looks at the main checkout while the lane's leftovers are committed.
  const guard = c.guard(l);

  let committed = false;
  let known: string | undefined;
  try {
    ({ committed, head: known } = await c.workspace.commitLeftovers(l, agent.name, attempt));
  } catch (e) {
    c.warn(`could not commit the lane's changes: ${(e as Error).message}`, l);
  }
  const head = known ?? (await gitOut(['rev-parse', 'HEAD'], { cwd: l.worktree, readOnly: true }));
  rec.changed = committed || head !== headBefore;
  l.head = head;
  rec.head = head;
  if (rec.changed) c.onCommit(l, head);
  await guard;

  const outcome: AttemptOutcome = {
    agentName: agent.name,
    spawnError: r.spawnError ? { code: r.spawnError.code, message: r.spawnError.message, program: argv[0]! } : undefined,
    cancelled: r.cancelled || i.signal.aborted,
    budget: overBy ?? (parser ? i.overBudget?.(parser.usage, Date.now() - t0) : undefined),
    timedOut: r.timedOut,
    exitCode: r.code,
    exit: describeExit(r),
    changed: head !== i.start,
    outputTail: output,
    timeoutMs: i.timeoutMs,
    raised,
  };
  const agentOk = !outcome.cancelled && !outcome.spawnError && !outcome.timedOut && r.code === 0 && (outcome.changed || raised > 0);
  if (agentOk && lane.verify) {
    const cmd = describeCommand(lane.verify);
    c.setStatus(l, 'verifying', cmd);
    i.log.write(`[lanes] verify: ${cmd}\n`);
    const v0 = Date.now();
    const vr = await c.runner.run({
      argv: commandArgv(lane.verify),
      cwd: l.worktree,
      env: c.env(l, briefFile, brief, attempt, {}),
      signal: i.signal,
      timeoutMs: i.timeoutMs,
      sandbox: i.sandbox,
      onOutput: (chunk) => i.output(chunk, 'verify'),
    });
    const vout = tail(vr.stdout + vr.stderr, 4000);
    rec.verify = { command: cmd, exitCode: vr.code, passed: vr.code === 0 && !vr.timedOut, outputTail: vout, durationMs: Date.now() - v0 };
    i.log.write(`[lanes] verify ${describeExit(vr)}\n`);
    outcome.verify = { command: cmd, passed: rec.verify.passed, exit: describeExit(vr), outputTail: vout, cancelled: vr.cancelled || i.signal.aborted };
  }
  rec.endedAt = nowIso();
  l.busyMs += Date.now() - t0;
  return { outcome, rec };
}
