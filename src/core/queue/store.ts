/**
 * The queue's shared state lives in git, on the queue's remote, in one ref of its own:
 * `refs/lanes/queue/claims`, a commit whose tree holds
 *
 *   tasks.json                 every task (with the lineage of split ones)
 *   current_tasks/<task>.lock  who works on it: worker, host, pid, claimed and renewed at, TTL
 *   done/<task>.json           how it ended: integrated (commit), closed by re-check, duplicate, split
 *   failed/<task>.json         given up after its rounds
 *   notes/<task>.md            what earlier attempts found (every fresh session reads it)
 *   gate.json                  the last accepted integration and the tests that pass there
 *   integration.lock           the one integration under way (integration never races)
 *   workers/<worker>.json      each worker's last word (task, state, spend)
 *   control/stop               present: workers stop after their current task
 *
 * Every change is a transaction: fetch the ref, change the tree (a temporary index), commit on
 * top, and push with compare-and-swap (--force-with-lease on the commit it read). A rejected push
 * means another worker won: read again and decide again. Nothing but git is shared, so workers
 * on other machines (Kubernetes pods) coordinate exactly like local ones.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { git, gitOut } from '../git/git';
import { LanesError } from '../errors';
import { mutexFor } from '../util/mutex';
import type { AgentRef } from '../plan/schema';

export const CLAIMS_REF = 'refs/lanes/queue/claims';
const FETCHED_REF = 'refs/lanes/queue/fetched';

export interface Task {
  id: string;
  /** One line: the failing test's name, the file, the list entry's title. */
  name: string;
  brief: string;
  check?: string | string[];
  scope?: string[];
  file?: string;
  source: 'tests' | 'list' | 'files' | 'split';
  /** The test this task is about (its id in the reporter output). */
  testId?: string;
  /** The failure that made it a task. */
  message?: string;
  /** The task it was split from. */
  parent?: string;
  /** A specialist role's task: its agent (default: the queue's). */
  role?: string;
  agent?: AgentRef;
}

export interface Lock {
  task: string;
  worker: string;
  host: string;
  pid: number;
  claimedAt: string;
  renewedAt: string;
  ttlSeconds: number;
}

export interface DoneRecord {
  task: string;
  worker: string;
  at: string;
  how: 'integrated' | 'recheck' | 'duplicate' | 'split';
  /** The integration commit that took it (integrated), or that fixed it (recheck). */
  commit?: string;
  note: string;
  /** git patch-id of the integrated change (duplicates are found by it). */
  patchId?: string;
  changed?: string[];
  /** diffSignature of the integrated change (near-identical work is found by it). */
  signature?: string[];
  usage?: { inputTokens?: number; outputTokens?: number; costUsd?: number };
  attempts?: number;
  ms?: number;
}

export interface FailedRecord {
  task: string;
  at: string;
  note: string;
  rounds: number;
}

export interface GateRecord {
  commit: string;
  at: string;
  passing: string[];
  failing: string[];
}

export interface WorkerStatus {
  worker: string;
  host: string;
  pid: number;
  state: 'idle' | 'claiming' | 'working' | 'checking' | 'integrating' | 'stopped';
  task?: string;
  startedAt: string;
  updatedAt: string;
  done: number;
  failed: number;
  usage?: DoneRecord['usage'];
  /** Agent time, summed over its tasks (ms). */
  agentMs?: number;
}

export interface QueueSnapshot {
  /** The claims commit read (undefined: the queue has no state yet). */
  commit?: string;
  tasks: Task[];
  locks: Map<string, Lock>;
  done: Map<string, DoneRecord>;
  failed: Map<string, FailedRecord>;
  notes: Map<string, string>;
  gate?: GateRecord;
  integrationLock?: Lock;
  workers: Map<string, WorkerStatus>;
  stop: boolean;
  /** Rounds each task was tried (from notes' headers). */
  rounds: Map<string, number>;
  /** The shared memory: what each task's agent noted for the others (memory/<task>.md). */
  memory?: Map<string, string>;
}

export class QueueError extends LanesError {
  constructor(
    message: string,
    readonly reason: 'noRemote' | 'contention' | 'corrupt' | 'noQueue',
  ) {
    super(message);
    this.name = 'QueueError';
  }
}

/** A lock whose worker stopped renewing it for longer than its TTL. */
export function isStale(l: Lock, now = Date.now()): boolean {
  // A lock without a readable time or TTL is stale (never a task stuck for good).
  return !(now - Date.parse(l.renewedAt) <= (Number(l.ttlSeconds) || 0) * 1000);
}

/** Task ids name files and folders: only what taskId() makes (a hostile remote's are dropped). */
export const SAFE_TASK_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,150}$/;
const safeId = (id: unknown): id is string => typeof id === 'string' && SAFE_TASK_ID.test(id) && !id.includes('..');

