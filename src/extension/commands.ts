/**
 * Commands: one table (checked against package.json by a test) and one registration helper
 * that adds the disposable, the trust check for commands that run anything, and one error
 * handler that logs and offers the log.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { isPresetName, PRESET_NAMES, type PresetName } from '../core/agents/presets';
import { writePlan } from '../core/plan/load';
import { planFromTemplate, TEMPLATES } from '../core/plan/templates';
import { PlannerError, runPlanner } from '../core/planner/planner';
import { changedFiles } from '../core/reconcile/diff';
import { doctor, doctorMarkdown } from '../core/agents/doctor';
import { describeError, PreconditionError } from '../core/errors';
import type { FindingRecord } from '../core/run/findings';

import { GitError } from '../core/git/git';
import { runPaths } from '../core/run/state';
import { laneUri } from './content';
import type { PlanDiagnostics } from './diagnostics';
import type { Log } from './log';
import type { FolderModel, WorkspaceModel } from './model';
import { requireTrust, RunController, settings, UntrustedError } from './runs';
import type { LaneTaskProvider } from './tasks';
import { laneState, Node } from './tree';
import { findingEditText } from './findingsView';
import { ReconcilePanel } from './panel';

import { COMMANDS, CommandId } from './commandIds';

export interface Deps {
  context: vscode.ExtensionContext;
  model: WorkspaceModel;
  runs: RunController;
  log: Log;
  diagnostics: PlanDiagnostics;
  tasks: LaneTaskProvider;
}

type LaneArg = Node | { folder?: string; lane?: string } | vscode.Uri | undefined;
/** A finding row of the tree, or `{ folder, runId?, id }` (runId: the folder's current run). */
type FindingArg = Node | { folder?: string; runId?: string; id?: string } | undefined;

/** Register a command of the table: its disposable, its trust check and the one error handler. */
export function register(deps: Pick<Deps, 'context' | 'log'>, id: CommandId, handler: (...args: never[]) => unknown): void {
  deps.context.subscriptions.push(
    vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        if (COMMANDS[id].trust) requireTrust();
        return await (handler as (...a: unknown[]) => unknown)(...args);
      } catch (e) {
        // Messages are not awaited: the command settles now, whatever the user does later.
        if (e instanceof UntrustedError) {
          deps.log.warn(`${id}: refused in Restricted Mode`);
          void vscode.window.showWarningMessage(e.message, 'Manage Workspace Trust').then((pick) => pick && vscode.commands.executeCommand('workbench.trust.manage'));
          return undefined;
        }
        // One error model: a line a person can act on; the whole text (argv, stack) in the log.
        const d = describeError(e);
        deps.log.error(`${id}: ${d.logText}${e instanceof GitError ? `\n${e.detail}` : ''}`);
        const show = d.expected ? vscode.window.showWarningMessage : vscode.window.showErrorMessage;
        void show(`Agent Lanes: ${d.message}`, 'Open Log').then((pick) => pick && deps.log.show());
        return undefined;
      }
    }),
  );
}

/** The folder and lane a command is about: a tree node, {folder, lane}, or a pick. */
async function laneFrom(deps: Deps, arg: LaneArg, placeholder: string): Promise<{ folder: FolderModel; lane: string } | undefined> {
  if (arg && typeof arg === 'object' && 'kind' in arg && (arg.kind === 'lane' || arg.kind === 'file' || arg.kind === 'info')) {
    return { folder: arg.folder, lane: arg.kind === 'lane' ? arg.lane.id : arg.lane };
  }
  if (arg && typeof arg === 'object' && 'lane' in arg && typeof arg.lane === 'string') {
    const folder = deps.model.pick(typeof arg.folder === 'string' ? vscode.Uri.file(arg.folder) : undefined);
    return folder ? { folder, lane: arg.lane } : undefined;
  }
  const folder = await folderFrom(deps, arg);
  const lanes = folder?.run?.lanes.map((l) => l.id) ?? folder?.plan?.plan?.lanes.map((l) => l.id) ?? [];
  if (!folder || !lanes.length) return undefined;
  const lane = await vscode.window.showQuickPick(lanes, { placeHolder: placeholder });
  return lane ? { folder, lane } : undefined;
}

/**
 * The finding a command is about, as it stands now (a tree row can be older than a dismissal
 * made meanwhile): read with a person's decisions applied.
 */
