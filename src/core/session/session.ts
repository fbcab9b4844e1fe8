/**
 * The application layer: every operation after planning, for every face. The CLI and the VS Code
 * extension only collect input and render what these return; nothing here knows which face
 * called it. Each operation goes through the repository's operation queue as read-only or
 * blocking, and run state goes through the run store (one writer per run).
 *
 *   start / resume / cancel a run   planRun → (the face approves) → startRun
 *   watch the radar                 radar, watchRadar
 *   merge queue, send back          mergeQueue, sendBack
 *   select and apply                target, apply (the base always derived from the lane)
 *   undo, discard, clean, report    undo, discard, clean, report
 */
import * as path from 'node:path';
import { PreconditionError } from '../errors';
import { commonDir as gitCommonDir, gitOut, gitPaths } from '../git/git';
import { trialMerge } from '../git/merge';
import { abortResolution, finishResolution, ResolutionStart, startResolution } from '../reconcile/resolve';
import { LaneGraph } from '../plan/graph';
import { validatePlanText } from '../plan/validate';
import type { Plan } from '../plan/schema';
import { applyInProgress, ApplyJournal, ApplyResult, applyToCheckout, readJournal, recoverApply, Recovery, selectionTarget, undoApply } from '../reconcile/apply';
import { changedFiles } from '../reconcile/diff';
import { MergeQueue, QueueResult } from '../reconcile/queue';

import { conflictRadar, PairResult, RadarResult, watchRadar } from '../reconcile/radar';
import { runReport } from '../reconcile/report';
import { CleanAction, cleanRuns, discardLane } from '../run/clean';
import { listSnapshots, RunListing, RunTruth, SnapshotRef } from '../run/inspect';
import { EngineOptions, Orchestrator, RunRequest } from '../run/orchestrator';
import { FINAL_STATUSES, type LaneState, type RunState } from '../run/state';
import { effectiveFindings, findingFeedback, FindingRecord, readDecisions, writeDecision } from '../run/findings';
import { QueueRecord, RunLease, RunStore } from '../run/store';
import type { LockOwner } from '../util/ownerLock';
import { Operation, RepoOperations } from './operations';

/** What a face chooses to bring into the checkout. The base is never the face's to compute. */
/** The author of commits Agent Lanes makes for its own bookkeeping. */
const AGENT_LANES_ID = { GIT_AUTHOR_NAME: 'Agent Lanes', GIT_AUTHOR_EMAIL: 'lanes@agent-lanes.invalid', GIT_COMMITTER_NAME: 'Agent Lanes', GIT_COMMITTER_EMAIL: 'lanes@agent-lanes.invalid' };

export type Selection =
  | { kind: 'integration' }
  /**
   * The integration with a held-back lane merged on top: its conflicted files with conflict
   * markers (`markers`), or everything but them (`nonConflicting`).
   */
  | { kind: 'markers' | 'nonConflicting'; lane: string }
  | { kind: 'files'; lane: string; paths: string[] }
  | { kind: 'hunks'; lane: string; path: string; hunks: number[] };

export interface SessionOptions {
  /** Any folder inside the repository. */
  cwd: string;
  /** Who this process is in lock files and journals: "lanes", "VS Code". */
  face: string;
  /** Engine options every run of this session starts with (settings of the face). */
  runDefaults?: () => Partial<EngineOptions>;
  /**
   * Asked before any run starts (also a lane the merge queue sends back). Resolve false to
   * decline: nothing has been written at that point, and nothing is.
   */
  approve?: (req: RunRequest) => Promise<boolean>;
  /**
   * Every run this session starts, as it starts (faces attach views and terminals). `nested`:
   * started by another operation (the merge queue sending a lane back), which reports its end.
   */
  onRunStarted?: (o: Orchestrator, nested: boolean) => void;
  /** Called when an operation has to wait for another process. */
  onWait?: (what: string, owner: LockOwner) => void;
}

export interface QueueOptions {
  lanes?: string[];
  /** Re-run a breaking lane with the evidence (default true). */
  sendBack?: boolean;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}

export interface ApplyOptions {
  conflictMarkers?: boolean;
  /** Files open with unsaved changes (refused like dirty files). */
  unsavedPaths?: string[];
  /** Only these paths of the selection. */
  paths?: string[];
  /** Every path of the selection but these (e.g. files open with unsaved changes). */
  exclude?: string[];
  /** Apply symlinks that point outside the repository (refused otherwise). */
  acceptOutsideLinks?: boolean;
  signal?: AbortSignal;
}

