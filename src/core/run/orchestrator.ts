/**
 * The orchestrator: wiring. It asks the scheduler what starts next, gives each lane its
 * workspace, runs its attempts through the lane runner, lets the judge decide, and keeps the
 * run's state through its lease on the run store (one writer). Emits an event for every change.
 *
 * Planning a run has no side effects (`Orchestrator.plan`); only `start` writes anything, so a
 * face can ask for approval in between and a "no" leaves nothing behind.
 */
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { resolveAgent, ResolvedAgent } from '../agents/resolve';

import { BusyError, LanesError } from '../errors';
import { commonDir as gitCommonDir, git, gitOut, headCommit } from '../git/git';
import { isAncestor, MergeConflictError } from '../git/merge';
import { mergeInProgress } from '../reconcile/resolve';
import { defaultWorktreeRoot, WorktreeError } from '../git/worktrees';
import { LaneGraph } from '../plan/graph';
import { loadPlan, LoadedPlan } from '../plan/load';
import type { AgentRef, Lane, Plan } from '../plan/schema';
import { DEFAULT_MAX_PARALLEL } from '../plan/schema';
import { validatePlanText } from '../plan/validate';
import { Mutex } from '../util/mutex';
import { writeFileInside } from '../util/fsx';
import { describeOwner } from '../util/ownerLock';
import { cleanEnv, findProgram, withoutGitLeaks } from '../util/proc';
import { isPresetName, PRESETS } from '../agents/presets';

import { commandLineOf, processStartTime, stopRecorded } from '../util/processInfo';
import { sumUsage } from '../agents/streams';
import { AttemptContext, runAttempt } from './attempt';
import { BoundedLog, logLimitFrom } from './boundedLog';

import { overBudget, spentOf } from './budget';

import { changedIgnored, compareFingerprints, fingerprint, Fingerprint, guardedIgnored, keepShared, restoreShared } from './guard';
import { AttemptOutcome, judge } from './judge';
import {
  asksForChange,
  checkFindingFile,
  DEFAULT_LOOP_BACKS,
  DEFAULT_LOOP_BACKS_PER_PAIR,
  describeFinding,
  effectiveFindings,
  findingCommandScript,
  findingFeedback,
  FindingRecord,
  findingsForLaneText,
  LoopBack,
  MAX_FINDINGS_PER_ATTEMPT,
  nextFindingId,
  readDecisions,
  setFindingStatus,
  takeFindingFiles,
  worktreeFindingsDir,
} from './findings';
import { excludeMemoryFolder, MemoryMirror, memoryFile, WORKTREE_RUN_DIR, worktreeMemoryDir } from './memory';
import { LaneRunner, LocalProcessRunner } from './runner';
import { agentStatePaths, existingReal, writableAllowed, decideIsolation, Isolation, IsolationSetting, prepareWritable, SandboxError, sandboxAvailability, SandboxPolicy } from './sandbox';
import { schedule } from './scheduler';
import { FINAL_STATUSES, laneBranch, runWallMs, LaneState, LaneStatus, RunPaths, runPaths, RunState, setAsideCorrupt, SNAPSHOT_REF_PREFIX, STATE_VERSION, StateError } from './state';
import { RunLease, RunStore } from './store';
import { LaneWorkspace } from './workspace';

export { COMMIT_POLL_MS } from './attempt';

/** How often notes lanes write to their memory folder are mirrored to the other lanes. */
export const MEMORY_SYNC_MS = 1000;
export const DEFAULT_TIMEOUT_MINUTES = 30;
export const DEFAULT_RETRIES = 0;

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
  /** Where lanes' programs run (default: local process groups). */
  runner?: LaneRunner;
  /** What the run's lock says this process is doing ("lanes run", "VS Code: Run Plan"). */
  command?: string;
  /** Most characters of agent output a lane's log keeps (start and end; 0: all). Default 4 MiB or $LANES_LOG_MAX_BYTES. */
  logMaxBytes?: number;
  /** Isolation for lanes whose plan does not say (CLI --isolation, VS Code setting). Default: the sandbox where available. */
  isolation?: IsolationSetting;
  /** Findings to record as the run starts (the merge queue's, on a failing check's evidence), sent to their lanes. */
  findings?: Omit<FindingRecord, 'id' | 'at' | 'status' | 'history'>[];
  /** Findings a person sends back (with their text, edited or not): recorded as sent as the run starts. */
  sendFindings?: { id: string; text?: string }[];
}

export type RunEvent =
  | { type: 'run-started'; runId: string; state: RunState }
  | { type: 'lane-status'; runId: string; lane: string; status: LaneStatus; reason?: string; attempt: number; state: LaneState }
  | { type: 'lane-output'; runId: string; lane: string; chunk: string; stream: 'stdout' | 'stderr' | 'verify' }
  | { type: 'lane-commit'; runId: string; lane: string; head: string }
  | { type: 'warning'; runId: string; lane?: string; message: string }
  | { type: 'finding'; runId: string; finding: FindingRecord }
  | { type: 'loop-back'; runId: string; loopBack: LoopBack }
  | { type: 'run-finished'; runId: string; state: RunState };

export class RunError extends LanesError {
  constructor(
    message: string,
    readonly reason: 'invalidPlan' | 'noCommits' | 'busy' | 'unknownLane' | 'noRun' | 'planChanged' | 'isolation',
  ) {
    super(message);
    this.name = 'RunError';
  }
}

/** What `Orchestrator.plan` found: everything `start` needs, nothing written yet. */
export interface RunRequest {
  opts: EngineOptions;
  repoRoot: string;
  commonDir: string;
  identity: NodeJS.ProcessEnv;
  plan: Plan;
  /** The lanes that will run. */
  lanes: string[];
  fresh?: { loaded: LoadedPlan; base: string; baseRef?: string; dirty: boolean };
  resume?: { runId: string; rerun?: string[] };
  /** What each lane that runs will run in, decided before anything is written. */
  isolation: Record<string, { isolation: Isolation; network: boolean }>;
  /** Said when lanes run without a sandbox because this machine has none. */
  isolationWarning?: string;
}

/** More paths every lane's sandbox may write: $LANES_SANDBOX_WRITABLE, a PATH-style list (a shared build cache, say). */
function extraWritable(env: NodeJS.ProcessEnv): string[] {
  return (env.LANES_SANDBOX_WRITABLE ?? '').split(path.delimiter).filter((p) => path.isAbsolute(p));
}

/** Each lane's isolation: the lane's, the plan's, the face's, else the sandbox where there is one. */
async function isolationOf(plan: Plan, lanes: string[], opts: EngineOptions): Promise<Pick<RunRequest, 'isolation' | 'isolationWarning'>> {
  const available = await sandboxAvailability(opts.env ?? process.env);
  const isolation: RunRequest['isolation'] = {};
  let isolationWarning: string | undefined;
  for (const id of lanes) {
    const lane = plan.lanes.find((l) => l.id === id)!;
    const network = lane.network ?? plan.defaults?.network ?? true;
    try {
      const d = decideIsolation(lane.isolation ?? plan.isolation ?? opts.isolation, network, available, id);
      isolation[id] = { isolation: d.isolation, network };
      isolationWarning ??= d.warning;
    } catch (e) {
      if (e instanceof SandboxError) throw new RunError(e.message, 'isolation');
      throw e;
    }
  }
  return { isolation, isolationWarning };
}

