/**
 * One queue of operations per repository, after the built-in git extension's Repository.run.
 * Every operation is read-only or blocking. Blocking ones never overlap: not two clicks in one
 * panel, not the CLI and the extension, not two windows. Across processes the owner is a lock
 * file under the git common dir that names it (pid, process start time, command); a second
 * process waits for it (saying who it waits for) or refuses with that name.
 *
 * An operation may call another (the merge queue sends a lane back, which starts a run): a
 * blocking operation nested in one this queue already runs goes straight through.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import * as path from 'node:path';
import { acquireLock, LockOwner } from '../util/ownerLock';

export type OperationKind = 'readOnly' | 'blocking';

export interface Operation {
  /** For people: what the lock says the owner is doing ("lanes reconcile: merge queue"). */
  name: string;
  kind: OperationKind;
  /** Wait for a blocking operation of another process (default) or refuse at once. */
  wait?: boolean;
  signal?: AbortSignal;
  /** Called once when this operation has to wait, with whom it waits for. */
  onWait?: (owner: LockOwner) => void;
}

interface Held {
  ops: RepoOperations;
  active: boolean;
}

const context = new AsyncLocalStorage<Held>();
const byRepo = new Map<string, RepoOperations>();

export class RepoOperations {
  private constructor(readonly commonDir: string) {}

  /** The queue of a repository (one per git common dir in this process). */
  static for(commonDir: string): RepoOperations {
    let q = byRepo.get(commonDir);
    if (!q) byRepo.set(commonDir, (q = new RepoOperations(commonDir)));
    return q;
  }

  get lockFile(): string {
    return path.join(this.commonDir, 'lanes', 'locks', 'repository.lock');
  }

  /** Whether the caller runs inside a blocking operation of this queue (e.g. a send-back). */
  inside(): boolean {
    const outer = context.getStore();
    return outer?.ops === this && outer.active;
  }

  async run<T>(op: Operation, fn: () => Promise<T>): Promise<T> {
    if (op.kind === 'readOnly') return fn();
    if (this.inside()) return fn();
    const lock = await acquireLock(this.lockFile, op.name, {
      wait: op.wait ?? true,
      signal: op.signal,
      onWait: op.onWait,
      what: 'the repository',
    });
    const held: Held = { ops: this, active: true };
    try {
      return await context.run(held, fn);
    } finally {
      // Work started inside (a run's lanes) may outlive the operation: it no longer holds the lock.
      held.active = false;
      await lock.release();
    }
  }
}