export class NotApproved extends PreconditionError {
  constructor() {
    super('not started: the commands were not approved', 'other');
    this.name = 'NotApproved';
  }
}

export class LanesSession {
  readonly store: RunStore;
  readonly ops: RepoOperations;

  private constructor(
    readonly root: string,
    readonly commonDir: string,
    private readonly o: SessionOptions,
  ) {
    this.store = new RunStore(commonDir);
    this.ops = RepoOperations.for(commonDir);
  }

  static async open(o: SessionOptions): Promise<LanesSession> {
    let root: string;
    try {
      root = await gitOut(['rev-parse', '--show-toplevel'], { cwd: o.cwd, readOnly: true });
    } catch {
      throw new PreconditionError(`${o.cwd} is not inside a git repository; run this in one (or "git init" first)`, 'notARepository');
    }
    return new LanesSession(root, await gitCommonDir(root), o);
  }

  /** A session over a repository already found (the extension finds it without running git). */
  static of(root: string, commonDir: string, o: Omit<SessionOptions, 'cwd'>): LanesSession {
    return new LanesSession(root, commonDir, { ...o, cwd: root });
  }

  private blocking<T>(name: string, fn: () => Promise<T>, extra: Partial<Operation> = {}): Promise<T> {
    return this.ops.run({ name: `${this.o.face}: ${name}`, kind: 'blocking', onWait: (owner) => this.o.onWait?.(name, owner), ...extra }, fn);
  }

  // ——— runs ———

  /** Read and check everything a run needs; writes nothing. */
  planRun(opts: Partial<EngineOptions> = {}): Promise<RunRequest> {
    return Orchestrator.plan({ ...this.o.runDefaults?.(), ...opts, cwd: this.root });
  }

  /**
   * Approve, then start: the first side effects. Declined, nothing is left behind. The run
   * continues after this resolves; await `o.run()` for its end.
   */
  async startRun(req: RunRequest): Promise<Orchestrator> {
    if (this.o.approve && !(await this.o.approve(req))) throw new NotApproved();
    const nested = this.ops.inside();
    const o = await this.blocking(req.resume ? `resume run ${req.resume.runId}` : 'start a run', () => Orchestrator.start({ ...req, opts: { command: this.o.face, ...req.opts } }), { wait: true });
    this.o.onRunStarted?.(o, nested);
    return o;
  }

  /** Plan and start in one call (the CLI's `lanes run`). */
  async run(opts: Partial<EngineOptions> = {}): Promise<Orchestrator> {
    return this.startRun(await this.planRun(opts));
  }

  // ——— reading ———

  latestRunId(): Promise<string | undefined> {
    return this.store.latest();
  }

  async requireRun(runId?: string): Promise<RunState> {
    const id = runId ?? (await this.store.latest());
    if (!id) throw new PreconditionError('there is no run yet; start one with "lanes run" (or Run Plan in VS Code)', 'noRun');
    if (!(await this.store.list()).includes(id)) throw new PreconditionError(`no run "${id}" in this repository`, 'noRun');
    return this.store.read(id);
  }

  inspect(runId: string): Promise<RunTruth> {
    return this.store.inspect(runId);
  }

  inspectAll(): Promise<RunListing> {
    return this.store.inspectAll();
  }

  snapshots(): Promise<SnapshotRef[]> {
    return listSnapshots(this.root);
  }

  /** An apply into this checkout that another process is writing right now. */
  applyInProgress(): Promise<ApplyJournal | undefined> {
    return applyInProgress(this.root, this.commonDir);
  }

  lastApply(): Promise<ApplyJournal | undefined> {
    return readJournal(this.commonDir, this.root);
  }

  queueResult(runId: string): Promise<QueueRecord | undefined> {
    return this.store.readQueue(runId);
  }

  /**
   * Roll back an apply into this checkout that a crash interrupted: only when its owner is dead
   * (a live apply is never touched), and never while another blocking operation runs.
   */
  async recover(): Promise<Recovery> {
    if (!(await readJournal(this.commonDir, this.root))) return 'none';
    try {
      return await this.blocking('recover an interrupted apply', () => recoverApply(this.root, this.commonDir), { wait: false });
    } catch (e) {
      if ((e as { reason?: string }).reason === 'busy') return 'in-progress';
      throw e;
    }
  }