const nowIso = () => new Date().toISOString();

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
  const sparse = await gitOut(['config', '--bool', 'core.sparseCheckout'], { cwd: repoRoot, readOnly: true, okCodes: [1] }).catch(() => '');
  if (sparse === 'true') {
    out.push("your checkout is sparse: lane worktrees check out the same cone; what agents add outside it is still committed, and an apply writes it into your checkout");
  }
  if (/filter=lfs/.test(await read('.gitattributes'))) {
    out.push('this repository uses Git LFS: lane worktrees get the real files only when git-lfs is installed (its filter runs on checkout); without it they hold LFS pointer files');
  }
  return out;
}

/** Refuse to start while another run of this repository is active (one run at a time). */
async function refuseIfAnotherRun(store: RunStore, except?: string): Promise<void> {
  const other = (await store.active()).find((a) => a.runId !== except);
  if (other) {
    throw new BusyError(`run ${other.runId} is active in this repository, run by ${describeOwner(other.owner)}; wait for it to finish or stop it first`, {
      pid: other.owner.pid,
      command: other.owner.command,
      since: other.owner.acquiredAt,
    });
  }
}

export class Orchestrator {
  private readonly listeners = new Set<(e: RunEvent) => void>();
  private readonly laneAborts = new Map<string, AbortController>();
  private readonly runAbort = (() => {
    const c = new AbortController();
    setMaxListeners(0, c.signal);
    return c;
  })();
  private readonly graph: LaneGraph;
  private readonly paths: RunPaths;
  private readonly workspace: LaneWorkspace;
  private readonly runner: LaneRunner;
  private guardBaseline?: Fingerprint;
  private readonly guardMutex = new Mutex();
  private finished?: Promise<RunState>;
  private readonly running = new Set<string>();
  private readonly attemptsThisSession = new Map<string, number>();
  /** The first failed state write: the run stops its lanes rather than run untracked. */
  private storageFailure?: unknown;
  private readonly memory: MemoryMirror;
  /** Lanes whose worktree exists: the only ones the memory mirror may write into. */
  private readonly mirrored = new Set<string>();
  /** Feedback for a lane's next run: a finding it was sent back with, or the re-check after one. */
  private readonly laneFeedback = new Map<string, string>();
  /** Why a lane waits beyond its dependencies (it sent one back). */
  private readonly waitNotes = new Map<string, string>();
  private readonly findingsMutex = new Mutex();
  /** What each lane's `lanes finding list` file last held. */
  private readonly findingsShown = new Map<string, string>();

  private constructor(
    readonly state: RunState,
    readonly plan: Plan,
    readonly commonDir: string,
    private readonly opts: EngineOptions,
    identity: NodeJS.ProcessEnv,
    private readonly lease: RunLease,
  ) {
    // The whole plan's graph: a lane that joins the run later is already in it.
    this.graph = new LaneGraph(plan.lanes.map((l) => ({ id: l.id, dependsOn: l.dependsOn })));
    this.paths = runPaths(commonDir, state.runId);
    this.runner = opts.runner ?? new LocalProcessRunner(opts.dieWithOrchestrator);
    this.memory = new MemoryMirror(this.paths.memory);
    this.workspace = new LaneWorkspace({
      repoRoot: state.repoRoot,
      commonDir,
      runId: state.runId,
      baseCommit: state.baseCommit,
      plan,
      graph: this.graph,
      identity,
      lane: (id) => this.lane(id),
    });
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
    else this.setStatus(l, 'cancelled', 'cancelled before it started');
    return true;
  }

  private wake?: () => void;
  private ended = false;

  /**
   * Run one lane of the plan in this run while it works: a lane that ended (failed, cancelled,
   * passed) runs again, a lane the run did not include joins it (with the lanes it depends on
   * that are not in it yet). The scheduler takes it like any other lane. Returns false when the
   * run has already ended or the lane is running.
   */
  async addLane(id: string): Promise<boolean> {
    if (this.ended || this.runAbort.signal.aborted) return false;
    if (!this.graph.has(id)) throw new RunError(`the plan has no lane "${id}"`, 'unknownLane');
    const existing = this.state.lanes.find((l) => l.id === id);
    if (existing && !FINAL_STATUSES.has(existing.status)) return false;
    const available = await sandboxAvailability(this.opts.env ?? process.env);
    if (this.ended) return false; // the run ended meanwhile
    for (const laneId of [...this.graph.ancestors(id), id]) {
      let l = this.state.lanes.find((x) => x.id === laneId);
      if (!l) {
        const def = this.laneDef(laneId);
        const network = def.network ?? this.plan.defaults?.network ?? true;
        const { isolation } = decideIsolation(def.isolation ?? this.plan.isolation ?? this.opts.isolation, network, available, laneId);
        l = {
          id: laneId,
          status: 'queued',
          branch: laneBranch(this.runId, laneId),
          worktree: path.join(this.state.worktreeRoot, this.runId, laneId),
          busyMs: 0,
          attempts: [],
          warnings: [],
          portBase: portBaseFor(this.runId, this.state.lanes.length),
          isolation,
          network,
        };
        this.state.lanes.push(l);
        if (this.state.selectedLanes) this.state.selectedLanes.push(laneId);
        this.setStatus(l, 'queued', 'joined the run');
      } else if (laneId === id) {
        // Retried: its earlier attempts stay on record; the retry counts anew.
        this.attemptsThisSession.delete(laneId);
        l.endedAt = undefined;
        this.setStatus(l, 'queued', 'retried while the run works');
      }
    }
    // Lanes skipped because this one failed get their chance again.
    for (const d of this.graph.descendants(id)) {
      const l = this.state.lanes.find((x) => x.id === d);
      if (l?.status === 'skipped') this.setStatus(l, 'queued', `waiting for ${id} again`);
    }
    this.wake?.();
    return true;
  }

  /** Stop the whole run. */
  cancel(): void {
    this.runAbort.abort();
    for (const c of this.laneAborts.values()) c.abort();
  }

  /** Persist soon. A failed write is handled (never an unhandled rejection): see saveFailed. */
  private persist(): void {
    this.lease.save(this.state).catch((e: unknown) => this.saveFailed(e));
  }

  private saveFailed(e: unknown): void {
    if (this.storageFailure) return;
    this.storageFailure = e;
    this.warn(`${(e as Error).message}; stopping every lane so nothing runs without a record (continue later with "lanes run --resume ${this.runId}")`);
    this.cancel();
  }

