// No `vscode` import: how a queue snapshot reads in the Queue view, as plain rows (unit-tested in
// plain Node). The adapter (queueTree.ts) turns rows into TreeItems; ids are stable across polls,
// so a poll that changes one task redraws that task's rows and nothing else.
import * as path from 'node:path';
import { viewOf } from '../core/queue/queue';
import { DEFAULT_QUEUE_PATH } from '../core/queue/schema';
import { isStale, type DoneRecord, type Lock, type QueueSnapshot, type Task, type WorkerStatus } from '../core/queue/store';

export type QueueGroup = 'open' | 'claimed' | 'done' | 'failed';
export const QUEUE_GROUPS: readonly QueueGroup[] = ['open', 'claimed', 'done', 'failed'];

/** One paragraph of a tooltip: an optional bold title, then text (shown as text, never markdown). */
export interface TooltipPart {
  title?: string;
  text: string;
  /** Shown as a code block (command output, notes). */
  code?: boolean;
}

export interface QueueRow {
  /** Unique in the whole view and the same on every poll. */
  id: string;
  label: string;
  description?: string;
  tooltip?: TooltipPart[];
  /** A codicon id and a theme colour id. */
  icon?: { id: string; color?: string };
  /**
   * `queue:summary`, `queue:workers`, `queue:worker:<state>[:stale]`, `queue:tasks`,
   * `queue:group:<group>`, `queue:task:<group>[:<how>][:stale]`, `queue:folder`, `queue:message`.
   */
  contextValue: string;
  /** Rows under this one; `expanded` says how it first shows (collapsed otherwise). */
  children?: QueueRow[];
  expanded?: boolean;
  command?: { command: string; title: string; arguments?: unknown[] };
  /** Clicking opens this file (the adapter makes the URI). */
  openFile?: string;
}

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + '…' : s);
const firstLine = (s: string) => s.trim().split('\n')[0] ?? '';
const short = (commit?: string) => (commit ? commit.slice(0, 10) : '?');
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "$1.23", "$0.004". */
export function formatCost(usd: number): string {
  return usd >= 0.1 ? `$${usd.toFixed(2)}` : `$${usd.toPrecision(1)}`;
}

