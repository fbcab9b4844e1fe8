/**
 * Inline reconcile in editors: for a file that lanes of the current run changed, a CodeLens per
 * hunk naming the lane (accept, compare), gutter decorations in the lane's theme colour, and,
 * where two lanes conflict in the file, a view of the conflict with standard conflict markers
 * (so VS Code's own merge-conflict tools work on it). Accepting applies through the same safe
 * apply as everything else: unsaved editors are refused, nothing of the user's is lost.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { gitEnv, gitOut } from '../core/git/git';
import { run as runProcess } from '../core/util/proc';
import { ApplyRefused } from '../core/reconcile/apply';

import { Hunk, hunks } from '../core/reconcile/diff';
import { isMergeable } from '../shared/panelState';
import { laneUri } from './content';
import type { Log } from './log';
import type { FolderModel, WorkspaceModel } from './model';
import { requireTrust } from './runs';

export interface HunkRef {
  folder: string;
  lane: string;
  path: string;
  index: number;
}

const LANE_COLORS = 6;

export class LaneEditorIntegration implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly lensEmitter = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.lensEmitter.event;
  private readonly cache = new Map<string, Hunk[]>();
  private readonly decorations: vscode.TextEditorDecorationType[];
  private readonly subs: vscode.Disposable[] = [];

  constructor(
    private readonly model: WorkspaceModel,
    private readonly log: Log,
  ) {
    this.decorations = Array.from({ length: LANE_COLORS }, (_, i) =>
      vscode.window.createTextEditorDecorationType({
        isWholeLine: true,
        borderWidth: '0 0 0 3px',
        borderStyle: 'solid',
        borderColor: new vscode.ThemeColor(`agentLanes.lane${i + 1}`),
        overviewRulerColor: new vscode.ThemeColor(`agentLanes.lane${i + 1}`),
        overviewRulerLane: vscode.OverviewRulerLane.Left,
      }),
    );
    this.subs.push(
      vscode.languages.registerCodeLensProvider({ scheme: 'file' }, this),
      vscode.window.onDidChangeVisibleTextEditors(() => void this.decorateAll()),
      model.onDidChange(() => {
        this.lensEmitter.fire();
        void this.decorateAll();
      }),
      vscode.commands.registerCommand('agentLanes.acceptHunk', (ref: HunkRef) => this.acceptHunk(ref)),
      vscode.commands.registerCommand('agentLanes.showLaneConflict', (ref: { folder: string; a: string; b: string; path: string }) => this.showConflict(ref)),
    );
  }

  private locate(uri: vscode.Uri): { folder: FolderModel; rel: string } | undefined {
    if (uri.scheme !== 'file' || !vscode.workspace.isTrusted) return undefined;
    const folder = this.model.all().find((f) => uri.fsPath.startsWith(f.root + path.sep));
    if (!folder?.run) return undefined;
    return { folder, rel: path.relative(folder.root, uri.fsPath).split(path.sep).join('/') };
  }

  /** Each lane of the run with its hunks in this file (git diff base..head, 3 lines of context). */
  async laneHunks(folder: FolderModel, rel: string): Promise<{ lane: string; colour: number; hunks: Hunk[] }[]> {
    const out: { lane: string; colour: number; hunks: Hunk[] }[] = [];
    const lanes = folder.run?.lanes ?? [];
    for (const [i, l] of lanes.entries()) {
      if (!isMergeable(l)) continue;
      const key = `${l.base}..${l.head}:${rel}`;
      let hs = this.cache.get(key);
      if (!hs) {
        hs = await hunks(folder.root, l.base!, l.head!, [rel]).catch(() => []);
        this.cache.set(key, hs);
      }
      if (hs.length) out.push({ lane: l.id, colour: i % LANE_COLORS, hunks: hs });
    }
    return out;
  }

  async provideCodeLenses(doc: vscode.TextDocument): Promise<vscode.CodeLens[]> {
    const at = this.locate(doc.uri);
    if (!at) return [];
    const lenses: vscode.CodeLens[] = [];
    const lanes = await this.laneHunks(at.folder, at.rel);
    const text = doc.getText().split(/\r?\n/);
    for (const { lane, hunks: hs } of lanes) {
      const l = at.folder.run!.lanes.find((x) => x.id === lane)!;
      hs.forEach((h, index) => {
        // Already in the file (accepted, or applied): no lens offers it again.
        if (hunkApplied(text, h)) return;
        const line = Math.min(Math.max(0, h.oldStart - 1), Math.max(0, doc.lineCount - 1));
        const range = new vscode.Range(line, 0, line, 0);
        const ref: HunkRef = { folder: at.folder.root, lane, path: at.rel, index };
        lenses.push(
          new vscode.CodeLens(range, { title: `$(git-merge) ${lane}: accept`, command: 'agentLanes.acceptHunk', arguments: [ref], tooltip: `Apply this change from lane ${lane} to your file` }),
          new vscode.CodeLens(range, {
            title: 'compare',
            command: 'vscode.diff',
            arguments: [laneUri(at.folder.root, l.base!, at.rel), laneUri(at.folder.root, l.head!, at.rel), `${at.rel} (base ↔ ${lane})`],
          }),
        );
      });
    }
    for (const p of at.folder.radar.filter((x) => x.kind === 'conflict' && x.files.includes(at.rel))) {
      // On the conflicting hunk: the first change either lane makes in this file.
      const first = lanes.filter((x) => x.lane === p.a || x.lane === p.b).flatMap((x) => x.hunks).sort((x, y) => x.oldStart - y.oldStart)[0];
      const line = first ? Math.min(Math.max(0, first.oldStart - 1), Math.max(0, doc.lineCount - 1)) : 0;
      lenses.push(
        new vscode.CodeLens(new vscode.Range(line, 0, line, 0), {
          title: `$(warning) lanes ${p.a} and ${p.b} conflict here: resolve in the merge editor`,
          command: 'agentLanes.resolveConflict',
          arguments: [{ folder: at.folder.root, runId: at.folder.run!.runId, lane: p.b, against: p.a }],
        }),
      );
    }
    return lenses;
  }

  private async decorateAll(): Promise<void> {
    for (const editor of vscode.window.visibleTextEditors) {
      const at = this.locate(editor.document.uri);
      const ranges: vscode.Range[][] = this.decorations.map(() => []);
      if (at) {
        for (const { colour, hunks: hs } of await this.laneHunks(at.folder, at.rel)) {
          for (const h of hs) {
            const start = Math.max(0, h.oldStart - 1);
            const end = Math.max(start, h.oldStart - 1 + Math.max(0, h.oldLines - 1));
            ranges[colour]!.push(new vscode.Range(start, 0, Math.min(end, editor.document.lineCount - 1), 0));
          }
        }
      }
      this.decorations.forEach((d, i) => editor.setDecorations(d, ranges[i]!));
    }
  }

  async acceptHunk(ref: HunkRef): Promise<boolean> {
    requireTrust();
    const folder = this.model.all().find((f) => f.root === ref.folder);
    const l = folder?.run?.lanes.find((x) => x.id === ref.lane);
    if (!folder || !l?.base || !l.head) return false;
    const unsaved = vscode.workspace.textDocuments.filter((d) => d.isDirty && d.uri.fsPath === path.join(folder.root, ref.path)).map(() => ref.path);
    try {
      await folder.session.apply(folder.run!.runId, { kind: 'hunks', lane: l.id, path: ref.path, hunks: [ref.index] }, { unsavedPaths: unsaved });
      this.log.info(`accepted hunk ${ref.index} of ${ref.path} from ${ref.lane}`);
      this.cache.clear();
      this.lensEmitter.fire();
      return true;
    } catch (e) {
      if (e instanceof ApplyRefused) {
        void vscode.window.showWarningMessage(`Agent Lanes: ${e.message}`);
        return false;
      }
      throw e;
    }
  }

  /** The file as both lanes would have it, with standard conflict markers, in a new editor. */
  async showConflict(ref: { folder: string; a: string; b: string; path: string }): Promise<vscode.TextDocument | undefined> {
    requireTrust();
    const folder = this.model.all().find((f) => f.root === ref.folder);
    const run = folder?.run;
    const la = run?.lanes.find((x) => x.id === ref.a);
    const lb = run?.lanes.find((x) => x.id === ref.b);
    if (!folder || !run || !la?.head || !lb?.head) return undefined;
    const show = (rev: string) => gitOut(['show', `${rev}:${ref.path}`], { cwd: folder.root, readOnly: true }).catch(() => '');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lanes-conflict-'));
    try {
      const [base, a, b] = await Promise.all([show(run.baseCommit), show(la.head), show(lb.head)]);
      const files = ['ours', 'base', 'theirs'].map((n) => path.join(dir, n));
      await Promise.all([fs.writeFile(files[0]!, a + '\n'), fs.writeFile(files[1]!, base + '\n'), fs.writeFile(files[2]!, b + '\n')]);
      // merge-file exits with the number of conflicts: its output is the answer either way.
      const merged = (await runProcess(['git', 'merge-file', '-p', '-L', `lane ${ref.a}`, '-L', 'base', '-L', `lane ${ref.b}`, ...files], { env: gitEnv() })).stdout;
      const language = await vscode.workspace.openTextDocument(vscode.Uri.file(path.join(folder.root, ref.path))).then((d) => d.languageId, () => 'plaintext');
      const doc = await vscode.workspace.openTextDocument({ content: merged, language });
      await vscode.window.showTextDocument(doc);
      return doc;
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  dispose(): void {
    for (const d of this.decorations) d.dispose();
    for (const s of this.subs) s.dispose();
    this.lensEmitter.dispose();
  }
}

/**
 * Whether a lane's hunk is already in the file: its new lines stand where the hunk puts them
 * (or where it would start in the old file, when earlier hunks were not taken).
 */
export function hunkApplied(lines: readonly string[], h: Hunk): boolean {
  const after = h.lines.filter((x) => x.startsWith('+') || x.startsWith(' ')).map((x) => x.slice(1));
  const before = h.lines.filter((x) => x.startsWith('-') || x.startsWith(' ')).map((x) => x.slice(1));
  if (after.join('\n') === before.join('\n')) return false;
  const at = (start: number) => after.every((x, i) => lines[start + i] === x) && (after.length > 0 || before.every((x, i) => lines[start + i] !== x));
  return at(Math.max(0, h.newStart - 1)) || at(Math.max(0, h.oldStart - 1));
}