  private setStatus(l: LaneState, status: LaneStatus, reason?: string): void {
    if (l.status === status && l.reason === reason) return;
    l.status = status;
    l.reason = reason;
    if (FINAL_STATUSES.has(status)) l.endedAt = nowIso();
    this.persist();
    this.emit({ type: 'lane-status', runId: this.runId, lane: l.id, status, reason, attempt: l.attempts.length, state: l });
  }

  private warn(message: string, lane?: LaneState): void {
    if (lane) lane.warnings.push(message);
    else this.state.warnings.push(message);
    this.emit({ type: 'warning', runId: this.runId, lane: lane?.id, message });
  }

  // ——— findings and loop-backs ———

  /** The `lanes` command every lane has on its PATH (for `lanes finding …`). */
  private get binDir(): string {
    return path.join(this.paths.dir, 'bin');
  }

  /** A finding's status changes: kept, and said (faces redraw it). */
  private findingStatus(f: FindingRecord, status: FindingRecord['status'], note?: string): void {
    setFindingStatus(f, status, note);
    this.persist();
    this.emit({ type: 'finding', runId: this.runId, finding: f });
  }

  private recordFinding(f: Omit<FindingRecord, 'id' | 'at' | 'status' | 'history'>, status: FindingRecord['status'] = 'open', note?: string): FindingRecord {
    const at = nowIso();
    const rec: FindingRecord = { ...f, id: nextFindingId(this.state.findings), at, status, note, history: [{ at, status, ...(note ? { note } : {}) }] };
    this.state.findings.push(rec);
    // An approval settles what the same reviewer asked of the same lane before.
    if (rec.kind === 'approve') {
      for (const x of this.state.findings) {
        if (x.from === rec.from && x.to === rec.to && x.kind === 'changes' && (x.status === 'open' || x.status === 'sent')) this.findingStatus(x, 'addressed', `approved by ${rec.from} (${rec.id})`);
      }
    }
    this.persist();
    this.emit({ type: 'finding', runId: this.runId, finding: rec });
    return rec;
  }

  /**
   * Take the finding files a lane's agent wrote into the run (one at a time per run: the
   * mirror and an ending attempt may both look). Returns how many findings `attempt` raised.
   */
  private collectFindings(l: LaneState, attempt: number): Promise<number> {
    return this.findingsMutex.run(async () => {
      const ids = this.plan.lanes.map((x) => x.id);
      const at = l.attempts.length || attempt;
      let taken = this.state.findings.filter((f) => f.from === l.id && f.attempt === at).length;
      const check = (raw: unknown) => {
        const r = checkFindingFile(raw, l.id, ids);
        if (!r.ok) return r.problem;
        if (++taken > MAX_FINDINGS_PER_ATTEMPT) return `more than ${MAX_FINDINGS_PER_ATTEMPT} findings in one attempt; raise the ones that matter most`;
        return undefined;
      };
      for (const c of await takeFindingFiles(l.worktree, check)) {
        const checked = c.problem ? { ok: false as const, problem: c.problem } : checkFindingFile(c.raw, l.id, ids);
        if (!checked.ok) {
          const m = c.raw === undefined && !c.problem?.startsWith('not valid JSON') && !c.problem?.startsWith('the file is larger')
            ? `findings: ${checked.problem}`
            : `finding ${path.basename(c.file)} was not recorded: ${checked.problem} (kept as ${path.basename(c.file)}.invalid)`;
          // A folder problem is found at every look: said once.
          if (!l.warnings.includes(m)) this.warn(m, l);
          continue;
        }
        // The same problem raised again (a retry): the finding it already is, with the new evidence.
        const same = this.state.findings.find((f) => f.from === l.id && f.to === checked.value.to && f.kind === checked.value.kind && f.title === checked.value.title && (f.status === 'open' || f.status === 'sent'));
        if (same) {
          Object.assign(same, { details: checked.value.details ?? same.details, evidence: checked.value.evidence ?? same.evidence, blocking: checked.value.blocking, attempt: at });
          this.findingStatus(same, 'open', `raised again in attempt ${at}`);
          continue;
        }
        const rec = this.recordFinding({ ...checked.value, attempt: at, source: 'agent' });
        this.warnLog(l, `raised ${describeFinding(rec)}`);
      }
      return this.state.findings.filter((f) => f.from === l.id && f.attempt === attempt).length;
    });
  }

  /** A line in the lane's log (not a warning: an event of the run). */
  private warnLog(l: LaneState, text: string): void {
    this.emit({ type: 'lane-output', runId: this.runId, lane: l.id, chunk: `\n[lanes] ${text}\n`, stream: 'stderr' });
  }

  private async currentFindings(): Promise<FindingRecord[]> {
    return effectiveFindings(this.state.findings, await readDecisions(this.paths.dir));
  }

  /** Findings for this lane that are not done with (its brief lists them). */
  private async findingsFor(l: LaneState): Promise<FindingRecord[]> {
    // Findings it was sent back with are in its feedback already (evidence and all): not twice.
    const inFeedback = this.laneFeedback.has(l.id) || !!this.opts.feedback?.[l.id];
    return (await this.currentFindings()).filter((f) => f.to === l.id && f.kind !== 'approve' && (f.status === 'open' || (f.status === 'sent' && !inFeedback)));
  }

  /** What `lanes finding list` reads in each lane's worktree, written when it changed. */
  private async showFindings(lanes: readonly LaneState[]): Promise<void> {
    const all = await this.currentFindings();
    for (const l of lanes) {
      const text = findingsForLaneText(l.id, all);
      if (this.findingsShown.get(l.id) === text) continue;
      await writeFileInside(l.worktree, WORKTREE_RUN_DIR, 'findings.txt', text);
      this.findingsShown.set(l.id, text);
    }
  }

  private loopBackLimits() {
    return { max: this.plan.loopBack?.max ?? DEFAULT_LOOP_BACKS, perPair: this.plan.loopBack?.perPair ?? DEFAULT_LOOP_BACKS_PER_PAIR };
  }

  /** Why `from` may not send `to` back now, if it may not. */
  private loopBackRefusal(from: string, to: string): string | undefined {
    const { max, perPair } = this.loopBackLimits();
    const sent = this.state.loopBacks.filter((x) => x.sent && x.by === 'run');
    if (sent.length >= max) return max === 0 ? 'loop-backs are off in this plan (loopBack.max: 0)' : `the run's limit of ${max} loop-back${max === 1 ? '' : 's'} is reached (loopBack.max)`;
    const pair = sent.filter((x) => (x.from === from && x.to === to) || (x.from === to && x.to === from)).length;
    if (pair >= perPair) return `${from} and ${to} have looped back ${pair} time${pair === 1 ? '' : 's'} already (loopBack.perPair: ${perPair}); no ping-pong beyond that`;
    const target = this.lane(to);
    if (!target || target.status !== 'passed') return `${to} is ${target?.status ?? 'not in this run'}`;
    const allowed = this.limits(this.laneDef(to)).attempts;
    const used = this.attemptsThisSession.get(to) ?? 0;
    if (used >= allowed) return `${to} has no retries left in this run (it made ${used} of its ${allowed} attempt${allowed === 1 ? '' : 's'}; raise its "retries" to allow loop-backs)`;
    return undefined;
  }