  // ——— radar ———

  /** Every pair of the run's lanes with work, trial-merged (read-only). */
  async radar(runId: string, opts: { lanes?: string[]; details?: boolean; signal?: AbortSignal } = {}): Promise<RadarResult> {
    const state = await this.store.read(runId);
    return this.radarOf(state, opts);
  }

  radarOf(state: RunState, opts: { lanes?: string[]; details?: boolean; signal?: AbortSignal } = {}): Promise<RadarResult> {
    const lanes = state.lanes.filter((l) => l.head && l.base && (!opts.lanes || opts.lanes.includes(l.id)));
    // Scopes and lineage from the plan the run recorded: violations and inherited conflicts.
    const plan = validatePlanText(state.planText).plan;
    const graph = plan ? new LaneGraph(plan.lanes) : undefined;
    return this.ops.run({ name: 'radar', kind: 'readOnly' }, () =>
      conflictRadar(
        this.root,
        lanes.map((l) => ({
          id: l.id,
          base: l.base!,
          head: l.head!,
          scope: plan?.lanes.find((x) => x.id === l.id)?.scope,
          ancestors: graph?.has(l.id) ? [...graph.ancestors(l.id)] : undefined,
        })),
        { details: opts.details, signal: opts.signal },
      ),
    );
  }

  /** The radar while lanes work: collisions as they appear. */
  watchRadar(o: Orchestrator, onFinding: (p: PairResult) => void): { stop(): void; idle(): Promise<void> } {
    return watchRadar(this.root, o, onFinding);
  }

  // ——— merge queue and send-back ———

  private planOf(state: RunState): Plan {
    const plan = validatePlanText(state.planText).plan;
    if (!plan) throw new PreconditionError(`run ${state.runId}: its recorded plan no longer validates`, 'invalidPlan');
    return plan;
  }

  /**
   * The gated merge queue onto the run's integration branch, sending a breaking lane back with
   * the evidence (unless `sendBack: false`). Its result is kept with the run, and the report
   * is written.
   */
  mergeQueue(runId: string, q: QueueOptions = {}): Promise<QueueResult> {
    return this.blocking(
      `merge queue of run ${runId}`,
      async () => {
        const state = await this.store.read(runId);
        const plan = this.planOf(state);
        const unknown = (q.lanes ?? []).filter((id) => !state.lanes.some((l) => l.id === id));
        if (unknown.length) throw new PreconditionError(`run ${runId} has no lane${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`, 'unknownLane');
        const queue = new MergeQueue({
          repo: this.root,
          commonDir: this.commonDir,
          state,
          plan,
          lanes: q.lanes,
          signal: q.signal,
          onProgress: q.onProgress,
          sendBack: q.sendBack === false ? undefined : (lane, feedback, finding) => this.sendBack(runId, lane, feedback, finding),
          findings: await this.findingsIn(state),
        });
        const result = await queue.run();
        const after = await this.store.read(runId);
        await this.store.writeQueue(runId, {
          result,
          lanes: q.lanes,
          laneHeads: Object.fromEntries(after.lanes.filter((l) => l.head).map((l) => [l.id, l.head!])),
          at: new Date().toISOString(),
        });
        await this.writeReport(after);
        return result;
      },
      { signal: q.signal },
    );
  }

  /**
   * Run one lane again with feedback in its brief (a person's, or the merge queue's evidence);
   * a finding that comes with it is recorded in the run as sent.
   */
  sendBack(runId: string, lane: string, feedback: string, finding?: Omit<FindingRecord, 'id' | 'at' | 'status' | 'history'>): Promise<LaneState> {
    return this.blocking(`send ${lane} back`, async () => {
      const o = await this.startRun(await this.planRun({ resume: runId, lanes: [lane], feedback: { [lane]: feedback }, findings: finding ? [finding] : undefined }));
      const after = await o.run();
      return after.lanes.find((l) => l.id === lane)!;
    });
  }

  // ——— findings ———

