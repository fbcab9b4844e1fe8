/**
 * Activation. The extension is a thin adapter over src/core (the same engine the `lanes` CLI
 * uses): it turns core state and events into a tree, tasks, diagnostics, a status bar and
 * commands. Correctness never depends on deactivate: run state lives on disk, lane processes
 * die with this host, and an interrupted run is found again at the next activation.
 */
import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { LANE_SCHEME, LaneContentProvider } from './content';
import { PlanDiagnostics } from './diagnostics';
import { ConflictResolver } from './resolve';
import { registerPlanEditing } from './planEditing';
import { LaneEditorIntegration } from './editors';
import { createLog, Log } from './log';
import { describeError } from '../core/errors';
import { unsupportedPlatform } from '../core/util/platform';
import { PANEL_VIEW_TYPE, ReconcilePanel } from './panel';
import { FolderModel, WorkspaceModel } from './model';
import { RunController } from './runs';
import { LaneTaskProvider, TASK_TYPE } from './tasks';
import { Node, PlanTreeProvider } from './tree';
import { QueueNode, QueueTreeProvider, QUEUE_VIEW_ID } from './queueTree';
import { QUEUE_TASK_TYPE, QueueTaskProvider, registerQueueCommands } from './queueCommands';

export interface AgentLanesApi {
  model: WorkspaceModel;
  runs: RunController;
  tree: PlanTreeProvider;
  tasks: LaneTaskProvider;
  resolver: ConflictResolver;
  view: vscode.TreeView<Node>;
  /** The Queue view (shown when a folder has .lanes/queue.json), its view and its task provider. */
  queue: QueueTreeProvider;
  queueView: vscode.TreeView<QueueNode>;
  queueTasks: QueueTaskProvider;
  editors: LaneEditorIntegration;
  /** Open (or reveal) the reconcile panel for a folder's latest run. */
  openReconcilePanel(folder: FolderModel): Promise<ReconcilePanel | undefined>;
  /** What VS Code calls to bring a reconcile panel back after a window reload. */
  panelSerializer: vscode.WebviewPanelSerializer;
  /** Resolves once activation's asynchronous work (folders, recovery check) is done. */
  ready: Promise<void>;
  /** Measured activation cost: synchronous part, and until the model (plans, runs) is ready. */
  timings: { activateMs: number; readyMs?: number };
}

