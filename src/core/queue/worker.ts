/**
 * `lanes worker`: one worker loop of queue mode, against a remote, from a clone of its own.
 *
 *   claim     a task, through the claims ref (compare-and-swap push; a lost race picks again;
 *             a lock not renewed within its TTL is stale and reclaimed, said in the log)
 *   sync      a fresh worktree at the integration branch's head
 *   re-check  the task's check first: passing already, it is closed without an agent (one root
 *             cause, many failing tests); failing in several units, it is split into one task each
 *   work      a fresh agent session (sandboxed where available) with a brief built from the
 *             repository: the task, the progress log, the recent history, the notes of earlier tries
 *   check     the task's check and a random sample of the suite
 *   integrate under the integration lock: merge onto the integration head, run the full gate,
 *             accept only if no test that passed at the last accepted state now fails; push with
 *             compare-and-swap. Rejected: back to the agent with the regression, the claim kept.
 *
 * After its retries a task goes back to the queue with notes; after `rounds` workers, it fails.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { agentArgv, commandArgv, describeCommand, resolveAgent } from '../agents/resolve';
import { createStreamParser, streamFormatOf, sumUsage, type AgentUsage } from '../agents/streams';
import { git, gitOut } from '../git/git';
import { trialMerge } from '../git/merge';
import type { AgentRef, Plan } from '../plan/schema';
import { LaneRunner, LocalProcessRunner } from '../run/runner';
import { agentStatePaths, decideIsolation, existingReal, IsolationSetting, prepareWritable, sandboxAvailability, SandboxPolicy } from '../run/sandbox';
import { cleanEnv, describeExit } from '../util/proc';
import { ownedDirInside } from '../util/fsx';
import { excludeMemoryFolder } from '../run/memory';
import { passingIds } from './results';
import { overBudget, spentOf } from '../run/budget';
import { DEFAULT_CLAIM_TTL, DEFAULT_INTEGRATION_BRANCH, QueueConfig, QueueSchema } from './schema';
import { DoneRecord, isStale, Lock, QueueError, QueueSnapshot, QueueStore, SAFE_TASK_ID, Task, TreeEdit, workerIdentity, WorkerStatus } from './store';
import { checkTask, diffSignature, NEAR_IDENTICAL, sampleFiles, similarity, splitByCommand, splitByUnits, testsOf } from './tasks';

export const QUEUE_FILE = '.lanes/queue.json';
export const PROGRESS_FILE = '.lanes/progress.md';
/** Agents' notes for the other tasks, inside each worktree (kept out of commits). */
const MEMORY_REL = '.lanes/memory';
const INTEGRATION_HEAD = 'refs/lanes/queue/integration-head';
const IDENTITY = { GIT_AUTHOR_NAME: 'Agent Lanes worker', GIT_AUTHOR_EMAIL: 'lanes@agent-lanes.invalid', GIT_COMMITTER_NAME: 'Agent Lanes worker', GIT_COMMITTER_EMAIL: 'lanes@agent-lanes.invalid' };

export type WorkerEvent =
  | { type: 'log'; worker: string; message: string }
  | { type: 'task'; worker: string; task: string; outcome: 'claimed' | 'integrated' | 'recheck' | 'duplicate' | 'split' | 'rejected' | 'released' | 'failed' | 'reclaimed'; detail?: string };

export interface WorkerOptions {
  /** The worker's own clone of the remote (made when missing). */
  dir: string;
  /** The queue's remote: a URL, or a path (the repository itself). */
  remote: string;
  /** The queue (default: .lanes/queue.json at the integration head). */
  queue?: QueueConfig;
  branch?: string;
  id?: string;
  env?: NodeJS.ProcessEnv;
  claimTtlSeconds?: number;
  agent?: AgentRef;
  /** Stop after this many tasks (default: until the queue is empty). */
  maxTasks?: number;
  /** While other workers hold every open task, poll this often (ms). */
  pollMs?: number;
  signal?: AbortSignal;
  onEvent?: (e: WorkerEvent) => void;
  runner?: LaneRunner;
  isolation?: IsolationSetting;
  rnd?: () => number;
}

export interface WorkerSummary {
  worker: string;
  done: number;
  failed: number;
  stoppedBecause: 'empty' | 'stop' | 'maxTasks' | 'cancelled';
}

const nowIso = () => new Date().toISOString();
const tail = (s: string, n: number) => (s.length > n ? '…' + s.slice(s.length - n) : s);