  /** A run's findings (from a state in hand, say a live run's) with a person's decisions applied. */
  findingsIn(state: RunState): Promise<FindingRecord[]> {
    return readDecisions(this.runDir(state.runId)).then((d) => effectiveFindings(state.findings, d));
  }

  /** The run's findings, with a person's decisions applied. */
  async findings(runId: string): Promise<FindingRecord[]> {
    return this.findingsIn(await this.store.read(runId));
  }

  private async finding(runId: string, id: string): Promise<{ state: RunState; f: FindingRecord }> {
    const state = await this.store.read(runId);
    const f = (await this.findingsIn(state)).find((x) => x.id === id.toUpperCase());
    if (!f) throw new PreconditionError(`run ${runId} has no finding ${id}${state.findings.length ? `; it has ${state.findings.map((x) => x.id).join(', ')}` : ''}`, 'other');
    return { state, f };
  }

  /**
   * A person sets a finding aside: it no longer holds its lane in the merge queue, and no lane is
   * sent back with it. Allowed while the run works (a decision file the run reads; its state is
   * never written from here).
   */
  async dismissFinding(runId: string, id: string, reason?: string): Promise<FindingRecord> {
    const { f } = await this.finding(runId, id);
    if (f.status === 'dismissed') return f;
    await writeDecision(this.runDir(runId), { finding: f.id, action: 'dismiss', at: new Date().toISOString(), by: this.o.face, ...(reason?.trim() ? { reason: reason.trim() } : {}) });
    return (await this.finding(runId, id)).f;
  }

  /**
   * Send the lane a finding is for back to its agent with it (its text edited first, or not).
   * The finder runs again on top of the new work when it builds on that lane. The run resumes
   * for that (never while another process runs it).
   */
  async sendFinding(runId: string, id: string, text?: string): Promise<{ finding: FindingRecord; state: RunState }> {
    const { state, f } = await this.finding(runId, id);
    if (f.kind === 'approve' || f.kind === 'note') throw new PreconditionError(`${f.id} is ${f.kind === 'approve' ? 'an approval' : 'a note'}: there is nothing to send back`, 'other');
    const plan = validatePlanText(state.planText).plan;
    const graph = plan ? new LaneGraph(plan.lanes) : undefined;
    const rerunFinder = !!graph?.ancestors(f.from).has(f.to) && state.lanes.some((l) => l.id === f.from);
    const lanes = rerunFinder ? [f.to, f.from] : [f.to];
    const feedback: Record<string, string> = { [f.to]: findingFeedback(f, text) };
    if (rerunFinder) feedback[f.from] = `Your finding ${f.id} was sent back to ${f.to} by a person; its new work is merged into your worktree. Run your checks again; if the problem is gone, keep your work as it is.`;
    const o = await this.startRun(await this.planRun({ resume: runId, lanes, feedback, sendFindings: [{ id: f.id, text }] }));
    const after = await o.run();
    return { finding: (await this.findingsIn(after)).find((x) => x.id === f.id)!, state: after };
  }

  // ——— resolve a conflict into a lane ———

  /** What a lane conflicts with: another lane's head, or the integration branch ("integration"). */
  private async otherSide(runId: string, state: RunState, against: string): Promise<{ head: string; label: string }> {
    if (against === 'integration') {
      const rec = await this.store.readQueue(runId);
      if (!rec) throw new PreconditionError('nothing is integrated yet; run the merge queue first', 'noWork');
      return { head: rec.result.head, label: `the integration branch ${rec.result.branch}` };
    }
    const o = state.lanes.find((l) => l.id === against);
    if (!o?.head) throw new PreconditionError(`lane "${against}" has no work to resolve against`, 'noWork');
    return { head: o.head, label: `lane ${against}` };
  }

  private resolutionMessage(state: RunState, lane: string, label: string): string {
    const plan = validatePlanText(state.planText).plan;
    const role = plan?.lanes.find((l) => l.id === lane)?.role ?? 'implement';
    return [`lanes(${lane}): resolve the conflict with ${label}`, '', `Merged ${label} into lane ${lane}, conflicts resolved by hand.`, '', `Lanes-Lane: ${lane}`, `Lanes-Role: ${role}`, 'Lanes-Agent: person', `Lanes-Run: ${state.runId}`, ''].join('\n');
  }

