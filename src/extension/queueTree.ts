/**
 * The Queue view: each folder's queue (`.lanes/queue.json`) as the queue's remote has it in
 * `refs/lanes/queue/claims`, read with the core's QueueStore and drawn from the pure rows of
 * queueView.ts. Reading runs git, so it polls only while the view is visible, never in Restricted
 * Mode, and only redraws the rows a poll changed (ids are stable).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { describeError } from '../core/errors';
import { loadQueue } from '../core/queue/queue';
import { DEFAULT_QUEUE_PATH } from '../core/queue/schema';
import { QueueSnapshot, QueueStore } from '../core/queue/store';
import { latestOnly } from '../core/util/latest';
import type { Log } from './log';
import type { FolderModel, WorkspaceModel } from './model';
import { changedRows, FolderQueue, QueueRow, TooltipPart, viewRows, walkRows } from './queueView';

export const QUEUE_VIEW_ID = 'agentLanes.queue';
/** How often a visible view reads the queue. */
const POLL_MS = 3000;

/** A tree element: a stable handle per row id (VS Code refreshes elements by identity). */
export interface QueueNode {
  readonly id: string;
}

/** The queue's remote for a folder: the setting, else the repository itself (as the CLI's default). */
export function queueRemote(folder: FolderModel): string {
  const set = vscode.workspace.getConfiguration('agentLanes', folder.folder).get<string>('queueRemote')?.trim();
  return set || folder.root;
}

interface FolderState extends FolderQueue {
  folder: FolderModel;
}