/** The progress log: what is done, failing and claimed, one line each. */
export function progressLog(s: QueueSnapshot, q: QueueConfig): string {
  const lines = [`# Queue progress`, '', q.goal.trim(), ''];
  const done = s.tasks.filter((t) => s.done.has(t.id));
  const failed = s.tasks.filter((t) => s.failed.has(t.id));
  const open = s.tasks.filter((t) => !s.done.has(t.id) && !s.failed.has(t.id));
  lines.push(`${done.length} done, ${open.length} open (${[...s.locks.values()].length} claimed), ${failed.length} failed, of ${s.tasks.length} tasks.`, '');
  if (done.length) lines.push('## Done', '', ...done.map((t) => `- ${t.id}: ${t.name} — ${s.done.get(t.id)!.note.split('\n')[0]}`), '');
  if (open.length) {
    lines.push('## Open', '');
    for (const t of open) {
      const l = s.locks.get(t.id);
      const note = s.notes.get(t.id)?.trim().split('\n').filter((x) => x && !x.startsWith('#')).pop();
      lines.push(`- ${t.id}: ${t.name}${l ? ` — claimed by ${l.worker}` : ''}${note ? ` — ${note.slice(0, 160)}` : ''}${t.parent ? ` (split from ${t.parent})` : ''}`);
    }
    lines.push('');
  }
  if (failed.length) lines.push('## Failed', '', ...failed.map((t) => `- ${t.id}: ${t.name} — ${s.failed.get(t.id)!.note.split('\n')[0]}`), '');
  return lines.join('\n');
}

export class Worker {
  readonly id: string;
  private store!: QueueStore;
  private q!: QueueConfig;
  private readonly branch: string;
  private readonly ttl: number;
  private readonly runner: LaneRunner;
  private readonly env: NodeJS.ProcessEnv;
  private done = 0;
  private failed = 0;
  private startedAt = nowIso();
  private usage: AgentUsage = {};
  private agentMs = 0;