async function findingFrom(deps: Deps, arg: FindingArg): Promise<{ folder: FolderModel; runId: string; finding: FindingRecord } | undefined> {
  await deps.model.ready;
  let folder: FolderModel | undefined;
  let runId: string | undefined;
  let id: string | undefined;
  if (arg && typeof arg === 'object' && 'kind' in arg) {
    if (arg.kind !== 'finding') return undefined;
    folder = arg.folder;
    runId = arg.runId;
    id = arg.finding.id;
  } else if (arg && typeof arg === 'object' && typeof arg.id === 'string') {
    folder = arg.folder === undefined ? deps.model.pick() : folderArg(deps, arg);
    runId = typeof arg.runId === 'string' ? arg.runId : folder?.run?.runId;
    id = arg.id.toUpperCase();
  }
  if (!folder || !runId || !id) return undefined;
  const run = folder.run;
  const findings = run?.runId === runId ? await folder.findingsFor(run) : await folder.session.findings(runId);
  const finding = findings.find((f) => f.id === id);
  if (!finding) throw new PreconditionError(`run ${runId} has no finding ${id}${findings.length ? `; it has ${findings.map((f) => f.id).join(', ')}` : ''}`, 'other');
  return { folder, runId, finding };
}

/**
 * A command's folder argument as VS Code passes it: a URI (explorer, API), a tree node (a view
 * title button while a row is selected passes that row), or nothing.
 */
function folderArg(deps: Deps, arg: unknown): FolderModel | undefined {
  if (arg instanceof vscode.Uri) return deps.model.pick(arg);
  if (arg && typeof arg === 'object' && 'folder' in arg) {
    const f = (arg as { folder: unknown }).folder;
    if (f && typeof f === 'object' && 'root' in f && 'session' in f) return deps.model.all().find((m) => m === f);
    if (typeof f === 'string') return deps.model.all().find((m) => m.root === f);
  }
  return undefined;
}

async function folderFrom(deps: Deps, arg?: unknown): Promise<FolderModel | undefined> {
  await deps.model.ready;
  const given = folderArg(deps, arg);
  if (given) return given;
  const all = deps.model.all();
  if (all.length <= 1) return all[0];
  const pick = await vscode.window.showQuickPick(
    all.map((f) => ({ label: f.name, description: f.root, f })),
    { placeHolder: 'Which folder?' },
  );
  return pick?.f;
}

