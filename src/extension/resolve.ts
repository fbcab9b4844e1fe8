/**
 * Conflicts resolved in VS Code's three-way merge editor. The other side (a lane, or the
 * integration branch) is merged into the conflicting lane's worktree by the session; each
 * conflicted file opens in the merge editor (base, the other side, the lane; the result is the
 * lane's file). Commit Resolution (offered when they open, and when the last one closes) commits
 * the resolution to the lane's branch with its trailers (refused while markers remain), and the
 * lane can go through the queue again.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { describeError } from '../core/errors';
import { laneUri } from './content';
import type { Log } from './log';
import type { FolderModel, WorkspaceModel } from './model';
import { requireTrust } from './runs';

export interface ResolveRef {
  folder: string;
  runId: string;
  /** The lane the resolution is committed to. */
  lane: string;
  /** What it conflicts with: another lane's id, or "integration". */
  against: string;
}

interface Pending extends ResolveRef {
  worktree: string;
  files: string[];
}

export class ConflictResolver implements vscode.Disposable {
  private readonly pending = new Map<string, Pending>();
  /** The last resolution that could not be committed, and why (shown to the person, kept for tests). */
  lastError?: string;
  private readonly prompted = new Set<string>();
  private readonly subs: vscode.Disposable[];
  private readonly done = new vscode.EventEmitter<{ ref: ResolveRef; head: string }>();
  /** Fired once a resolution is committed to the lane's branch. */
  readonly onDidResolve = this.done.event;

  constructor(
    private readonly model: WorkspaceModel,
    private readonly log: Log,
  ) {
    this.subs = [
      this.done,
      vscode.commands.registerCommand('agentLanes.resolveConflict', (ref: ResolveRef) => this.resolve(ref)),
      vscode.commands.registerCommand('agentLanes.commitResolution', (ref?: ResolveRef) => this.commit(ref)),
      vscode.commands.registerCommand('agentLanes.abortResolution', (ref?: ResolveRef) => this.abort(ref)),
      vscode.window.tabGroups.onDidChangeTabs((e) => void this.tabsChanged(e)),
    ];
  }

  private folder(ref: ResolveRef): FolderModel {
    const f = this.model.all().find((x) => x.root === ref.folder);
    if (!f) throw new Error(`no folder ${ref.folder}`);
    return f;
  }

  /** Start (or continue) a resolution and open each conflicted file in the merge editor. */
  async resolve(ref: ResolveRef): Promise<string[]> {
    requireTrust();
    const folder = this.folder(ref);
    const r = await folder.session.resolveStart(ref.runId, ref.lane, ref.against);
    if (r.committed) {
      void vscode.window.showInformationMessage(`Lane ${ref.lane} merged ${r.label} without conflicts; run the merge queue again to integrate it.`);
      this.done.fire({ ref, head: r.committed });
      await folder.reloadRun();
      return [];
    }
    this.pending.set(this.key(ref), { ...ref, worktree: r.worktree, files: r.conflicts });
    for (const f of r.conflicts) {
      await vscode.commands.executeCommand('_open.mergeEditor', {
        base: laneUri(folder.root, r.base, f, `${f} (base)`),
        input1: { uri: laneUri(folder.root, r.theirs, f, `${f} (${r.label})`), title: r.label, description: r.theirs.slice(0, 10), detail: 'theirs' },
        input2: { uri: laneUri(folder.root, r.ours, f, `${f} (lane ${ref.lane})`), title: `lane ${ref.lane}`, description: r.ours.slice(0, 10), detail: 'ours' },
        output: vscode.Uri.file(path.join(r.worktree, f)),
      });
    }
    this.log.info(`resolving ${ref.lane} against ${r.label}: ${r.conflicts.join(', ')}`);
    void vscode.window
      .showInformationMessage(`Resolve ${r.conflicts.join(', ')} in the merge editor, then commit the resolution to lane ${ref.lane}.`, 'Commit Resolution', 'Abort Resolution')
      .then(async (pick) => {
        if (pick === 'Commit Resolution') await this.commit(ref);
        else if (pick === 'Abort Resolution') await this.abort(ref);
      });
    return r.conflicts;
  }