  /** The lane's new head, recorded in the run's state (with the run's lease: never while it runs). */
  private async recordHead(lease: RunLease, runId: string, lane: string, head: string): Promise<RunState> {
    const state = await this.store.read(runId);
    const l = state.lanes.find((x) => x.id === lane)!;
    l.head = head;
    l.warnings.push(`its conflict was resolved by hand (merge commit ${head.slice(0, 10)})`);
    await lease.save(state);
    return state;
  }

  /**
   * A resolution holds the run's lease from start to end: never while the run works (its lane's
   * worktree is the agent's then), and the lane must have ended.
   */
  private async withResolveLease<T>(runId: string, lane: string, fn: (lease: RunLease, state: RunState, l: LaneState) => Promise<T>): Promise<T> {
    const lease = await this.store.claim(runId, `${this.o.face}: resolve a conflict in ${lane}`);
    try {
      const state = await this.store.read(runId);
      const l = state.lanes.find((x) => x.id === lane);
      if (!l?.head) throw new PreconditionError(`lane "${lane}" has no work in run ${runId}`, 'noWork');
      if (!FINAL_STATUSES.has(l.status)) throw new PreconditionError(`lane "${lane}" is ${l.status}; resolve its conflict once it has ended`, 'noWork');
      return await fn(lease, state, l);
    } finally {
      await lease.release();
    }
  }

  /**
   * Start resolving a lane's conflict with another lane or the integration branch: the other side
   * is merged into the lane's worktree. Conflicted files are returned with the three commits a
   * merge editor needs; a clean merge is committed (and recorded) at once.
   */
  resolveStart(runId: string, lane: string, against: string): Promise<ResolutionStart & { worktree: string; label: string }> {
    return this.blocking(`resolve ${lane}`, () =>
      this.withResolveLease(runId, lane, async (lease, state, l) => {
        const other = await this.otherSide(runId, state, against);
        const r = await startResolution({ worktree: l.worktree, laneHead: l.head!, theirs: other.head, message: this.resolutionMessage(state, lane, other.label) });
        if (r.committed) await this.recordHead(lease, runId, lane, r.committed);
        return { ...r, worktree: l.worktree, label: other.label };
      }),
    );
  }

  /** Commit the resolved files (refused while markers remain) and record the lane's new head. */
  resolveFinish(runId: string, lane: string, files: string[], against: string): Promise<string> {
    return this.blocking(`resolve ${lane}`, () =>
      this.withResolveLease(runId, lane, async (lease, state, l) => {
        const other = await this.otherSide(runId, state, against);
        const head = await finishResolution({ worktree: l.worktree, files, message: this.resolutionMessage(state, lane, other.label) });
        await this.recordHead(lease, runId, lane, head);
        return head;
      }),
    );
  }

  /** Give up a resolution under way: the lane's worktree back at its head. */
  resolveAbort(runId: string, lane: string): Promise<void> {
    return this.blocking(`abort resolving ${lane}`, async () => {
      const l = (await this.store.read(runId)).lanes.find((x) => x.id === lane)!;
      await abortResolution(l.worktree);
    });
  }

  // ——— select, apply, undo ———