  private addLoopBack(lb: Omit<LoopBack, 'at'>): void {
    const rec = { at: nowIso(), ...lb };
    this.state.loopBacks.push(rec);
    this.persist();
    this.emit({ type: 'loop-back', runId: this.runId, loopBack: rec });
  }

  /** Send a lane that passed back to its agent with findings: it runs again (its dependents wait). */
  private requeueWith(to: string, feedback: string, reason: string): void {
    const t = this.lane(to);
    this.laneFeedback.set(to, feedback);
    t.endedAt = undefined;
    this.setStatus(t, 'queued', reason);
    for (const d of this.graph.descendants(to)) {
      const x = this.state.lanes.find((y) => y.id === d);
      if (x?.status === 'passed') this.warn(`built on ${to}'s work from before it was sent back; the merge queue integrates ${to}'s new work with it`, x);
    }
  }

  /**
   * After an attempt: a blocking finding (or a failing verify with a finding) that blames a lane
   * this one builds on sends that lane back with it, within its retries and the run's limits,
   * and this lane waits to run again on the fixed work. Returns what happened.
   */
  private async loopBack(l: LaneState, outcome: AttemptOutcome, attempt: number): Promise<{ sent: boolean; refused?: string }> {
    if (outcome.cancelled || outcome.budget || outcome.broken || outcome.spawnError || outcome.timedOut || this.runAbort.signal.aborted) return { sent: false };
    const verifyFailed = !!outcome.verify && !outcome.verify.passed;
    const ancestors = this.graph.ancestors(l.id);
    const current = await this.currentFindings();
    const mine = current.filter((f) => f.from === l.id && f.attempt === attempt && f.status === 'open' && asksForChange(f) && ancestors.has(f.to) && (f.blocking || verifyFailed));
    if (!mine.length) return { sent: false };
    const sentTo: string[] = [];
    const refusals: string[] = [];
    for (const to of [...new Set(mine.map((f) => f.to))]) {
      const fs_ = mine.filter((f) => f.to === to).map((f) => this.state.findings.find((x) => x.id === f.id)!);
      // The finder's own failing check is evidence too.
      if (verifyFailed) for (const f of fs_) if (!f.evidence?.output) f.evidence = { ...f.evidence, command: f.evidence?.command ?? outcome.verify!.command, output: outcome.verify!.outputTail };
      const ids = fs_.map((f) => f.id).join(', ');
      const refusal = this.loopBackRefusal(l.id, to);
      if (refusal) {
        for (const f of fs_) this.findingStatus(f, 'open', `not sent back: ${refusal}`);
        this.addLoopBack({ from: l.id, to, finding: ids, by: 'run', sent: false, reason: refusal });
        this.warn(`${ids} for ${to} is left open: ${refusal}; send it back yourself (lanes finding send ${fs_[0]!.id}) or dismiss it`, l);
        // Loop-backs turned off by the plan are not a failure of the finder's: it is judged as usual.
        if (this.loopBackLimits().max > 0) refusals.push(`${ids} for ${to} is left open: ${refusal}`);
        continue;
      }
      for (const f of fs_) this.findingStatus(f, 'sent', `sent back to ${to} by the run`);
      this.addLoopBack({ from: l.id, to, finding: ids, by: 'run', sent: true });
      this.requeueWith(to, fs_.map((f) => findingFeedback(f)).join('\n\n---\n\n'), `sent back by ${l.id} with ${ids}`);
      sentTo.push(`${to} back with ${ids}`);
    }
    if (!sentTo.length) return { sent: false, refused: refusals.join('; ') || undefined };
    // The finder runs again on top of the fixed work; that run is not one of its own retries.
    this.attemptsThisSession.delete(l.id);
    this.waitNotes.set(l.id, `sent ${sentTo.join(', ')}`);
    this.laneFeedback.set(
      l.id,
      `You raised ${mine.map((f) => f.id).join(', ')}; the run sent ${sentTo.join(', ')}, and ${sentTo.length === 1 ? 'that lane' : 'those lanes'} passed again. ` +
        'Their new work is merged into your worktree. Run your checks again: if the problem is gone, keep your work as it is; if it is not, raise a new finding with the new evidence.',
    );
    this.setStatus(l, 'blocked', `sent ${sentTo.join(', ')}; runs again on the fixed work`);
    return { sent: true, refused: refusals.length ? refusals.join('; ') : undefined };
  }

  /** A lane that passed after being sent back: the findings it was sent with are addressed. */
  private findingsAddressed(l: LaneState): void {
    for (const f of this.state.findings) {
      if (f.to === l.id && f.status === 'sent') this.findingStatus(f, 'addressed', `${l.id} passed again at ${l.head?.slice(0, 10) ?? '?'}`);
    }
  }

  /**
   * A person sends a finding back while this run works: its lane runs again with it (and the
   * finder, when it builds on that lane, runs again on top). False when that lane is running.
   */
  async sendFinding(id: string, text?: string): Promise<boolean> {
    if (this.ended || this.runAbort.signal.aborted) return false;
    const f = this.state.findings.find((x) => x.id === id);
    if (!f) throw new RunError(`run ${this.runId} has no finding ${id}`, 'unknownLane');
    if (!asksForChange(f)) throw new RunError(`${f.id} is ${f.kind === 'approve' ? 'an approval' : 'a note'}: there is nothing to send back`, 'unknownLane');
    const to = this.state.lanes.find((x) => x.id === f.to);
    if (!to) return false;
    if (!FINAL_STATUSES.has(to.status)) return false;
    this.applySend(f, text);
    this.attemptsThisSession.delete(f.to);
    const from = this.state.lanes.find((x) => x.id === f.from);
    if (from && this.graph.ancestors(from.id).has(f.to) && FINAL_STATUSES.has(from.status) && from.status !== 'skipped') {
      this.attemptsThisSession.delete(from.id);
      this.laneFeedback.set(from.id, `Your finding ${f.id} was sent back to ${f.to} by a person; its new work is merged into your worktree. Run your checks again and keep your work if the problem is gone.`);
      from.endedAt = undefined;
      this.setStatus(from, 'queued', `runs again once ${f.to} has addressed ${f.id}`);
    }
    this.wake?.();
    return true;
  }

  private applySend(f: FindingRecord, text?: string): void {
    this.findingStatus(f, 'sent', `sent back to ${f.to} by a person${text?.trim() ? ' (edited)' : ''}`);
    this.addLoopBack({ from: f.from, to: f.to, finding: f.id, by: 'person', sent: true });
    this.requeueWith(f.to, findingFeedback(f, text), `sent back with ${f.id} by a person`);
  }