  private key(ref: ResolveRef): string {
    return `${ref.folder}|${ref.runId}|${ref.lane}`;
  }

  /**
   * The merge editor does not say when a person is done (a result without markers may still
   * hold unresolved base text), so finishing is explicit: Commit Resolution, offered when the
   * merge editors open and again when the last of them closes.
   */
  private async tabsChanged(e: vscode.TabChangeEvent): Promise<void> {
    if (!e.closed.length || !this.pending.size) return;
    const open = new Set(
      vscode.window.tabGroups.all.flatMap((g) => g.tabs).map((t) => (t.input as { result?: vscode.Uri } | undefined)?.result?.fsPath).filter((x): x is string => !!x),
    );
    for (const p of this.pending.values()) {
      if (p.files.some((f) => open.has(path.join(p.worktree, f)))) continue;
      if (this.prompted.has(this.key(p))) continue;
      this.prompted.add(this.key(p));
      const pick = await vscode.window.showInformationMessage(`Commit the resolution of lane ${p.lane}'s conflict (${p.files.join(', ')}) to its branch?`, 'Commit Resolution', 'Abort Resolution');
      if (pick === 'Commit Resolution') await this.commit(p);
      else if (pick === 'Abort Resolution') await this.abort(p);
    }
  }

  /** The resolution under way for this ref, or the only one. */
  private find(ref?: Partial<ResolveRef>): Pending | undefined {
    if (ref?.folder && ref.runId && ref.lane) return this.pending.get(this.key(ref as ResolveRef));
    return this.pending.size === 1 ? [...this.pending.values()][0] : undefined;
  }

  async commit(ref?: Partial<ResolveRef>): Promise<string | undefined> {
    const p = this.find(ref);
    if (!p) {
      void vscode.window.showInformationMessage('Agent Lanes: no conflict resolution is under way.');
      return undefined;
    }
    // Unsaved results first: what is committed is what the person sees.
    for (const d of vscode.workspace.textDocuments) if (d.isDirty && p.files.some((f) => d.uri.fsPath === path.join(p.worktree, f))) await d.save();
    return this.finish(p);
  }

  async abort(ref?: Partial<ResolveRef>): Promise<void> {
    const p = this.find(ref);
    if (!p) return;
    await this.folder(p).session.resolveAbort(p.runId, p.lane);
    this.pending.delete(this.key(p));
    this.prompted.delete(this.key(p));
    void vscode.window.showInformationMessage(`Lane ${p.lane}: the resolution was aborted; its branch is as it was.`);
  }

  async finish(p: Pending): Promise<string | undefined> {
    const folder = this.folder(p);
    try {
      const head = await folder.session.resolveFinish(p.runId, p.lane, p.files, p.against);
      this.pending.delete(this.key(p));
      this.prompted.delete(this.key(p));
      this.log.info(`resolved ${p.lane}: merge commit ${head}`);
      this.done.fire({ ref: p, head });
      await folder.reloadRun();
      void vscode.window.showInformationMessage(`Lane ${p.lane}: the conflict is resolved (commit ${head.slice(0, 10)} on its branch). Run the merge queue again to integrate it.`, 'Open Reconcile Panel').then((pick) => {
        if (pick) void vscode.commands.executeCommand('agentLanes.openReconcilePanel', { folder: p.folder, runId: p.runId });
      });
      return head;
    } catch (e) {
      const d = describeError(e);
      this.lastError = d.message;
      this.log.error(`resolving ${p.lane}: ${d.logText}`);
      void vscode.window.showErrorMessage(`Agent Lanes: ${d.message}`);
      return undefined;
    }
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
  }
}
