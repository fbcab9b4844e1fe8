/**
 * A lock file that names its owner, after git's own index.lock: created exclusively (a hard
 * link of a fully written temp file, so nobody ever reads half an owner), removed by its owner
 * when done. A process that finds it held learns who holds it (pid, process start time,
 * command, since when) and waits or refuses with that name. A lock whose owner is dead (the
 * PID is gone, or now belongs to another program) is stale and is taken over.
 *
 * Within one process the same file is also guarded by an in-process mutex, so two actions of
 * one process (two panel clicks) queue up instead of both seeing "held by me".
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BusyError, storageError } from '../errors';
import { commandLineOf, matchProcess, processStartTime } from './processInfo';

export interface LockOwner {
  pid: number;
  /** With the PID, identifies the process for good (a reused PID starts later). */
  startTime?: string;
  argv: string[];
  /** What the owner is doing, for people: "lanes reconcile --apply", "VS Code: Apply". */
  command: string;
  hostname: string;
  acquiredAt: string;
  /** Unique per acquisition: release removes the file only if it is still this one. */
  token: string;
}

export function ownerFor(command: string): Omit<LockOwner, 'acquiredAt' | 'token'> {
  return { pid: process.pid, startTime: processStartTime(process.pid), argv: commandLineOf(process.pid) ?? process.argv, command, hostname: os.hostname() };
}

/** Whether the recorded owner still runs (a lock of another host counts as alive: we cannot tell). */
export function ownerAlive(o: Pick<LockOwner, 'pid' | 'startTime' | 'argv' | 'hostname'>): boolean {
  if (o.hostname && o.hostname !== os.hostname()) return true;
  return matchProcess(o.pid, o.argv, o.startTime) === 'ours';
}

export function describeOwner(o: LockOwner): string {
  const self = o.pid === process.pid ? ', this process' : '';
  return `${o.command} (pid ${o.pid}${self}, since ${o.acquiredAt.slice(11, 19)} UTC)`;
}

export async function readLock(file: string): Promise<LockOwner | undefined> {
  try {
    const o = JSON.parse(await fs.readFile(file, 'utf8')) as LockOwner;
    return typeof o?.pid === 'number' && Array.isArray(o.argv) ? o : undefined;
  } catch {
    return undefined;
  }
}

/** Who holds the lock now, if a live process does. */
export async function liveOwner(file: string): Promise<LockOwner | undefined> {
  const o = await readLock(file);
  return o && ownerAlive(o) ? o : undefined;
}

export interface LockHandle {
  readonly file: string;
  readonly owner: LockOwner;
  release(): Promise<void>;
}

export interface AcquireOptions {
  /** Wait for a live owner to finish (default: refuse at once with its name). */
  wait?: boolean;
  /** Give up waiting after this long (default: wait as long as the owner lives). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called once when the lock is found held and this call starts waiting. */
  onWait?: (owner: LockOwner) => void;
  /** How the refusal names what is locked: "the repository", "run 2026…". */
  what?: string;
}

const inProcess = new Map<string, { owner: LockOwner; queue: Promise<void> }>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function tryCreate(file: string, owner: LockOwner): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${owner.token}.tmp`;
  try {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(tmp, JSON.stringify(owner, null, 2) + '\n');
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw storageError(e, file, 'a lock file');
  }
  try {
    await fs.link(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw storageError(e, file, 'a lock file');
  } finally {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
  }
}

/** Move a dead owner's lock aside; put it back if it turned out to be a fresh live one. */
async function takeOver(file: string, judged: LockOwner | undefined): Promise<void> {
  const aside = `${file}.stale-${randomBytes(4).toString('hex')}`;
  try {
    await fs.rename(file, aside);
  } catch {
    return; // someone else moved it first
  }
  const moved = await readLock(aside);
  if (moved && moved.token !== judged?.token && ownerAlive(moved)) {
    await fs.link(aside, file).catch(() => undefined); // not ours to remove
  }
  await fs.rm(aside, { force: true }).catch(() => undefined);
}

/**
 * Take the lock. Refuses with a BusyError naming the owner, or waits (`wait`) until it is
 * free. A stale lock (dead owner) is taken over. An unreadable lock file older than a few
 * seconds counts as stale too (a crash while it was written cannot happen with link(), but a
 * person may have touched the file).
 */
export async function acquireLock(file: string, command: string, opts: AcquireOptions = {}): Promise<LockHandle> {
  const what = opts.what ?? 'this';
  // In this process first: queue behind (or refuse) an earlier holder of the same file.
  let mine: () => void = () => undefined;
  for (;;) {
    const held = inProcess.get(file);
    if (!held) break;
    if (!opts.wait) throw busy(what, held.owner);
    opts.onWait?.(held.owner);
    await until(held.queue, opts.signal);
  }
  const gate = new Promise<void>((r) => (mine = r));
  const owner: LockOwner = { ...ownerFor(command), acquiredAt: new Date().toISOString(), token: randomBytes(8).toString('hex') };
  inProcess.set(file, { owner, queue: gate });
  const started = Date.now();
  let told = false;
  try {
    for (;;) {
      if (await tryCreate(file, owner)) break;
      const current = await readLock(file);
      if (!current) {
        const age = await fs.stat(file).then((s) => Date.now() - s.mtimeMs, () => 0);
        if (age > 5000) await takeOver(file, undefined);
        else await sleep(50);
        continue;
      }
      if (!ownerAlive(current)) {
        await takeOver(file, current);
        continue;
      }
      if (!opts.wait) throw busy(what, current);
      if (opts.timeoutMs !== undefined && Date.now() - started > opts.timeoutMs) throw busy(what, current);
      if (!told) {
        told = true;
        opts.onWait?.(current);
      }
      await until(sleep(150), opts.signal);
    }
  } catch (e) {
    inProcess.delete(file);
    mine();
    throw e;
  }
  let released = false;
  return {
    file,
    owner,
    async release() {
      if (released) return;
      released = true;
      try {
        const now = await readLock(file);
        if (now?.token === owner.token) await fs.rm(file, { force: true });
      } finally {
        if (inProcess.get(file)?.owner.token === owner.token) inProcess.delete(file);
        mine();
      }
    },
  };
}

function busy(what: string, o: LockOwner): BusyError {
  return new BusyError(`${what} is in use by ${describeOwner(o)}; wait for it to finish or stop it`, { pid: o.pid, command: o.command, since: o.acquiredAt });
}

/** Wait for `p`, or fail when `signal` aborts (the listener is removed either way). */
async function until(p: Promise<unknown>, signal?: AbortSignal): Promise<void> {
  if (!signal) {
    await p;
    return;
  }
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new BusyError('stopped while waiting for a lock'));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([p, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