  /**
   * What a selection brings in: the commit to apply and the base it is measured from. For a
   * lane's files or hunks the base is that lane's own base (never the run's: a lane built on
   * another would bring the other's work along).
   */
  async target(runId: string, sel: Selection): Promise<{ base: string; target: string }> {
    const state = await this.store.read(runId);
    if (sel.kind === 'integration') {
      const rec = await this.store.readQueue(runId);
      if (!rec || !rec.result.merged.length) throw new PreconditionError('nothing is integrated yet; run the merge queue first', 'noWork');
      const moved = rec.result.merged.filter((id) => state.lanes.find((l) => l.id === id)?.head !== rec.laneHeads[id]);
      if (moved.length) throw new PreconditionError(`lanes ${moved.join(', ')} changed since the merge queue ran; run the merge queue again`, 'noWork');
      return { base: state.baseCommit, target: rec.result.head };
    }
    const l = state.lanes.find((x) => x.id === sel.lane);
    if (!l) throw new PreconditionError(`run ${runId} has no lane "${sel.lane}"`, 'unknownLane');
    if (!l.base || !l.head || l.base === l.head) throw new PreconditionError(`lane ${sel.lane} has no work to apply`, 'noWork');
    if (sel.kind === 'markers' || sel.kind === 'nonConflicting') {
      const rec = await this.store.readQueue(runId);
      const onto = rec?.result.head ?? state.baseCommit;
      const m = await trialMerge(this.root, onto, l.head);
      const commit = await gitOut(['commit-tree', m.tree, '-p', onto, '-p', l.head, '-F', '-'], { cwd: this.root, input: `lanes: ${sel.lane} on the integration${m.clean ? '' : ', with conflict markers'}\n`, env: AGENT_LANES_ID });
      if (sel.kind === 'markers') return { base: state.baseCommit, target: commit };
      // The integration, plus the lane's files that merge cleanly (conflicted ones stay as integrated).
      const files = (await gitPaths(['diff', '--name-only', '-z', '--no-renames', onto, commit], { cwd: this.root, readOnly: true })).filter((p) => !m.conflicts.includes(p));
      if (!files.length && onto === state.baseCommit) throw new PreconditionError(`every file lane ${sel.lane} brings conflicts`, 'noWork');
      return { base: state.baseCommit, target: files.length ? await selectionTarget(this.root, onto, commit, { files }) : onto };
    }
    const select = sel.kind === 'files' ? { files: sel.paths } : sel.kind === 'hunks' ? { hunks: { [sel.path]: sel.hunks } } : {};
    return { base: l.base, target: await selectionTarget(this.root, l.base, l.head, select) };
  }

  /** Bring a selection into the checkout: snapshot first, nothing of the user's lost, staged, HEAD kept. */
  apply(runId: string, sel: Selection, a: ApplyOptions = {}): Promise<ApplyResult> {
    return this.blocking(
      'apply',
      async () => {
        const t = await this.target(runId, sel);
        let paths = a.paths;
        if (a.exclude?.length) {
          const all = (await changedFiles(this.root, t.base, t.target)).flatMap((f) => (f.oldPath ? [f.oldPath, f.path] : [f.path]));
          paths = all.filter((p) => !a.exclude!.includes(p) && (!a.paths || a.paths.includes(p)));
          if (!paths.length) throw new PreconditionError('nothing left to apply once those files are left out', 'noWork');
        }
        return applyToCheckout({
          repo: this.root,
          commonDir: this.commonDir,
          base: t.base,
          target: t.target,
          runId,
          paths,
          conflictMarkers: a.conflictMarkers,
          unsavedPaths: a.unsavedPaths,
          acceptOutsideLinks: a.acceptOutsideLinks,
          command: `${this.o.face}: apply`,
        });
      },
      { signal: a.signal },
    );
  }

  undo(opts: { force?: boolean } = {}): Promise<{ id: string; restored: string[]; saved?: string }> {
    return this.blocking('undo', () => undoApply(this.root, this.commonDir, opts));
  }

  // ——— discard, clean, report ———

  discard(runId: string, lane: string): Promise<CleanAction> {
    return this.blocking(`discard ${lane}`, async () => {
      const state = await this.store.read(runId);
      if (!state.lanes.some((l) => l.id === lane)) throw new PreconditionError(`run ${runId} has no lane "${lane}"`, 'unknownLane');
      return discardLane({ repo: this.root, commonDir: this.commonDir, runId, lane });
    });
  }

  clean(opts: { force?: boolean; runIds?: string[] } = {}): Promise<CleanAction[]> {
    return this.blocking('clean', () => cleanRuns({ repo: this.root, commonDir: this.commonDir, ...opts }));
  }

  /**
   * The run report from what is recorded: the run's state, a fresh radar and the merge queue's
   * kept result. Written to the run's folder; the same text in every face.
   */
  async report(runId: string): Promise<{ text: string; file: string }> {
    return this.writeReport(await this.store.read(runId));
  }

  private async writeReport(state: RunState): Promise<{ text: string; file: string }> {
    const plan = validatePlanText(state.planText).plan;
    const radar = await this.radarOf(state, { details: true });
    const rec = await this.store.readQueue(state.runId);
    const text = runReport(state, plan?.goal ?? '', radar, rec?.result, await this.findingsIn(state));
    return { text, file: await this.store.writeReport(state.runId, text) };
  }

  /** Where a run's files are (state, logs, briefs, memory, report). */
  runDir(runId: string): string {
    return path.dirname(this.store.paths(runId).state);
  }
}