  constructor(private readonly o: WorkerOptions) {
    this.env = o.env ?? process.env;
    this.id = o.id ? o.id.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[.-]+/, '').slice(0, 80) || workerIdentity(this.env) : workerIdentity(this.env);
    this.branch = o.branch ?? o.queue?.branch ?? DEFAULT_INTEGRATION_BRANCH;
    this.ttl = o.claimTtlSeconds ?? o.queue?.claimTtlSeconds ?? DEFAULT_CLAIM_TTL;
    this.runner = o.runner ?? new LocalProcessRunner(true);
  }

  private log(message: string): void {
    this.o.onEvent?.({ type: 'log', worker: this.id, message });
  }

  private event(task: string, outcome: Extract<WorkerEvent, { type: 'task' }>['outcome'], detail?: string): void {
    this.o.onEvent?.({ type: 'task', worker: this.id, task, outcome, detail });
  }

  private lock(task: string): Lock {
    const t = nowIso();
    return { task, worker: this.id, host: os.hostname(), pid: process.pid, claimedAt: t, renewedAt: t, ttlSeconds: this.ttl };
  }

  private status(state: WorkerStatus['state'], task?: string): WorkerStatus {
    return { worker: this.id, host: os.hostname(), pid: process.pid, state, task, startedAt: this.startedAt, updatedAt: nowIso(), done: this.done, failed: this.failed, usage: this.usage, agentMs: this.agentMs };
  }

  /** The worker's clone: made once, fetched from the remote at every sync. */
  private async prepareClone(): Promise<void> {
    const exists = await fs.stat(path.join(this.o.dir, '.git')).then(() => true, () => false);
    if (!exists) {
      await fs.mkdir(path.dirname(this.o.dir), { recursive: true });
      await git(['clone', '--quiet', '--no-checkout', this.o.remote, this.o.dir], { cwd: path.dirname(this.o.dir) });
    }
    this.store = new QueueStore(this.o.dir, this.o.remote, {});
    // Agents' notes in .lanes/memory/ never reach a commit of this clone.
    await excludeMemoryFolder(path.join(this.o.dir, '.git'));
    if (this.o.queue) this.q = this.o.queue;
    else {
      const head = await this.store.fetchBranch(this.branch, INTEGRATION_HEAD);
      if (!head) throw new QueueError(`the remote ${this.o.remote} has no integration branch ${this.branch}; start the queue first (lanes queue start)`, 'noQueue');
      const text = await gitOut(['show', `${head}:${QUEUE_FILE}`], { cwd: this.o.dir, readOnly: true }).catch(() => '');
      const parsed = QueueSchema.safeParse(text ? JSON.parse(text) : undefined);
      if (!parsed.success) throw new QueueError(`no valid ${QUEUE_FILE} at the head of ${this.branch}`, 'noQueue');
      this.q = parsed.data;
    }
  }

  async run(): Promise<WorkerSummary> {
    await this.prepareClone();
    const max = this.o.maxTasks ?? Infinity;
    let why: WorkerSummary['stoppedBecause'] = 'empty';
    let waiting = false;
    try {
      while (this.done + this.failed < max) {
        if (this.o.signal?.aborted) {
          why = 'cancelled';
          break;
        }
        const pick = await this.store.transact('claim a task', (s, edit) => this.claim(s, edit));
        if (pick.kind === 'stop') {
          why = 'stop';
          if (pick.why) this.log(`${pick.why}; no new task is claimed`);
          break;
        }
        if (pick.kind === 'none') {
          if (pick.open === 0) break; // the queue is empty
          if (!waiting) this.log(`every open task (${pick.open}) is claimed by a live worker; waiting`);
          waiting = true;
          await this.sleep(this.o.pollMs ?? 2000);
          continue;
        }
        waiting = false;
        if (pick.reclaimed) {
          this.log(`reclaimed ${pick.task.id}: the lock of ${pick.reclaimed.worker} was last renewed at ${pick.reclaimed.renewedAt}, more than its TTL (${pick.reclaimed.ttlSeconds} s) ago`);
          this.event(pick.task.id, 'reclaimed', pick.reclaimed.worker);
        }
        this.event(pick.task.id, 'claimed');
        try {
          await this.work(pick.task);
        } catch (e) {
          if (this.o.signal?.aborted) throw e;
          // Never keep a claim for an error: the task goes back with the error as its note.
          const msg = (e as Error).message;
          this.log(`${pick.task.id}: ${msg}`);
          await this.store
            .transact(`give ${pick.task.id} back after an error`, (s, edit) => {
              if (s.locks.get(pick.task.id)?.worker !== this.id) return;
              const round = (s.rounds.get(pick.task.id) ?? 0) + 1;
              edit.put(`notes/${pick.task.id}.md`, `${s.notes.get(pick.task.id) ?? ''}## round ${round} · ${this.id} · ${nowIso()}\n\nerror: ${msg}\n\n`);
              if (round >= (this.q.rounds ?? 3)) edit.put(`failed/${pick.task.id}.json`, { task: pick.task.id, at: nowIso(), rounds: round, note: `error: ${msg}` });
              this.finish(pick.task, edit, s);
            })
            .catch(() => undefined);
          this.failed++;
        }
      }
      if (this.done + this.failed >= max) why = 'maxTasks';
    } finally {
      await this.store.transact('say the worker stopped', (_s, edit) => edit.put(`workers/${this.id}.json`, this.status('stopped'))).catch(() => undefined);
    }
    return { worker: this.id, done: this.done, failed: this.failed, stoppedBecause: why };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(r, ms);
      this.o.signal?.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
    });
  }

  /** Decide what to claim from a snapshot (a transaction: pure but for the edit). */
  private claim(s: QueueSnapshot, edit: TreeEdit): { kind: 'stop'; why?: string } | { kind: 'none'; open: number } | { kind: 'task'; task: Task; reclaimed?: Lock } {
    if (s.stop) return { kind: 'stop' };
    // The queue's budget, over every worker's spend (each worker's last word, this one's now).
    if (this.q.budget) {
      const all = [...s.workers.values()].filter((w) => w.worker !== this.id).map((w) => ({ usage: w.usage ?? {}, ms: w.agentMs ?? 0 }));
      all.push({ usage: this.usage, ms: this.agentMs });
      const over = overBudget(this.q.budget, spentOf(sumUsage(all.map((x) => x.usage)), all.reduce((a, x) => a + x.ms, 0)));
      if (over) return { kind: 'stop', why: `the queue's ${over}` };
    }
    const open = s.tasks.filter((t) => !s.done.has(t.id) && !s.failed.has(t.id));
    const free = open.filter((t) => {
      const l = s.locks.get(t.id);
      return !l || isStale(l);
    });
    if (!free.length) return { kind: 'none', open: open.length };
    // Fewest tries first, then a random one of those (workers spread over the queue).
    const least = Math.min(...free.map((t) => s.rounds.get(t.id) ?? 0));
    const candidates = free.filter((t) => (s.rounds.get(t.id) ?? 0) === least);
    const task = candidates[Math.floor((this.o.rnd ?? Math.random)() * candidates.length)]!;
    const old = s.locks.get(task.id);
    edit.put(`current_tasks/${task.id}.lock`, this.lock(task.id));
    edit.put(`workers/${this.id}.json`, this.status('working', task.id));
    return { kind: 'task', task, reclaimed: old };
  }

  /** Keep the claim alive while the task is worked (every TTL/3). */
  private renewing(task: Task): { stop(): Promise<void>; lost: () => boolean } {
    let lost = false;
    let busy: Promise<unknown> = Promise.resolve();
    const timer = setInterval(() => {
      busy = this.store
        .transact('renew a claim', (s, edit) => {
          const l = s.locks.get(task.id);
          if (!l || l.worker !== this.id) {
            lost = true;
            return;
          }
          edit.put(`current_tasks/${task.id}.lock`, { ...l, renewedAt: nowIso() });
        })
        .catch(() => undefined);
    }, Math.max(500, (this.ttl * 1000) / 3));
    return {
      lost: () => lost,
      stop: async () => {
        clearInterval(timer);
        await busy;
      },
    };
  }

  /** End a task: done, failed or back to the queue; the claim released in the same commit. */
  private finish(task: Task, edit: TreeEdit, s: QueueSnapshot): void {
    const l = s.locks.get(task.id);
    if (l?.worker === this.id) edit.remove(`current_tasks/${task.id}.lock`);
    edit.put(`workers/${this.id}.json`, this.status('idle'));
  }

  private async worktreeAt(task: Task, commit: string): Promise<string> {
    if (!SAFE_TASK_ID.test(task.id) || task.id.includes('..')) throw new QueueError(`task id "${task.id}" is not a plain name`, 'corrupt');
    const wt = path.join(this.o.dir, '.lanes-worktrees', task.id);
    // Only when one is left there (a crash): a worktree of ours, never anyone's work.
    if (await fs.stat(wt).then(() => true, () => false)) {
      await git(['worktree', 'remove', '--force', wt], { cwd: this.o.dir, okCodes: [128] });
      await fs.rm(wt, { recursive: true, force: true });
    }
    await git(['worktree', 'add', '--quiet', '--force', '-B', `lanes-queue/work/${task.id}`, wt, commit], { cwd: this.o.dir, lockRetries: 6 });
    return wt;
  }

  /** Every command a task runs (checks, sample, gate, setup, agent) ends within this. */
  private get timeoutMs(): number {
    return Math.round((this.q.timeoutMinutes ?? 30) * 60_000);
  }

  /** The task under way (what the worker's status names). */
  private current?: string;

  private async work(task: Task): Promise<void> {
    this.current = task.id;
    const renew = this.renewing(task);
    const t0 = Date.now();
    let wt: string | undefined;
    try {
      const base = await this.store.fetchBranch(this.branch, INTEGRATION_HEAD);
      if (!base) throw new QueueError(`the remote has no integration branch ${this.branch}`, 'noQueue');
      wt = await this.worktreeAt(task, base);
      for (const cmd of this.q.setup ?? []) {
        const r = await this.runner.run({ argv: commandArgv(cmd), cwd: wt, env: cleanEnv(this.env), signal: this.o.signal, timeoutMs: this.timeoutMs });
        if (r.code !== 0) throw new QueueError(`setup \`${describeCommand(cmd)}\` ${describeExit(r)}`, 'noQueue');
      }
      // Re-check first: another task's integration may have fixed this one already.
      const first = await checkTask(this.q, task, wt, this.env, this.o.signal, this.timeoutMs);
      if (first.passed) {
        await this.close(task, { how: 'recheck', commit: base, note: `its check passes at ${base.slice(0, 10)} already (fixed by an earlier integration); closed without an agent` });
        this.event(task.id, 'recheck');
        return;
      }
      const parts = splitByUnits(task, first.failing);
      const byCommand = !parts.length && this.q.split ? await splitByCommand(this.q.split, task, wt, this.env, this.o.signal).catch((e: Error) => (this.log(`split of ${task.id}: ${e.message}`), [])) : [];
      if (parts.length || byCommand.length) {
        const subs = parts.length ? parts : byCommand;
        await this.store.transact(`split ${task.id}`, (s, edit) => {
          const known = new Set(s.tasks.map((t) => t.id));
          edit.put('tasks.json', [...s.tasks, ...subs.filter((x) => !known.has(x.id))]);
          edit.put(`done/${task.id}.json`, this.doneRecord(task, { how: 'split', note: `split into ${subs.length} tasks: ${subs.map((x) => x.id).join(', ')}` }));
          this.finish(task, edit, s);
        });
        this.log(`split ${task.id} into ${subs.length} tasks (${parts.length ? 'its check reports several failing units' : 'the split command'})`);
        this.event(task.id, 'split', subs.map((x) => x.id).join(', '));
        return;
      }
      const attempts = (this.q.retries ?? 1) + 1;
      let feedback = first.output ? `The task's check \`${first.command}\` fails now:\n\n${tail(first.output, 3000)}` : '';
      for (let attempt = 1; attempt <= attempts; attempt++) {
        if (this.o.signal?.aborted || renew.lost()) break;
        const outcome = await this.attempt(task, wt, base, attempt, feedback);
        if (outcome.kind === 'done') return;
        feedback = outcome.feedback;
        this.log(`${task.id}: attempt ${attempt} did not make it (${outcome.feedback.split('\n')[0]})`);
        if (outcome.kind === 'rejected') this.event(task.id, 'rejected', outcome.feedback.split('\n')[0]);
      }
      // Stopped by a person (Ctrl-C, Stop Now): the task goes back untouched, no round counted.
      if (this.o.signal?.aborted) {
        await this.store.transact(`give ${task.id} back`, (s, edit) => this.finish(task, edit, s));
        this.event(task.id, 'released', 'the worker was stopped');
        return;
      }
      // Back to the queue with notes (or failed, after its rounds).
      this.failed++;
      await this.store.transact(`release ${task.id}`, (s, edit) => {
        if (s.locks.get(task.id)?.worker !== this.id) return 0; // lost to a reclaim: the task is another worker's now
        const round = (s.rounds.get(task.id) ?? 0) + 1;
        const notes = `${s.notes.get(task.id) ?? ''}## round ${round} · ${this.id} · ${nowIso()}\n\n${tail(feedback, 1500)}\n\n`;
        edit.put(`notes/${task.id}.md`, notes);
        if (round >= (this.q.rounds ?? 3)) edit.put(`failed/${task.id}.json`, { task: task.id, at: nowIso(), rounds: round, note: feedback.split('\n')[0] ?? 'did not pass' });
        this.finish(task, edit, s);
        return round;
      });
      this.event(task.id, 'released', feedback.split('\n')[0]);
    } finally {
      this.current = undefined;
      await renew.stop();
      if (wt) await git(['worktree', 'remove', '--force', wt], { cwd: this.o.dir, okCodes: [128] }).catch(() => undefined);
      this.log(`${task.id}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  }

  private doneRecord(task: Task, r: Pick<DoneRecord, 'how' | 'note' | 'commit' | 'patchId' | 'changed' | 'signature'>): DoneRecord {
    return { task: task.id, worker: this.id, at: nowIso(), ...r, usage: this.usage };
  }

  private async close(task: Task, r: Pick<DoneRecord, 'how' | 'note' | 'commit'>): Promise<void> {
    this.done++; // before: the status written with the record counts it
    await this.store.transact(`close ${task.id}`, (s, edit) => {
      edit.put(`done/${task.id}.json`, this.doneRecord(task, r));
      this.finish(task, edit, s);
    });
  }

  /** What the agent reads: the task, the progress log, the recent history, earlier tries' notes. */
  private async brief(task: Task, wt: string, base: string, feedback: string): Promise<string> {
    const s = await this.store.read();
    const progress = await fs.readFile(path.join(wt, PROGRESS_FILE), 'utf8').catch(() => '(no progress log yet)');
    const history = await gitOut(['log', '--oneline', '-n', '15', base], { cwd: wt, readOnly: true }).catch(() => '');
    const notes = s.notes.get(task.id);
    const lines = [
      `# Agent Lanes queue task ${task.id}`,
      '',
      `You are one of several workers, each in a fresh session and its own checkout, working through a queue of tasks for this goal: ${this.q.goal.trim()}`,
      'Do only this task. Your change is merged onto the shared integration branch only if the full test suite shows no test that passed before now failing.',
      '',
      '## Your task',
      '',
      task.brief.trim(),
      '',
    ];
    if (task.file) lines.push(`File: \`${task.file}\``, '');
    if (task.scope?.length) lines.push(`Scope: change only ${task.scope.map((x) => `\`${x}\``).join(', ')}; other tasks own the rest.`, '');
    if (task.parent) lines.push(`This task was split from ${task.parent}.`, '');
    if (notes) lines.push('## What earlier tries of this task found', '', notes.trim(), '');
    // The shared memory: what other tasks' agents noted, the latest first, bounded.
    const memory = [...(s.memory ?? [])].filter(([k]) => k !== task.id).slice(-10).reverse();
    if (memory.length) lines.push('## Shared memory (notes of other tasks\' agents)', '', ...memory.map(([k, v]) => `### ${k}\n\n${tail(v.trim(), 1500)}\n`), '');
    lines.push(`Write what other workers should know (a root cause you found, a convention) to \`${MEMORY_REL}/${task.id}.md\` ($LANES_MEMORY_FILE); it is never committed, and every later brief shows it.`, '');
    if (feedback) lines.push('## Why your last try did not make it', '', '```', tail(feedback, 4000), '```', '');
    lines.push('## Progress of the whole queue', '', progress.trim(), '');
    lines.push('## Recent history of the integration branch', '', '```', history, '```', '');
    lines.push('## When you are done', '', 'Leave your changes in the worktree (committing is optional) and exit. Write anything the next worker should know in your final message.', '');
    return lines.join('\n');
  }

  private async sandboxFor(wt: string, argv0: string): Promise<SandboxPolicy | undefined> {
    const available = await sandboxAvailability(this.env);
    const { isolation } = decideIsolation(this.o.isolation, true, available, 'worker');
    if (isolation === 'none') return undefined;
    const tmpDir = path.join(this.o.dir, '.lanes-tmp', this.id);
    const own = agentStatePaths(this.env, path.basename(argv0));
    const gitDir = path.join(this.o.dir, '.git');
    // More paths from $LANES_SANDBOX_WRITABLE (a shared build cache, say), absolute ones only.
    const extra = (this.env.LANES_SANDBOX_WRITABLE ?? '').split(path.delimiter).filter((p) => path.isAbsolute(p));
    const writable = await prepareWritable({ createDirs: [tmpDir, ...own.create], writable: [wt, gitDir, ...own.existing, ...extra] });
    return { kind: isolation, writable, readOnly: await existingReal([path.join(gitDir, 'config'), path.join(gitDir, 'hooks'), path.join(wt, '.git'), ...own.settings]), network: true, tmpDir, tool: available.tool };
  }

  /** One attempt: agent, commit, check and sample, then the gate. */
  private async attempt(task: Task, wt: string, base: string, attempt: number, feedback: string): Promise<{ kind: 'done' } | { kind: 'retry' | 'rejected'; feedback: string }> {
    const brief = await this.brief(task, wt, base, feedback);
    const briefFile = path.join(this.o.dir, '.lanes-briefs', `${task.id}-${attempt}.md`);
    await fs.mkdir(path.dirname(briefFile), { recursive: true });
    await fs.writeFile(briefFile, brief);
    const plan: Plan = { version: 1, goal: this.q.goal, agents: this.q.agents, lanes: [{ id: 'task', brief: task.brief }] };
    const agent = resolveAgent(plan, { id: 'task', brief: task.brief, agent: this.o.agent ?? task.agent ?? this.q.agent }, 'claude');
    const argv = agentArgv(agent, { brief, briefFile, lane: task.id, worktree: wt });
    const format = streamFormatOf(argv);
    const parser = format ? createStreamParser(format) : undefined;
    const before = await gitOut(['rev-parse', 'HEAD'], { cwd: wt, readOnly: true });
    const a0 = Date.now();
    const r = await this.runner.run({
      argv,
      cwd: wt,
      env: cleanEnv({ ...this.env, ...agent.env, LANES_TASK: task.id, LANES_WORKER: this.id, LANES_BRIEF_FILE: briefFile, LANES_ATTEMPT: String(attempt), LANES_WORKTREE: wt, LANES_MEMORY_FILE: path.join(wt, MEMORY_REL, `${task.id}.md`) }),
      signal: this.o.signal,
      timeoutMs: Math.round((this.q.timeoutMinutes ?? 30) * 60_000),
      sandbox: await this.sandboxFor(wt, argv[0]!),
      onOutput: (chunk, st) => {
        if (parser && st === 'stdout') parser.feed(chunk);
      },
    });
    this.agentMs += Date.now() - a0;
    await this.keepMemory(task, wt);
    if (parser) {
      parser.end();
      this.usage = sumUsage([this.usage, parser.usage]);
    }
    if (r.code !== 0) return { kind: 'retry', feedback: `the agent ${describeExit(r)}: ${tail(r.stderr || r.stdout, 1500)}` };
    // Its work, committed with trailers naming the task and the worker.
    await git(['add', '-A'], { cwd: wt });
    const dirty = (await git(['diff', '--cached', '--quiet'], { cwd: wt, okCodes: [1], readOnly: true })).code === 1;
    if (dirty) {
      await git(['commit', '--quiet', '--no-verify', '-m', `lanes queue: ${task.name.slice(0, 60)}\n\nLanes-Task: ${task.id}\nLanes-Worker: ${this.id}\nLanes-Attempt: ${attempt}\n`], { cwd: wt, env: IDENTITY });
    }
    const head = await gitOut(['rev-parse', 'HEAD'], { cwd: wt, readOnly: true });
    if (head === base && head === before) return { kind: 'retry', feedback: 'the agent changed nothing' };
    const check = await checkTask(this.q, task, wt, this.env, this.o.signal, this.timeoutMs);
    if (check.command && !check.passed) return { kind: 'retry', feedback: `the task's check \`${check.command}\` still fails:\n\n${tail(check.output, 3000)}` };
    if (this.q.sample && (this.q.sample.size ?? 3) > 0) {
      const files = await sampleFiles(wt, this.q.sample.files, this.q.sample.size ?? 3, this.o.rnd);
      if (files.length) {
        // A string command is the user's own shell line: the files come as its "$@", never spliced in.
        const c = this.q.sample.command;
        const argv = typeof c === 'string' ? ['sh', '-c', c, 'sample', ...files] : c.flatMap((a) => (a === '{files}' ? files : [a]));
        const sr = await this.runner.run({ argv, cwd: wt, env: cleanEnv(this.env), signal: this.o.signal, timeoutMs: this.timeoutMs });
        if (sr.code !== 0) return { kind: 'retry', feedback: `a sample of the suite (${files.join(', ')}) fails: ${describeExit(sr)}\n\n${tail(sr.stdout + sr.stderr, 3000)}` };
      }
    }
    return this.integrate(task, wt, base, head);
  }

  /** What the agent noted for the others goes into the queue's shared memory (never through a link). */
  private async keepMemory(task: Task, wt: string): Promise<void> {
    const dir = await ownedDirInside(wt, MEMORY_REL, { create: false }).catch(() => undefined);
    if (!dir) return;
    const file = path.join(dir, `${task.id}.md`);
    const st = await fs.lstat(file).catch(() => undefined);
    if (!st?.isFile() || st.size > 64 * 1024) return;
    const text = (await fs.readFile(file, 'utf8')).trim();
    if (!text) return;
    await this.store.transact(`note ${task.id} in the shared memory`, (s, edit) => {
      if (s.memory?.get(task.id)?.trim() !== text) edit.put(`memory/${task.id}.md`, `${text}\n`);
    });
  }

  /**
   * Take the integration lock (one integration at a time, across every machine); returns the
   * snapshot it was taken on. Waiting backs off (each look reads the claims ref: with many
   * workers, quick polls would slow the one that holds it).
   */
  private async integrationLock(task: string): Promise<QueueSnapshot | 'lost' | undefined> {
    for (let i = 0; ; i++) {
      if (this.o.signal?.aborted) return undefined;
      const got = await this.store.transact('take the integration lock', (s, edit): QueueSnapshot | 'lost' | undefined => {
        // A claim that went stale and was taken meanwhile is not ours to integrate.
        if (s.locks.get(task)?.worker !== this.id || s.done.has(task)) return 'lost';
        const l = s.integrationLock;
        if (l && l.worker !== this.id && !isStale(l)) return undefined;
        edit.put('integration.lock', this.lock('integration'));
        edit.put(`workers/${this.id}.json`, this.status('integrating', this.current));
        return s;
      });
      if (got) return got;
      await this.sleep(Math.min(3000, 250 * 2 ** Math.min(i, 4)) * (0.5 + Math.random()));
    }
  }

  private async integrate(task: Task, wt: string, base: string, head: string): Promise<{ kind: 'done' } | { kind: 'retry' | 'rejected'; feedback: string }> {
    const locked = await this.integrationLock(task.id);
    if (!locked) return { kind: 'retry', feedback: 'the worker was stopped before it could integrate' };
    if (locked === 'lost') return { kind: 'retry', feedback: 'this worker lost its claim on the task (not renewed in time); another worker has it now' };
    let released = false;
    // The integration lock is renewed while the gate runs (a slow suite must not let another take it).
    const renewLock = setInterval(() => {
      void this.store
        .transact('renew the integration lock', (s, edit) => {
          if (s.integrationLock?.worker === this.id && !released) edit.put('integration.lock', { ...s.integrationLock, renewedAt: nowIso() });
        })
        .catch(() => undefined);
    }, Math.max(500, (this.ttl * 1000) / 3));
    const release = async () => {
      if (released) return;
      released = true;
      await this.store.transact('release the integration lock', (s, edit) => {
        if (s.integrationLock?.worker === this.id) edit.remove('integration.lock');
      });
    };
    try {
      const s = locked;
      const current = (await this.store.fetchBranch(this.branch, INTEGRATION_HEAD))!;
      const diff = await gitOut(['diff', base, head], { cwd: wt, readOnly: true });
      const patchId = await this.patchId(wt, diff);
      const signature = diffSignature(diff);
      const changed = (await gitOut(['diff', '--name-only', base, head], { cwd: wt, readOnly: true })).split('\n').filter(Boolean);
      // Duplicate work: a task integrated with the same (or a near-identical) change is flagged,
      // and this one is not integrated blind: re-checked on the integration head first.
      let flagged: string | undefined;
      const twin = [...s.done.values()]
        .filter((d) => d.how === 'integrated')
        .map((d) => ({ d, same: !!patchId && d.patchId === patchId, alike: similarity(signature, d.signature ?? []) }))
        .filter((x) => x.same || x.alike >= NEAR_IDENTICAL)
        .sort((a, b) => Number(b.same) - Number(a.same) || b.alike - a.alike)[0];
      if (twin) {
        const how = twin.same ? `the same as ${twin.d.task}'s (patch-id ${patchId!.slice(0, 10)})` : `near-identical to ${twin.d.task}'s (${Math.round(twin.alike * 100)}% of its lines)`;
        const dupDir = await this.worktreeAt({ ...task, id: `dup-${task.id}` }, current);
        const again = await checkTask(this.q, task, dupDir, this.env, this.o.signal, this.timeoutMs).finally(() => git(['worktree', 'remove', '--force', dupDir], { cwd: this.o.dir, okCodes: [128] }).catch(() => undefined));
        if (again.passed) {
          await release();
          await this.close(task, { how: 'duplicate', commit: twin.d.commit, note: `its change is ${how}, integrated at ${twin.d.commit?.slice(0, 10)}; its check passes there` });
          this.event(task.id, 'duplicate', twin.d.task);
          return { kind: 'done' };
        }
        flagged = `its change is ${how}, but its check still fails on the integration; integrated through the gate, flagged`;
        this.log(`${task.id}: ${flagged}`);
      }
      const m = await trialMerge(this.o.dir, current, head, this.o.signal);
      if (!m.clean) return { kind: 'retry', feedback: `your change conflicts with the integration branch (moved to ${current.slice(0, 10)}) in ${m.conflicts.join(', ')}; start again from there` };
      // The progress log is part of the integration commit.
      const after: QueueSnapshot = { ...s, done: new Map(s.done).set(task.id, this.doneRecord(task, { how: 'integrated', note: 'integrated' })), locks: new Map([...s.locks].filter(([k]) => k !== task.id)) };
      const tree = await this.treeWith(m.tree, PROGRESS_FILE, progressLog(after, this.q));
      const commit = await gitOut(['commit-tree', tree, '-p', current, '-p', head, '-F', '-'], { cwd: this.o.dir, input: `lanes queue: integrate ${task.id}\n\n${task.name}\n\nLanes-Task: ${task.id}\nLanes-Worker: ${this.id}\n`, env: IDENTITY });
      // The gate: the full suite on the merged result, against the last accepted state.
      const gateDir = await this.worktreeAt({ ...task, id: `gate-${task.id}` }, commit);
      let gate;
      try {
        gate = await testsOf(this.q.gate.command, this.q.gate.format, gateDir, this.env, this.o.signal, this.timeoutMs);
      } catch (e) {
        return { kind: 'rejected', feedback: `the gate could not run on your merged change: ${(e as Error).message}` };
      } finally {
        await git(['worktree', 'remove', '--force', gateDir], { cwd: this.o.dir, okCodes: [128] }).catch(() => undefined);
      }
      const now = new Set(passingIds(gate.tests));
      const before = s.gate?.passing ?? [];
      const broken = before.filter((id) => !now.has(id));
      if (broken.length) {
        const detail = broken.map((id) => {
          const t = gate.tests.find((x) => x.id === id);
          return `- ${id}: ${t ? `now ${t.status}${t.message ? `: ${t.message.split('\n')[0]}` : ''}` : 'now missing'}`;
        });
        return { kind: 'rejected', feedback: `the gate \`${describeCommand(this.q.gate.command)}\` rejected your change: ${broken.length} test(s) that passed before now fail:\n${detail.join('\n')}\n\n${tail(gate.run.output, 2500)}` };
      }
      if (!(await this.store.push(commit, `refs/heads/${this.branch}`, current))) {
        return { kind: 'retry', feedback: 'the integration branch moved while the gate ran (another integration without the lock?); trying again' };
      }
      this.done++;
      await this.store.transact(`integrate ${task.id}`, (s2, edit) => {
        edit.put(`done/${task.id}.json`, this.doneRecord(task, { how: 'integrated', commit, patchId, changed, signature, note: `integrated at ${commit.slice(0, 10)}${flagged ? `; ${flagged}` : ''}` }));
        edit.put('gate.json', { commit, at: nowIso(), passing: [...now].sort(), failing: gate.tests.filter((t) => t.status === 'failed').map((t) => t.id).sort() });
        if (s2.integrationLock?.worker === this.id) edit.remove('integration.lock');
        this.addRoleTasks(s2, edit);
        this.finish(task, edit, s2);
      });
      released = true;
      this.event(task.id, 'integrated', commit);
      this.log(`integrated ${task.id} at ${commit.slice(0, 10)}; ${now.size} tests pass (${now.size - before.length >= 0 ? '+' : ''}${now.size - before.length})`);
      return { kind: 'done' };
    } finally {
      clearInterval(renewLock);
      await release().catch(() => undefined);
    }
  }

  /** Specialists: every `every` accepted integrations, a task of each role joins the queue. */
  private addRoleTasks(s: QueueSnapshot, edit: TreeEdit): void {
    const integrated = [...s.done.values()].filter((d) => d.how === 'integrated').length + 1;
    const add: Task[] = [];
    for (const role of this.q.roles ?? []) {
      // A role with sources of its own has its tasks already; it repeats only when asked to.
      const every = role.every ?? (role.sources?.length ? undefined : 5);
      if (!every || integrated % every !== 0) continue;
      const id = `role-${role.id.replace(/[^A-Za-z0-9-]/g, '-')}-${integrated / every}`;
      if (s.tasks.some((t) => t.id === id)) continue;
      add.push({ id, name: `${role.id} (after ${integrated} integrations)`, brief: role.brief, source: 'list', role: role.id, agent: role.agent });
    }
    if (add.length) edit.put('tasks.json', [...s.tasks, ...add]);
  }

  private async patchId(cwd: string, diff: string): Promise<string | undefined> {
    if (!diff) return undefined;
    const out = await gitOut(['patch-id', '--stable'], { cwd, input: diff + '\n', readOnly: true });
    return out.split(' ')[0] || undefined;
  }

  /** A tree with one file set to `text`. */
  private async treeWith(tree: string, file: string, text: string): Promise<string> {
    const index = path.join(this.o.dir, '.git', `lanes-worker-index-${process.pid}`);
    const env = { GIT_INDEX_FILE: index };
    try {
      await git(['read-tree', tree], { cwd: this.o.dir, env });
      const blob = await gitOut(['hash-object', '-w', '--stdin'], { cwd: this.o.dir, input: text });
      await git(['update-index', '--add', '--cacheinfo', `100644,${blob},${file}`], { cwd: this.o.dir, env });
      return await gitOut(['write-tree'], { cwd: this.o.dir, env });
    } finally {
      await fs.rm(index, { force: true });
    }
  }
}