  /**
   * Everything a run needs, read and checked, with nothing written: the plan (validated), the
   * lanes, the base. For a resume, the run's recorded plan and which lanes run again.
   */
  static async plan(opts: EngineOptions): Promise<RunRequest> {
    const repoRoot = await gitOut(['rev-parse', '--show-toplevel'], { cwd: opts.cwd, readOnly: true });
    // Independent reads, at once: they sit in front of every lane's start.
    const [common, identity, base, baseRef, dirty] = await Promise.all([
      gitCommonDir(repoRoot),
      identityEnv(repoRoot),
      headCommit(repoRoot),
      gitOut(['symbolic-ref', '--quiet', '--short', 'HEAD'], { cwd: repoRoot, readOnly: true }).catch(() => undefined),
      gitOut(['status', '--porcelain', '--untracked-files=no'], { cwd: repoRoot, readOnly: true }).then((x) => x.trim()),
    ]);
    const store = new RunStore(common);
    if (opts.resume) {
      const runs = await store.list();
      const runId = opts.resume === 'latest' ? runs[0] : opts.resume;
      if (!runId || !runs.includes(runId)) throw new RunError(opts.resume === 'latest' ? 'there is no run to resume' : `no run "${opts.resume}"`, 'noRun');
      let state: RunState;
      try {
        state = await store.read(runId);
      } catch (e) {
        // A corrupt state is never reset, and never resumed from: it is set aside (kept whole,
        // renamed) so the run's lanes stay findable by their branches and nothing guesses.
        if (e instanceof StateError && e.reason === 'corrupt') {
          const aside = await setAsideCorrupt(e.file);
          throw new RunError(`run ${runId} cannot be resumed: ${e.message}; it was set aside as ${aside} (its lane branches lanes/${runId}/* are kept); start a new run with "lanes run"`, 'noRun');
        }
        throw e;
      }
      const v = validatePlanText(state.planText);
      if (!v.ok || !v.plan) throw new RunError('the plan recorded in this run no longer validates', 'invalidPlan');
      for (const id of opts.lanes ?? []) {
        if (!state.lanes.some((l) => l.id === id)) throw new RunError(`run ${runId} has no lane "${id}"`, 'unknownLane');
      }
      const rerun = opts.lanes?.length ? opts.lanes : undefined;
      const lanes = state.lanes.filter((l) => (rerun ? rerun.includes(l.id) : l.status !== 'passed')).map((l) => l.id);
      return { opts, repoRoot, commonDir: common, identity, plan: v.plan, lanes, resume: { runId, rerun }, ...(await isolationOf(v.plan, lanes, opts)) };
    }

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
    return { opts, repoRoot, commonDir: common, identity, plan, lanes: selected, fresh: { loaded, base, baseRef, dirty: dirty !== '' }, ...(await isolationOf(plan, selected, opts)) };
  }

  /** Start what `plan` found: the first side effects (run folder, lease, state). */
  static async start(req: RunRequest): Promise<Orchestrator> {
    const store = new RunStore(req.commonDir);
    const command = req.opts.command ?? 'lanes run';
    if (req.resume) return Orchestrator.startResume(req, store, command);
    const { loaded, base, baseRef, dirty } = req.fresh!;
    await refuseIfAnotherRun(store);
    const worktreeRoot = path.resolve(req.opts.worktreeRoot ?? defaultWorktreeRoot(req.repoRoot, req.opts.env ?? process.env));
    const me = { pid: process.pid, argv: commandLineOf(process.pid) ?? process.argv, startTime: processStartTime(process.pid), startedAt: nowIso() };
    let initial: RunState | undefined;
    const lease = await store.create(command, (runId) => (initial = {
      stateVersion: STATE_VERSION,
      runId,
      repoRoot: req.repoRoot,
      planFile: loaded.file,
      planHash: loaded.hash,
      planText: loaded.text,
      baseCommit: base,
      baseRef,
      worktreeRoot,
      maxParallel: req.opts.maxParallel ?? req.plan.maxParallel ?? DEFAULT_MAX_PARALLEL,
      status: 'running',
      startedAt: nowIso(),
      selectedLanes: req.opts.lanes?.length ? req.opts.lanes : undefined,
      orchestrator: me,
      lanes: req.lanes.map((id, i) => ({
        id,
        status: 'queued' as LaneStatus,
        branch: laneBranch(runId, id),
        worktree: path.join(worktreeRoot, runId, id),
        busyMs: 0,
        attempts: [],
        warnings: [],
        portBase: portBaseFor(runId, i),
        ...req.isolation[id],
      })),
      warnings: loaded.warnings.map((w) => w.message),
      findings: [],
      loopBacks: [],
    }));
    const state = initial!;
    try {
      const o = new Orchestrator(state, req.plan, req.commonDir, req.opts, req.identity, lease);
      await o.makeFolders();
      for (const w of await repositoryWarnings(req.repoRoot)) o.warn(w);
      if (req.isolationWarning) o.warn(req.isolationWarning);
      if (dirty) o.warn(`your checkout has uncommitted changes; lanes start from HEAD (${base.slice(0, 10)}) and do not see them`);
      await lease.save(state);
      return o;
    } catch (e) {
      await lease.release();
      throw e;
    }
  }

  private static async startResume(req: RunRequest, store: RunStore, command: string): Promise<Orchestrator> {
    const { runId, rerun } = req.resume!;
    const lease = await store.claim(runId, command);
    try {
      await refuseIfAnotherRun(store, runId);
      const state = await store.read(runId); // again, now that this process is its one writer
      const o = new Orchestrator(state, req.plan, req.commonDir, req.opts, req.identity, lease);
      state.orchestrator = { pid: process.pid, argv: commandLineOf(process.pid) ?? process.argv, startTime: processStartTime(process.pid), startedAt: nowIso() };
      await o.makeFolders();
      try {
        const current = await loadPlan(state.planFile, req.repoRoot);
        if (current.hash !== state.planHash) o.warn('the plan file changed since this run started; resuming with the plan the run started with');
      } catch {
        /* the plan file may be gone; the run has its own copy */
      }
      if (req.opts.maxParallel) state.maxParallel = req.opts.maxParallel;
      if (req.isolationWarning) o.warn(req.isolationWarning);
      state.status = 'running';
      state.endedAt = undefined;
      // With `lanes`, exactly those lanes run again (also passed ones: the merge queue sends a
      // lane back with feedback); otherwise every lane that did not pass.
      const again = rerun ? new Set(rerun) : undefined;
      for (const l of state.lanes) {
        if (again ? !again.has(l.id) : l.status === 'passed') continue;
        if (l.process) {
          const found = await stopRecorded(l.process.pid, l.process.argv, l.process.startTime);
          if (found === 'ours') o.warn(`stopped the orphaned agent of lane ${l.id} (pid ${l.process.pid}); its attempt runs again`, l);
        }
        l.process = undefined;
        Object.assign(l, req.isolation[l.id]);
        l.status = 'queued';
        l.reason = undefined;
        l.endedAt = undefined;
      }
      await lease.save(state);
      return o;
    } catch (e) {
      await lease.release();
      throw e;
    }
  }

