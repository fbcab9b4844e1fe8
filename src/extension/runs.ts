/**
 * Starting, following and stopping runs in this window. Everything that runs a command goes
 * through here, so Workspace Trust and the first-run approval are checked in one place.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { PRESETS, isPresetName } from '../core/agents/presets';
import { resolveAgent } from '../core/agents/resolve';
import { approvalKey, commandsOf } from './approval';
import { describeError, LanesError, PreconditionError } from '../core/errors';
import { Orchestrator, RunRequest, speedup } from '../core/run/orchestrator';
import type { IsolationSetting } from '../core/run/sandbox';
import { NotApproved } from '../core/session/session';
import { describeOwner } from '../core/util/ownerLock';
import type { Plan } from '../core/plan/schema';
import { FINAL_STATUSES, type RunState } from '../core/run/state';
import type { Log } from './log';
import type { FolderModel, WorkspaceModel } from './model';

export class UntrustedError extends Error {
  constructor() {
    super('Agent Lanes runs nothing in Restricted Mode: no agents, verify commands or git. Trust this workspace to run lanes.');
    this.name = 'UntrustedError';
  }
}

/** Every command handler that runs anything calls this itself (a `when` clause is not enough). */
export function requireTrust(): void {
  if (!vscode.workspace.isTrusted) throw new UntrustedError();
}

export interface Settings {
  maxParallel?: number;
  worktreeRoot?: string;
  defaultAgent: string;
  agents: Record<string, string[]>;
  defaultTimeoutMinutes: number;
  defaultRetries: number;
  plannerCommand: string[];
  requireApproval: boolean;
  /** Unset: the sandbox where available. */
  isolation?: IsolationSetting;
}

export function settings(folder?: vscode.WorkspaceFolder): Settings {
  const c = vscode.workspace.getConfiguration('agentLanes', folder);
  const agents = c.get<Record<string, unknown>>('agents') ?? {};
  const cleanAgents: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(agents)) if (Array.isArray(v) && v.length && v.every((x) => typeof x === 'string')) cleanAgents[k] = v as string[];
  const planner = c.get<unknown>('plannerCommand');
  return {
    maxParallel: c.get<number>('maxParallel') || undefined,
    worktreeRoot: c.get<string>('worktreeRoot') || undefined,
    defaultAgent: c.get<string>('defaultAgent') || 'claude',
    agents: cleanAgents,
    defaultTimeoutMinutes: c.get<number>('defaultTimeoutMinutes') ?? 30,
    defaultRetries: c.get<number>('defaultRetries') ?? 0,
    plannerCommand: Array.isArray(planner) && planner.every((x) => typeof x === 'string') ? (planner as string[]) : [],
    requireApproval: c.get<boolean>('requireApproval') ?? true,
    isolation: ((v) => (v === 'sandbox' || v === 'none' ? v : undefined))(c.get<string>('isolation')),
  };
}

/** What became of a finding sent back. */
export type SendOutcome =
  /** The run working in this window took it, or the run resumed to re-run the lane. */
  | { kind: 'sent'; message: string; runId: string; live: boolean }
  /** The lane it is for is still working (in the live run): send it once that lane has ended. */
  | { kind: 'laneBusy'; message: string }
  | { kind: 'notApproved'; message: string };

