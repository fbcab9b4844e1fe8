/**
 * The Plan view: the goal, then each lane with its role, a status icon, elapsed time, attempt,
 * dependencies and collisions, the findings raised against it and by it and its loop-backs;
 * once a lane has run, the files it changed (click for a diff against its base). Nodes have
 * stable ids and per-state context values; only the nodes that changed are refreshed.
 */
import * as vscode from 'vscode';
import { describeIsolation } from '../core/run/sandbox';
import { changedFiles, FileChange, touchedPaths } from '../core/reconcile/diff';
import { outsideScope } from '../core/reconcile/radar';
import type { Lane } from '../core/plan/schema';
import { validatePlanText } from '../core/plan/validate';
import { laneSpending } from '../core/run/budget';
import { formatDuration, laneTimes, type LaneState, type LaneStatus } from '../core/run/state';
import type { FindingRecord, LoopBack } from '../core/run/findings';
import { evidenceTail, findingContextValue, findingDescription, findingIcon, findingLabel, loopBackIcon, loopBackLabel, outstandingFor, outstandingText } from './findingsView';

import { laneUri } from './content';
import type { FolderModel, WorkspaceModel } from './model';

export type Node =
  | { kind: 'folder'; folder: FolderModel }
  | { kind: 'goal'; folder: FolderModel }
  | { kind: 'lane'; folder: FolderModel; lane: Lane }
  | { kind: 'file'; folder: FolderModel; lane: string; change: FileChange; base: string; head: string; outOfScope?: boolean }
  | { kind: 'info'; folder: FolderModel; lane: string; key: string; label: string; tooltip?: string; icon?: string }
  /** A finding under the lane it is for (`side: 'to'`) or under the lane that raised it (`'from'`). */
  | { kind: 'finding'; folder: FolderModel; lane: string; runId: string; finding: FindingRecord; side: 'to' | 'from' }
  | { kind: 'loopBack'; folder: FolderModel; lane: string; runId: string; loopBack: LoopBack; index: number; side: 'to' | 'from' }
  | { kind: 'runs'; folder: FolderModel; count: number }
  | { kind: 'run'; folder: FolderModel; runId: string; goal: string; summary: string; status: string; current: boolean };

const ICONS: Record<LaneStatus, [string, string | undefined]> = {
  queued: ['circle-outline', undefined],
  blocked: ['debug-pause', 'disabledForeground'],
  running: ['sync~spin', 'charts.blue'],
  verifying: ['loading~spin', 'charts.blue'],
  passed: ['pass-filled', 'testing.iconPassed'],
  failed: ['error', 'testing.iconFailed'],
  'timed-out': ['watch', 'testing.iconFailed'],
  cancelled: ['circle-slash', 'disabledForeground'],
  skipped: ['debug-step-over', 'disabledForeground'],
};

/** This attempt's time, and the total over attempts when there were several. */
function elapsed(l: LaneState): string {
  const t = laneTimes(l);
  if (t.attemptMs === undefined) return '';
  return l.attempts.length > 1 ? `${formatDuration(t.attemptMs)} (total ${formatDuration(t.totalMs)})` : formatDuration(t.attemptMs);
}