  /** Plan and start in one step, for faces that ask no approval (the CLI, tests, benchmarks). */
  static async prepare(opts: EngineOptions): Promise<Orchestrator> {
    return Orchestrator.start(await Orchestrator.plan(opts));
  }

  private async makeFolders(): Promise<void> {
    await fs.mkdir(this.paths.logs, { recursive: true });
    await fs.mkdir(this.paths.briefs, { recursive: true });
    await fs.mkdir(this.paths.memory, { recursive: true });
    await fs.mkdir(this.binDir, { recursive: true });
    await fs.writeFile(path.join(this.binDir, 'lanes'), findingCommandScript(process.execPath), { mode: 0o755 });
  }

  /** Findings the merge queue raised, and findings a person sends back, as this session starts. */
  private seedFindings(): void {
    for (const f of this.opts.findings ?? []) {
      const rec = this.recordFinding(f, 'sent', `sent back to ${f.to} by the ${f.source === 'merge-queue' ? 'merge queue' : 'run'}`);
      this.addLoopBack({ from: f.from, to: f.to, finding: rec.id, by: f.source === 'merge-queue' ? 'merge-queue' : 'run', sent: true });
    }
    for (const s of this.opts.sendFindings ?? []) {
      const f = this.state.findings.find((x) => x.id === s.id);
      if (!f) throw new RunError(`run ${this.runId} has no finding ${s.id}`, 'unknownLane');
      this.findingStatus(f, 'sent', `sent back to ${f.to} by a person${s.text?.trim() ? ' (edited)' : ''}`);
      this.addLoopBack({ from: f.from, to: f.to, finding: f.id, by: 'person', sent: true });
    }
  }

  /** Run every lane to an end. Resolves with the final state (also on disk). */
  run(): Promise<RunState> {
    this.finished ??= this.runAll();
    return this.finished;
  }

  private async runAll(): Promise<RunState> {
    const started = Date.now();
    // Notes lanes write reach every running lane within a second or so.
    let syncing = false;
    let lastProblem: string | undefined;
    const mirror = setInterval(() => {
      if (syncing || !this.mirrored.size) return;
      syncing = true;
      const lanes = [...this.mirrored].map((id) => this.lane(id));
      this.memory
        .sync(lanes)
        .then(async () => {
          for (const l of lanes) if (this.running.has(l.id) && l.attempts.length) await this.collectFindings(l, l.attempts.length);
          await this.showFindings(lanes);
        })
        .then(() => (lastProblem = undefined))
        .catch((e: unknown) => {
          // Said once, not every second.
          const m = `could not mirror the shared memory: ${(e as Error).message}`;
          if (m !== lastProblem) this.warn(m);
          lastProblem = m;
        })
        .finally(() => (syncing = false));
    }, MEMORY_SYNC_MS);
    try {
      this.emit({ type: 'run-started', runId: this.runId, state: this.state });
      await excludeMemoryFolder(this.commonDir);
      this.seedFindings();
      this.guardIgnored = await guardedIgnored(this.state.repoRoot, this.plan.worktree?.copy).catch(() => []);
      // Each session of the run (a resume, a queue re-run) keeps its own copies: nothing kept for
      // the user is ever replaced.
      this.guardDir = path.join(this.paths.guard, new Date().toISOString().replace(/[-:.]/g, ''));
      await keepShared(this.state.repoRoot, this.commonDir, this.guardDir, this.guardIgnored);
      this.guardBaseline = await fingerprint(this.state.repoRoot, this.commonDir, this.guardIgnored);
      const active = new Map<string, Promise<void>>();
      for (;;) {
        const d = schedule({
          graph: this.graph,
          lanes: this.state.lanes,
          active: new Set(active.keys()),
          maxParallel: this.state.maxParallel,
          cancelled: this.runAbort.signal.aborted,
          stopStarting: this.runBudgetSpent(),
          waitNotes: this.waitNotes,
        });
        for (const t of d.transitions) this.setStatus(this.lane(t.lane), t.status, t.reason);
        for (const id of d.start) {
          const p = this.runLane(this.lane(id)).catch((e: unknown) => {
            this.setStatus(this.lane(id), 'failed', `internal error: ${(e as Error).message}`);
          });
          active.set(
            id,
            p.finally(() => active.delete(id)),
          );
        }
        if (d.done) {
          this.ended = true;
          break;
        }
        // A lane that joins (or is retried) while the run works wakes the scheduler too.
        await Promise.race([...active.values(), new Promise<void>((r) => (this.wake = r))]);
        this.wake = undefined;
      }
      const s = this.state;
      s.wallMs = Date.now() - started;
      s.endedAt = nowIso();
      s.status = this.runAbort.signal.aborted ? 'cancelled' : 'finished';
      s.orchestrator = undefined;
      try {
        await this.lease.save(s);
      } catch (e) {
        this.storageFailure ??= e;
      }
      this.emit({ type: 'run-finished', runId: this.runId, state: s });
      if (this.storageFailure) throw this.storageFailure;
      return s;
    } finally {
      clearInterval(mirror);
      await this.lease.release();
    }
  }

  /** Once the run's budget is spent no new lane starts: the reason, said once. */
  private runBudgetSpent(): string | undefined {
    if (this.state.budgetSpent) return this.state.budgetSpent;
    const b = this.plan.budget;
    if (!b) return undefined;
    const used = sumUsage(this.state.lanes.flatMap((l) => l.attempts.map((a) => a.usage)));
    const over = overBudget(b, spentOf(used, this.state.lanes.reduce((a, l) => a + l.busyMs, 0)));
    if (!over) return undefined;
    this.state.budgetSpent = `the run's ${over}`;
    this.warn(`${this.state.budgetSpent}; no new lane starts`);
    return this.state.budgetSpent;
  }

  private limits(lane: Lane) {
    const retries = lane.retries ?? this.plan.defaults?.retries ?? this.opts.defaultRetries ?? DEFAULT_RETRIES;
    const minutes = lane.timeoutMinutes ?? this.plan.defaults?.timeoutMinutes ?? this.opts.defaultTimeoutMinutes ?? DEFAULT_TIMEOUT_MINUTES;
    return { attempts: retries + 1, timeoutMs: Math.round(minutes * 60_000) };
  }

