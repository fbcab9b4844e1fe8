/**
 * Conflicts resolved in VS Code's three-way merge editor. The other side (a lane, or the
 * integration branch) is merged into the conflicting lane's worktree by the session; each
 * conflicted file opens in the merge editor (base, the other side, the lane; the result is the
 * lane's file). When the last one is saved without conflict markers, the resolution is committed
 * to the lane's branch with its trailers, and the lane can go through the queue again.
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

const MARKERS = /^(<{7}|>{7})( |$)/m;

export class ConflictResolver implements vscode.Disposable {
  private readonly pending = new Map<string, Pending>();
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
      vscode.workspace.onDidSaveTextDocument((d) => void this.saved(d)),
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
    return r.conflicts;
  }

  private key(ref: ResolveRef): string {
    return `${ref.folder}|${ref.runId}|${ref.lane}`;
  }

  /** A saved result: once every conflicted file of a resolution is free of markers, commit it. */
  private async saved(doc: vscode.TextDocument): Promise<void> {
    for (const p of this.pending.values()) {
      const rel = path.relative(p.worktree, doc.uri.fsPath).split(path.sep).join('/');
      if (!p.files.includes(rel)) continue;
      const open = await Promise.all(p.files.map(async (f) => (await vscode.workspace.openTextDocument(vscode.Uri.file(path.join(p.worktree, f)))).getText()));
      if (open.some((t) => MARKERS.test(t))) return; // more to resolve
      await this.finish(p);
      return;
    }
  }

  async finish(p: Pending): Promise<string | undefined> {
    const folder = this.folder(p);
    try {
      const head = await folder.session.resolveFinish(p.runId, p.lane, p.files, p.against);
      this.pending.delete(this.key(p));
      this.log.info(`resolved ${p.lane}: merge commit ${head}`);
      this.done.fire({ ref: p, head });
      await folder.reloadRun();
      void vscode.window.showInformationMessage(`Lane ${p.lane}: the conflict is resolved (commit ${head.slice(0, 10)} on its branch). Run the merge queue again to integrate it.`, 'Open Reconcile Panel').then((pick) => {
        if (pick) void vscode.commands.executeCommand('agentLanes.openReconcilePanel', { folder: p.folder, runId: p.runId });
      });
      return head;
    } catch (e) {
      void vscode.window.showErrorMessage(`Agent Lanes: ${describeError(e).message}`);
      return undefined;
    }
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
  }
}