export function activate(context: vscode.ExtensionContext): AgentLanesApi | undefined {
  // On Windows nothing is registered that would run git or agents: one message says why.
  const refused = unsupportedPlatform();
  if (refused) {
    void vscode.window.showErrorMessage(refused);
    return undefined;
  }
  const started = Date.now();
  const { log, dispose: disposeLog } = createLog();
  context.subscriptions.push({ dispose: disposeLog });
  const model = new WorkspaceModel();
  const diagnostics = new PlanDiagnostics();
  const shown: { tasks?: LaneTaskProvider } = {};
  const runs = new RunController(context, model, log, (folder, lane) => void shown.tasks?.show(folder, lane));
  const tasks = (shown.tasks = new LaneTaskProvider(model, runs));

  const tree = new PlanTreeProvider(model);
  const view = vscode.window.createTreeView('agentLanes.plan', { treeDataProvider: tree, showCollapseAll: true });
  // A plan with errors keeps its last valid tree; the view's badge counts the errors.
  const badge = () => {
    const errors = model.all().reduce((n, f) => n + (f.plan && !f.plan.ok ? f.plan.errors.length : 0), 0);
    view.badge = errors ? { value: errors, tooltip: `${errors} error${errors > 1 ? 's' : ''} in the plan: open it to see them` } : undefined;
  };
  context.subscriptions.push(model.onDidChange(badge));
  context.subscriptions.push(
    model,
    diagnostics,
    runs,
    tree,
    view,
    vscode.tasks.registerTaskProvider(TASK_TYPE, tasks),
    vscode.workspace.registerTextDocumentContentProvider(LANE_SCHEME, new LaneContentProvider()),
    registerPlanEditing(),
  );
  registerCommands({ context, model, runs, log, diagnostics, tasks });

  const queue = new QueueTreeProvider(model, log);
  const queueView = vscode.window.createTreeView(QUEUE_VIEW_ID, { treeDataProvider: queue, showCollapseAll: true });
  queue.attach(queueView);
  const queueTasks = new QueueTaskProvider(model, queue, vscode.Uri.joinPath(context.extensionUri, 'dist', 'cli.js').fsPath);
  context.subscriptions.push(queue, queueView, queueTasks, vscode.tasks.registerTaskProvider(QUEUE_TASK_TYPE, queueTasks));
  registerQueueCommands({ context, log, model }, queue, queueTasks);
  const editors = new LaneEditorIntegration(model, log);
  const resolver = new ConflictResolver(model, log);
  context.subscriptions.push(resolver);
  const panelDeps = { extensionUri: context.extensionUri, log, runs, model };
  const panelSerializer = ReconcilePanel.serializer(model, panelDeps);
  context.subscriptions.push(
    editors,
    vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, panelSerializer),
    vscode.commands.registerCommand('agentLanes.openReconcilePanel', async (arg?: vscode.Uri | { folder: string; runId: string }) => {
      if (!vscode.workspace.isTrusted) {
        void vscode.window.showWarningMessage('Agent Lanes runs nothing in Restricted Mode: reconciling needs a trusted workspace.');
        return undefined;
      }
      await model.ready;
      // Any run of the history (a tree row), or the folder's current one.
      const run = arg && !(arg instanceof vscode.Uri) && typeof arg.runId === 'string' ? arg : undefined;
      const folder = run ? model.all().find((f) => f.root === run.folder) : model.pick(arg instanceof vscode.Uri ? arg : undefined);
      return folder ? ReconcilePanel.show(folder, panelDeps, undefined, run?.runId) : undefined;
    }),
    vscode.commands.registerCommand('agentLanes.cleanRun', async (arg?: { folder: string; runId: string }) => {
      const folder = arg && model.all().find((f) => f.root === arg.folder);
      if (!folder || !arg) return undefined;
      const actions = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Agent Lanes: cleaning run ${arg.runId}…` }, () => folder.session.clean({ runIds: [arg.runId] }));
      const kept = actions.filter((a) => a.action === 'kept');
      for (const a of actions) log.info(`clean ${a.runId}${a.lane ? `/${a.lane}` : ''}: ${a.action}: ${a.detail}`);
      void vscode.window.showInformationMessage(`Run ${arg.runId}: removed ${actions.filter((a) => a.action === 'removed').length}, kept ${kept.length}${kept.length ? ' (unmerged or uncommitted work is never deleted: Clean Up Finished Runs offers to force it)' : ''}.`);
      tree.refresh();
      return actions;
    }),
  );

  const setContext = () => {
    const folders = model.all();
    void vscode.commands.executeCommand('setContext', 'agentLanes.hasPlan', folders.some((f) => f.plan || f.planError));
    void vscode.commands.executeCommand('setContext', 'agentLanes.runActive', folders.some((f) => f.live));
    void vscode.commands.executeCommand('setContext', 'agentLanes.hasRepository', folders.length > 0);
  };
  context.subscriptions.push(model.onDidChange(setContext));

  const timings: AgentLanesApi['timings'] = { activateMs: 0 };
  const ready = model.ready.then(async () => {
    timings.readyMs = Date.now() - started;
    setContext();
    log.info(`activated in ${Date.now() - started} ms: ${model.all().length} git folder(s), trusted: ${vscode.workspace.isTrusted}`);
    for (const f of model.all()) void offerRecovery(f, log);
    await queue.ready;
  });
  timings.activateMs = Date.now() - started;
  return { model, runs, tree, tasks, editors, resolver, view, queue, queueView, queueTasks, ready, timings, openReconcilePanel: (f) => ReconcilePanel.show(f, panelDeps), panelSerializer };
}

/** After a reload or a crash: finish what was interrupted, say what happened, offer to resume. */
async function offerRecovery(folder: FolderModel, log: Log): Promise<void> {
  // An apply into the checkout that a crash cut off is rolled back from its journal first.
  if (vscode.workspace.isTrusted) {
    try {
      const r = await folder.session.recover();
      if (r === 'rolled-back') {
        log.warn(`an interrupted apply in ${folder.root} was rolled back`);
        void vscode.window.showWarningMessage(`Agent Lanes: an apply into ${folder.name} was interrupted; it has been rolled back (your state is also saved under refs/lanes/apply/).`);
      } else if (r === 'undo-finished') {
        log.warn(`an interrupted undo in ${folder.root} was finished`);
        void vscode.window.showWarningMessage(`Agent Lanes: an undo in ${folder.name} was interrupted; it has been finished (your checkout is as before the apply).`);
      }
    } catch (e) {
      log.error(`could not recover an interrupted apply: ${describeError(e).logText}`);

    }
  }
  const t = folder.truth;
  if (!t || t.status !== 'interrupted') return;
  const lines = t.lanes
    .filter((l) => l.process)
    .map((l) => `${l.id}: ${l.process === 'ours' ? 'its agent is still running' : l.process === 'orphans' ? 'left processes behind' : 'its agent is gone'}`);
  const msg = `Agent Lanes: run ${t.state.runId} in ${folder.name} was interrupted${lines.length ? ` (${lines.join('; ')})` : ''}.`;
  const actions = vscode.workspace.isTrusted ? ['Resume', 'Show Lanes'] : ['Show Lanes'];
  const pick = await vscode.window.showWarningMessage(msg, ...actions);
  if (pick === 'Resume') void vscode.commands.executeCommand('agentLanes.resumeRun', folder.folder.uri);
  if (pick === 'Show Lanes') void vscode.commands.executeCommand('agentLanes.plan.focus');
}

export function deactivate(): void {
  // Nothing here is needed for correctness (see the file comment).
}
