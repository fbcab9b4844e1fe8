/**
 * Starting, watching and stopping a queue: the parts `lanes queue start|status|stop` and the
 * VS Code Queue view share. Seeding runs the sources and the gate once at the integration head
 * (the gate's passing tests are the first accepted state); workers do everything else.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { git, gitOut } from '../git/git';
import { passingIds } from './results';
import { DEFAULT_INTEGRATION_BRANCH, DEFAULT_QUEUE_PATH, QueueConfig, QueueSchema } from './schema';
import { QueueError, QueueSnapshot, QueueStore } from './store';
import { collectTasks, testsOf } from './tasks';

/** zod's issues as "  path: message" lines. */
function formatIssues(issues: readonly { path: PropertyKey[]; message: string }[]): string {
  return issues.map((i) => `  ${i.path.map(String).join('.') || '(top)'}: ${i.message}`).join('\n');
}

export interface LoadedQueue {
  file: string;
  config: QueueConfig;
}

/** Read and check the queue file; a problem names its field and the fix. */
export async function loadQueue(repoRoot: string, file = DEFAULT_QUEUE_PATH): Promise<LoadedQueue> {
  const abs = path.resolve(repoRoot, file);
  let text: string;
  try {
    text = await fs.readFile(abs, 'utf8');
  } catch {
    throw new QueueError(`no queue file at ${path.relative(repoRoot, abs) || abs}; write one (the README's "Queue mode" has an example; lanes schema --queue prints its schema) or pass --queue FILE`, 'noQueue');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new QueueError(`${path.relative(repoRoot, abs)} is not valid JSON: ${(e as Error).message}`, 'noQueue');
  }
  const parsed = QueueSchema.safeParse(raw);
  if (!parsed.success) throw new QueueError(`${path.relative(repoRoot, abs)} is not a valid queue:\n${formatIssues(parsed.error.issues)}`, 'noQueue');
  return { file: abs, config: parsed.data };
}

export interface SeedResult {
  tasks: number;
  added: number;
  passing: number;
  failing: number;
  head: string;
  created: boolean;
}

/**
 * Make sure the remote has the integration branch (from `from`, default HEAD) and the queue's
 * tasks and first gate state. An existing queue keeps its state; `reseed` adds tasks its sources
 * find now that it does not have.
 */
export async function seedQueue(o: { repo: string; remote: string; queue: QueueConfig; from?: string; reseed?: boolean; env?: NodeJS.ProcessEnv; signal?: AbortSignal; onProgress?: (m: string) => void }): Promise<SeedResult> {
  const branch = o.queue.branch ?? DEFAULT_INTEGRATION_BRANCH;
  const store = new QueueStore(o.repo, o.remote);
  let head = await store.remoteHead(branch);
  let created = false;
  if (!head) {
    const from = await gitOut(['rev-parse', '--verify', `${o.from ?? 'HEAD'}^{commit}`], { cwd: o.repo, readOnly: true });
    if (!(await store.push(from, `refs/heads/${branch}`, undefined))) throw new QueueError(`could not create ${branch} on ${o.remote}`, 'contention');
    head = from;
    created = true;
    o.onProgress?.(`created the integration branch ${branch} at ${from.slice(0, 10)}`);
  }
  const s = await store.read();
  if (s.tasks.length && !o.reseed) return { tasks: s.tasks.length, added: 0, passing: s.gate?.passing.length ?? 0, failing: s.gate?.failing.length ?? 0, head, created };
  // Sources and the gate run in a throwaway worktree at the integration head, never in the checkout.
  const fetched = (await store.fetchBranch(branch, 'refs/lanes/queue/integration-head'))!;
  const dir = path.join(await gitOut(['rev-parse', '--absolute-git-dir'], { cwd: o.repo, readOnly: true }), 'lanes', 'queue', `seed-${randomBytes(3).toString('hex')}`);
  await git(['worktree', 'add', '--quiet', '--detach', dir, fetched], { cwd: o.repo });
  try {
    o.onProgress?.('finding tasks (running the sources)');
    const tasks = await collectTasks(o.queue, dir, o.env ?? process.env, o.signal);
    o.onProgress?.(`running the gate at ${fetched.slice(0, 10)}`);
    const gate = await testsOf(o.queue.gate.command, o.queue.gate.format, dir, o.env ?? process.env, o.signal);
    let added = 0;
    await store.transact('seed the queue', (cur, edit) => {
      const known = new Set(cur.tasks.map((t) => t.id));
      const fresh = tasks.filter((t) => !known.has(t.id));
      added = fresh.length;
      if (fresh.length || !cur.tasks.length) edit.put('tasks.json', [...cur.tasks, ...fresh]);
      if (!cur.gate) edit.put('gate.json', { commit: fetched, at: new Date().toISOString(), passing: passingIds(gate.tests).sort(), failing: gate.tests.filter((t) => t.status === 'failed').map((t) => t.id).sort() });
      if (cur.stop) edit.remove('control/stop');
    });
    return { tasks: s.tasks.length + added, added, passing: passingIds(gate.tests).length, failing: gate.tests.filter((t) => t.status === 'failed').length, head: fetched, created };
  } finally {
    await git(['worktree', 'remove', '--force', dir], { cwd: o.repo }).catch(() => undefined);
  }
}

