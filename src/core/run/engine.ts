/**
 * The fan-out engine: runs a valid plan. Every lane gets its own worktree and branch, its agent
 * runs there as its own process group, independent lanes run at the same time up to
 * maxParallel, dependent lanes start from the verified heads of what they depend on, and every
 * lane ends verified or with a reason. Emits an event for every change; persists state after
 * every transition so a crash leaves the truth on disk.
 */
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { createWriteStream, promises as fs, WriteStream } from 'node:fs';
import * as path from 'node:path';
import { agentArgv, commandArgv, describeCommand, resolveAgent } from '../agents/resolve';
import { commonDir as gitCommonDir, git, gitOut, headCommit } from '../git/git';
import { mergeHeads, MergeConflictError } from '../git/merge';
import { defaultWorktreeRoot, ensureWorktree, worktreeStatus, WorktreeError } from '../git/worktrees';
import { LaneGraph } from '../plan/graph';
import { loadPlan } from '../plan/load';
import type { AgentRef, Lane, Plan } from '../plan/schema';
import { DEFAULT_MAX_PARALLEL } from '../plan/schema';
import { validatePlanText } from '../plan/validate';
import { Mutex } from '../util/mutex';
import { cleanEnv, describeExit, run } from '../util/proc';
import { commandLineOf, matchProcess, processStartTime, stopRecorded } from '../util/processInfo';
import { buildBrief } from './brief';
import { compareFingerprints, fingerprint, Fingerprint } from './guard';
import { memoryFile, readMemory } from './memory';
import {
  ACTIVE_STATUSES,
  FINAL_STATUSES,
  laneBranch,
  LaneState,
  LaneStatus,
  listRuns,
  newRunId,
  readState,
  RunPaths,
  runPaths,
  RunState,
  STATE_VERSION,
  writeState,
} from './state';

export const DEFAULT_TIMEOUT_MINUTES = 30;
export const DEFAULT_RETRIES = 0;
/** How often a running lane's branch is checked for commits its agent made. */
export const COMMIT_POLL_MS = 2000;

export interface EngineOptions {
  /** Any folder inside the repository. */
  cwd: string;
  planFile?: string;
  maxParallel?: number;
  /** Run only these lanes (and the lanes they depend on). */
  lanes?: string[];
  worktreeRoot?: string;
  /** Continue an earlier run: its id, or 'latest'. */
  resume?: string;
  defaultAgent?: AgentRef;
  /** Replacement argv for presets (e.g. from VS Code settings). */
  agentOverrides?: Record<string, string[]>;
  defaultTimeoutMinutes?: number;
  defaultRetries?: number;
  env?: NodeJS.ProcessEnv;
  /** Extra text for a lane's brief, e.g. feedback from the merge queue. */
  feedback?: Record<string, string>;
  /**
   * Agents and verify commands die with this process, even when it is killed (an editor window
   * closing). Off for the CLI, whose interrupted runs are found again by `lanes status`.
   */
  dieWithOrchestrator?: boolean;
}

export type RunEvent =
  | { type: 'run-started'; runId: string; state: RunState }
  | { type: 'lane-status'; runId: string; lane: string; status: LaneStatus; reason?: string; attempt: number; state: LaneState }
  | { type: 'lane-output'; runId: string; lane: string; chunk: string; stream: 'stdout' | 'stderr' | 'verify' }
  | { type: 'lane-commit'; runId: string; lane: string; head: string }
  | { type: 'warning'; runId: string; lane?: string; message: string }
  | { type: 'run-finished'; runId: string; state: RunState };

export class RunError extends Error {
  constructor(
    message: string,
    readonly reason: 'invalidPlan' | 'noCommits' | 'busy' | 'unknownLane' | 'noRun' | 'planChanged',
  ) {
    super(message);
    this.name = 'RunError';
  }
}

const nowIso = () => new Date().toISOString();
const tail = (s: string, n: number) => (s.length > n ? '…' + s.slice(s.length - n) : s);

function portBaseFor(runId: string, index: number): number {
  const h = createHash('sha256').update(runId).digest().readUInt16BE(0);
  return 30000 + ((h * 7 + index) % 3000) * 10;
}

/** git identity env for commits Agent Lanes makes when the repository has none configured. */
async function identityEnv(repo: string): Promise<NodeJS.ProcessEnv> {
  const has = async (k: string) => (await git(['config', '--get', k], { cwd: repo, okCodes: [1], readOnly: true })).stdout.trim() !== '';
  const env: NodeJS.ProcessEnv = {};
  if (!(await has('user.email')) || !(await has('user.name'))) {
    Object.assign(env, { GIT_COMMITTER_NAME: 'Agent Lanes', GIT_COMMITTER_EMAIL: 'lanes@agent-lanes.invalid', GIT_AUTHOR_NAME: 'Agent Lanes', GIT_AUTHOR_EMAIL: 'lanes@agent-lanes.invalid' });
  }
  return env;
}