export class RunController implements vscode.Disposable {
  /** The status bar item of active runs (read by tests). */
  readonly status: vscode.StatusBarItem;
  private readonly subs: vscode.Disposable[] = [];
  private readonly _onDidStartRun = new vscode.EventEmitter<{ folder: FolderModel; o: Orchestrator }>();
  /** Every run this window starts or resumes, as it starts (after the views attach). */
  readonly onDidStartRun = this._onDidStartRun.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly model: WorkspaceModel,
    private readonly log: Log,
    /** Shows a lane's task in the terminal panel (the task provider attaches to the run). */
    private readonly showLaneTask: (folder: FolderModel, lane: string) => void,
  ) {
    this.status = vscode.window.createStatusBarItem('agentLanes.status', vscode.StatusBarAlignment.Left, 50);
    this.status.name = 'Agent Lanes';
    this.status.command = 'agentLanes.plan.focus';
    this.subs.push(this.status, this._onDidStartRun, model.onDidChange(() => this.updateStatus()));
    this.installHooks();
  }

  private updateStatus(): void {
    const live = this.model.all().filter((f) => f.live);
    if (!live.length) {
      this.status.hide();
      return;
    }
    const lanes = live.flatMap((f) => f.run?.lanes ?? []);
    const running = lanes.filter((l) => l.status === 'running' || l.status === 'verifying').length;
    const done = lanes.filter((l) => l.status === 'passed').length;
    // Cancelled and skipped are not failures: counted apart.
    const failed = lanes.filter((l) => l.status === 'failed' || l.status === 'timed-out').length;
    const stopped = lanes.filter((l) => l.status === 'cancelled' || l.status === 'skipped').length;
    this.status.text = `$(sync~spin) Lanes ${running} running · ${done} done${failed ? ` · ${failed} failed` : ''}${stopped ? ` · ${stopped} cancelled` : ''}`;
    this.status.tooltip = 'Agent Lanes: a run is active. Click to show the lanes.';
    this.status.show();
  }

  /** Ask once per set of commands (remembered by their hash). */
  async approve(folder: FolderModel, plan: Plan, isolation?: RunRequest['isolation']): Promise<boolean> {
    const s = settings(folder.folder);
    if (!s.requireApproval) return true;
    const cmds = commandsOf(plan, s.defaultAgent, s.agents, isolation);
    const key = approvalKey(cmds);
    if (this.context.workspaceState.get<boolean>(key)) return true;
    const missing = plan.lanes
      .map((l) => resolveAgent(plan, l, s.defaultAgent, s.agents))
      .filter((a) => isPresetName(a.name))
      .map((a) => PRESETS[a.name as keyof typeof PRESETS].label);
    const answer = await vscode.window.showWarningMessage(
      'Agent Lanes will run these commands in lane worktrees. Run them?',
      { modal: true, detail: cmds.join('\n') + (missing.length ? `\n\nAgents: ${[...new Set(missing)].join(', ')}` : '') },
      'Run',
    );
    if (answer !== 'Run') return false;
    await this.context.workspaceState.update(key, true);
    return true;
  }

  /** How every folder's session reaches settings, approval and the views (set once). */
  private installHooks(): void {
    this.model.hooks = {
      runDefaults: (folder) => {
        const s = settings(folder.folder);
        return {
          maxParallel: s.maxParallel,
          worktreeRoot: s.worktreeRoot,
          defaultAgent: s.defaultAgent,
          agentOverrides: s.agents,
          defaultTimeoutMinutes: s.defaultTimeoutMinutes,
          defaultRetries: s.defaultRetries,
          dieWithOrchestrator: true,
          isolation: s.isolation,
          command: 'VS Code',
        };
      },
      approve: (folder, req) => this.approve(folder, req.plan, req.isolation),
      onRunStarted: (folder, o, nested) => this.follow(folder, o, nested),
      onWait: (folder, what, owner) => {
        this.log.info(`${folder.name}: the ${what} waits for ${describeOwner(owner)}`);
        vscode.window.setStatusBarMessage(`$(watch) Agent Lanes: waiting for ${describeOwner(owner)}…`, 5000);
      },
    };
  }

  /**
   * Start a run of the folder's plan (or of some lanes), or re-run lanes of a run. Plan, then
   * approve, then start: a declined approval writes nothing.
   */
  async start(folder: FolderModel, opts: { lanes?: string[]; resume?: string; feedback?: Record<string, string> } = {}): Promise<Orchestrator | undefined> {
    requireTrust();
    if (folder.live) {
      // A lane run, retried or resumed while a run works joins that run: the engine schedules it
      // like any other lane (after what it depends on).
      const wanted = opts.lanes ?? [];
      if (wanted.length) {
        const live = folder.live;
        const added: string[] = [];
        for (const id of wanted) if (await live.addLane(id)) added.push(id);
        if (added.length) {
          this.log.info(`${folder.name}: ${added.join(', ')} joined run ${live.runId}`);
          return live;
        }
        void vscode.window.showInformationMessage(`Lane ${wanted.join(', ')} is already running in run ${live.runId}.`);
        return undefined;
      }
      void vscode.window.showWarningMessage(`A run is already active in ${folder.name}; stop it first, or run single lanes (they join it).`);
      return undefined;
    }
    if (!opts.resume && !folder.plan) {
      // No plan file at all: offer to make one (the Problems panel would be empty).
      const pick = await vscode.window.showInformationMessage(`${folder.name} has no plan yet (${path.relative(folder.root, folder.planFile)}). Create one?`, 'New Plan from Template', 'Plan with an Agent');
      if (pick === 'New Plan from Template') void vscode.commands.executeCommand('agentLanes.newPlanFromTemplate', folder.folder.uri);
      if (pick === 'Plan with an Agent') void vscode.commands.executeCommand('agentLanes.planWithAgent', folder.folder.uri);
      return undefined;
    }
    if (!opts.resume && (!folder.plan?.ok || !folder.plan.plan)) {
      const n = folder.plan?.errors.length ?? 0;
      const open = await vscode.window.showErrorMessage(`The plan has ${n} error${n === 1 ? '' : 's'}; fix them before running it.`, 'Open the Plan', 'Show Problems');
      if (open === 'Open the Plan') void vscode.window.showTextDocument(vscode.Uri.file(folder.planFile));
      if (open === 'Show Problems') void vscode.commands.executeCommand('workbench.actions.view.problems');
      return undefined;
    }
    try {
      const req = await folder.session.planRun(opts);
      return await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Agent Lanes: starting the run…' }, () => folder.session.startRun(req));
    } catch (e) {
      if (e instanceof NotApproved) {
        this.log.info(`${folder.name}: not started (the commands were not approved)`);
        return undefined;
      }
      if (e instanceof LanesError) {
        void vscode.window.showErrorMessage(`Agent Lanes: ${describeError(e).message}`);
        return undefined;
      }
      throw e;
    }
  }

  /** A run started in this window (by a command, a task or the merge queue): views, log, the end. */
  private follow(folder: FolderModel, o: Orchestrator, nested: boolean): void {
    this.log.info(`run ${o.runId} in ${folder.root}: ${o.state.lanes.map((l) => l.id).join(', ')}`);
    folder.attach(o);
    const shown = new Set<string>();
    o.onEvent((e) => {
      if (e.type === 'lane-status' && (e.status === 'running' || e.status === 'verifying') && !shown.has(e.lane)) {
        shown.add(e.lane);
        this.showLaneTask(folder, e.lane);
      }
      if (e.type === 'lane-status') {
        this.log.info(`${e.lane}: ${e.status}${e.reason ? ` (${e.reason.split('\n')[0]})` : ''}`);
        const attempt = e.state.attempts[e.state.attempts.length - 1];
        if (e.status === 'running' && e.reason?.startsWith('attempt') && attempt) this.log.info(`> ${attempt.agentArgv.map((a) => JSON.stringify(a)).join(' ')}  [lane ${e.lane}, in ${e.state.worktree}]`);
        if (e.status === 'verifying') this.log.info(`> ${e.reason ?? ''}  [verify ${e.lane}]`);
      }
      if (e.type === 'warning') this.log.warn(`${e.lane ? `${e.lane}: ` : ''}${e.message}`);
      if (e.type === 'finding') this.log.info(`${e.finding.from}: raised ${e.finding.id} for ${e.finding.to} (${e.finding.kind}${e.finding.blocking ? ', blocking' : ''}): ${e.finding.title}`);
      if (e.type === 'loop-back') {
        const lb = e.loopBack;
        if (lb.sent) this.log.info(`${lb.to}: sent back by ${lb.by === 'run' ? lb.from : lb.by === 'person' ? 'a person' : 'the merge queue'} with ${lb.finding}`);
        else this.log.warn(`${lb.to}: not sent back with ${lb.finding}: ${lb.reason ?? ''}`);
      }
    });
    this._onDidStartRun.fire({ folder, o });
    void o.run().then(
      (state) => this.finished(folder, state, nested).catch((e: unknown) => this.log.error(`after run ${o.runId}: ${describeError(e).logText}`)),

      (e: unknown) => {
        // The run ended without a final state on disk (say, the disk is full): say so, and
        // let the views and Run Plan go back to normal.
        const d = describeError(e);
        this.log.error(`run ${o.runId}: ${d.logText}`);
        folder.detach(o);
        void vscode.window.showErrorMessage(`Agent Lanes: run ${o.runId} stopped: ${d.message}`, 'Open Log').then((pick) => pick && this.log.show());
      },
    );
  }

  private async finished(folder: FolderModel, state: RunState, nested: boolean): Promise<void> {
    const passed = state.lanes.filter((l) => l.status === 'passed').length;
    const sp = speedup(state);
    const msg = `Agent Lanes: run ${state.runId} finished: ${passed}/${state.lanes.length} lanes passed${sp ? ` (speedup ${sp.toFixed(2)}×)` : ''}.`;
    this.log.info(msg);
    // A run another operation started (the merge queue sending a lane back) ends inside it: that operation reports it.
    if (nested) return;
    const pick = await (passed === state.lanes.length ? vscode.window.showInformationMessage(msg, 'Reconcile', 'Show Report') : vscode.window.showWarningMessage(msg, 'Reconcile', 'Show Report'));
    if (pick === 'Show Report') void vscode.commands.executeCommand('agentLanes.showRunReport', folder.folder.uri);
    if (pick === 'Reconcile') void vscode.commands.executeCommand('agentLanes.openReconcilePanel', folder.folder.uri);
  }

  /**
   * Send the lane a finding is for back to its agent (with `text` in place of the finding's
   * details). A run working in this window takes it at once; otherwise the run resumes for it
   * (approval, views and terminals as for any run) and this resolves once it has started.
   */
  async sendFinding(folder: FolderModel, runId: string, id: string, text?: string): Promise<SendOutcome> {
    requireTrust();
    id = id.toUpperCase();
    const live = folder.live;
    if (live && live.runId === runId) {
      const f = live.state.findings.find((x) => x.id === id);
      if (f && (f.kind === 'approve' || f.kind === 'note')) throw new PreconditionError(`${f.id} is ${f.kind === 'approve' ? 'an approval' : 'a note'}: there is nothing to send back`, 'other');
      if (await live.sendFinding(id, text)) {
        this.log.info(`${folder.name}: ${id} sent back to ${f?.to ?? '?'} in run ${runId}${text ? ' (edited)' : ''}`);
        await folder.updateFindings();
        return { kind: 'sent', runId, live: true, message: `${id} sent back to ${f?.to ?? 'its lane'}: it runs again with it in run ${runId}` };
      }
      const to = f && live.state.lanes.find((l) => l.id === f.to);
      if (to && !FINAL_STATUSES.has(to.status)) return { kind: 'laneBusy', message: `${to.id} is ${to.status}; send ${id} back once it has ended` };
      // The run is ending: once it has, the run resumes for the finding.
      await live.run().catch(() => undefined);
    }
    // Resolves as the run starts (the session waits for its end, which is reported like any run's).
    let sub: vscode.Disposable | undefined;
    const started = new Promise<Orchestrator>((resolve) => {
      sub = this.onDidStartRun((e) => e.folder === folder && resolve(e.o));
    });
    const done = folder.session.sendFinding(runId, id, text);
    let first: { o: Orchestrator } | { finding: { to: string } };
    try {
      first = await Promise.race([started.then((o) => ({ o })), done.then((r) => ({ finding: r.finding }))]);
    } catch (e) {
      if (e instanceof NotApproved) {
        this.log.info(`${folder.name}: ${id} not sent back (the commands were not approved)`);
        return { kind: 'notApproved', message: `${id} not sent back: the commands were not approved` };
      }
      throw e;
    } finally {
      sub?.dispose();
    }
    // The run goes on: its end is reported like any run's; a failure after its start is logged.
    void done.then(
      (r) => this.log.info(`${folder.name}: ${id} after its send-back: ${r.finding.status}; ${r.finding.to} ${r.state.lanes.find((l) => l.id === r.finding.to)?.status ?? '?'}`),
      (e: unknown) => this.log.error(`send ${id} back: ${describeError(e).logText}`),
    );
    const to = 'o' in first ? first.o.state.findings.find((x) => x.id === id)?.to : first.finding.to;
    return { kind: 'sent', runId, live: false, message: `${id} sent back to ${to ?? 'its lane'}: run ${runId} resumes to run it again` };
  }

  cancelLane(folder: FolderModel, lane: string): boolean {
    return folder.live?.cancelLane(lane) ?? false;
  }

  cancelRun(folder: FolderModel): void {
    folder.live?.cancel();
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
  }
}