export function workerIdentity(env: NodeJS.ProcessEnv = process.env): string {
  const given = env.LANES_WORKER_ID?.trim();
  if (given) return given.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 80);
  return `${os.hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 40)}-${process.pid}-${randomBytes(2).toString('hex')}`;
}

const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

/** Changes a transaction makes to the claims tree. */
export class TreeEdit {
  readonly puts = new Map<string, string>();
  readonly removes = new Set<string>();
  put(p: string, value: unknown): void {
    this.removes.delete(p);
    this.puts.set(p, typeof value === 'string' ? value : json(value));
  }
  remove(p: string): void {
    this.puts.delete(p);
    this.removes.add(p);
  }
  get empty(): boolean {
    return !this.puts.size && !this.removes.size;
  }
}

function parseSnapshot(commit: string | undefined, files: Map<string, string>): QueueSnapshot {
  const s: QueueSnapshot = { commit, tasks: [], locks: new Map(), done: new Map(), failed: new Map(), notes: new Map(), workers: new Map(), stop: false, rounds: new Map(), memory: new Map() };
  const parse = <T>(text: string): T | undefined => {
    try {
      return JSON.parse(text) as T;
    } catch {
      return undefined; // a file another version wrote badly: left out, never fatal
    }
  };
  for (const [p, text] of files) {
    const base = path.posix.basename(p).replace(/\.(lock|json|md)$/, '');
    if (p === 'tasks.json') s.tasks = (parse<Task[]>(text) ?? []).filter((t) => t && safeId(t.id));
    else if (p === 'gate.json') s.gate = parse<GateRecord>(text);
    else if (p === 'integration.lock') s.integrationLock = parse<Lock>(text);
    else if (p === 'control/stop') s.stop = true;
    else if (p.startsWith('current_tasks/')) {
      const l = parse<Lock>(text);
      if (l) s.locks.set(base, l);
    } else if (p.startsWith('done/')) {
      const d = parse<DoneRecord>(text);
      if (d) s.done.set(base, d);
    } else if (p.startsWith('failed/')) {
      const f = parse<FailedRecord>(text);
      if (f) s.failed.set(base, f);
    } else if (p.startsWith('notes/')) {
      s.notes.set(base, text);
      s.rounds.set(base, (text.match(/^## round /gm) ?? []).length);
    } else if (p.startsWith('memory/')) {
      s.memory!.set(base, text);
    } else if (p.startsWith('workers/')) {
      const w = parse<WorkerStatus>(text);
      if (w) s.workers.set(base, w);
    }
  }
  return s;
}

/**
 * The queue's state on one remote, read and changed from one clone (`cwd`). `remote` is a git
 * remote name or URL (a path to the repository itself works too).
 */
export class QueueStore {
  /** git processes this store ran (the benchmark counts them). */
  gitCalls = 0;

  constructor(
    readonly cwd: string,
    readonly remote: string,
    private readonly env: NodeJS.ProcessEnv = {},
  ) {}

  private async g(args: string[], opts: { input?: string; okCodes?: number[]; env?: NodeJS.ProcessEnv; readOnly?: boolean; binaryStdout?: boolean } = {}) {
    this.gitCalls++;
    return git(args, { cwd: this.cwd, ...opts, env: { ...this.env, ...opts.env } });
  }

  /** Fetch the claims ref; undefined when the remote has none yet. */
  private async fetch(): Promise<string | undefined> {
    const r = await this.g(['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', this.remote, `+${CLAIMS_REF}:${FETCHED_REF}`], { okCodes: [128] });
    if (r.code !== 0) {
      if (/couldn't find remote ref|no such ref/i.test(r.stderr)) {
        await this.g(['update-ref', '-d', FETCHED_REF], { okCodes: [1] });
        return undefined;
      }
      throw new QueueError(`could not fetch the queue from ${this.remote}: ${r.stderr.trim().split('\n').pop()}`, 'noRemote');
    }
    return (await this.g(['rev-parse', FETCHED_REF], { readOnly: true })).stdout.trim();
  }

  private async files(commit: string | undefined): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (!commit) return out;
    const list = (await this.g(['ls-tree', '-r', '-z', commit], { readOnly: true })).stdout.split('\0').filter(Boolean);
    const entries = list.map((l) => {
      const [meta, p] = l.split('\t');
      return { sha: meta!.split(' ')[2]!, path: p! };
    });
    if (!entries.length) return out;
    // "<sha> blob <size>\n<bytes>\n" per entry, sizes in bytes.
    const batch = (await this.g(['cat-file', '--batch'], { input: entries.map((e) => e.sha).join('\n') + '\n', readOnly: true, binaryStdout: true })).stdoutBytes!;
    let at = 0;
    for (const e of entries) {
      const nl = batch.indexOf(10, at);
      const size = Number(batch.subarray(at, nl).toString('latin1').split(' ')[2]);
      out.set(e.path, batch.subarray(nl + 1, nl + 1 + size).toString('utf8'));
      at = nl + 1 + size + 1;
    }
    return out;
  }

  /**
   * One git step on this clone's queue refs at a time, in this process: a claim's renewal and
   * the worker's own transactions share the fetched ref and would collide on its lock.
   */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return mutexFor(`queue:${path.resolve(this.cwd)}`).run(fn);
  }

  private async readNow(): Promise<QueueSnapshot> {
    const commit = await this.fetch();
    return parseSnapshot(commit, await this.files(commit));
  }

  /** The queue as the remote has it now. */
  read(): Promise<QueueSnapshot> {
    return this.serial(() => this.readNow());
  }

  /**
   * Read, decide, write with compare-and-swap; on a lost race, read and decide again. `decide`
   * returns its value and fills the edit (an empty edit writes nothing).
   */
  async transact<T>(what: string, decide: (s: QueueSnapshot, edit: TreeEdit) => T, attempts = 40): Promise<T> {
    for (let i = 0; i < attempts; i++) {
      const done = await this.serial(async () => {
        const s = await this.readNow();
        const edit = new TreeEdit();
        const value = decide(s, edit);
        if (edit.empty) return { value };
        if (await this.write(s.commit, edit, what)) return { value };
        return undefined;
      });
      if (done) return done.value;
      // Lost the race: another worker moved the ref. Back off a little, with jitter.
      await new Promise((r) => setTimeout(r, 20 + Math.random() * Math.min(1000, 40 * 2 ** Math.min(i, 5))));
    }
    throw new QueueError(`could not ${what}: the queue kept changing under ${attempts} tries (too many workers for one remote?)`, 'contention');
  }

  private gitDir?: string;

  private async write(base: string | undefined, edit: TreeEdit, what: string): Promise<boolean> {
    if (!this.gitDir) {
      this.gitDir = await gitOut(['rev-parse', '--absolute-git-dir'], { cwd: this.cwd, readOnly: true });
      this.gitCalls++;
    }
    const index = path.join(this.gitDir, `lanes-queue-index-${process.pid}-${randomBytes(3).toString('hex')}`);
    const env = { GIT_INDEX_FILE: index };
    try {
      await this.g(base ? ['read-tree', base] : ['read-tree', '--empty'], { env });
      const lines: string[] = [];
      for (const [p, text] of edit.puts) {
        const sha = (await this.g(['hash-object', '-w', '--stdin'], { input: text })).stdout.trim();
        lines.push(`100644 ${sha}\t${p}`);
      }
      for (const p of edit.removes) lines.push(`0 ${'0'.repeat(40)}\t${p}`);
      await this.g(['update-index', '--index-info'], { input: lines.join('\n') + '\n', env });
      const tree = (await this.g(['write-tree'], { env })).stdout.trim();
      const commit = (
        await this.g(['commit-tree', tree, ...(base ? ['-p', base] : []), '-m', `lanes queue: ${what}`], {
          env: { GIT_AUTHOR_NAME: 'Agent Lanes queue', GIT_AUTHOR_EMAIL: 'lanes@agent-lanes.invalid', GIT_COMMITTER_NAME: 'Agent Lanes queue', GIT_COMMITTER_EMAIL: 'lanes@agent-lanes.invalid' },
        })
      ).stdout.trim();
      return await this.push(commit, CLAIMS_REF, base);
    } finally {
      await fs.rm(index, { force: true }).catch(() => undefined);
    }
  }

  /** Push `commit` to `ref` on the remote only if the remote still has `expected` there (absent: none). */
  async push(commit: string, ref: string, expected: string | undefined): Promise<boolean> {
    const r = await this.g(['push', '--porcelain', '--quiet', this.remote, `--force-with-lease=${ref}:${expected ?? ''}`, `${commit}:${ref}`], { okCodes: [1] });
    return r.code === 0;
  }

  /** The remote's commit of a branch (undefined: none). */
  async remoteHead(branch: string): Promise<string | undefined> {
    const out = (await this.g(['ls-remote', this.remote, `refs/heads/${branch}`], { readOnly: true })).stdout.trim();
    return out ? out.split(/\s/)[0] : undefined;
  }

  /** Fetch a branch of the remote into a local ref of ours; returns its commit. */
  fetchBranch(branch: string, into: string): Promise<string | undefined> {
    return this.serial(async () => {
      const r = await this.g(['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', this.remote, `+refs/heads/${branch}:${into}`], { okCodes: [128] });
      if (r.code !== 0) return undefined;
      return (await this.g(['rev-parse', into], { readOnly: true })).stdout.trim();
    });
  }
}