/** Repository features lanes handle only partly: said up front rather than discovered later. */
export async function repositoryWarnings(repoRoot: string): Promise<string[]> {
  const out: string[] = [];
  const read = (f: string) => fs.readFile(path.join(repoRoot, f), 'utf8').catch(() => '');
  if ((await read('.gitmodules')).trim()) {
    out.push('this repository has submodules: lane worktrees do not initialise them; add "git submodule update --init" to worktree.setup if lanes need them');
  }
  if (/filter=lfs/.test(await read('.gitattributes'))) {
    out.push('this repository uses Git LFS: lane worktrees get the real files only when git-lfs is installed (its filter runs on checkout); without it they hold LFS pointer files');
  }
  return out;
}

export class Orchestrator {
  private readonly listeners = new Set<(e: RunEvent) => void>();
  private readonly laneAborts = new Map<string, AbortController>();
  private readonly runAbort = (() => {
    const c = new AbortController();
    setMaxListeners(0, c.signal);
    return c;
  })();
  private readonly saveMutex = new Mutex();
  private readonly graph: LaneGraph;
  private readonly paths: RunPaths;
  private guardBaseline?: Fingerprint;
  private guardMutex = new Mutex();
  private finished?: Promise<RunState>;
  private readonly running = new Set<string>();
  private readonly attemptsThisSession = new Map<string, number>();

  private constructor(
    readonly state: RunState,
    readonly plan: Plan,
    readonly commonDir: string,
    private readonly opts: EngineOptions,
    private readonly identity: NodeJS.ProcessEnv,
  ) {
    this.graph = new LaneGraph(state.lanes.map((l) => ({ id: l.id, dependsOn: this.laneDef(l.id).dependsOn })));
    this.paths = runPaths(commonDir, state.runId);
  }

  get runId(): string {
    return this.state.runId;
  }