/** "Nov 25 08:30" from a run id (its UTC start, shown in local time). */
function runTime(runId: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})/.exec(runId);
  if (!m) return runId;
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** "14:03:21" from an ISO time, in local time. */
function clock(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function laneState(folder: FolderModel, id: string): LaneState | undefined {
  return folder.run?.lanes.find((l) => l.id === id);
}

export class PlanTreeProvider implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<Node | Node[] | undefined | void>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly laneNodes = new Map<string, Node>();
  private readonly fileCache = new Map<string, FileChange[]>();
  private readonly sub: vscode.Disposable;
  private ticker?: NodeJS.Timeout;

  constructor(private readonly model: WorkspaceModel) {
    this.sub = model.onDidChange((c) => {
      if (!c.folder || !c.lanes) {
        this.emitter.fire();
        return;
      }
      const nodes = c.lanes.map((id) => this.laneNodes.get(`${c.folder.root}|${id}`)).filter((n): n is Node => !!n);
      this.emitter.fire(nodes.length === c.lanes.length ? nodes : undefined);
    });
    // Elapsed times of running lanes tick once a second (only those nodes refresh).
    this.ticker = setInterval(() => {
      const running = [...this.laneNodes.values()].filter((n) => n.kind === 'lane' && ['running', 'verifying'].includes(laneState(n.folder, n.lane.id)?.status ?? ''));
      if (running.length) this.emitter.fire(running);
    }, 1000);
  }

  /** Redraw everything (after a change the model does not see, e.g. a run cleaned). */
  refresh(): void {
    this.emitter.fire();
  }

  private multi(): boolean {
    return this.model.all().length > 1;
  }

  getChildren(node?: Node): vscode.ProviderResult<Node[]> {
    if (!node) {
      const folders = this.model.all().filter((f) => f.plan || f.planError);
      if (this.multi()) return folders.map((folder) => ({ kind: 'folder', folder }));
      return folders[0] ? this.folderChildren(folders[0]) : [];
    }
    if (node.kind === 'folder') return this.folderChildren(node.folder);
    if (node.kind === 'lane') return this.laneChildren(node.folder, node.lane);
    if (node.kind === 'runs') return this.runChildren(node.folder);
    return [];
  }

  /** Earlier runs, newest first: their goal, when, and how they ended (read from their state). */
  private async runChildren(folder: FolderModel): Promise<Node[]> {
    const ids = (await folder.session.store.list()).slice(0, 30);
    const out: Node[] = [];
    for (const runId of ids) {
      try {
        const st = await folder.session.store.read(runId);
        const goal = validatePlanText(st.planText).plan?.goal ?? runId;
        const counts = new Map<string, number>();
        for (const l of st.lanes) {
          const k = l.status === 'timed-out' ? 'failed' : l.status === 'skipped' ? 'cancelled' : l.status;
          counts.set(k, (counts.get(k) ?? 0) + 1);
        }
        const status = runId === folder.run?.runId && folder.truth?.status === 'interrupted' ? 'interrupted' : st.status;
        out.push({ kind: 'run', folder, runId, goal, status, summary: [...counts].map(([k, v]) => `${v} ${k}`).join(', '), current: runId === folder.run?.runId });
      } catch {
        out.push({ kind: 'run', folder, runId, goal: runId, status: 'unreadable', summary: 'its state could not be read', current: false });
      }
    }
    return out;
  }

  private async folderChildren(folder: FolderModel): Promise<Node[]> {
    const out: Node[] = [{ kind: 'goal', folder }];
    // While the file has errors the last valid plan stays (the goal row says so): no flicker.
    const lanes = folder.run && folder.live ? folder.live.plan.lanes : folder.plan?.plan?.lanes ?? folder.lastGoodPlan?.lanes ?? [];
    for (const lane of lanes) {
      const n: Node = { kind: 'lane', folder, lane };
      this.laneNodes.set(`${folder.root}|${lane.id}`, n);
      out.push(n);
    }
    // Every run of this repository, below the plan: any can be opened, reconciled or cleaned.
    const runs = (await folder.session.store.list().catch(() => [] as string[])).length;
    if (runs) out.push({ kind: 'runs', folder, count: runs });
    return out;
  }

  private async laneChildren(folder: FolderModel, lane: Lane): Promise<Node[]> {
    const out: Node[] = [];
    const st = laneState(folder, lane.id);
    if (lane.dependsOn?.length) out.push({ kind: 'info', folder, lane: lane.id, key: 'deps', label: `depends on ${lane.dependsOn.join(', ')}`, icon: 'references' });
    for (const c of folder.collisions(lane.id)) {
      const other = c.a === lane.id ? c.b : c.a;
      out.push({
        kind: 'info',
        folder,
        lane: lane.id,
        key: `radar-${other}-${c.kind}`,
        label: c.kind === 'conflict' ? `conflicts with ${other}: ${c.files.join(', ')}` : `also changed by ${other}: ${c.files.join(', ')}`,
        icon: c.kind === 'conflict' ? 'warning' : 'info',
      });
    }
    if (st) {
      const spending = laneSpending(st, lane.budget ?? (folder.live?.plan ?? folder.plan?.plan)?.defaults?.budget);
      if (spending.used || spending.budget) {
        const label = [spending.used ? `used ${spending.used}` : 'usage not reported', spending.budget ? `budget ${spending.budget}` : ''].filter(Boolean).join(' · ');
        out.push({ kind: 'info', folder, lane: lane.id, key: 'usage', label, tooltip: spending.over ?? label, icon: spending.over ? 'warning' : 'credit-card' });
      }
    }
    if (st?.reason && ['failed', 'timed-out', 'skipped', 'cancelled'].includes(st.status)) {
      out.push({ kind: 'info', folder, lane: lane.id, key: 'reason', label: st.reason.split('\n')[0]!, tooltip: st.reason, icon: 'note' });
    }
    out.push(...this.findingChildren(folder, lane.id));
    for (const w of st?.warnings ?? []) out.push({ kind: 'info', folder, lane: lane.id, key: `w-${w.slice(0, 40)}`, label: w.split('\n')[0]!, tooltip: w, icon: 'alert' });
    // Listing files runs git: only in trusted workspaces.
    if (st?.base && st.head && st.head !== st.base && vscode.workspace.isTrusted) {
      const key = `${st.base}..${st.head}`;
      let files = this.fileCache.get(key);
      if (!files) {
        try {
          files = await changedFiles(folder.root, st.base, st.head);
          this.fileCache.set(key, files);
        } catch {
          files = [];
        }
      }
      // Files changed outside the lane's declared scope: said on the lane and on each file.
      const outside = new Set(outsideScope(touchedPaths(files), lane.scope));
      if (outside.size) {
        const list = [...outside];
        out.push({ kind: 'info', folder, lane: lane.id, key: 'scope', label: `changed ${list.length} file${list.length > 1 ? 's' : ''} outside its scope: ${list.join(', ')}`, tooltip: `${lane.id}'s scope is ${lane.scope!.join(', ')}; it changed ${list.join(', ')}`, icon: 'warning' });
      }
      for (const change of files) out.push({ kind: 'file', folder, lane: lane.id, change, base: st.base, head: st.head, outOfScope: outside.has(change.path) || (change.oldPath !== undefined && outside.has(change.oldPath)) });
    }
    return out;
  }

  /** Findings for the lane and by it (in the order they were raised), then its loop-backs. */
  private findingChildren(folder: FolderModel, lane: string): Node[] {
    const run = folder.run;
    if (!run) return [];
    const out: Node[] = [];
    for (const finding of folder.findings) {
      if (finding.to === lane) out.push({ kind: 'finding', folder, lane, runId: run.runId, finding, side: 'to' });
      else if (finding.from === lane) out.push({ kind: 'finding', folder, lane, runId: run.runId, finding, side: 'from' });
    }
    run.loopBacks.forEach((loopBack, index) => {
      if (loopBack.to === lane) out.push({ kind: 'loopBack', folder, lane, runId: run.runId, loopBack, index, side: 'to' });
      else if (loopBack.from === lane) out.push({ kind: 'loopBack', folder, lane, runId: run.runId, loopBack, index, side: 'from' });
    });
    return out;
  }

  getParent(node: Node): vscode.ProviderResult<Node> {
    if (node.kind === 'folder') return undefined;
    const folderNode: Node | undefined = this.multi() ? { kind: 'folder', folder: node.folder } : undefined;
    if (node.kind === 'goal' || node.kind === 'lane' || node.kind === 'runs') return folderNode;
    if (node.kind === 'run') return { kind: 'runs', folder: node.folder, count: 0 };
    const lane = (node.folder.plan?.plan?.lanes ?? []).find((l) => l.id === node.lane);
    return lane ? { kind: 'lane', folder: node.folder, lane } : folderNode;
  }

  getTreeItem(node: Node): vscode.TreeItem {
    switch (node.kind) {
      case 'folder': {
        const item = new vscode.TreeItem(node.folder.name, vscode.TreeItemCollapsibleState.Expanded);
        item.id = `folder:${node.folder.root}`;
        item.iconPath = new vscode.ThemeIcon('repo');
        item.contextValue = 'folder';
        return item;
      }
      case 'goal': {
        const p = node.folder.plan;
        const goal = node.folder.live?.plan.goal ?? p?.plan?.goal ?? (p && !p.ok ? node.folder.lastGoodPlan?.goal : undefined);
        const item = new vscode.TreeItem(goal ?? (p ? 'The plan has errors' : node.folder.planError ?? 'No plan'), vscode.TreeItemCollapsibleState.None);
        item.id = `goal:${node.folder.root}`;
        item.iconPath = new vscode.ThemeIcon(p && !p.ok ? 'error' : 'target');
        const run = node.folder.run;
        const plan = node.folder.live?.plan ?? p?.plan;
        const total = run ? laneSpending({ busyMs: run.lanes.reduce((a, l) => a + l.busyMs, 0), attempts: run.lanes.flatMap((l) => l.attempts) }, plan?.budget) : {};
        const spend = [total.used ? `agents used ${total.used}` : '', total.budget ? `run budget ${total.budget}` : '', run?.budgetSpent ?? ''].filter(Boolean).join('\n');
        item.tooltip = p && !p.ok ? p.errors.map((e) => e.message).join('\n') : `${goal ?? ''}${spend ? `\n\n${spend}` : ''}`;

        const interruptedRun = !node.folder.live && node.folder.truth?.status === 'interrupted';
        item.description = p && !p.ok ? `${p.errors.length} error(s): open the plan` : node.folder.run ? `run ${node.folder.run.runId}${interruptedRun ? ' · interrupted' : ''}` : undefined;
        item.command = { command: 'vscode.open', title: 'Open Plan', arguments: [vscode.Uri.file(node.folder.planFile)] };
        item.contextValue = interruptedRun ? 'goal:interrupted' : 'goal';
        return item;
      }
      case 'lane': {
        const st = laneState(node.folder, node.lane.id);
        // A lane the state calls running whose orchestrator is gone (a reload, a crash) is
        // interrupted: said at once, with no ticking timer and no Stop.
        const interrupted = !node.folder.live && node.folder.truth?.status === 'interrupted' && (st?.status === 'running' || st?.status === 'verifying');
        const status: LaneStatus | 'interrupted' | undefined = interrupted ? 'interrupted' : st?.status;
        const collisions = node.folder.collisions(node.lane.id);
        const item = new vscode.TreeItem(node.lane.id, vscode.TreeItemCollapsibleState.Collapsed);
        item.id = `lane:${node.folder.root}:${node.lane.id}`;
        const [icon, color] = status === 'interrupted' ? ['debug-disconnect', 'charts.yellow'] : status ? ICONS[status] : ['circle-large-outline', undefined];
        item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
        // The id, then the role only when it says something more.
        const role = node.lane.role ?? 'implement';
        const bits = role !== node.lane.id ? [role] : [];
        if (status) bits.push(status);
        if (st?.startedAt && !interrupted) bits.push(elapsed(st));
        if (st && st.attempts.length > 1) bits.push(`attempt ${st.attempts.length}`);
        if (collisions.some((c) => c.kind === 'conflict')) bits.push('⚠ conflicts');
        const blocking = outstandingText(node.lane.id, node.folder.findings);
        if (blocking) bits.push(blocking);
        item.description = bits.join(' · ');
        const md = new vscode.MarkdownString();
        md.appendMarkdown(`**${node.lane.id}** (${node.lane.role ?? 'implement'})\n\n`);
        md.appendText(node.lane.brief);
        if (st?.reason) md.appendMarkdown(`\n\n---\n`).appendText(st.reason.split('\n')[0]!);
        if (st) md.appendMarkdown(`\n\n$(${st.isolation && st.isolation !== 'none' ? 'lock' : 'unlock'}) `).appendText(describeIsolation({ lanes: [st] }).replace(/^lanes /, ''));
        const outstanding = outstandingFor(node.lane.id, node.folder.findings);
        if (outstanding.length) {
          md.appendMarkdown(`\n\n---\n\n$(warning) **${outstanding.length === 1 ? 'A blocking finding is' : 'Blocking findings are'} unresolved:**\n`);
          for (const f of outstanding) md.appendMarkdown('\n- ').appendText(findingLabel(f, 'to'));
          md.appendMarkdown('\n\n').appendText(`The merge queue holds ${node.lane.id} until ${outstanding.length === 1 ? 'it is' : 'they are'} addressed (send back) or dismissed.`);
        }
        md.supportThemeIcons = true;
        item.tooltip = md;
        item.contextValue = `lane:${status ?? 'idle'}${st?.head && st.base && st.head !== st.base ? ':changed' : ''}`;
        return item;
      }
      case 'file': {
        const c = node.change;
        const item = new vscode.TreeItem(vscode.Uri.file(`${node.folder.root}/${c.path}`), vscode.TreeItemCollapsibleState.None);
        item.id = `file:${node.folder.root}:${node.lane}:${c.path}`;
        item.description = `${node.outOfScope ? '⚠ outside scope · ' : ''}${c.kind}${c.binary ? ' · binary' : ` · +${c.added ?? 0} −${c.removed ?? 0}`}${c.oldPath ? ` · from ${c.oldPath}` : ''}`;
        const left = laneUri(node.folder.root, node.base, c.oldPath ?? c.path, `${c.oldPath ?? c.path} (base)`);
        const right = laneUri(node.folder.root, node.head, c.path, `${c.path} (${node.lane})`);
        item.command = { command: 'vscode.diff', title: 'Compare with Base', arguments: [left, right, `${c.path} (base ↔ ${node.lane})`] };
        item.contextValue = 'laneFile';
        return item;
      }
      case 'runs': {
        const item = new vscode.TreeItem('Runs', vscode.TreeItemCollapsibleState.Collapsed);
        item.id = `runs:${node.folder.root}`;
        item.iconPath = new vscode.ThemeIcon('history');
        item.description = `${node.count}`;
        item.contextValue = 'runs';
        return item;
      }
      case 'run': {
        const item = new vscode.TreeItem(node.goal, vscode.TreeItemCollapsibleState.None);
        item.id = `run:${node.folder.root}:${node.runId}`;
        item.iconPath = new vscode.ThemeIcon(node.status === 'interrupted' ? 'debug-disconnect' : node.summary.includes('failed') ? 'error' : node.status === 'running' ? 'sync~spin' : 'pass');
        item.description = `${runTime(node.runId)} · ${node.summary}${node.current ? ' · current' : ''}`;
        item.tooltip = `Run ${node.runId}: ${node.status}\n${node.goal}\n${node.summary}`;
        item.command = { command: 'agentLanes.openReconcilePanel', title: 'Open in the Reconcile Panel', arguments: [{ folder: node.folder.root, runId: node.runId }] };
        item.contextValue = node.current ? 'run:current' : 'run';
        return item;
      }
      case 'finding':
        return this.findingItem(node);
      case 'loopBack': {
        const lb = node.loopBack;
        const item = new vscode.TreeItem(loopBackLabel(lb, node.side), vscode.TreeItemCollapsibleState.None);
        item.id = `loopBack:${node.folder.root}:${node.runId}:${node.lane}:${node.index}`;
        const icon = loopBackIcon(lb);
        item.iconPath = new vscode.ThemeIcon(icon.id, icon.color ? new vscode.ThemeColor(icon.color) : undefined);
        item.description = clock(lb.at);
        const md = new vscode.MarkdownString();
        md.appendMarkdown(lb.sent ? '**Loop-back**' : '**Loop-back not made**').appendText(` · ${lb.at.replace('T', ' ').slice(0, 19)}\n\n`);
        md.appendText(`${lb.to} ${lb.sent ? 'was sent back' : 'was not sent back'} ${lb.by === 'person' ? 'by a person' : lb.by === 'merge-queue' ? 'by the merge queue' : `by the run, on ${lb.from}'s finding`} (${lb.finding})`);
        if (lb.reason) md.appendMarkdown('\n\n').appendText(lb.reason);
        if (!lb.sent) md.appendMarkdown('\n\n').appendText('Send the finding back yourself, or dismiss it.');
        item.tooltip = md;
        item.contextValue = lb.sent ? 'loopBack.sent' : 'loopBack.refused';
        return item;
      }
      case 'info': {
        const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.None);
        item.id = `info:${node.folder.root}:${node.lane}:${node.key}`;
        item.iconPath = node.icon ? new vscode.ThemeIcon(node.icon) : undefined;
        item.tooltip = node.tooltip ?? node.label;
        item.contextValue = 'laneInfo';
        return item;
      }
    }
  }

  private findingItem(node: Extract<Node, { kind: 'finding' }>): vscode.TreeItem {
    const f = node.finding;
    const item = new vscode.TreeItem(findingLabel(f, node.side), vscode.TreeItemCollapsibleState.None);
    item.id = `finding:${node.folder.root}:${node.runId}:${node.lane}:${f.id}`;
    const icon = findingIcon(f);
    item.iconPath = new vscode.ThemeIcon(icon.id, icon.color ? new vscode.ThemeColor(icon.color) : undefined);
    item.description = findingDescription(f);
    item.contextValue = findingContextValue(f);
    item.accessibilityInformation = { label: `${findingLabel(f, node.side)}; ${findingDescription(f)}${f.note ? `; ${f.note}` : ''}` };
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(`$(${icon.id}) **${f.id}** · `).appendText(`${findingDescription(f)}\n\n`);
    md.appendText(`${f.source === 'merge-queue' ? `The merge queue, on ${f.from}'s failing check,` : f.from}${f.attempt ? ` (attempt ${f.attempt})` : ''} → ${f.to} · ${f.at.replace('T', ' ').slice(0, 19)}`);
    md.appendMarkdown('\n\n**').appendText(f.title).appendMarkdown('**');
    if (f.details) md.appendMarkdown('\n\n').appendText(f.details);
    const e = f.evidence;
    if (e?.files?.length) md.appendMarkdown('\n\n$(file) ').appendText(e.files.join(', '));
    if (e?.command) md.appendMarkdown('\n\n$(terminal) Reproduce with:\n').appendCodeblock(e.command, 'sh');
    if (e?.output) md.appendMarkdown('\n\nOutput (end):\n').appendCodeblock(evidenceTail(e.output), 'text');
    if (f.note) md.appendMarkdown('\n\n---\n\n').appendText(f.note);
    item.tooltip = md;
    return item;
  }

  dispose(): void {
    clearInterval(this.ticker);
    this.sub.dispose();
    this.emitter.dispose();
  }
}