export function registerCommands(deps: Deps): void {
  const { model, runs } = deps;

  /**
   * Which agent a new plan's lanes use: the presets, the ones installed here first (what
   * `lanes doctor` finds, with their versions), the default setting preselected.
   */
  async function pickAgent(folder: FolderModel): Promise<PresetName | undefined> {
    const s = settings(folder.folder);
    const report = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Agent Lanes: looking for agent CLIs…' }, () => doctor(process.env));
    const items = report.agents
      .map((a) => ({ label: a.preset, description: a.path ? `${a.label} ${a.version ?? ''}`.trim() : `${a.label}: not installed`, detail: a.path ? (a.auth.ready ? 'installed, authenticated' : `installed; ${a.auth.howTo}`) : `install: ${a.install}`, installed: !!a.path, preset: a.preset }))
      .sort((x, y) => Number(y.installed) - Number(x.installed) || Number(y.preset === s.defaultAgent) - Number(x.preset === s.defaultAgent));
    const pick = await vscode.window.showQuickPick(items, { placeHolder: items.some((i) => i.installed) ? 'Which agent runs the lanes?' : 'No agent CLI is installed here; which one will you install?' });
    return pick?.preset;
  }

  register(deps, 'agentLanes.newPlanFromTemplate', async (uri?: vscode.Uri) => {
    const folder = await folderFrom(deps, uri);
    if (!folder) {
      void vscode.window.showErrorMessage('Agent Lanes needs a folder that is a git repository.');
      return;
    }
    const t = await vscode.window.showQuickPick(
      TEMPLATES.map((x) => ({ label: x.name, detail: x.summary })),
      { placeHolder: 'Plan template' },
    );
    if (!t) return;
    const goal = await vscode.window.showInputBox({ prompt: 'The goal every lane works towards', placeHolder: 'Add rate limiting to the API, with tests and docs' });
    if (goal === undefined) return;
    const agent = await pickAgent(folder);
    if (!agent) return;
    if (folder.plan && !(await confirmReplace(folder))) return;
    const plan = await planFromTemplate(t.label, folder.root, { goal: goal || 'Describe the task here', agent });
    await writePlan(folder.planFile, plan);
    await folder.reloadPlan();
    await vscode.window.showTextDocument(vscode.Uri.file(folder.planFile));
  });

  register(deps, 'agentLanes.planWithAgent', async (uri?: vscode.Uri) => {
    const folder = await folderFrom(deps, uri);
    if (!folder) return;
    const task = await vscode.window.showInputBox({ prompt: 'Describe the task; a planner agent splits it into lanes', placeHolder: 'Add rate limiting to the API, with tests and docs' });
    if (!task) return;
    if (folder.plan && !(await confirmReplace(folder))) return;
    const s = settings(folder.folder);
    const command = s.plannerCommand.length ? s.plannerCommand : isPresetName(s.defaultAgent) ? s.defaultAgent : PRESET_NAMES[0];
    try {
      const r = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'Agent Lanes: planning…', cancellable: true },
        (progress, token) => {
          const ac = new AbortController();
          token.onCancellationRequested(() => ac.abort());
          return runPlanner({
            task,
            command,
            cwd: folder.root,
            signal: ac.signal,
            timeoutMs: 10 * 60_000,
            onAttempt: (a) => a.askingAgain && progress.report({ message: `attempt ${a.attempt}: ${a.problems.length} problem(s) in the answer; asking again` }),
          });
        },
      );
      await writePlan(folder.planFile, r.plan);
      await folder.reloadPlan();
      await vscode.window.showTextDocument(vscode.Uri.file(folder.planFile));
    } catch (e) {
      if (e instanceof PlannerError) {
        deps.log.error(`planner: ${e.message}\n${e.attempts.map((a) => a.outputTail).join('\n---\n')}`);
        const pick = await vscode.window.showErrorMessage(`Agent Lanes: ${e.message}`, 'Use a Template', 'Open Log');
        if (pick === 'Use a Template') void vscode.commands.executeCommand('agentLanes.newPlanFromTemplate', folder.folder.uri);
        if (pick === 'Open Log') deps.log.show();
        return;
      }
      throw e;
    }
  });

  register(deps, 'agentLanes.validatePlan', async () => {
    await model.ready;
    let errors = 0;
    let warnings = 0;
    let plans = 0;
    for (const f of model.all()) {
      try {
        const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(f.planFile));
        const r = deps.diagnostics.validate(doc);
        plans++;
        errors += r?.errors.length ?? 0;
        warnings += r?.warnings.length ?? 0;
      } catch {
        /* no plan in this folder */
      }
    }
    if (!plans) void vscode.window.showInformationMessage('No plan found (.lanes/plan.json). Create one with "Agent Lanes: New Plan from Template".');
    else if (errors || warnings) void vscode.commands.executeCommand('workbench.actions.view.problems');
    else void vscode.window.showInformationMessage('Agent Lanes: the plan is valid.');
    return { plans, errors, warnings };
  });

  register(deps, 'agentLanes.runPlan', async (uri?: vscode.Uri) => {
    const folder = await folderFrom(deps, uri);
    if (folder) return (await runs.start(folder))?.runId;
    return undefined;
  });

  register(deps, 'agentLanes.runLane', async (arg?: LaneArg) => {
    const t = await laneFrom(deps, arg, 'Run which lane?');
    if (!t) return undefined;
    await vscode.tasks.executeTask(deps.tasks.makeTask(t.folder, t.lane));
    return t.lane;
  });

  register(deps, 'agentLanes.retryLane', async (arg?: LaneArg) => {
    const t = await laneFrom(deps, arg, 'Retry which lane?');
    if (!t) return undefined;
    const run = t.folder.run;
    if (!run || !run.lanes.some((l) => l.id === t.lane)) return vscode.commands.executeCommand('agentLanes.runLane', { folder: t.folder.root, lane: t.lane });
    return (await runs.start(t.folder, { resume: run.runId, lanes: [t.lane] }))?.runId;
  });

  register(deps, 'agentLanes.resumeRun', async (uri?: vscode.Uri) => {
    const folder = await folderFrom(deps, uri);
    if (!folder?.run) return undefined;
    return (await runs.start(folder, { resume: folder.run.runId }))?.runId;
  });

  register(deps, 'agentLanes.stopLane', async (arg?: LaneArg) => {
    const t = await laneFrom(deps, arg, 'Stop which lane?');
    if (t && !runs.cancelLane(t.folder, t.lane)) void vscode.window.showInformationMessage(`Lane ${t.lane} is not running.`);
  });

  register(deps, 'agentLanes.stopRun', async (uri?: vscode.Uri) => {
    for (const f of uri ? [model.pick(uri)] : model.all()) if (f?.live) runs.cancelRun(f);
  });

  register(deps, 'agentLanes.openLaneWorktree', async (arg?: LaneArg) => {
    const t = await laneFrom(deps, arg, 'Open which lane\'s worktree?');
    const st = t && laneState(t.folder, t.lane);
    if (!st) return;
    if (!(await fs.stat(st.worktree).then(() => true, () => false))) {
      void vscode.window.showWarningMessage(`The worktree of ${t!.lane} is gone (${st.worktree}); its branch ${st.branch} holds the work.`);
      return;
    }
    await vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(st.worktree), { forceNewWindow: true });
  });

  register(deps, 'agentLanes.openLaneTerminal', async (arg?: LaneArg) => {
    const t = await laneFrom(deps, arg, 'Open a terminal in which lane?');
    const st = t && laneState(t.folder, t.lane);
    if (!st) return;
    vscode.window.createTerminal({ name: `lane ${t!.lane}`, cwd: st.worktree, env: { LANES_LANE: t!.lane, LANES_RUN: t!.folder.run!.runId } }).show();
  });

  register(deps, 'agentLanes.showLaneLog', async (arg?: LaneArg) => {
    const t = await laneFrom(deps, arg, 'Show which lane\'s log?');
    if (!t?.folder.run) return;
    const file = path.join(runPaths(t.folder.commonDir, t.folder.run.runId).logs, `${t.lane}.log`);
    if (!(await fs.stat(file).then(() => true, () => false))) {
      void vscode.window.showInformationMessage(`Lane ${t.lane} has no log yet.`);
      return;
    }
    await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true });
  });

  register(deps, 'agentLanes.compareLaneWithBase', async (arg?: LaneArg) => {
    const t = await laneFrom(deps, arg, 'Compare which lane with its base?');
    const st = t && laneState(t.folder, t.lane);
    if (!st?.base || !st.head || st.base === st.head) {
      void vscode.window.showInformationMessage('This lane has no changes yet.');
      return;
    }
    const files = await changedFiles(t!.folder.root, st.base, st.head);
    const resources = files.map((f) => [
      vscode.Uri.file(path.join(t!.folder.root, f.path)),
      laneUri(t!.folder.root, st.base!, f.oldPath ?? f.path),
      laneUri(t!.folder.root, st.head!, f.path),
    ]);
    await vscode.commands.executeCommand('vscode.changes', `Lane ${t!.lane} ↔ base`, resources);
  });

  register(deps, 'agentLanes.showRunReport', async (uri?: vscode.Uri) => {
    const folder = await folderFrom(deps, uri);
    const run = folder?.run;
    if (!folder || !run) {
      void vscode.window.showInformationMessage('There is no run yet.');
      return;
    }
    // The same report as the CLI's: the recorded run, a fresh radar and the queue's kept result.
    const { file } = await folder.session.report(run.runId);
    await vscode.commands.executeCommand('markdown.showPreview', vscode.Uri.file(file));
  });

  register(deps, 'agentLanes.cleanUp', async (uri?: vscode.Uri) => {
    const folder = await folderFrom(deps, uri);
    if (!folder) return undefined;
    const actions = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Agent Lanes: cleaning up finished runs…' }, () => folder.session.clean());
    const kept = actions.filter((a) => a.action === 'kept');
    const removed = actions.filter((a) => a.action === 'removed');
    for (const a of actions) deps.log.info(`clean ${a.runId}${a.lane ? `/${a.lane}` : ''}: ${a.action}: ${a.detail}`);
    const msg = `Agent Lanes: removed ${removed.length}, kept ${kept.length} (unmerged or uncommitted work is never deleted).`;
    if (kept.length) {
      const pick = await vscode.window.showWarningMessage(msg, { detail: kept.map((k) => `${k.lane}: ${k.detail}`).join('\n') }, 'Force (save to snapshot refs first)');
      if (pick) await folder.session.clean({ force: true });

    } else void vscode.window.showInformationMessage(msg);
    await folder.reloadRun();
    return actions;
  });

  register(deps, 'agentLanes.checkAgents', async () => {
    // Runs each agent CLI's --version and --help: only in a trusted workspace (the wrapper checks).
    const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Agent Lanes: checking agent CLIs…' }, () => doctor(process.env));
    const md = doctorMarkdown(r);
    deps.log.info(`check agents:\n${md}`);
    const doc = await vscode.workspace.openTextDocument({ content: md, language: 'markdown' });
    await vscode.window.showTextDocument(doc, { preview: true });
    return r;
  });

  // ——— findings: a person sends one back (edited or not) or sets it aside ———

  async function sendBack(t: { folder: FolderModel; runId: string; finding: FindingRecord }, text?: string) {
    const r = await runs.sendFinding(t.folder, t.runId, t.finding.id, text);
    if (r.kind === 'laneBusy') void vscode.window.showInformationMessage(`Agent Lanes: ${r.message}.`);
    if (r.kind === 'sent') vscode.window.setStatusBarMessage(`$(reply) Agent Lanes: ${r.message}`, 8000);
    await ReconcilePanel.get(t.runId)?.reload();
    return r;
  }

  register(deps, 'agentLanes.sendFindingBack', async (arg?: FindingArg, text?: unknown) => {
    const t = await findingFrom(deps, arg);
    if (!t) return undefined;
    return sendBack(t, typeof text === 'string' && text.trim() ? text : undefined);
  });

  register(deps, 'agentLanes.editAndSendFinding', async (arg?: FindingArg, text?: unknown) => {
    const t = await findingFrom(deps, arg);
    if (!t) return undefined;
    const f = t.finding;
    let edited = typeof text === 'string' && text.trim() ? text : undefined;
    if (edited === undefined) {
      edited = await vscode.window.showInputBox({
        title: `Edit and Send ${f.id} Back to ${f.to}`,
        prompt: `What ${f.to}'s agent is told about "${f.title}" (the finding's evidence goes along)`,
        // One line: the input box has no line breaks.
        value: findingEditText(f).replace(/\s*\n\s*/g, ' '),
        ignoreFocusOut: true,
        validateInput: (v) => (v.trim() ? undefined : 'Say what to fix, or use Send Back to send the finding as it is'),
      });
      if (edited === undefined) return undefined;
    }
    return sendBack(t, edited);
  });

  register(deps, 'agentLanes.dismissFinding', async (arg?: FindingArg, reason?: unknown) => {
    const t = await findingFrom(deps, arg);
    if (!t) return undefined;
    const f = t.finding;
    if (f.status === 'dismissed') {
      void vscode.window.showInformationMessage(`Agent Lanes: ${f.id} is already dismissed.`);
      return f;
    }
    let why = typeof reason === 'string' ? reason : undefined;
    if (why === undefined) {
      why = await vscode.window.showInputBox({
        title: `Dismiss ${f.id}: ${f.title}`,
        prompt: `Why set it aside? Optional; kept with the run.${f.blocking && f.status !== 'addressed' ? ` The merge queue no longer holds ${f.to} for it.` : ''}`,
        placeHolder: 'e.g. known issue, tracked elsewhere',
        ignoreFocusOut: true,
      });
      if (why === undefined) return undefined;
    }
    const after = await t.folder.session.dismissFinding(t.runId, f.id, why);
    deps.log.info(`${t.folder.name}: dismissed ${f.id} of run ${t.runId}${why.trim() ? `: ${why.trim()}` : ''}`);
    if (t.folder.run?.runId === t.runId) await t.folder.updateFindings();
    await ReconcilePanel.get(t.runId)?.reload();
    return after;
  });

  register(deps, 'agentLanes.refresh', async () => {
    for (const f of model.all()) {
      await f.reloadPlan(false);
      await f.reloadRun(false);
      f.fire();
    }
  });
}

async function confirmReplace(folder: FolderModel): Promise<boolean> {
  const pick = await vscode.window.showWarningMessage(`${folder.name} already has a plan. Replace it?`, { modal: true }, 'Replace');
  if (pick) await fs.copyFile(folder.planFile, `${folder.planFile}.bak`).catch(() => undefined);
  return pick === 'Replace';
}