  private laneEnv(l: LaneState, briefFile: string, briefText: string, attempt: number, extra: Record<string, string>): NodeJS.ProcessEnv {
    const env: Record<string, string> = {
      LANES_RUN: this.runId,
      LANES_LANE: l.id,
      LANES_ROLE: this.laneDef(l.id).role ?? 'implement',
      LANES_ATTEMPT: String(attempt),
      LANES_BRIEF_FILE: briefFile,
      LANES_MEMORY_DIR: worktreeMemoryDir(l.worktree),
      LANES_MEMORY_FILE: memoryFile(worktreeMemoryDir(l.worktree), l.id),
      LANES_WORKTREE: l.worktree,
      LANES_BRANCH: l.branch,
      LANES_BASE: l.base ?? this.state.baseCommit,
      LANES_REPO: this.state.repoRoot,
      LANES_PORT_BASE: String(l.portBase),
      LANES_PORT_COUNT: '10',
      LANES_FINDINGS_DIR: worktreeFindingsDir(worktreeMemoryDir(l.worktree)),
      LANES_FINDINGS_FILE: path.join(l.worktree, ...WORKTREE_RUN_DIR.split('/'), 'findings.txt'),
      LANES_LANE_IDS: this.plan.lanes.map((x) => x.id).join(','),
      ...extra,
    };
    // The brief as text too, when it fits comfortably in one environment variable.
    if (Buffer.byteLength(briefText) < 64 * 1024) env.LANES_BRIEF = briefText;
    // Never GIT_DIR and friends: not from our own environment, the face's (a CLI started from a
    // git hook has them), or the plan's.
    const out = withoutGitLeaks(cleanEnv({ ...this.opts.env, ...this.laneDef(l.id).env, ...env }, process.env));
    // `lanes finding …` first on the lane's PATH.
    out.PATH = [this.binDir, out.PATH].filter(Boolean).join(path.delimiter);
    return out;
  }

  /**
   * Compare the main checkout and shared git state with the baseline. Lanes that finish while a
   * check is under way share the next check instead of queueing one each (a status of a big
   * checkout is the expensive part).
   */
  private guardWaiters: LaneState[] = [];
  private guardNext?: Promise<void>;
  private guardIgnored: string[] = [];
  private guardDir = '';
  private checkGuard(l: LaneState): Promise<void> {
    // A sandboxed lane cannot write the checkout or .git/config: nothing it did to look for.
    if (l.isolation && l.isolation !== 'none') return Promise.resolve();
    this.guardWaiters.push(l);
    this.guardNext ??= this.guardMutex.run(async () => {
      this.guardNext = undefined;
      const lanes = this.guardWaiters.splice(0);
      const before = this.guardBaseline!;
      const after = await fingerprint(this.state.repoRoot, this.commonDir, this.guardIgnored);
      const diffs = compareFingerprints(before, after);
      if (!diffs.length) return;
      const ids = lanes.map((x) => x.id);
      const others = [...this.running].filter((x) => !ids.includes(x));
      // Shared git state an agent changed is put back (its version moved aside, never lost): a
      // hook or core.hooksPath of an agent's must not reach the user's checkout.
      const shared = { config: before.config !== after.config, hooks: before.hooks !== after.hooks };
      const done = shared.config || shared.hooks ? await restoreShared(this.commonDir, this.guardDir, shared).catch((e: unknown) => [`could not restore it: ${(e as Error).message}; check .git/config and .git/hooks before applying`]) : [];
      const kept = changedIgnored(before, after).map((f) => `the content of ${f} from before the run is kept at ${path.join(this.guardDir, 'files', f)}`);
      for (const lane of lanes) {
        this.warn(
          `WARNING: ${diffs.join('; ')} while lane ${ids.join(', ')} ran${others.length ? ` (with ${others.join(', ')})` : ''}. ` +
            `If you did not make this change, an agent wrote outside its worktree.${[...done, ...kept].map((x) => ` ${x[0]!.toUpperCase()}${x.slice(1)}.`).join('')}`,
          lane,
        );
      }
      this.guardBaseline = { ...after, config: shared.config ? before.config : after.config, hooks: shared.hooks ? before.hooks : after.hooks };
    });
    return this.guardNext;
  }

  /**
   * The lane's sandbox: its worktree, its git metadata (its worktree's admin folder, the object
   * store, its run's branches and their logs), its temp folder and the agent CLIs' own folders
   * are writable; nothing else is.
   */
  private async sandboxFor(l: LaneState, agent: ResolvedAgent): Promise<SandboxPolicy | undefined> {
    if (!l.isolation || l.isolation === 'none') return undefined;
    const gitDir = await gitOut(['rev-parse', '--absolute-git-dir'], { cwd: l.worktree, readOnly: true });
    const tmpDir = path.join(this.paths.tmp, l.id);
    // The CLIs' folders come from the face's environment, never the plan's (a plan's lane env
    // could name "/" or the repository as a CLI's home), and only the lane's own CLI's.
    const faceEnv = this.opts.env ?? process.env;
    const own = agentStatePaths({ ...faceEnv, ...agent.env }, agent.argv[0] ? path.basename(agent.argv[0]) : undefined);
    const safe = (p: string) => writableAllowed(p, [this.state.repoRoot, this.commonDir, this.state.worktreeRoot], faceEnv.HOME);
    const chosen = (p: string) => writableAllowed(p, [this.state.repoRoot, this.commonDir], faceEnv.HOME);
    const writable = await prepareWritable({
      createDirs: [tmpDir, path.join(this.commonDir, 'refs', 'heads', 'lanes', this.runId), path.join(this.commonDir, 'logs', 'refs', 'heads', 'lanes', this.runId), ...own.create.filter(safe)],
      writable: [l.worktree, gitDir, path.join(this.commonDir, 'objects'), ...own.existing.filter(safe), ...extraWritable(faceEnv).filter(chosen)],
    });
    // Inside the writable worktree and admin folder, what tells git where the repository and its
    // config are stays read-only: an agent that could redirect them would have our own git
    // (which runs outside the sandbox) read a config of its making. The CLIs' settings files too:
    // they name commands the CLI runs later, unsandboxed.
    const readOnly = [path.join(l.worktree, '.git'), path.join(gitDir, 'commondir'), path.join(gitDir, 'gitdir'), path.join(gitDir, 'config.worktree'), ...own.settings];
    const { tool } = await sandboxAvailability(faceEnv);
    return { kind: l.isolation, writable, readOnly: await existingReal(readOnly), network: l.network !== false, tmpDir, tool };
  }

