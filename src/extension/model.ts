/**
 * One model per workspace folder that is a git repository: its plan (validated), its latest
 * run (read from disk, or live from an orchestrator this window started), and the conflict
 * radar. The tree, tasks, status bar and commands all read from here; it emits which lanes
 * changed so views refresh only those.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { discoverRepo } from '../core/git/discover';
import { loadPlan, LoadedPlan, PlanFileError } from '../core/plan/load';
import type { Plan } from '../core/plan/schema';
import { DEFAULT_PLAN_PATH } from '../core/plan/schema';
import type { PairResult } from '../core/reconcile/radar';
import type { EngineOptions, Orchestrator, RunEvent, RunRequest } from '../core/run/orchestrator';
import { LanesSession } from '../core/session/session';
import { latestOnly } from '../core/util/latest';
import type { LockOwner } from '../core/util/ownerLock';
import { inspectState, RunTruth } from '../core/run/inspect';
import { listRuns, readState, RunState, runPaths } from '../core/run/state';
import type { FindingRecord } from '../core/run/findings';

export interface ModelChange {
  folder: FolderModel;
  /** Lanes whose node changed; undefined = everything in this folder. */
  lanes?: string[];
}

/** What the faces above the model plug into every folder's session. */
export interface SessionHooks {
  runDefaults(folder: FolderModel): Partial<EngineOptions>;
  approve(folder: FolderModel, req: RunRequest): Promise<boolean>;
  onRunStarted(folder: FolderModel, o: Orchestrator, nested: boolean): void;
  onWait(folder: FolderModel, what: string, owner: LockOwner): void;
}

export class FolderModel implements vscode.Disposable {
  /** The application layer for this repository: every operation goes through it. */
  readonly session: LanesSession;
  plan?: LoadedPlan;
  /** The last plan that validated: the tree keeps showing it while the file has errors. */
  lastGoodPlan?: Plan;
  planError?: string;
  run?: RunState;
  truth?: RunTruth;
  live?: Orchestrator;
  radar: PairResult[] = [];
  /**
   * The current run's findings with a person's decisions applied (a dismissal is a file of its
   * own beside the state, so the raw `run.findings` would miss it): what every view shows.
   */
  findings: FindingRecord[] = [];
  /** Each shown finding's status and note, to tell which lanes' rows changed. */
  private findingMarks = new Map<string, string>();
  private readonly disposables: vscode.Disposable[] = [];
  private stateWatcher?: vscode.FileSystemWatcher;
  private watchedStateFile?: string;
  private decisionsWatcher?: vscode.FileSystemWatcher;
  private watchedDecisions?: string;
  private findingsTimer?: NodeJS.Timeout;
  private readonly emitter: vscode.EventEmitter<ModelChange>;
  private refreshTimer?: NodeJS.Timeout;

  private constructor(
    readonly folder: vscode.WorkspaceFolder,
    readonly root: string,
    readonly commonDir: string,
    emitter: vscode.EventEmitter<ModelChange>,
    hooks: () => SessionHooks | undefined,
  ) {
    this.emitter = emitter;
    this.session = LanesSession.of(root, commonDir, {
      face: 'VS Code',
      runDefaults: () => hooks()?.runDefaults(this) ?? {},
      approve: async (req) => (await hooks()?.approve(this, req)) ?? false,
      onRunStarted: (o, nested) => hooks()?.onRunStarted(this, o, nested),
      onWait: (what, owner) => hooks()?.onWait(this, what, owner),
    });
    this.updateRadar = latestOnly(
      () => this.computeRadar(),
      (pairs) => {
        if (!pairs) return;
        const before = JSON.stringify(this.radar);
        this.radar = pairs;
        if (JSON.stringify(this.radar) !== before) this.fire();
      },
    );
    this.updateFindings = latestOnly(
      async () => {
        const run = this.run;
        return { run, findings: run ? await this.findingsFor(run) : [] };
      },
      ({ run, findings }) => {
        if (run !== this.run) return; // the run changed meanwhile: reloadRun set its findings
        const changed = this.setFindings(findings);
        if (changed.length) this.fire(changed);
      },
    );
  }