  onEvent(listener: (e: RunEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: RunEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        /* a broken listener must not stop the run */
      }
    }
  }

  laneDef(id: string): Lane {
    return this.plan.lanes.find((l) => l.id === id)!;
  }

  lane(id: string): LaneState {
    return this.state.lanes.find((l) => l.id === id)!;
  }

  /** Stop one lane (its whole process tree). Lanes that depend on it are skipped. */
  cancelLane(id: string): boolean {
    const l = this.state.lanes.find((x) => x.id === id);
    if (!l || FINAL_STATUSES.has(l.status)) return false;
    const c = this.laneAborts.get(id);
    if (c) c.abort();
    else {
      this.setStatus(l, 'cancelled', 'cancelled before it started');
    }
    return true;
  }

  /** Stop the whole run. */
  cancel(): void {
    this.runAbort.abort();
    for (const c of this.laneAborts.values()) c.abort();
  }

  /**
   * Persist the state. Saves requested while one is waiting share it: the waiting save writes
   * whatever the state is when its turn comes, so bursts of transitions cost one write.
   */
  private savePending?: Promise<void>;
  private save(): Promise<void> {
    this.savePending ??= this.saveMutex.run(() => {
      this.savePending = undefined;
      return writeState(this.commonDir, JSON.parse(JSON.stringify(this.state)) as RunState);
    });
    return this.savePending;
  }

  private setStatus(l: LaneState, status: LaneStatus, reason?: string): void {
    if (l.status === status && l.reason === reason) return;
    l.status = status;
    l.reason = reason;
    if (FINAL_STATUSES.has(status)) l.endedAt = nowIso();
    void this.save();
    this.emit({ type: 'lane-status', runId: this.runId, lane: l.id, status, reason, attempt: l.attempts.length, state: l });
  }

  private warn(message: string, lane?: LaneState): void {
    if (lane) lane.warnings.push(message);
    else this.state.warnings.push(message);
    this.emit({ type: 'warning', runId: this.runId, lane: lane?.id, message });
  }

  /** Prepare a new run, or pick up an earlier one with `resume`. */
  static async prepare(opts: EngineOptions): Promise<Orchestrator> {
    const repoRoot = await gitOut(['rev-parse', '--show-toplevel'], { cwd: opts.cwd, readOnly: true });
    // Independent reads, at once: they sit in front of every lane's start.
    const [common, identity, base, baseRef, dirty] = await Promise.all([
      gitCommonDir(repoRoot),
      identityEnv(repoRoot),
      headCommit(repoRoot),
      gitOut(['symbolic-ref', '--quiet', '--short', 'HEAD'], { cwd: repoRoot, readOnly: true }).catch(() => undefined),
      gitOut(['status', '--porcelain', '--untracked-files=no'], { cwd: repoRoot, readOnly: true }).then((x) => x.trim()),
    ]);
    if (opts.resume) return Orchestrator.resume(opts, repoRoot, common, identity);

    const loaded = await loadPlan(path.resolve(repoRoot, opts.planFile ?? '.lanes/plan.json'), repoRoot);
    if (!loaded.ok || !loaded.plan) {
      throw new RunError(`the plan is invalid:\n${loaded.errors.map((e) => `  ${e.line ? `${e.line}:${e.column} ` : ''}${e.message}`).join('\n')}`, 'invalidPlan');
    }
    const plan = loaded.plan;
    if (!base) throw new RunError('the repository has no commits yet; lanes start from HEAD, so commit something first', 'noCommits');

    const graph = new LaneGraph(plan.lanes);
    let selected = plan.lanes.map((l) => l.id);
    if (opts.lanes?.length) {
      const unknown = opts.lanes.filter((id) => !graph.has(id));
      if (unknown.length) throw new RunError(`unknown lane${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')}; the plan has ${selected.join(', ')}`, 'unknownLane');
      const want = new Set(opts.lanes);
      for (const id of opts.lanes) for (const a of graph.ancestors(id)) want.add(a);
      selected = selected.filter((id) => want.has(id));
    }
    let runId = newRunId();
    while (await fs.stat(runPaths(common, runId).dir).then(() => true, () => false)) runId = newRunId();
    const worktreeRoot = path.resolve(opts.worktreeRoot ?? defaultWorktreeRoot(repoRoot, opts.env ?? process.env));
    const state: RunState = {
      stateVersion: STATE_VERSION,
      runId,
      repoRoot,
      planFile: loaded.file,
      planHash: loaded.hash,
      planText: loaded.text,
      baseCommit: base,
      baseRef,
      worktreeRoot,
      maxParallel: opts.maxParallel ?? plan.maxParallel ?? DEFAULT_MAX_PARALLEL,
      status: 'running',
      startedAt: nowIso(),
      selectedLanes: opts.lanes?.length ? opts.lanes : undefined,
      lanes: selected.map((id, i) => ({
        id,
        status: 'queued' as LaneStatus,
        branch: laneBranch(runId, id),
        worktree: path.join(worktreeRoot, runId, id),
        busyMs: 0,
        attempts: [],
        warnings: [],
        portBase: portBaseFor(runId, i),
      })),
      warnings: loaded.warnings.map((w) => w.message),
    };
    const o = new Orchestrator(state, plan, common, opts, identity);
    await o.claim();
    for (const w of await repositoryWarnings(repoRoot)) o.warn(w);
    if (dirty) o.warn(`your checkout has uncommitted changes; lanes start from HEAD (${base.slice(0, 10)}) and do not see them`);
    return o;
  }

  private static async resume(opts: EngineOptions, repoRoot: string, common: string, identity: NodeJS.ProcessEnv): Promise<Orchestrator> {
    const runs = await listRuns(common);
    const runId = opts.resume === 'latest' ? runs[0] : opts.resume;
    if (!runId || !runs.includes(runId)) throw new RunError(opts.resume === 'latest' ? 'there is no run to resume' : `no run "${opts.resume}"`, 'noRun');
    const state = await readState(common, runId);
    const v = validatePlanText(state.planText);
    if (!v.ok || !v.plan) throw new RunError('the plan recorded in this run no longer validates', 'invalidPlan');
    const o = new Orchestrator(state, v.plan, common, opts, identity);
    await o.claim();
    try {
      const current = await loadPlan(state.planFile, repoRoot);
      if (current.hash !== state.planHash) o.warn('the plan file changed since this run started; resuming with the plan the run started with');
    } catch {
      /* the plan file may be gone; the run has its own copy */
    }
    if (opts.maxParallel) state.maxParallel = opts.maxParallel;
    state.status = 'running';
    state.endedAt = undefined;
    // With `lanes`, exactly those lanes run again (also passed ones: the merge queue sends a
    // lane back with feedback); otherwise every lane that did not pass.
    const rerun = opts.lanes?.length ? new Set(opts.lanes) : undefined;
    for (const id of rerun ?? []) {
      if (!state.lanes.some((l) => l.id === id)) throw new RunError(`run ${runId} has no lane "${id}"`, 'unknownLane');
    }
    for (const l of state.lanes) {
      if (rerun ? !rerun.has(l.id) : l.status === 'passed') continue;
      if (ACTIVE_STATUSES.has(l.status) && l.process) {
        const found = await stopRecorded(l.process.pid, l.process.argv, l.process.startTime);
        if (found === 'ours') o.warn(`stopped the orphaned agent of lane ${l.id} (pid ${l.process.pid}); its attempt runs again`, l);
      }
      l.process = undefined;
      l.status = 'queued';
      l.reason = undefined;
      l.endedAt = undefined;
    }
    await o.save();
    return o;
  }

  /** Make this process the run's orchestrator; refuse if another live one owns it. */
  private async claim(): Promise<void> {
    const prev = this.state.orchestrator;
    if (prev && prev.pid !== process.pid && matchProcess(prev.pid, prev.argv, prev.startTime) === 'ours') {
      throw new RunError(`run ${this.runId} is being run by another process (pid ${prev.pid})`, 'busy');
    }
    this.state.orchestrator = { pid: process.pid, argv: commandLineOf(process.pid) ?? process.argv, startTime: processStartTime(process.pid), startedAt: nowIso() };
    await fs.mkdir(this.paths.logs, { recursive: true });
    await fs.mkdir(this.paths.briefs, { recursive: true });
    await fs.mkdir(this.paths.memory, { recursive: true });
    await this.save();
  }

  /** Run every lane to an end. Resolves with the final state (also on disk). */
  run(): Promise<RunState> {
    this.finished ??= this.runAll();
    return this.finished;
  }

  private async runAll(): Promise<RunState> {
    const started = Date.now();
    this.emit({ type: 'run-started', runId: this.runId, state: this.state });
    this.guardBaseline = await fingerprint(this.state.repoRoot, this.commonDir);
    const active = new Map<string, Promise<void>>();
    const byId = new Map(this.state.lanes.map((l) => [l.id, l]));
    for (;;) {
      // Lanes whose dependencies ended without passing can never start.
      for (const l of this.state.lanes) {
        if (FINAL_STATUSES.has(l.status) || active.has(l.id)) continue;
        const bad = this.graph.dependenciesOf(l.id).map((d) => byId.get(d)!).find((d) => FINAL_STATUSES.has(d.status) && d.status !== 'passed');
        if (bad) this.setStatus(l, 'skipped', `dependency ${bad.id} ${bad.status}${bad.reason ? `: ${bad.reason}` : ''}`);
        else if (this.runAbort.signal.aborted) this.setStatus(l, 'cancelled', 'the run was cancelled');
      }
      const passed = new Set(this.state.lanes.filter((l) => l.status === 'passed').map((l) => l.id));
      const ended = new Set(this.state.lanes.filter((l) => FINAL_STATUSES.has(l.status)).map((l) => l.id));
      const ready = this.graph.ready(passed, new Set([...active.keys(), ...ended]));
      while (active.size < this.state.maxParallel && ready.length && !this.runAbort.signal.aborted) {
        const id = ready.shift()!;
        const p = this.runLane(byId.get(id)!).catch((e) => {
          const l = byId.get(id)!;
          this.setStatus(l, 'failed', `internal error: ${(e as Error).message}`);
        });
        active.set(
          id,
          p.finally(() => active.delete(id)),
        );
      }
      for (const l of this.state.lanes) {
        if (FINAL_STATUSES.has(l.status) || active.has(l.id)) continue;
        const waiting = this.graph.dependenciesOf(l.id).some((d) => byId.get(d)!.status !== 'passed');
        this.setStatus(l, waiting ? 'blocked' : 'queued', waiting ? `waiting for ${this.graph.dependenciesOf(l.id).filter((d) => byId.get(d)!.status !== 'passed').join(', ')}` : undefined);
      }
      if (active.size === 0) break;
      await Promise.race(active.values());
    }
    const s = this.state;
    s.wallMs = Date.now() - started;
    s.endedAt = nowIso();
    s.status = this.runAbort.signal.aborted ? 'cancelled' : 'finished';
    s.orchestrator = undefined;
    await this.save();
    this.emit({ type: 'run-finished', runId: this.runId, state: s });
    return s;
  }

  private limits(lane: Lane) {
    const retries = lane.retries ?? this.plan.defaults?.retries ?? this.opts.defaultRetries ?? DEFAULT_RETRIES;
    const minutes = lane.timeoutMinutes ?? this.plan.defaults?.timeoutMinutes ?? this.opts.defaultTimeoutMinutes ?? DEFAULT_TIMEOUT_MINUTES;
    return { attempts: retries + 1, timeoutMs: Math.round(minutes * 60_000) };
  }

  /** Where a lane starts: the run's base, or the merged verified heads of its dependencies. */
  private async startPoint(l: LaneState): Promise<string> {
    const deps = this.graph.dependenciesOf(l.id).map((d) => this.lane(d));
    if (!deps.length) return this.state.baseCommit;
    return mergeHeads(
      this.state.repoRoot,
      deps.map((d) => ({ label: d.id, commit: d.head! })),
      `lanes: start ${l.id} from ${deps.map((d) => d.id).join(' + ')}`,
      this.identity,
    );
  }

  private laneEnv(l: LaneState, briefFile: string, briefText: string, attempt: number, extra: Record<string, string>): NodeJS.ProcessEnv {
    const env: Record<string, string> = {
      LANES_RUN: this.runId,
      LANES_LANE: l.id,
      LANES_ROLE: this.laneDef(l.id).role ?? 'implement',
      LANES_ATTEMPT: String(attempt),
      LANES_BRIEF_FILE: briefFile,
      LANES_MEMORY_DIR: this.paths.memory,
      LANES_MEMORY_FILE: memoryFile(this.paths.memory, l.id),
      LANES_WORKTREE: l.worktree,
      LANES_BRANCH: l.branch,
      LANES_BASE: l.base ?? this.state.baseCommit,
      LANES_REPO: this.state.repoRoot,
      LANES_PORT_BASE: String(l.portBase),
      LANES_PORT_COUNT: '10',
      ...extra,
    };
    // The brief as text too, when it fits comfortably in one environment variable.
    if (Buffer.byteLength(briefText) < 64 * 1024) env.LANES_BRIEF = briefText;
    return cleanEnv({ ...this.opts.env, ...this.laneDef(l.id).env, ...env }, process.env);
  }

  private async setup(l: LaneState, log: WriteStream, signal: AbortSignal): Promise<string | undefined> {
    const wt = this.plan.worktree;
    for (const rel of wt?.copy ?? []) {
      const src = path.resolve(this.state.repoRoot, rel);
      if (!src.startsWith(this.state.repoRoot + path.sep)) return `worktree.copy: "${rel}" is outside the repository`;
      const dest = path.join(l.worktree, path.relative(this.state.repoRoot, src));
      try {
        await fs.mkdir(path.dirname(dest), { recursive: true });
        await fs.cp(src, dest, { recursive: true, errorOnExist: false, force: true });
        log.write(`[lanes] copied ${rel}\n`);
      } catch (e) {
        this.warn(`worktree.copy: could not copy "${rel}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, l);
      }
    }
    for (const cmd of wt?.setup ?? []) {
      log.write(`[lanes] setup: ${describeCommand(cmd)}\n`);
      const r = await run(commandArgv(cmd), {
        cwd: l.worktree,
        env: this.laneEnv(l, '', '', 0, {}),
        signal,
        timeoutMs: this.limits(this.laneDef(l.id)).timeoutMs,
        onOutput: (c) => log.write(c),
      });
      if (r.code !== 0) return `setup command \`${describeCommand(cmd)}\` ${describeExit(r)}: ${tail((r.stderr || r.stdout).trim(), 500)}`;
    }
    return undefined;
  }

  /** Commit whatever the agent left in the worktree, with trailers naming the lane. */
  /**
   * Merge the current heads of a lane's dependencies into its branch when they moved since the
   * lane started (in the lane's own worktree). Returns the new base for "what this lane did".
   */
  private async refreshFromDependencies(l: LaneState): Promise<{ base?: string; problem?: string }> {
    const deps = this.graph.dependenciesOf(l.id).map((d) => this.lane(d)).filter((d) => d.head);
    if (!deps.length) return {};
    const cwd = l.worktree;
    const stale: LaneState[] = [];
    for (const d of deps) if (!(await isAncestorIn(cwd, d.head!))) stale.push(d);
    if (!stale.length) return {};
    const r = await git(['merge', '--no-edit', '--no-ff', '-m', `lanes: bring ${stale.map((d) => d.id).join(', ')} up to date in ${l.id}`, ...stale.map((d) => d.head!)], {
      cwd,
      env: this.identity,
      okCodes: [1],
      lockRetries: 6,
    });
    if (r.code !== 0) {
      const conflicts = (await gitOut(['diff', '--name-only', '--diff-filter=U'], { cwd, readOnly: true }).catch(() => '')).split('\n').filter(Boolean);
      await git(['merge', '--abort'], { cwd }).catch(() => undefined);
      return { problem: `its dependencies ${stale.map((d) => d.id).join(', ')} changed and now conflict with its work in ${conflicts.join(', ') || 'some files'}` };
    }
    const base = await mergeHeads(
      this.state.repoRoot,
      deps.map((d) => ({ label: d.id, commit: d.head! })),
      `lanes: start ${l.id} from ${deps.map((d) => d.id).join(' + ')}`,
      this.identity,
    );
    return { base };
  }

  /** Returns the lane's head afterwards when known without another git call. */
  private async commitLeftovers(l: LaneState, agentName: string, attempt: number): Promise<{ committed: boolean; head?: string }> {
    const cwd = l.worktree;
    // One status pass tells whether anything is left (and the head); `add -A` only runs when something is.
    const st = await worktreeStatus(cwd);
    if (st.dirty.length === 0) return { committed: false, head: st.head };
    await git(['add', '-A'], { cwd, lockRetries: 6 });
    const lane = this.laneDef(l.id);
    const subject = `lanes(${l.id}): ${lane.brief.trim().split('\n')[0]!.slice(0, 60)}`;
    const message = [
      subject,
      '',
      `Work left in the worktree by the ${agentName} agent of lane ${l.id} (attempt ${attempt}), committed by Agent Lanes.`,
      '',
      `Lanes-Lane: ${l.id}`,
      `Lanes-Role: ${lane.role ?? 'implement'}`,
      `Lanes-Agent: ${agentName}`,
      `Lanes-Run: ${this.runId}`,
      `Lanes-Attempt: ${attempt}`,
      '',
    ].join('\n');
    await git(['commit', '--quiet', '--no-verify', '-F', '-'], { cwd, input: message, env: this.identity, lockRetries: 6 });
    return { committed: true };
  }

  /**
   * Compare the main checkout and shared git state with the baseline. Lanes that finish while a
   * check is under way share the next check instead of queueing one each (a status of a big
   * checkout is the expensive part).
   */
  private guardWaiters: LaneState[] = [];
  private guardNext?: Promise<void>;
  private checkGuard(l: LaneState): Promise<void> {
    this.guardWaiters.push(l);
    this.guardNext ??= this.guardMutex.run(async () => {
      this.guardNext = undefined;
      const lanes = this.guardWaiters.splice(0);
      const after = await fingerprint(this.state.repoRoot, this.commonDir);
      const diffs = compareFingerprints(this.guardBaseline!, after);
      if (!diffs.length) return;
      const ids = lanes.map((x) => x.id);
      const others = [...this.running].filter((x) => !ids.includes(x));
      for (const lane of lanes) {
        this.warn(
          `WARNING: ${diffs.join('; ')} while lane ${ids.join(', ')} ran${others.length ? ` (with ${others.join(', ')})` : ''}. ` +
            'If you did not make this change, an agent wrote outside its worktree.',
          lane,
        );
      }
      this.guardBaseline = after;
    });
    return this.guardNext;
  }

  /** Why an attempt failed: a one-line summary first, then the evidence for the next brief. */
  private failureText(summary: string, logTail: string, verifyOutput?: string): string {
    const parts = [summary];
    if (logTail.trim()) parts.push(`Last output of the agent:\n${logTail}`);
    if (verifyOutput !== undefined) parts.push(`Output of the verify command:\n${verifyOutput}`);
    return parts.join('\n\n');
  }

  private async runLane(l: LaneState): Promise<void> {
    const lane = this.laneDef(l.id);
    const limits = this.limits(lane);
    const abort = new AbortController();
    setMaxListeners(0, abort.signal);
    const onRunAbort = () => abort.abort();
    this.runAbort.signal.addEventListener('abort', onRunAbort, { once: true });
    this.laneAborts.set(l.id, abort);
    this.running.add(l.id);
    const log = createWriteStream(path.join(this.paths.logs, `${l.id}.log`), { flags: 'a' });
    const emitOut = (chunk: string, stream: 'stdout' | 'stderr' | 'verify') => {
      log.write(chunk);
      this.emit({ type: 'lane-output', runId: this.runId, lane: l.id, chunk, stream });
    };
    try {
      l.startedAt ??= nowIso();
      let start: string;
      try {
        start = l.base && l.attempts.length ? l.base : await this.startPoint(l);
      } catch (e) {
        if (e instanceof MergeConflictError) {
          this.setStatus(l, 'failed', `its dependencies conflict: ${e.message}; make one depend on the other`);
          return;
        }
        throw e;
      }
      l.base = start;
      this.setStatus(l, 'running', 'preparing worktree');
      let wt;
      try {
        wt = await ensureWorktree({
          repo: this.state.repoRoot,
          commonDir: this.commonDir,
          branch: l.branch,
          dir: l.worktree,
          startPoint: start,
          lockReason: `agent lanes run ${this.runId}`,
          signal: abort.signal,
        });
      } catch (e) {
        if (e instanceof WorktreeError) {
          this.setStatus(l, 'failed', e.message);
          return;
        }
        throw e;
      }
      if (wt.created && !wt.reusedBranch) {
        const problem = await this.setup(l, log, abort.signal);
        if (abort.signal.aborted) {
          this.setStatus(l, 'cancelled', 'cancelled during setup');
          return;
        }
        if (problem) {
          this.setStatus(l, 'failed', problem);
          return;
        }
      }

      // A lane that runs again after its dependencies changed (the merge queue re-ran one) first
      // takes their new work: lineage, not a stale base.
      if (!wt.created || wt.reusedBranch) {
        const refreshed = await this.refreshFromDependencies(l);
        if (refreshed.problem) {
          this.setStatus(l, 'failed', refreshed.problem);
          return;
        }
        if (refreshed.base) {
          start = refreshed.base;
          l.base = start;
        }
      }

      let previousFailure = l.attempts.length ? l.attempts[l.attempts.length - 1]!.failure : undefined;
      for (;;) {
        const used = (this.attemptsThisSession.get(l.id) ?? 0) + 1;
        this.attemptsThisSession.set(l.id, used);
        const attempt = l.attempts.length + 1;
        const agent = resolveAgent(this.plan, lane, this.opts.defaultAgent, this.opts.agentOverrides);
        const briefFile = path.join(this.paths.briefs, `${l.id}-${attempt}.md`);
        const memoryFileOfLane = memoryFile(this.paths.memory, l.id);
        const brief = await buildBrief({
          plan: this.plan,
          lane,
          runId: this.runId,
          attempt,
          repoRoot: this.state.repoRoot,
          worktree: l.worktree,
          branch: l.branch,
          base: start,
          memoryDir: this.paths.memory,
          memoryFile: memoryFileOfLane,
          memory: await readMemory(this.paths.memory),
          dependencies: this.graph.dependenciesOf(l.id).map((d) => ({ id: d, head: this.lane(d).head! })),
          previousFailure,
          feedback: this.opts.feedback?.[l.id],
        });
        await fs.writeFile(briefFile, brief);
        const argv = agentArgv(agent, { brief, briefFile, lane: l.id, worktree: l.worktree });
        const rec = { attempt, startedAt: nowIso(), agentArgv: argv, briefFile } as LaneState['attempts'][number];
        l.attempts.push(rec);
        this.setStatus(l, 'running', `attempt ${attempt}: ${agent.name}`);
        log.write(`\n[lanes] ===== attempt ${attempt} · ${rec.startedAt} · ${argv.map((a) => JSON.stringify(a)).join(' ')}\n`);
        const t0 = Date.now();
        const headBefore = l.head ?? start;
        let output = '';
        // Commits the agent makes while it works are noticed (for the live conflict radar), not
        // only the one Agent Lanes makes when it exits.
        const watch = setInterval(() => {
          void gitOut(['rev-parse', '--verify', '--quiet', `refs/heads/${l.branch}`], { cwd: this.state.repoRoot, readOnly: true }).then(
            (tip) => {
              if (tip && tip !== (l.head ?? start)) {
                l.head = tip;
                this.emit({ type: 'lane-commit', runId: this.runId, lane: l.id, head: tip });
              }
            },
            () => undefined,
          );
        }, COMMIT_POLL_MS);
        const r = await run(argv, {
          cwd: l.worktree,
          env: this.laneEnv(l, briefFile, brief, attempt, agent.env),
          signal: abort.signal,
          timeoutMs: limits.timeoutMs,
          dieWithParent: this.opts.dieWithOrchestrator,
          onSpawn: (pid) => {
            l.process = { pid, argv, startTime: processStartTime(pid), startedAt: nowIso() };
            void this.save();
          },
          onOutput: (c, s) => {
            output = tail(output + c, 8000);
            emitOut(c, s);
          },
        });
        clearInterval(watch);
        l.process = undefined;
        rec.exitCode = r.code;
        rec.exit = describeExit(r);
        log.write(`\n[lanes] agent ${rec.exit} after ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

        // The guard looks at the main checkout while the lane's leftovers are committed.
        const guard = this.checkGuard(l);
        let committed = false;
        let known: string | undefined;
        try {
          ({ committed, head: known } = await this.commitLeftovers(l, agent.name, attempt));
        } catch (e) {
          this.warn(`could not commit the lane's changes: ${(e as Error).message}`, l);
        }
        const head = known ?? (await gitOut(['rev-parse', 'HEAD'], { cwd: l.worktree, readOnly: true }));
        rec.changed = committed || head !== headBefore;
        l.head = head;
        rec.head = head;
        if (rec.changed) this.emit({ type: 'lane-commit', runId: this.runId, lane: l.id, head });
        await guard;

        let failure: string | undefined;
        let status: LaneStatus = 'failed';
        if (r.cancelled || abort.signal.aborted) {
          rec.failure = 'cancelled';
          rec.endedAt = nowIso();
          l.busyMs += Date.now() - t0;
          this.setStatus(l, 'cancelled', this.runAbort.signal.aborted ? 'the run was cancelled' : 'cancelled');
          return;
        }
        if (r.spawnError) {
          rec.failure = `could not start the ${agent.name} agent (${argv[0]}): ${r.spawnError.code === 'ENOENT' ? 'program not found on PATH' : r.spawnError.message}`;
          rec.endedAt = nowIso();
          l.busyMs += Date.now() - t0;
          this.setStatus(l, 'failed', rec.failure);
          return; // another attempt cannot help
        }
        if (r.timedOut) {
          status = 'timed-out';
          failure = this.failureText(`the ${agent.name} agent timed out after ${+(limits.timeoutMs / 60000).toFixed(2)} min`, output.slice(-3000));
        } else if (r.code !== 0) {
          failure = this.failureText(`the ${agent.name} agent failed: ${describeExit(r)}`, output.slice(-3000));
        } else if (head === start) {
          failure = 'the agent exited 0 but changed nothing (no commits and no changes in the worktree)';
        } else {
          const verifyCmd = lane.verify;
          if (verifyCmd) {
            this.setStatus(l, 'verifying', describeCommand(verifyCmd));
            log.write(`[lanes] verify: ${describeCommand(verifyCmd)}\n`);
            const v0 = Date.now();
            const vr = await run(commandArgv(verifyCmd), {
              cwd: l.worktree,
              env: this.laneEnv(l, briefFile, brief, attempt, {}),
              signal: abort.signal,
              timeoutMs: limits.timeoutMs,
              dieWithParent: this.opts.dieWithOrchestrator,
              onOutput: (c) => emitOut(c, 'verify'),
            });
            const vout = tail(vr.stdout + vr.stderr, 4000);
            rec.verify = { command: describeCommand(verifyCmd), exitCode: vr.code, passed: vr.code === 0 && !vr.timedOut, outputTail: vout, durationMs: Date.now() - v0 };
            log.write(`[lanes] verify ${describeExit(vr)}\n`);
            if (vr.cancelled || abort.signal.aborted) {
              rec.failure = 'cancelled';
              rec.endedAt = nowIso();
              l.busyMs += Date.now() - t0;
              this.setStatus(l, 'cancelled', 'cancelled while verifying');
              return;
            }
            if (!rec.verify.passed) failure = this.failureText(`verify \`${rec.verify.command}\` failed: ${describeExit(vr)}`, output.slice(-1500), vout);
          }
        }
        rec.endedAt = nowIso();
        l.busyMs += Date.now() - t0;
        if (!failure) {
          this.setStatus(l, 'passed', rec.verify ? `verified: ${rec.verify.command}` : 'agent finished (no verify command)');
          return;
        }
        rec.failure = failure;
        previousFailure = failure;
        const summary = failure.split('\n')[0]!;
        if (used < limits.attempts) {
          this.warn(`attempt ${attempt} failed (${summary}); retrying`, l);
          continue;
        }
        this.setStatus(l, status, status === 'timed-out' ? `timed out after ${attempt} attempt${attempt > 1 ? 's' : ''}` : summary);
        return;
      }
    } finally {
      this.runAbort.signal.removeEventListener('abort', onRunAbort);
      this.laneAborts.delete(l.id);
      this.running.delete(l.id);
      await new Promise<void>((r) => log.end(r));
      await this.save();
    }
  }
}

/** Whether `commit` is already in the history of the worktree's HEAD. */
async function isAncestorIn(worktree: string, commit: string): Promise<boolean> {
  const r = await git(['merge-base', '--is-ancestor', commit, 'HEAD'], { cwd: worktree, okCodes: [1], readOnly: true });
  return r.code === 0;
}

/** Sum of lane busy times over wall time: how much the parallel run saved. */
export function speedup(state: RunState): number | undefined {
  if (!state.wallMs) return undefined;
  const busy = state.lanes.reduce((a, l) => a + l.busyMs, 0);
  return busy / state.wallMs;
}