  private attemptContext(): AttemptContext {
    return {
      runId: this.runId,
      repoRoot: this.state.repoRoot,
      plan: this.plan,
      graph: this.graph,
      paths: this.paths,
      runner: this.runner,
      workspace: this.workspace,
      lane: (id) => this.lane(id),
      env: (l, briefFile, brief, attempt, extra) => this.laneEnv(l, briefFile, brief, attempt, extra),
      setStatus: (l, status, reason) => this.setStatus(l, status, reason),
      persist: () => this.persist(),
      warn: (m, l) => this.warn(m, l),
      guard: (l) => this.checkGuard(l),
      collectMemory: (l) => this.memory.collect(l),
      collectFindings: (l, attempt) => this.collectFindings(l, attempt),
      findingsFor: (l) => this.findingsFor(l),
      onCommit: (l, head) => this.emit({ type: 'lane-commit', runId: this.runId, lane: l.id, head }),
    };
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
    log.on('error', (e) => this.warn(`could not write the lane's log: ${e.message}`, l));
    const bounded = new BoundedLog(log, this.opts.logMaxBytes ?? logLimitFrom(this.opts.env ?? process.env));
    const output = (chunk: string, stream: 'stdout' | 'stderr' | 'verify') => {
      bounded.write(chunk);
      this.emit({ type: 'lane-output', runId: this.runId, lane: l.id, chunk, stream });
    };
    try {
      l.startedAt ??= nowIso();
      // An agent that is not installed fails the lane before any worktree is made.
      const agent0 = resolveAgent(this.plan, lane, this.opts.defaultAgent, this.opts.agentOverrides);
      const program = agent0.argv[0]!;
      if (!program.includes('/') && !(await findProgram(program, this.laneEnv(l, '', '', 0, agent0.env).PATH, this.state.repoRoot))) {
        const hint = isPresetName(agent0.name) && PRESETS[agent0.name].executable === program ? `; install it with: ${PRESETS[agent0.name].install}` : '';
        this.setStatus(l, 'failed', `could not start the ${agent0.name} agent (${program}): program not found on PATH${hint}`);
        return;
      }
      let start: string;
      try {
        start = l.base && l.attempts.length ? l.base : await this.workspace.startPoint(l);
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
        wt = await this.workspace.ensure(l, start, abort.signal);
      } catch (e) {
        if (e instanceof WorktreeError) {
          this.setStatus(l, 'failed', e.message);
          return;
        }
        throw e;
      }
      // A worktree used again must be where the run left it: at the lane's recorded head (or
      // ahead of it, by commits its agent made before a crash), never on a rewritten branch.
      if (!wt.created || wt.reusedBranch) {
        // A conflict resolution left under way here is a person's work: never run an agent over it.
        if (await mergeInProgress(l.worktree)) {
          this.setStatus(l, 'failed', `a conflict resolution is under way in the lane's worktree (${l.worktree}); commit or abort it first (VS Code: Commit or Abort Conflict Resolution)`);
          return;
        }
        const recorded = l.head ?? l.base;
        if (recorded && wt.head !== recorded && !(await isAncestor(this.state.repoRoot, recorded, wt.head))) {
          // What the run recorded stays reachable from a ref of its own, whatever happened to the branch.
          const keep = `${SNAPSHOT_REF_PREFIX}${this.runId}/${l.id}-recorded-${Date.now()}`;
          await git(['update-ref', keep, recorded], { cwd: this.state.repoRoot, lockRetries: 6 }).catch(() => undefined);
          this.setStatus(l, 'failed', `the lane's branch ${l.branch} was moved or rewritten since the run recorded it (recorded ${recorded.slice(0, 10)}, kept at ${keep}; now ${wt.head.slice(0, 10)}); nothing was run on it and its commits are kept; discard the lane or start a new run`);
          return;
        }
      }
      // The lane's view of the shared memory: what the others wrote so far.
      await fs.mkdir(worktreeMemoryDir(l.worktree), { recursive: true });
      await this.memory.distribute(l);
      this.findingsShown.delete(l.id);
      await this.showFindings([l]);
      this.mirrored.add(l.id);
      this.waitNotes.delete(l.id);
      const sandbox = await this.sandboxFor(l, agent0);
      if (wt.created && !wt.reusedBranch) {
        const problem = await this.workspace.setup(l, {
          log: bounded,
          signal: abort.signal,
          env: this.laneEnv(l, '', '', 0, {}),
          runner: this.runner,
          timeoutMs: limits.timeoutMs,
          warn: (m) => this.warn(m, l),
          sandbox,
        });
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
        const refreshed = await this.workspace.refreshFromDependencies(l);
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
      const ctx = this.attemptContext();
      for (;;) {
        const used = (this.attemptsThisSession.get(l.id) ?? 0) + 1;
        this.attemptsThisSession.set(l.id, used);
        const agent = resolveAgent(this.plan, lane, this.opts.defaultAgent, this.opts.agentOverrides);
        const budget = lane.budget ?? this.plan.defaults?.budget;
        const before = sumUsage(l.attempts.map((a) => a.usage));
        const busyBefore = l.busyMs;
        const { outcome, rec } = await runAttempt(ctx, {
          l,
          lane,
          agent,
          start,
          previousFailure,
          feedback: [this.opts.feedback?.[l.id], this.laneFeedback.get(l.id)].filter(Boolean).join('\n\n') || undefined,
          timeoutMs: limits.timeoutMs,
          signal: abort.signal,
          overBudget: budget ? (current, ms) => overBudget(budget, spentOf(sumUsage([before, current]), busyBefore + ms)) : undefined,
          maxBudgetUsd: budget?.usd !== undefined ? budget.usd - (before.costUsd ?? 0) : undefined,
          log: bounded,
          output,
          sandbox,
        });
        // A finding that blames a lane this one builds on: that lane goes back first.
        const loop = await this.loopBack(l, outcome, rec.attempt);
        if (loop.sent) {
          rec.failure = outcome.verify && !outcome.verify.passed ? `verify failed; the cause is in a lane it builds on (${this.waitNotes.get(l.id)})` : undefined;
          return;
        }
        const verdict = judge(outcome, rec.attempt, used, limits.attempts, this.runAbort.signal.aborted);
        if (loop.refused && verdict.kind !== 'cancelled') {
          // The blocking problem is another lane's and cannot go back to it: retrying here cannot help.
          rec.failure = `${loop.refused}${'failure' in verdict ? `\n\n${verdict.failure}` : ''}`;
          this.setStatus(l, 'failed', loop.refused);
          return;
        }
        switch (verdict.kind) {
          case 'passed':
            this.findingsAddressed(l);
            this.setStatus(l, 'passed', verdict.reason);
            return;
          case 'cancelled':
            rec.failure = verdict.failure;
            this.setStatus(l, 'cancelled', verdict.reason);
            return;
          case 'retry':
            rec.failure = verdict.failure;
            previousFailure = verdict.failure;
            this.warn(`attempt ${rec.attempt} failed (${verdict.summary}); retrying`, l);
            continue;
          case 'failed':
            rec.failure = verdict.failure;
            this.setStatus(l, verdict.status, verdict.reason);
            return;
        }
      }
    } finally {
      this.runAbort.signal.removeEventListener('abort', onRunAbort);
      this.laneAborts.delete(l.id);
      this.running.delete(l.id);
      this.mirrored.delete(l.id);
      if (l.status !== 'blocked') this.laneFeedback.delete(l.id);
      bounded.flush();
      await new Promise<void>((r) => log.end(r));
      this.persist();
    }
  }
}

/** Sum of lane busy times over wall time: how much the parallel run saved. */
export function speedup(state: RunState): number | undefined {
  const wall = runWallMs(state);
  if (!wall) return undefined;
  const busy = state.lanes.reduce((a, l) => a + l.busyMs, 0);
  return busy / wall;
}