export class QueueTreeProvider implements vscode.TreeDataProvider<QueueNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<QueueNode | QueueNode[] | undefined | void>();
  readonly onDidChangeTreeData = this.emitter.event;
  /** Folders whose queue file exists, by root. */
  private readonly states = new Map<string, FolderState>();
  /** A watcher on each folder's queue file, whether it exists or not. */
  private readonly watched = new Map<string, vscode.Disposable>();
  private rows: QueueRow[] = [];
  private readonly byId = new Map<string, { row: QueueRow; parent?: string }>();
  private readonly handles = new Map<string, QueueNode>();
  private readonly disposables: vscode.Disposable[] = [];
  private view?: vscode.TreeView<QueueNode>;
  private timer?: NodeJS.Timeout;
  private lastErrors = new Map<string, string>();
  private disposed = false;
  /** Resolves once the folders' queue files have been looked for. */
  readonly ready: Promise<void>;
  /** Read every folder's queue now (one read at a time; asking during one reads again after it). */
  readonly poll: () => Promise<void>;

  constructor(
    private readonly model: WorkspaceModel,
    private readonly log: Log,
  ) {
    this.poll = latestOnly(
      () => this.readAll(),
      () => this.redraw(),
    );
    this.disposables.push(
      // The model fires for every lane change; syncFolders only acts when the set of folders changed.
      model.onDidChange(() => void this.syncFolders()),
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        this.redraw();
        this.updatePolling();
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (!e.affectsConfiguration('agentLanes.queueRemote')) return;
        for (const s of this.states.values()) {
          s.remote = queueRemote(s.folder);
          s.snapshot = undefined;
          s.readError = undefined;
        }
        this.redraw();
        if (this.polling) void this.poll();
      }),
    );
    this.ready = model.ready.then(() => this.syncFolders());
  }

  /** The view this provider draws (its visibility turns polling on and off). */
  attach(view: vscode.TreeView<QueueNode>): void {
    this.view = view;
    this.disposables.push(view.onDidChangeVisibility(() => this.updatePolling()));
    this.updatePolling();
  }

  /** Folders that have a queue file. */
  folders(): FolderModel[] {
    return [...this.states.values()].map((s) => s.folder);
  }

  /** The folder a row belongs to. */
  folderOf(node: QueueNode): FolderModel | undefined {
    let best: FolderState | undefined;
    for (const s of this.states.values()) {
      const key = `queue:${s.root}`;
      if ((node.id === key || node.id.startsWith(`${key}:`)) && (!best || s.root.length > best.root.length)) best = s;
    }
    return best?.folder;
  }

  /** The last snapshot read for a folder (undefined: not read yet, or the read failed). */
  snapshot(root: string): QueueSnapshot | undefined {
    return this.states.get(root)?.snapshot;
  }

  /** The rows as drawn now (tests read them; the tree draws them). */
  currentRows(): readonly QueueRow[] {
    return this.rows;
  }

  row(node: QueueNode): QueueRow | undefined {
    return this.byId.get(node.id)?.row;
  }

  get polling(): boolean {
    return this.timer !== undefined;
  }

  /** Look for each folder's queue file (no git: this runs in Restricted Mode too). */
  private async syncFolders(): Promise<void> {
    if (this.disposed) return;
    const folders = this.model.all();
    const roots = new Set(folders.map((f) => f.root));
    let changed = false;
    for (const [root, w] of this.watched) {
      if (roots.has(root)) continue;
      w.dispose();
      this.watched.delete(root);
      changed = this.states.delete(root) || changed;
    }
    for (const f of folders) {
      if (this.watched.has(f.root)) continue;
      this.watch(f);
      changed = (await this.checkFile(f)) || changed;
    }
    if (changed) this.afterFolderChange();
  }

  private watch(f: FolderModel): void {
    const w = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(f.root), DEFAULT_QUEUE_PATH));
    const again = () => void this.checkFile(f).then((changed) => (changed ? this.afterFolderChange() : this.redraw()));
    w.onDidCreate(again);
    w.onDidChange(again);
    w.onDidDelete(again);
    this.watched.set(f.root, w);
  }

  /** Read a folder's queue file: present or not, its goal or its problems. Returns whether presence changed. */
  private async checkFile(f: FolderModel): Promise<boolean> {
    const file = path.join(f.root, DEFAULT_QUEUE_PATH);
    const exists = await fs.stat(file).then(
      (st) => st.isFile(),
      () => false,
    );
    const had = this.states.get(f.root);
    if (!exists) {
      if (!had) return false;
      this.states.delete(f.root);
      return true;
    }
    const s: FolderState = had ?? { folder: f, root: f.root, name: f.name, remote: queueRemote(f) };
    try {
      s.goal = (await loadQueue(f.root)).config.goal;
      s.fileProblem = undefined;
    } catch (e) {
      s.fileProblem = describeError(e).message;
    }
    this.states.set(f.root, s);
    return !had;
  }

  private afterFolderChange(): void {
    void vscode.commands.executeCommand('setContext', 'agentLanes.hasQueue', this.states.size > 0);
    this.redraw();
    this.updatePolling();
  }

  /** Poll while the view is visible, the workspace trusted and some folder has a queue. */
  private updatePolling(): void {
    const want = !this.disposed && !!this.view?.visible && vscode.workspace.isTrusted && this.states.size > 0;
    if (want && !this.timer) {
      this.timer = setInterval(() => void this.poll(), POLL_MS);
      void this.poll();
    } else if (!want && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private async readAll(): Promise<void> {
    // Reading fetches the claims ref: git, so never in Restricted Mode (the command checks too).
    if (!vscode.workspace.isTrusted) return;
    await Promise.all(
      [...this.states.values()].map(async (s) => {
        const remote = s.remote;
        try {
          const snap = await new QueueStore(s.root, remote).read();
          if (s.remote !== remote) return; // the setting changed meanwhile
          s.snapshot = snap;
          s.readError = undefined;
          this.lastErrors.delete(s.root);
        } catch (e) {
          const d = describeError(e);
          s.readError = d.message;
          s.snapshot = undefined;
          // Said once per distinct failure, not every few seconds.
          if (this.lastErrors.get(s.root) !== d.message) this.log.warn(`queue of ${s.name}: ${d.logText}`);
          this.lastErrors.set(s.root, d.message);
        }
      }),
    );
  }

  /** Rebuild the rows and redraw the ones that changed. */
  private redraw(): void {
    if (this.disposed) return;
    const folders = [...this.states.values()].sort((a, b) => a.name.localeCompare(b.name));
    const next = viewRows(folders, vscode.workspace.isTrusted);
    const diff = changedRows(this.rows, next);
    this.rows = next;
    this.byId.clear();
    for (const e of walkRows(next)) this.byId.set(e.row.id, e);
    for (const id of this.handles.keys()) if (!this.byId.has(id)) this.handles.delete(id);
    if (diff.root) this.emitter.fire();
    else if (diff.ids.length) this.emitter.fire(diff.ids.map((id) => this.handle(id)));
  }

  private handle(id: string): QueueNode {
    let h = this.handles.get(id);
    if (!h) this.handles.set(id, (h = { id }));
    return h;
  }

  getChildren(node?: QueueNode): QueueNode[] {
    const rows = node ? this.byId.get(node.id)?.row.children ?? [] : this.rows;
    return rows.map((r) => this.handle(r.id));
  }

  getParent(node: QueueNode): QueueNode | undefined {
    const parent = this.byId.get(node.id)?.parent;
    return parent ? this.handle(parent) : undefined;
  }

  getTreeItem(node: QueueNode): vscode.TreeItem {
    const row = this.byId.get(node.id)?.row;
    if (!row) return new vscode.TreeItem('…');
    const state = row.children?.length ? (row.expanded ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed) : vscode.TreeItemCollapsibleState.None;
    const item = new vscode.TreeItem(row.label, state);
    item.id = row.id;
    item.description = row.description;
    item.contextValue = row.contextValue;
    if (row.icon) item.iconPath = new vscode.ThemeIcon(row.icon.id, row.icon.color ? new vscode.ThemeColor(row.icon.color) : undefined);
    if (row.tooltip?.length) item.tooltip = tooltipOf(row.tooltip);
    if (row.command) item.command = row.command;
    else if (row.openFile) item.command = { command: 'vscode.open', title: 'Open', arguments: [vscode.Uri.file(row.openFile)] };
    return item;
  }

  dispose(): void {
    this.disposed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    for (const w of this.watched.values()) w.dispose();
    for (const d of this.disposables) d.dispose();
    this.emitter.dispose();
  }
}

/** Titles in bold, everything else as text (task briefs and notes are not markdown we trust). */
function tooltipOf(parts: readonly TooltipPart[]): vscode.MarkdownString {
  const md = new vscode.MarkdownString();
  parts.forEach((p, i) => {
    if (i) md.appendMarkdown('\n\n');
    if (p.title) md.appendMarkdown('**').appendText(p.title).appendMarkdown('**\n\n');
    if (p.code) md.appendCodeblock(p.text, 'text');
    else md.appendText(p.text);
  });
  return md;
}