  static async create(folder: vscode.WorkspaceFolder, emitter: vscode.EventEmitter<ModelChange>, hooks: () => SessionHooks | undefined): Promise<FolderModel | undefined> {
    if (folder.uri.scheme !== 'file') return undefined;
    // Found without running git: nothing runs in an untrusted folder, not even git.
    const found = await discoverRepo(folder.uri.fsPath);
    if (!found) return undefined; // not a git repository
    const m = new FolderModel(folder, found.root, found.commonDir, emitter, hooks);
    const planWatcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(found.root), DEFAULT_PLAN_PATH));
    m.disposables.push(
      planWatcher,
      planWatcher.onDidChange(() => m.reloadPlan()),
      planWatcher.onDidCreate(() => m.reloadPlan()),
      planWatcher.onDidDelete(() => m.reloadPlan()),
    );
    await Promise.all([m.reloadPlan(false), m.reloadRun(false)]);
    return m;
  }

  get planFile(): string {
    return path.join(this.root, DEFAULT_PLAN_PATH);
  }

  get name(): string {
    return this.folder.name;
  }

  fire(lanes?: string[]): void {
    this.emitter.fire({ folder: this, lanes });
  }

  async reloadPlan(fire = true): Promise<void> {
    try {
      this.plan = await loadPlan(this.planFile, this.root);
      if (this.plan.ok && this.plan.plan) this.lastGoodPlan = this.plan.plan;
      this.planError = undefined;
    } catch (e) {
      this.plan = undefined;
      this.planError = e instanceof PlanFileError && e.reason === 'notFound' ? undefined : (e as Error).message;
    }
    if (fire) this.fire();
  }

  /** Read the latest run from disk (unless this window runs it live) and watch its state file. */
  async reloadRun(fire = true): Promise<void> {
    if (this.live) return;
    const id = (await listRuns(this.commonDir))[0];
    if (!id) {
      this.run = undefined;
      this.truth = undefined;
    } else {
      try {
        this.run = await readState(this.commonDir, id);
        this.truth = inspectState(this.run);
      } catch {
        this.run = undefined;
        this.truth = undefined;
      }
      this.watchState(id);
    }
    const run = this.run;
    const findings = run ? await this.findingsFor(run).catch(() => run.findings) : [];
    if (run === this.run) this.setFindings(findings);
    if (fire) this.fire();
  }

  /** A run's findings with a person's decisions applied (the session's rule, on the state in hand). */
  async findingsFor(run: RunState): Promise<FindingRecord[]> {
    return this.session.findingsIn(run);
  }

  /**
   * Recompute the current run's findings (after a finding, a loop-back, a decision) and refresh
   * the lanes whose findings changed. One at a time; the latest wins.
   */
  readonly updateFindings: () => Promise<void>;

  /** Keep `findings`; returns the lanes (both ends) of findings that are new or changed. */
  private setFindings(findings: FindingRecord[]): string[] {
    const marks = new Map(findings.map((f) => [f.id, `${f.from}|${f.to}|${f.status}|${f.note ?? ''}`]));
    const changed = new Set<string>();
    for (const f of findings) if (this.findingMarks.get(f.id) !== marks.get(f.id)) changed.add(f.from).add(f.to);
    // Gone (another run): its lanes' rows too.
    for (const [id, mark] of this.findingMarks) if (!marks.has(id)) for (const lane of mark.split('|').slice(0, 2)) changed.add(lane);
    this.findings = findings;
    this.findingMarks = marks;
    if (this.run) this.watchDecisions(this.run.runId);
    return [...changed];
  }

  /** A person's decisions (a dismissal here, or from the CLI) are files beside the state. */
  private watchDecisions(runId: string): void {
    const dir = this.session.runDir(runId);
    if (this.decisionsWatcher && this.watchedDecisions === dir) return;
    this.decisionsWatcher?.dispose();
    const w = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(dir), 'decisions/*.json'));
    this.watchedDecisions = dir;
    const later = () => {
      clearTimeout(this.findingsTimer);
      this.findingsTimer = setTimeout(() => void this.updateFindings(), 100);
    };
    w.onDidChange(later);
    w.onDidCreate(later);
    w.onDidDelete(later);
    this.decisionsWatcher = w;
  }

  private watchState(runId: string): void {
    const file = runPaths(this.commonDir, runId).state;
    if (this.stateWatcher && this.watchedStateFile === file) return;
    this.stateWatcher?.dispose();
    const w = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(path.dirname(file)), 'state.json'));
    this.watchedStateFile = file;
    const later = () => {
      clearTimeout(this.refreshTimer);
      this.refreshTimer = setTimeout(() => void this.reloadRun(), 200);
    };
    w.onDidChange(later);
    w.onDidCreate(later);
    this.stateWatcher = w;
  }

  /** Follow an orchestrator this window started: state in memory, events per lane. */
  attach(o: Orchestrator): void {
    this.live = o;
    this.run = o.state;
    this.truth = undefined;
    this.radar = [];
    void this.updateFindings();
    const off = o.onEvent((e: RunEvent) => {
      if (e.type === 'lane-status' || e.type === 'warning') this.fire(e.type === 'lane-status' || e.lane ? [e.lane!] : undefined);
      if (e.type === 'lane-commit') void this.updateRadar();
      // A finding, a loop-back, or a lane passing again (its findings addressed): the rows of both lanes.
      if (e.type === 'finding' || e.type === 'loop-back' || e.type === 'lane-status') void this.updateFindings();
      if (e.type === 'loop-back') this.fire([e.loopBack.from, e.loopBack.to]);
      if (e.type === 'run-finished') {
        off();
        this.live = undefined;
        this.reloadRun().then(
          () => this.updateRadar(),
          () => undefined,
        );
      }
    });
    this.fire();
  }

  /** Stop following a run that ended without its final event (it failed outright). */
  detach(o: Orchestrator): void {
    if (this.live !== o) return;
    this.live = undefined;
    this.reloadRun().catch(() => undefined);
  }

  /** Recompute the radar: one at a time, and only the latest result is shown. */

  readonly updateRadar: () => Promise<void>;

  private async computeRadar(): Promise<PairResult[] | undefined> {
    const run = this.run;
    if (!run || !vscode.workspace.isTrusted) return undefined;
    if (run.lanes.filter((l) => l.head && l.base && l.head !== l.base).length < 2) return [];
    try {
      return (await this.session.radarOf(run)).pairs;
    } catch {
      return undefined; // lanes may have been cleaned meanwhile
    }
  }

  collisions(lane: string): PairResult[] {
    return this.radar.filter((p) => p.a === lane || p.b === lane);
  }

  dispose(): void {
    clearTimeout(this.refreshTimer);
    clearTimeout(this.findingsTimer);
    this.stateWatcher?.dispose();
    this.decisionsWatcher?.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

/** Every git folder of the workspace, kept in step with folder changes. */
export class WorkspaceModel implements vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<ModelChange>();
  readonly onDidChange = this.emitter.event;
  readonly folders = new Map<string, FolderModel>();
  private readonly subs: vscode.Disposable[] = [];
  readonly ready: Promise<void>;
  /** Set once by activation: how sessions reach settings, approval and views. */
  hooks?: SessionHooks;

  constructor() {
    this.ready = this.sync();
    this.subs.push(vscode.workspace.onDidChangeWorkspaceFolders(() => void this.sync()));
  }

  private async sync(): Promise<void> {
    const wanted = new Set((vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.toString()));
    for (const [k, m] of this.folders) {
      if (!wanted.has(k)) {
        m.dispose();
        this.folders.delete(k);
      }
    }
    const fresh = (vscode.workspace.workspaceFolders ?? []).filter((f) => !this.folders.has(f.uri.toString()));
    const models = await Promise.all(fresh.map((f) => FolderModel.create(f, this.emitter, () => this.hooks)));
    fresh.forEach((f, i) => models[i] && this.folders.set(f.uri.toString(), models[i]!));
    this.emitter.fire({ folder: undefined as unknown as FolderModel });
  }

  all(): FolderModel[] {
    return [...this.folders.values()];
  }

  /** The folder for a URI, or the only/first folder with a plan. */
  pick(uri?: vscode.Uri): FolderModel | undefined {
    if (uri) {
      const f = vscode.workspace.getWorkspaceFolder(uri);
      if (f) return this.folders.get(f.uri.toString());
    }
    const all = this.all();
    return all.find((m) => m.plan) ?? all[0];
  }

  dispose(): void {
    for (const m of this.folders.values()) m.dispose();
    for (const s of this.subs) s.dispose();
    this.emitter.dispose();
  }
}
