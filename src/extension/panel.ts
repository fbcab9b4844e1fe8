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
import { describeError } from '../core/errors';
import { ApplyRefused } from '../core/reconcile/apply';
import { changedFiles, FileChange } from '../core/reconcile/diff';
import type { OutsideLink } from '../core/reconcile/links';
import type { PairResult } from '../core/reconcile/radar';
import type { RunState } from '../core/run/state';
import type { FindingRecord } from '../core/run/findings';
import type { Selection } from '../core/session/session';
import { validatePlanText } from '../core/plan/validate';
import { latestOnly } from '../core/util/latest';
import { buildPanelState, isMergeable, queueView } from '../shared/panelState';
import { parseToHost, PanelState, QueueView, ToHost, ToWebview } from '../shared/protocol';
import { laneUri } from './content';
import { findingView, loopBackView } from './findingsView';
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
  private outsideLinks: Record<string, OutsideLink[]> = {};
  private outOfScope: Record<string, string[]> = {};
  private findings: FindingRecord[] = [];
  private readonly excluded = new Set<string>();
  private queue?: QueueView;
  private lastApply?: PanelState['lastApply'];
  private busy?: string;
  private ready = false;
  /** Panel actions run one after another, in the order they were asked for. */
  private actions: Promise<unknown> = Promise.resolve();
  private pending = 0;
  /** Refreshes from the model: one at a time, only the latest shown. */
  private readonly refresh: () => Promise<void>;
  /** Messages the host received and dropped as malformed (also logged). */
  dropped = 0;

  private constructor(
    readonly panel: vscode.WebviewPanel,
    private readonly folder: FolderModel,
    private readonly deps: { extensionUri: vscode.Uri; log: Log; runs: RunController; model: WorkspaceModel },
    runId: string,
  ) {
    panel.webview.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(deps.extensionUri, 'media'), vscode.Uri.joinPath(deps.extensionUri, 'dist')] };
    panel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'icon.svg');
    panel.webview.html = this.html(runId);
    this.refresh = latestOnly(
      () => this.load(runId, false),
      () => this.postState(),
      (e) => this.deps.log.warn(`reconcile panel: could not refresh: ${describeError(e).message}`),
    );
    this.subs.push(
      panel.webview.onDidReceiveMessage((raw: unknown) => this.receive(raw)),
      panel.onDidDispose(() => this.dispose()),
      deps.model.onDidChange((c) => {
        if (c.folder === folder && folder.run?.runId === this.run?.runId) void this.refresh();
      }),
    );
  }

  /** The panels open now, by run (tests and commands use it). */
  static get(runId: string): ReconcilePanel | undefined {
    return ReconcilePanel.open.get(runId);
  }

  static async show(folder: FolderModel, deps: ReconcilePanel['deps'], existing?: vscode.WebviewPanel, runId = folder.run?.runId): Promise<ReconcilePanel | undefined> {
    if (!runId) {
      void vscode.window.showInformationMessage('Agent Lanes: there is no run to reconcile yet.');
      existing?.dispose();
      return undefined;
    }
    const open = ReconcilePanel.open.get(runId);
    if (open && !existing) {
      open.panel.reveal();
      await open.loaded;
      return open;
    }
    const panel = existing ?? vscode.window.createWebviewPanel(PANEL_VIEW_TYPE, `Reconcile ${runId}`, vscode.ViewColumn.Active, { enableScripts: true, retainContextWhenHidden: false });
    const p = new ReconcilePanel(panel, folder, deps, runId);
    ReconcilePanel.open.get(runId)?.panel.dispose(); // a restored panel replaces one opened meanwhile
    ReconcilePanel.open.set(runId, p);
    p.loaded = p.load(runId, true).then(() => p.postState());
    await p.loaded;
    return p;
  }

  /** Show what is recorded now (after a change the model does not report, e.g. to an earlier run). */
  reload(): Promise<void> {
    return this.refresh();
  }

  /** Settles once the panel has loaded what it shows. */
  loaded: Promise<void> = Promise.resolve();

  get state(): PanelState {
    const plan = validatePlanText(this.run.planText).plan;
    return buildPanelState({
      folder: this.folder.root,
      run: this.run,
      goal: plan?.goal ?? '',
      roles: Object.fromEntries((plan?.lanes ?? []).map((l) => [l.id, l.role ?? 'implement'])),
      budgets: Object.fromEntries((plan?.lanes ?? []).map((l) => [l.id, l.budget ?? plan?.defaults?.budget])),

      files: this.files,
      pairs: this.pairs,
      outsideLinks: this.outsideLinks,
      outOfScope: this.outOfScope,
      excluded: this.excluded,
      queue: this.queue,
      lastApply: this.lastApply,
      busy: this.busy,
      findings: this.findings.map(findingView),
      loopBacks: (this.run.loopBacks ?? []).map(loopBackView),
    });
  }

  /**
   * Everything the panel shows, from what is recorded: the run, each lane's files, the radar,
   * the merge queue's kept result (so it survives closing the panel) and the last apply.
   */
  private async load(runId: string, full: boolean): Promise<void> {
    const session = this.folder.session;
    this.run = this.folder.run?.runId === runId ? this.folder.run : await session.store.read(runId);
    const lanes = this.run.lanes.filter((l) => l.head && l.base && l.head !== l.base);
    if (full || lanes.some((l) => !this.files[l.id])) {
      for (const l of lanes) this.files[l.id] = await changedFiles(this.folder.root, l.base!, l.head!).catch(() => []);
      const radar = await session.radarOf(this.run, { details: true });
      this.pairs = radar.pairs;
      this.outsideLinks = radar.outsideLinks;
      this.outOfScope = radar.outOfScope;
    }
    if (!this.queue?.running) {
      const rec = await session.queueResult(runId);
      const current = rec && rec.result.merged.every((id) => this.run.lanes.find((l) => l.id === id)?.head === rec.laneHeads[id]);
      this.queue = rec && current ? queueView(rec.result) : undefined;
      if (rec && current && full && rec.lanes) {
        for (const l of this.run.lanes) if (isMergeable(l) && !rec.lanes.includes(l.id)) this.excluded.add(l.id);
      }
    }
    // With a person's decisions applied: a dismissal is a file beside the state.
    this.findings = await this.folder.findingsFor(this.run).catch(() => this.run.findings ?? []);
    const j = await session.lastApply();
    this.lastApply = j && j.runId === runId && (j.step === 'done' || j.step === 'undone') ? { id: j.id, files: j.paths.length, undone: j.step === 'undone' } : undefined;
  }

  private postState(): void {
    this.post({ type: 'state', state: this.state });
  }

  private post(m: ToWebview): void {
    if (this.ready) void this.panel.webview.postMessage(m).then(undefined, () => undefined);
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
      this.postState();
      return;
    }
    await this.handle(m);
  }

  /**
   * Run one action; its result is reported in the panel. Actions queue up in order (and the
   * session's operation queue keeps them apart from every other face). Whatever happens, the
   * panel ends in a final state: never stuck busy. Public so commands and tests can drive it.
   */
  handle(m: ToHost): Promise<boolean> {
    this.pending++;
    const done = this.actions.then(async () => {
      try {
        return await this.perform(m);
      } catch (e) {
        const d = describeError(e);
        if (!d.expected) this.deps.log.error(`reconcile ${m.type}: ${d.logText}`);
        if (this.queue?.running) this.queue = { ...this.queue, running: false, step: undefined };
        this.result(m.type, false, d.message);
        return false;
      } finally {
        this.pending--;
        if (this.pending === 0) this.busy = undefined;
        await this.load(this.run.runId, false).catch(() => undefined);
        this.postState();
      }
    });
    this.actions = done;
    return done;
  }

  private async perform(m: ToHost): Promise<boolean> {
    if (m.type !== 'openDiff' && m.type !== 'acceptLane') requireTrust();
    switch (m.type) {
      case 'ready':
        return true;
      case 'openDiff':
        return this.openDiff(m.lane, m.path, m.against);
      case 'acceptLane':
        if (m.accepted) this.excluded.delete(m.lane);
        else this.excluded.add(m.lane);
        this.queue = undefined;
        this.result('acceptLane', true, `${m.lane} ${m.accepted ? 'accepted' : 'left out'}`);
        return true;
      case 'rejectLane': {
        const pick = await vscode.window.showWarningMessage(`Discard the work of lane ${m.lane}? It is saved to a snapshot ref first.`, { modal: true }, 'Discard');
        if (!pick) return false;
        this.setBusy(`discarding ${m.lane}…`);
        const a = await this.folder.session.discard(this.run.runId, m.lane);
        this.excluded.add(m.lane);
        await this.folder.reloadRun();
        await this.load(this.run.runId, true);
        this.result('rejectLane', true, `discarded ${m.lane}; saved to ${a.snapshot ?? 'nothing'}`);
        return true;
      }
      case 'acceptFile':
        return this.apply('acceptFile', { kind: 'files', lane: m.lane, paths: [m.path] });
      case 'sendFeedback':
        return this.sendFeedback(m.lane, m.text);
      case 'runQueue':
        return this.runQueue();
      case 'apply':
        if (!this.queue?.merged.length && !(await this.runQueue())) return false;
        return this.apply('apply', { kind: 'integration' });
      case 'resolveConflict': {
        const files = await vscode.commands.executeCommand<string[]>('agentLanes.resolveConflict', { folder: this.folder.root, runId: this.run.runId, lane: m.lane, against: m.against });
        this.result('resolve', true, files?.length ? `resolve ${files.join(', ')} in the merge editor; saving the last one commits the resolution to ${m.lane}` : `${m.lane} merged ${m.against} cleanly; run the merge queue again`);
        return true;
      }
      case 'applyLane':
        return this.apply(m.how === 'markers' ? 'apply with markers' : 'apply non-conflicting', { kind: m.how, lane: m.lane });
      case 'undo': {
        this.setBusy('undoing the last apply…');
        const r = await this.folder.session.undo();
        this.result('undo', true, `undid apply ${r.id}: ${r.restored.length} file(s) restored`);
        return true;
      }
      case 'sendFinding':
        return this.sendFinding(m.id, m.text);
      case 'dismissFinding': {
        this.setBusy(`dismissing ${m.id}…`);
        const f = await this.folder.session.dismissFinding(this.run.runId, m.id, m.reason);
        if (this.folder.run?.runId === this.run.runId) await this.folder.updateFindings();
        this.result('dismissFinding', true, `${f.id} dismissed: it no longer holds ${f.to} in the merge queue`);
        return true;
      }
    }
  }

  /** Through the run controller: the live run takes it, or the run resumes (views attach). */
  private async sendFinding(id: string, text?: string): Promise<boolean> {
    this.setBusy(`sending ${id} back…`);
    const r = await this.deps.runs.sendFinding(this.folder, this.run.runId, id, text);
    this.result('sendFinding', r.kind === 'sent', r.message);
    return r.kind === 'sent';
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
    this.postState();
  }

  private async runQueue(): Promise<boolean> {
    const lanes = this.run.lanes.filter((l) => isMergeable(l) && !this.excluded.has(l.id)).map((l) => l.id);
    if (!lanes.length) {
      this.result('runQueue', false, 'no accepted lane has work to merge');
      return false;
    }
    this.setBusy('merge queue running…');
    this.queue = { running: true, merged: [], held: [], sentBack: [] };
    const r = await vscode.window.withProgress({ location: { viewId: 'agentLanes.plan' }, title: 'Merge queue' }, () =>
      this.folder.session.mergeQueue(this.run.runId, {
        lanes,
        onProgress: (step) => {
          if (this.queue?.running) this.queue.step = step;
          this.postState();
        },
      }),
    );
    this.queue = queueView(r);
    this.result('runQueue', r.passed, r.passed ? `integrated ${r.merged.join(', ')}` : `not passed: merged ${r.merged.join(', ') || 'nothing'}; held back ${r.held.map((h) => h.lane).join(', ') || 'nothing'}`);
    return r.passed;
  }

  private async sendFeedback(lane: string, text: string): Promise<boolean> {
    this.setBusy(`re-running ${lane} with your feedback…`);
    const after = await this.folder.session.sendBack(this.run.runId, lane, `Feedback from the person reviewing the lanes:\n\n${text}`);
    this.queue = undefined;
    await this.folder.reloadRun();
    await this.load(this.run.runId, true);
    this.result('sendFeedback', after.status === 'passed', `${lane} ran again: ${after.status}`);
    return after.status === 'passed';
  }

  /** Files open with unsaved changes, relative to the repository. */
  private unsavedPaths(): string[] {
    return vscode.workspace.textDocuments
      .filter((d) => d.isDirty && d.uri.scheme === 'file' && d.uri.fsPath.startsWith(this.folder.root + path.sep))
      .map((d) => path.relative(this.folder.root, d.uri.fsPath).split(path.sep).join('/'));
  }

  private async apply(action: string, sel: Selection): Promise<boolean> {
    this.setBusy('applying to your checkout…');
    const session = this.folder.session;
    const runId = this.run.runId;
    try {
      const r = await session.apply(runId, sel, { unsavedPaths: this.unsavedPaths() });
      this.result(action, true, `applied: ${r.applied.length} file(s) written, ${r.deleted.length} deleted (staged; undo restores your checkout exactly)`);
      return true;
    } catch (e) {
      if (!(e instanceof ApplyRefused)) throw e;
      if (e.reason === 'outsideLink') {
        // Never without an explicit yes: the links are listed, and "Apply Anyway" is not the default.
        const pick = await vscode.window.showWarningMessage(
          'The lanes\' result has symlinks that point outside the repository. Applying them puts those links in your checkout.',
          { modal: true, detail: e.files.map((f) => `${f}`).join('\n') + '\n\n' + e.message },
          'Apply Anyway',
        );
        if (pick !== 'Apply Anyway') {
          this.result(action, false, `not applied: ${e.message}`);
          return false;
        }
        const r = await session.apply(runId, sel, { unsavedPaths: this.unsavedPaths(), acceptOutsideLinks: true });
        this.result(action, true, `applied with the outside symlinks you accepted: ${r.applied.length} file(s) written, ${r.deleted.length} deleted`);
        return true;
      }
      if (e.reason !== 'dirtyEditors') {
        this.result(action, false, `not applied: ${e.message}`);
        return false;
      }
      const policy = vscode.workspace.getConfiguration('agentLanes', this.folder.folder).get<string>('unsavedEditors') ?? 'ask';
      const pick =
        policy === 'skip'
          ? 'Apply Without Them'
          : await vscode.window.showWarningMessage(`These files have unsaved changes and the apply would change them: ${e.files.join(', ')}`, { modal: true }, 'Save and Apply', 'Apply Without Them');
      if (pick === 'Save and Apply') {
        for (const d of vscode.workspace.textDocuments) if (d.isDirty && e.files.includes(path.relative(this.folder.root, d.uri.fsPath).split(path.sep).join('/'))) await d.save();
        return this.apply(action, sel);
      }
      if (pick === 'Apply Without Them') {
        const r = await session.apply(runId, sel, { exclude: e.files });
        this.result(action, true, `applied without ${e.files.join(', ')}: ${r.applied.length} file(s) written`);
        return true;
      }
      this.result(action, false, `not applied: ${e.message}`);
      return false;
    }
  }

  private html(runId: string): string {
    const w = this.panel.webview;
    const nonce = randomBytes(16).toString('base64');
    const media = (f: string) => w.asWebviewUri(vscode.Uri.joinPath(this.deps.extensionUri, 'media', f));
    const dist = (f: string) => w.asWebviewUri(vscode.Uri.joinPath(this.deps.extensionUri, 'dist', f));
    const persisted: Persisted = { folder: this.folder.root, runId };
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
    if (ReconcilePanel.open.get(this.run?.runId ?? '') === this) ReconcilePanel.open.delete(this.run?.runId ?? '');

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
        const known = s?.runId && (await folder.session.store.list()).includes(s.runId) ? s.runId : undefined;
        await ReconcilePanel.show(folder, deps, panel, known);
      },
    };
  }
}