/** Ask every worker (on every machine) to stop after its current task; `resume` takes it back. */
export async function stopQueue(repo: string, remote: string, resume = false): Promise<void> {
  const store = new QueueStore(repo, remote);
  await store.transact(resume ? 'resume the queue' : 'stop the queue', (s, edit) => {
    if (resume && s.stop) edit.remove('control/stop');
    if (!resume && !s.stop) edit.put('control/stop', `stopped at ${new Date().toISOString()}\n`);
  });
}

export interface QueueView {
  open: number;
  claimed: number;
  done: number;
  failed: number;
  total: number;
  stop: boolean;
  perHour?: number;
  workers: { id: string; state: string; task?: string; done: number; failed: number; live: boolean; updatedAt: string }[];
  costUsd?: number;
  tokens?: number;
  lineage: { task: string; parent: string }[];
}

/** What the live table and the Queue view show. */
export function viewOf(s: QueueSnapshot, now = Date.now()): QueueView {
  const open = s.tasks.filter((t) => !s.done.has(t.id) && !s.failed.has(t.id));
  // Tasks per hour since the first worker started (or between the first and last ends).
  const doneTimes = [...s.done.values()].map((d) => Date.parse(d.at)).sort((a, b) => a - b);
  const starts = [...s.workers.values()].map((w) => Date.parse(w.startedAt)).filter((x) => Number.isFinite(x));
  const from = starts.length ? Math.min(...starts) : doneTimes[0];
  const to = doneTimes[doneTimes.length - 1];
  const span = from !== undefined && to !== undefined ? (to - from) / 3_600_000 : 0;
  const counted = starts.length ? doneTimes.length : doneTimes.length - 1;
  const perHour = counted > 0 && span > 0 ? counted / span : undefined;
  const workers = [...s.workers.values()].map((w) => ({ id: w.worker, state: w.state, task: w.task, done: w.done, failed: w.failed, updatedAt: w.updatedAt, live: w.state !== 'stopped' && now - Date.parse(w.updatedAt) < 3_600_000 }));
  const usage = [...s.workers.values()].map((w) => w.usage ?? {});
  const cost = usage.reduce((a, u) => a + (u.costUsd ?? 0), 0);
  const tokens = usage.reduce((a, u) => a + (u.inputTokens ?? 0) + (u.outputTokens ?? 0), 0);
  return {
    open: open.length,
    claimed: [...s.locks.keys()].filter((k) => open.some((t) => t.id === k)).length,
    done: s.done.size,
    failed: s.failed.size,
    total: s.tasks.length,
    stop: s.stop,
    perHour: perHour && Number.isFinite(perHour) ? perHour : undefined,
    workers,
    costUsd: cost || undefined,
    tokens: tokens || undefined,
    lineage: s.tasks.filter((t) => t.parent).map((t) => ({ task: t.id, parent: t.parent! })),
  };
}
