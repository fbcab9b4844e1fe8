/**
 * The reconcile panel (host side): a webview over the reconcile engine. It shows lanes, the
 * conflict radar and the merge queue, and drives everything through src/core — it reimplements
 * nothing. Messages are validated with the shared zod protocol; the HTML has a strict CSP with
 * a nonce; resources come only from the extension's media and dist folders; state survives
 * hiding and reloads (a serializer reopens the panel for the same run).
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ApplyRefused, applyToCheckout, readJournal, selectionTarget, undoApply, UndoRefused } from '../core/reconcile/apply';
import { changedFiles, FileChange } from '../core/reconcile/diff';
import { MergeQueue } from '../core/reconcile/queue';
import { conflictRadar, PairResult } from '../core/reconcile/radar';
import { discardLane } from '../core/run/clean';
import { readState, RunState } from '../core/run/state';
import { validatePlanText } from '../core/plan/validate';
import { buildPanelState, isMergeable, queueView } from '../shared/panelState';
import { parseToHost, PanelState, QueueView, ToHost, ToWebview } from '../shared/protocol';
import { laneUri } from './content';
import type { Log } from './log';
import type { FolderModel, WorkspaceModel } from './model';
import { requireTrust, RunController } from './runs';

export const PANEL_VIEW_TYPE = 'agentLanes.reconcile';

interface Persisted {
  folder: string;
  runId: string;
}

export class ReconcilePanel implements vscode.Disposable {
  private static readonly open = new Map<string, ReconcilePanel>();
  private readonly subs: vscode.Disposable[] = [];
  private run!: RunState;
  private files: Record<string, FileChange[]> = {};
  private pairs: PairResult[] = [];
  private readonly excluded = new Set<string>();
  private queue?: QueueView;
  private integrated?: string;
  private lastApply?: PanelState['lastApply'];
  private busy?: string;
  private ready = false;
  /** Messages the host received and dropped as malformed (also logged). */
  dropped = 0;

  private constructor(
    readonly panel: vscode.WebviewPanel,
    private readonly folder: FolderModel,
    private readonly deps: { extensionUri: vscode.Uri; log: Log; runs: RunController; model: WorkspaceModel },
  ) {
    panel.webview.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(deps.extensionUri, 'media'), vscode.Uri.joinPath(deps.extensionUri, 'dist')] };
    panel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'icon.svg');
    panel.webview.html = this.html();
    this.subs.push(
      panel.webview.onDidReceiveMessage((raw) => void this.receive(raw)),
      panel.onDidDispose(() => this.dispose()),
      deps.model.onDidChange((c) => {
        if (c.folder === folder && folder.run?.runId === this.run?.runId) void this.reload(false);
      }),
    );
  }

  /** The panels open now, by run (tests and commands use it). */
  static get(runId: string): ReconcilePanel | undefined {
    return ReconcilePanel.open.get(runId);
  }

  static async show(folder: FolderModel, deps: ReconcilePanel['deps'], existing?: vscode.WebviewPanel): Promise<ReconcilePanel | undefined> {
    const run = folder.run;
    if (!run) {
      void vscode.window.showInformationMessage('Agent Lanes: there is no run to reconcile yet.');
      existing?.dispose();
      return undefined;
    }
    const open = ReconcilePanel.open.get(run.runId);
    if (open && !existing) {
      open.panel.reveal();
      return open;
    }
    const panel =
      existing ??
      vscode.window.createWebviewPanel(PANEL_VIEW_TYPE, `Reconcile ${run.runId}`, vscode.ViewColumn.Active, { enableScripts: true, retainContextWhenHidden: false });
    const p = new ReconcilePanel(panel, folder, deps);
    ReconcilePanel.open.set(run.runId, p);
    await p.reload(true);
    return p;
  }

  get state(): PanelState {
    const plan = validatePlanText(this.run.planText).plan;
    return buildPanelState({
      folder: this.folder.root,
      run: this.run,
      goal: plan?.goal ?? '',
      roles: Object.fromEntries((plan?.lanes ?? []).map((l) => [l.id, l.role ?? 'implement'])),
      files: this.files,
      pairs: this.pairs,
      excluded: this.excluded,
      queue: this.queue,
      lastApply: this.lastApply,
      busy: this.busy,
    });
  }

  private async reload(full: boolean): Promise<void> {
    const runId = this.run?.runId ?? this.folder.run!.runId;
    this.run = this.folder.run?.runId === runId ? this.folder.run : await readState(this.folder.commonDir, runId);
    const lanes = this.run.lanes.filter((l) => l.head && l.base && l.head !== l.base);
    if (full || lanes.some((l) => !this.files[l.id])) {
      for (const l of lanes) this.files[l.id] = await changedFiles(this.folder.root, l.base!, l.head!).catch(() => []);
      this.pairs = (await conflictRadar(this.folder.root, lanes.map((l) => ({ id: l.id, base: l.base!, head: l.head! })))).pairs;
    }
    const j = await readJournal(this.folder.commonDir, this.folder.root);
    if (j && j.runId === runId && (j.step === 'done' || j.step === 'undone')) this.lastApply = { id: j.id, files: j.paths.length, undone: j.step === 'undone' };
    this.post({ type: 'state', state: this.state });
  }

  private post(m: ToWebview): void {
    if (this.ready) void this.panel.webview.postMessage(m);
  }

  /** The last action's outcome, as shown in the panel. */
  lastResult?: { action: string; ok: boolean; text: string };

  private result(action: string, ok: boolean, text: string): void {
    this.lastResult = { action, ok, text };
    this.deps.log[ok ? 'info' : 'warn'](`reconcile ${action}: ${text}`);
    this.post({ type: 'result', action, ok, text });
  }

  private async receive(raw: unknown): Promise<void> {
    const m = parseToHost(raw);
    if (!m) {
      this.dropped++;
      this.deps.log.warn(`reconcile panel: dropped a malformed message: ${JSON.stringify(raw)?.slice(0, 200)}`);
      return;
    }
    if (m.type === 'ready') {
      this.ready = true;
      this.post({ type: 'state', state: this.state });
      return;
    }
    await this.handle(m);
  }

  /** Run one action; its result is reported in the panel. Public so commands and tests can drive it. */
  async handle(m: ToHost): Promise<boolean> {
    try {
      if (m.type !== 'openDiff' && m.type !== 'acceptLane') requireTrust();
      switch (m.type) {
        case 'ready':
          return true;
        case 'openDiff':
          return await this.openDiff(m.lane, m.path, m.against);
        case 'acceptLane':
          if (m.accepted) this.excluded.delete(m.lane);
          else this.excluded.add(m.lane);
          this.queue = undefined;
          this.integrated = undefined;
          this.post({ type: 'state', state: this.state });
          this.result('acceptLane', true, `${m.lane} ${m.accepted ? 'accepted' : 'left out'}`);
          return true;
        case 'rejectLane': {
          const pick = await vscode.window.showWarningMessage(`Discard the work of lane ${m.lane}? It is saved to a snapshot ref first.`, { modal: true }, 'Discard');
          if (!pick) return false;
          const a = await discardLane({ repo: this.folder.root, commonDir: this.folder.commonDir, runId: this.run.runId, lane: m.lane });
          this.excluded.add(m.lane);
          await this.folder.reloadRun();
          await this.reload(true);
          this.result('rejectLane', true, `discarded ${m.lane}; saved to ${a.snapshot ?? 'nothing'}`);
          return true;
        }
        case 'acceptFile':
          return await this.applyTarget('acceptFile', async () => {
            const l = this.run.lanes.find((x) => x.id === m.lane)!;
            return { base: this.run.baseCommit, target: await selectionTarget(this.folder.root, l.base!, l.head!, { files: [m.path] }) };
          });
        case 'sendFeedback':
          return await this.sendFeedback(m.lane, m.text);
        case 'runQueue':
          return await this.runQueue();
        case 'apply':
          if (!this.integrated && !(await this.runQueue())) return false;
          return await this.applyTarget('apply', async () => ({ base: this.run.baseCommit, target: this.integrated! }));
        case 'undo':
          return await this.undo();
      }
    } catch (e) {
      this.result(m.type, false, (e as Error).message);
      return false;
    } finally {
      this.busy = undefined;
    }
  }

  private async openDiff(lane: string, file: string, against?: string): Promise<boolean> {
    const l = this.run.lanes.find((x) => x.id === lane);
    if (!l?.head || !l.base) return false;
    const change = this.files[lane]?.find((f) => f.path === file);
    if (against) {
      const o = this.run.lanes.find((x) => x.id === against);
      if (!o?.head) return false;
      await vscode.commands.executeCommand('vscode.diff', laneUri(this.folder.root, o.head, file), laneUri(this.folder.root, l.head, file), `${file} (${against} ↔ ${lane})`);
    } else {
      await vscode.commands.executeCommand('vscode.diff', laneUri(this.folder.root, l.base, change?.oldPath ?? file), laneUri(this.folder.root, l.head, file), `${file} (base ↔ ${lane})`);
    }
    return true;
  }

  private setBusy(what: string): void {
    this.busy = what;
    this.post({ type: 'state', state: this.state });
  }

  private async runQueue(): Promise<boolean> {
    const plan = validatePlanText(this.run.planText).plan!;
    const lanes = this.run.lanes.filter((l) => isMergeable(l) && !this.excluded.has(l.id)).map((l) => l.id);
    if (!lanes.length) {
      this.result('runQueue', false, 'no accepted lane has work to merge');
      return false;
    }
    this.setBusy('merge queue running…');
    this.queue = { running: true, merged: [], held: [], sentBack: [] };
    const q = new MergeQueue({
      repo: this.folder.root,
      commonDir: this.folder.commonDir,
      state: this.run,
      plan,
      lanes,
      onProgress: (step) => {
        if (this.queue) this.queue.step = step;
        this.post({ type: 'state', state: this.state });
      },
      sendBack: async (lane, feedback) => this.rerun(lane, feedback),
    });
    const r = await q.run();
    this.queue = queueView(r);
    this.integrated = r.merged.length ? r.head : undefined;
    this.post({ type: 'state', state: this.state });
    this.result('runQueue', r.passed, r.passed ? `integrated ${r.merged.join(', ')}` : `not passed: merged ${r.merged.join(', ') || 'nothing'}; held back ${r.held.map((h) => h.lane).join(', ') || 'nothing'}`);
    return r.passed;
  }

  private async rerun(lane: string, feedback: string) {
    const o = await this.deps.runs.start(this.folder, { resume: this.run.runId, lanes: [lane], feedback: { [lane]: feedback } });
    if (!o) throw new Error(`could not re-run ${lane}`);
    const after = await o.run();
    this.run = after;
    return after.lanes.find((l) => l.id === lane)!;
  }

  private async sendFeedback(lane: string, text: string): Promise<boolean> {
    this.setBusy(`re-running ${lane} with your feedback…`);
    const after = await this.rerun(lane, `Feedback from the person reviewing the lanes:\n\n${text}`);
    this.queue = undefined;
    this.integrated = undefined;
    await this.reload(true);
    this.result('sendFeedback', after.status === 'passed', `${lane} ran again: ${after.status}`);
    return after.status === 'passed';
  }

  /** Files open with unsaved changes, relative to the repository. */
  private unsavedPaths(): string[] {
    return vscode.workspace.textDocuments
      .filter((d) => d.isDirty && d.uri.scheme === 'file' && d.uri.fsPath.startsWith(this.folder.root + path.sep))
      .map((d) => path.relative(this.folder.root, d.uri.fsPath).split(path.sep).join('/'));
  }

  private async applyTarget(action: string, target: () => Promise<{ base: string; target: string }>): Promise<boolean> {
    this.setBusy('applying to your checkout…');
    const t = await target();
    const opts = { repo: this.folder.root, commonDir: this.folder.commonDir, base: t.base, target: t.target, runId: this.run.runId, unsavedPaths: this.unsavedPaths() };
    try {
      const r = await applyToCheckout(opts);
      this.lastApply = { id: r.id, files: r.applied.length + r.deleted.length, undone: false };
      this.result(action, true, `applied: ${r.applied.length} file(s) written, ${r.deleted.length} deleted (staged; undo restores your checkout exactly)`);
      this.post({ type: 'state', state: this.state });
      return true;
    } catch (e) {
      if (e instanceof ApplyRefused && e.reason === 'dirtyEditors') {
        const policy = vscode.workspace.getConfiguration('agentLanes', this.folder.folder).get<string>('unsavedEditors') ?? 'ask';
        const pick =
          policy === 'skip'
            ? 'Apply Without Them'
            : await vscode.window.showWarningMessage(
          `These files have unsaved changes and the apply would change them: ${e.files.join(', ')}`,
          { modal: true },
          'Save and Apply',
          'Apply Without Them',
        );
        if (pick === 'Save and Apply') {
          for (const d of vscode.workspace.textDocuments) if (d.isDirty && e.files.includes(path.relative(this.folder.root, d.uri.fsPath))) await d.save();
          return this.applyTarget(action, async () => t);
        }
        if (pick === 'Apply Without Them') {
          const all = await changedFiles(this.folder.root, t.base, t.target);
          const paths = all.flatMap((f) => (f.oldPath ? [f.oldPath, f.path] : [f.path])).filter((p) => !e.files.includes(p));
          try {
            const r = await applyToCheckout({ ...opts, paths, unsavedPaths: [] });
            this.lastApply = { id: r.id, files: r.applied.length + r.deleted.length, undone: false };
            this.result(action, true, `applied without ${e.files.join(', ')}: ${r.applied.length} file(s) written`);
            this.post({ type: 'state', state: this.state });
            return true;
          } catch (e2) {
            this.result(action, false, (e2 as Error).message);
            return false;
          }
        }
        this.result(action, false, `not applied: ${e.message}`);
        return false;
      }
      if (e instanceof ApplyRefused) {
        this.result(action, false, `not applied: ${e.message}`);
        return false;
      }
      throw e;
    }
  }

  private async undo(): Promise<boolean> {
    try {
      const r = await undoApply(this.folder.root, this.folder.commonDir);
      if (this.lastApply) this.lastApply = { ...this.lastApply, undone: true };
      this.result('undo', true, `undid apply ${r.id}: ${r.restored.length} file(s) restored`);
      this.post({ type: 'state', state: this.state });
      return true;
    } catch (e) {
      if (e instanceof UndoRefused) {
        this.result('undo', false, e.message);
        return false;
      }
      throw e;
    }
  }

  private html(): string {
    const w = this.panel.webview;
    const nonce = randomBytes(16).toString('base64');
    const media = (f: string) => w.asWebviewUri(vscode.Uri.joinPath(this.deps.extensionUri, 'media', f));
    const dist = (f: string) => w.asWebviewUri(vscode.Uri.joinPath(this.deps.extensionUri, 'dist', f));
    const persisted: Persisted = { folder: this.folder.root, runId: this.folder.run!.runId };
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${w.cspSource}; font-src ${w.cspSource}; img-src ${w.cspSource}; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${dist('media/codicon.css')}">
<link rel="stylesheet" href="${media('panel.css')}">
<title>Reconcile</title>
</head>
<body data-folder="${encodeURIComponent(persisted.folder)}" data-run="${encodeURIComponent(persisted.runId)}">
<main id="root" aria-live="polite"></main>
<script nonce="${nonce}" src="${dist('webview.js')}"></script>
</body>
</html>`;
  }

  dispose(): void {
    ReconcilePanel.open.delete(this.run?.runId ?? '');
    for (const s of this.subs) s.dispose();
  }

  /** Restores panels after a window reload. */
  static serializer(model: WorkspaceModel, deps: ReconcilePanel['deps']): vscode.WebviewPanelSerializer {
    return {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown) {
        await model.ready;
        const s = state as Partial<Persisted> | undefined;
        const folder = model.all().find((f) => f.root === s?.folder) ?? model.all()[0];
        if (!folder) {
          panel.dispose();
          return;
        }
        await ReconcilePanel.show(folder, deps, panel);
      },
    };
  }
}