/** "950 tokens", "12.3k tokens", "4.1M tokens". */
export function formatTokens(n: number): string {
  if (n < 1000) return `${n} tokens`;
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k tokens`;
  return `${(n / 1_000_000).toFixed(1)}M tokens`;
}

/** Which group a task is in: done and failed win over a lock left behind. */
export function groupOf(s: QueueSnapshot, id: string): QueueGroup {
  if (s.done.has(id)) return 'done';
  if (s.failed.has(id)) return 'failed';
  return s.locks.has(id) ? 'claimed' : 'open';
}

/** The task a worker works on: its status says, else the lock it holds (integrating says no task). */
function workerTask(s: QueueSnapshot, w: WorkerStatus): string | undefined {
  if (w.state === 'stopped') return undefined;
  return w.task ?? [...s.locks.values()].find((l) => l.worker === w.worker)?.task;
}

/**
 * A worker that still says it works but has stopped showing it: the lock of its task is stale
 * (or another worker reclaimed it), or its integration lock is; with neither, nothing said for
 * an hour (a worker waiting for tasks writes nothing, so less is no sign).
 */
export function workerStale(s: QueueSnapshot, w: WorkerStatus, now = Date.now()): boolean {
  if (w.state === 'stopped') return false;
  const task = workerTask(s, w);
  if (task && !s.done.has(task) && !s.failed.has(task)) {
    const l = s.locks.get(task);
    if (!l || l.worker !== w.worker) return true;
    return isStale(l, now);
  }
  if (w.state === 'integrating' && s.integrationLock?.worker === w.worker) return isStale(s.integrationLock, now);
  return now - Date.parse(w.updatedAt) >= 3_600_000;
}

const WORKER_ICONS: Record<WorkerStatus['state'], { id: string; color?: string }> = {
  idle: { id: 'circle-large-outline' },
  claiming: { id: 'loading~spin', color: 'charts.blue' },
  working: { id: 'sync~spin', color: 'charts.blue' },
  checking: { id: 'beaker', color: 'charts.blue' },
  integrating: { id: 'git-merge', color: 'charts.blue' },
  stopped: { id: 'debug-stop', color: 'disabledForeground' },
};

/** How a done task ended, in a few words: "integrated at 1a2b3c4d5e". */
export function doneText(s: QueueSnapshot, d: DoneRecord): string {
  switch (d.how) {
    case 'integrated':
      return `integrated at ${short(d.commit)}`;
    case 'recheck':
      return `closed by re-check (passes at ${short(d.commit)})`;
    case 'duplicate': {
      const twin = [...s.done.values()].find((x) => x.how === 'integrated' && x.commit && x.commit === d.commit && x.task !== d.task);
      return `duplicate of ${twin ? nameOf(s, twin.task) : `the change at ${short(d.commit)}`}`;
    }
    case 'split': {
      const children = s.tasks.filter((t) => t.parent === d.task);
      return children.length ? `split into ${children.map((t) => clip(t.name, 40)).join(', ')}` : `split (${firstLine(d.note)})`;
    }
    default:
      return firstLine(d.note);
  }
}

function nameOf(s: QueueSnapshot, id: string): string {
  return clip(s.tasks.find((t) => t.id === id)?.name ?? id, 40);
}

/**
 * A time as a clock reading ("14:03:21"; another day: "Nov 25, 14:03:21"). Never "5 s ago": a
 * row's text changes only when the queue does, so a poll that changed nothing redraws nothing.
 */
function when(iso: string, now: number): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const time = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return d.toDateString() === new Date(now).toDateString() ? time : `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })}, ${time}`;
}

export interface QueueRowsInput {
  /** The prefix of every id: one per folder (the repository root). */
  key: string;
  snapshot: QueueSnapshot;
  /** What the queue file says (the summary's tooltip). */
  goal?: string;
  remote?: string;
  now?: number;
}

/** The summary row, the workers and the tasks of one queue. */
export function queueRows(o: QueueRowsInput): QueueRow[] {
  const now = o.now ?? Date.now();
  return [summaryRow(o, now), workersRow(o, now), tasksRow(o, now)];
}

function summaryRow(o: QueueRowsInput, now: number): QueueRow {
  const s = o.snapshot;
  const v = viewOf(s, now);
  const counts = groupCounts(s);
  const extra = [
    `${counts.open} open`,
    `${counts.claimed} claimed`,
    `${counts.failed} failed`,
    v.perHour !== undefined ? `${v.perHour < 10 ? v.perHour.toFixed(1) : Math.round(v.perHour)} tasks/h` : '',
    v.costUsd !== undefined ? formatCost(v.costUsd) : '',
    v.tokens !== undefined ? formatTokens(v.tokens) : '',
    v.stop ? 'stopping' : '',
  ].filter(Boolean);
  const finished = v.total > 0 && counts.open + counts.claimed === 0;
  const tooltip: TooltipPart[] = [];
  if (o.goal) tooltip.push({ title: 'Goal', text: o.goal.trim() });
  tooltip.push({ text: `${plural(v.total, 'task')}: ${counts.open} open, ${counts.claimed} claimed, ${counts.done} done, ${counts.failed} failed` });
  if (v.perHour !== undefined) tooltip.push({ text: `Throughput: ${v.perHour.toFixed(2)} tasks per hour (between the first and the last done)` });
  if (v.costUsd !== undefined || v.tokens !== undefined) tooltip.push({ text: `Spend: ${[v.costUsd !== undefined ? formatCost(v.costUsd) : '', v.tokens !== undefined ? formatTokens(v.tokens) : ''].filter(Boolean).join(', ')} (as the agents report it)` });
  if (s.gate) tooltip.push({ title: 'Gate', text: `last accepted state ${short(s.gate.commit)} (${when(s.gate.at, now)}): ${s.gate.passing.length} tests pass, ${s.gate.failing.length} fail` });
  if (s.integrationLock) tooltip.push({ text: `${s.integrationLock.worker} is integrating (since ${when(s.integrationLock.claimedAt, now)})` });
  if (v.stop) tooltip.push({ text: 'Stopping: every worker stops after its current task. Start the queue again to take the stop back.' });
  if (o.remote) tooltip.push({ text: `On ${o.remote} (refs/lanes/queue/claims${s.commit ? ` at ${short(s.commit)}` : ''})` });
  return {
    id: `${o.key}:summary`,
    // Short enough for a narrow sidebar; the rest in the description and the tooltip.
    label: `${counts.done}/${v.total} done`,
    description: extra.join(' · '),
    tooltip,
    icon: v.stop ? { id: 'debug-pause', color: 'charts.yellow' } : finished ? (counts.failed ? { id: 'warning', color: 'list.warningForeground' } : { id: 'pass-filled', color: 'testing.iconPassed' }) : { id: 'checklist' },
    contextValue: v.stop ? 'queue:summary:stopping' : 'queue:summary',
  };
}

function groupCounts(s: QueueSnapshot): Record<QueueGroup, number> {
  const c: Record<QueueGroup, number> = { open: 0, claimed: 0, done: 0, failed: 0 };
  for (const t of s.tasks) c[groupOf(s, t.id)]++;
  return c;
}

function workersRow(o: QueueRowsInput, now: number): QueueRow {
  const s = o.snapshot;
  const workers = [...s.workers.values()].sort((a, b) => a.worker.localeCompare(b.worker));
  const rows = workers.map((w) => workerRow(o, w, now));
  const stale = rows.filter((r) => r.contextValue.endsWith(':stale')).length;
  const active = workers.filter((w) => w.state !== 'stopped').length - stale;
  const desc = workers.length ? [`${active} active`, stale ? `${stale} stale` : '', workers.length - active - stale ? `${workers.length - active - stale} stopped` : ''].filter(Boolean).join(' · ') : 'none yet';
  return { id: `${o.key}:workers`, label: 'Workers', description: desc, icon: { id: 'server-process' }, contextValue: 'queue:workers', children: rows, expanded: true };
}

function workerRow(o: QueueRowsInput, w: WorkerStatus, now: number): QueueRow {
  const s = o.snapshot;
  const stale = workerStale(s, w, now);
  const task = workerTask(s, w);
  const lock = task ? s.locks.get(task) : undefined;
  const desc = [stale ? `${w.state}, stale` : w.state, task ? clip(s.tasks.find((t) => t.id === task)?.name ?? task, 60) : '', `${w.done} done`, w.failed ? `${w.failed} given back` : ''].filter(Boolean).join(' · ');
  const tooltip: TooltipPart[] = [
    { title: w.worker, text: `${w.state}${stale ? ' — stale: it has stopped renewing its claim (its task goes back to the queue once the claim expires)' : ''}` },
    { text: `on ${w.host}, pid ${w.pid}; started at ${when(w.startedAt, now)}, last heard from at ${when(w.updatedAt, now)}` },
  ];
  if (task) tooltip.push({ text: `task: ${s.tasks.find((t) => t.id === task)?.name ?? task}${lock ? ` (claim renewed at ${when(lock.renewedAt, now)}, TTL ${lock.ttlSeconds} s)` : ''}` });
  tooltip.push({ text: `${w.done} done, ${w.failed} given back` });
  const u = w.usage;
  if (u && (u.costUsd || u.inputTokens || u.outputTokens)) tooltip.push({ text: `spend: ${[u.costUsd ? formatCost(u.costUsd) : '', u.inputTokens || u.outputTokens ? formatTokens((u.inputTokens ?? 0) + (u.outputTokens ?? 0)) : ''].filter(Boolean).join(', ')}` });
  return {
    id: `${o.key}:worker:${w.worker}`,
    label: w.worker,
    description: desc,
    tooltip,
    icon: stale ? { id: 'warning', color: 'list.warningForeground' } : WORKER_ICONS[w.state] ?? { id: 'circle-large-outline' },
    contextValue: `queue:worker:${w.state}${stale ? ':stale' : ''}`,
  };
}

const GROUP_LABELS: Record<QueueGroup, string> = { open: 'Open', claimed: 'Claimed', done: 'Done', failed: 'Failed' };
const GROUP_ICONS: Record<QueueGroup, { id: string; color?: string }> = {
  open: { id: 'circle-large-outline' },
  claimed: { id: 'person', color: 'charts.blue' },
  done: { id: 'pass-filled', color: 'testing.iconPassed' },
  failed: { id: 'error', color: 'testing.iconFailed' },
};

function tasksRow(o: QueueRowsInput, now: number): QueueRow {
  const s = o.snapshot;
  const byGroup = new Map<QueueGroup, Task[]>(QUEUE_GROUPS.map((g) => [g, []]));
  for (const t of s.tasks) byGroup.get(groupOf(s, t.id))!.push(t);
  // Done: the latest first (what changed is at the top); the others in the queue's order.
  byGroup.get('done')!.sort((a, b) => Date.parse(s.done.get(b.id)!.at) - Date.parse(s.done.get(a.id)!.at) || 0);
  const groups = QUEUE_GROUPS.map((g): QueueRow => {
    const tasks = byGroup.get(g)!;
    const inGroup = new Set(tasks.map((t) => t.id));
    // Split lineage: a task whose parent is in the same group shows under it.
    const nest = (t: Task): QueueRow => {
      const children = tasks.filter((c) => c.parent === t.id).map(nest);
      return { ...taskRow(o, t, g, now, !!t.parent && inGroup.has(t.parent)), ...(children.length ? { children, expanded: true } : {}) };
    };
    const top = tasks.filter((t) => !t.parent || !inGroup.has(t.parent) || t.parent === t.id).map(nest);
    return {
      id: `${o.key}:group:${g}`,
      label: GROUP_LABELS[g],
      description: String(tasks.length),
      icon: GROUP_ICONS[g],
      contextValue: `queue:group:${g}`,
      children: top,
      // Done and failed can be long: only what is under way opens by itself.
      expanded: g === 'claimed' || g === 'open',
    };
  });
  return { id: `${o.key}:tasks`, label: 'Tasks', description: String(s.tasks.length), icon: { id: 'tasklist' }, contextValue: 'queue:tasks', children: groups, expanded: true };
}

function taskRow(o: QueueRowsInput, t: Task, g: QueueGroup, now: number, nested: boolean): QueueRow {
  const s = o.snapshot;
  const lock: Lock | undefined = s.locks.get(t.id);
  const done = s.done.get(t.id);
  const failed = s.failed.get(t.id);
  const rounds = s.rounds.get(t.id) ?? 0;
  const staleClaim = g === 'claimed' && !!lock && isStale(lock, now);
  const parts: string[] = [];
  let icon: QueueRow['icon'];
  let context = `queue:task:${g}`;
  if (g === 'open') {
    icon = { id: 'circle-large-outline' };
    if (rounds) parts.push(`tried ${rounds}×`);
  } else if (g === 'claimed') {
    parts.push(`claimed by ${lock!.worker}${staleClaim ? ' (stale)' : ''}`);
    icon = staleClaim ? { id: 'warning', color: 'list.warningForeground' } : { id: 'sync~spin', color: 'charts.blue' };
    if (staleClaim) context += ':stale';
  } else if (g === 'done') {
    parts.push(doneText(s, done!), `by ${done!.worker}`);
    icon = DONE_ICONS[done!.how] ?? { id: 'pass' };
    context += `:${done!.how}`;
  } else {
    parts.push(`failed after ${plural(failed!.rounds, 'round')}: ${clip(firstLine(failed!.note), 80)}`);
    icon = { id: 'error', color: 'testing.iconFailed' };
  }
  if (t.parent && !nested) parts.push(`split from ${nameOf(s, t.parent)}`);
  return { id: `${o.key}:task:${t.id}`, label: clip(t.name, 120), description: parts.join(' · '), tooltip: taskTooltip(s, t, g, now), icon, contextValue: context };
}

const DONE_ICONS: Record<DoneRecord['how'], { id: string; color?: string }> = {
  integrated: { id: 'pass-filled', color: 'testing.iconPassed' },
  recheck: { id: 'pass', color: 'testing.iconPassed' },
  duplicate: { id: 'copy', color: 'testing.iconPassed' },
  split: { id: 'type-hierarchy-sub' },
};

const excerpt = (text: string, n: number) => (text.length > n ? text.slice(0, n).replace(/\s+\S*$/, '') + ' …' : text);
const ending = (text: string, n: number) => (text.length > n ? '…' + text.slice(text.length - n) : text);

function taskTooltip(s: QueueSnapshot, t: Task, g: QueueGroup, now: number): TooltipPart[] {
  const out: TooltipPart[] = [{ title: t.name, text: `${t.id}${t.file ? ` · ${t.file}` : ''}${t.parent ? ` · split from ${nameOf(s, t.parent)}` : ''}` }];
  const lock = s.locks.get(t.id);
  if (g === 'claimed' && lock) out.push({ text: `claimed by ${lock.worker} on ${lock.host} at ${when(lock.claimedAt, now)}; renewed at ${when(lock.renewedAt, now)}${isStale(lock, now) ? ` — stale (TTL ${lock.ttlSeconds} s): another worker may reclaim it` : ''}` });
  const d = s.done.get(t.id);
  if (d) out.push({ text: `${doneText(s, d)}, by ${d.worker} at ${when(d.at, now)}${d.note && d.how !== 'integrated' ? `: ${d.note}` : ''}${d.changed?.length ? `\nchanged ${d.changed.slice(0, 10).join(', ')}${d.changed.length > 10 ? ', …' : ''}` : ''}` });
  const f = s.failed.get(t.id);
  if (f) out.push({ text: `failed after ${plural(f.rounds, 'round')} (at ${when(f.at, now)}): ${f.note}` });
  if (t.message) out.push({ title: 'Failure', text: excerpt(t.message, 600), code: true });
  out.push({ title: 'Brief', text: excerpt(t.brief.trim(), 600) });
  const notes = s.notes.get(t.id)?.trim();
  if (notes) out.push({ title: 'Notes from earlier tries', text: ending(notes, 1200), code: true });
  return out;
}

/** Every row of a tree, depth first, with its parent's id. */
export function* walkRows(rows: readonly QueueRow[], parent?: string): Generator<{ row: QueueRow; parent?: string }> {
  for (const row of rows) {
    yield { row, parent };
    if (row.children) yield* walkRows(row.children, row.id);
  }
}

/** What a row shows, without its children (to tell which rows a poll changed). */
export function rowSignature(r: QueueRow): string {
  return JSON.stringify([r.label, r.description, r.tooltip, r.icon, r.contextValue, r.command, r.openFile, !!r.children?.length, r.expanded]);
}

/**
 * The rows a new poll changed: those whose own look changed, and those whose list of children
 * changed (a task moving from Open to Claimed changes both groups). `root` says the top level
 * itself changed: everything is redrawn.
 */
export function changedRows(before: readonly QueueRow[], after: readonly QueueRow[]): { root: boolean; ids: string[] } {
  const childIds = (r: QueueRow) => (r.children ?? []).map((c) => c.id).join('\n');
  if (before.map((r) => r.id).join('\n') !== after.map((r) => r.id).join('\n')) return { root: true, ids: [] };
  const old = new Map([...walkRows(before)].map(({ row }) => [row.id, row]));
  const ids: string[] = [];
  for (const { row } of walkRows(after)) {
    const was = old.get(row.id);
    if (!was) continue; // new: its parent's children changed
    if (rowSignature(was) !== rowSignature(row) || childIds(was) !== childIds(row)) ids.push(row.id);
  }
  return { root: false, ids };
}

/** What the view knows of one folder's queue. */
export interface FolderQueue {
  /** The repository root: the prefix of every row id of this folder. */
  root: string;
  name: string;
  /** The queue file's goal, or why it is not a valid queue. */
  goal?: string;
  fileProblem?: string;
  remote: string;
  snapshot?: QueueSnapshot;
  /** Why the last read failed (one line). */
  readError?: string;
}

const message = (id: string, label: string, icon: QueueRow['icon'], extra: Partial<QueueRow> = {}): QueueRow => ({ id, label, icon, contextValue: 'queue:message', ...extra });

/** One folder's rows: what is wrong first, then the queue (or how to start one). */
export function folderRows(f: FolderQueue, now = Date.now()): QueueRow[] {
  const key = `queue:${f.root}`;
  const out: QueueRow[] = [];
  if (f.fileProblem) {
    out.push(message(`${key}:file`, `The queue file has problems: ${clip(firstLine(f.fileProblem), 100)}`, { id: 'error', color: 'list.errorForeground' }, { tooltip: [{ text: f.fileProblem, code: true }], openFile: path.join(f.root, DEFAULT_QUEUE_PATH) }));
  }
  if (f.readError) {
    out.push(message(`${key}:error`, `Could not read the queue: ${clip(f.readError, 100)}`, { id: 'warning', color: 'list.warningForeground' }, { tooltip: [{ text: f.readError }, { text: 'Click to try again.' }], command: { command: 'agentLanes.refreshQueue', title: 'Refresh' } }));
  }
  if (!f.snapshot) {
    if (!f.readError) out.push(message(`${key}:reading`, 'Reading the queue…', { id: 'loading~spin' }));
    return out;
  }
  if (!f.snapshot.commit) {
    out.push(message(`${key}:notStarted`, 'The queue has not started: Start Queue…', { id: 'run-all' }, { tooltip: [{ text: `No queue state on ${f.remote} yet (refs/lanes/queue/claims). Starting it finds the tasks (its sources), runs the gate once and starts workers.` }], command: { command: 'agentLanes.startQueue', title: 'Start Queue', arguments: [{ folder: f.root }] } }));
    return out;
  }
  return [...out, ...queueRows({ key, snapshot: f.snapshot, goal: f.goal, remote: f.remote, now })];
}

/**
 * The whole view: in Restricted Mode one row (reading the queue runs git); else each folder's
 * rows, under a row per folder when there are several.
 */
export function viewRows(folders: readonly FolderQueue[], trusted: boolean, now = Date.now()): QueueRow[] {
  if (!trusted) {
    return [message('queue:untrusted', 'Trust the workspace to see the queue', { id: 'shield' }, { tooltip: [{ text: 'The queue lives in git (refs/lanes/queue/claims), and Agent Lanes runs nothing in Restricted Mode, not even git.' }], command: { command: 'workbench.trust.manage', title: 'Manage Workspace Trust' } })];
  }
  if (folders.length === 1) return folderRows(folders[0]!, now);
  return folders.map((f) => ({ id: `queue:${f.root}`, label: f.name, description: f.snapshot?.commit ? summaryText(f.snapshot) : undefined, icon: { id: 'repo' }, contextValue: 'queue:folder', children: folderRows(f, now), expanded: true }));
}

function summaryText(s: QueueSnapshot): string {
  const c = groupCounts(s);
  return `${c.done}/${s.tasks.length} done${c.failed ? ` · ${c.failed} failed` : ''}`;
}
