/**
 * The run store: the one way run state is read and written. A run's state has one writer at a
 * time, the holder of the run's lease (its lock file names the process): the orchestrator while
 * it runs, or `clean`/`discard` while they change a finished run. Anyone may read.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { storageError } from '../errors';
import { Mutex } from '../util/mutex';
import { acquireLock, AcquireOptions, liveOwner, LockHandle, LockOwner } from '../util/ownerLock';
import { inspectAll, inspectRun, RunListing, RunTruth } from './inspect';
import { listRuns, newRunId, readState, runPaths, RunPaths, RunState, writeState } from './state';
import { writeFileAtomic } from '../util/fsx';
import type { QueueResult } from '../reconcile/queue';

/** The merge queue's result, with what it was computed from (to tell when it is stale). */
export interface QueueRecord {
  result: QueueResult;
  /** Lanes the queue was asked to take (undefined: every passed lane). */
  lanes?: string[];
  /** Every lane's head when the queue finished. */
  laneHeads: Record<string, string>;
  at: string;
}

export class RunStore {
  constructor(readonly commonDir: string) {}

  paths(runId: string): RunPaths {
    return runPaths(this.commonDir, runId);
  }

  /** Run ids, newest first. */
  list(): Promise<string[]> {
    return listRuns(this.commonDir);
  }

  async latest(): Promise<string | undefined> {
    return (await this.list())[0];
  }

  read(runId: string): Promise<RunState> {
    return readState(this.commonDir, runId);
  }

  inspect(runId: string): Promise<RunTruth> {
    return inspectRun(this.commonDir, runId);
  }

  inspectAll(): Promise<RunListing> {
    return inspectAll(this.commonDir);
  }

  /** The live process holding a run's lease, if any. */
  owner(runId: string): Promise<LockOwner | undefined> {
    return liveOwner(this.paths(runId).lock);
  }

  /** Runs whose lease a live process holds now. */
  async active(): Promise<{ runId: string; owner: LockOwner }[]> {
    const out: { runId: string; owner: LockOwner }[] = [];
    for (const runId of await this.list()) {
      const owner = await this.owner(runId);
      if (owner) out.push({ runId, owner });
    }
    return out;
  }

  /**
   * A new run: a fresh id (its folder made exclusively, so two processes never share one), its
   * lease taken, then its first state written.
   */
  async create(command: string, init: (runId: string) => RunState): Promise<RunLease> {
    for (;;) {
      const runId = newRunId();
      const dir = this.paths(runId).dir;
      try {
        await fs.mkdir(path.dirname(dir), { recursive: true });
        await fs.mkdir(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw storageError(e, dir, "the run's folder");
      }
      const lease = await this.claim(runId, command);
      try {
        await lease.save(init(runId));
      } catch (e) {
        await lease.release();
        await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
        throw e;
      }
      return lease;
    }
  }

  /** Become the run's one writer. Refuses (or waits, with `wait`) while a live process is. */
  async claim(runId: string, command: string, opts: Omit<AcquireOptions, 'what'> = {}): Promise<RunLease> {
    const handle = await acquireLock(this.paths(runId).lock, command, { ...opts, what: `run ${runId}` });
    return new RunLease(this, runId, handle);
  }

  /** The merge queue's last result for a run (survives the panel closing, and the process). */
  async readQueue(runId: string): Promise<QueueRecord | undefined> {
    try {
      const r = JSON.parse(await fs.readFile(this.paths(runId).queue, 'utf8')) as QueueRecord;
      return r && r.result && r.laneHeads ? r : undefined;
    } catch {
      return undefined;
    }
  }

  /** Written only by the merge queue, which runs as a blocking repository operation. */
  async writeQueue(runId: string, record: QueueRecord): Promise<void> {
    const file = this.paths(runId).queue;
    try {
      await writeFileAtomic(file, JSON.stringify(record, null, 2) + '\n');
    } catch (e) {
      throw storageError(e, file, "the merge queue's result");
    }
  }

  async writeReport(runId: string, text: string): Promise<string> {
    const file = this.paths(runId).report;
    try {
      await writeFileAtomic(file, text);
    } catch (e) {
      throw storageError(e, file, 'the run report');
    }
    return file;
  }
}

/** The right to write one run's state, held by one process at a time. */
export class RunLease {
  private readonly mutex = new Mutex();
  private pending?: Promise<void>;
  private latest?: RunState;

  constructor(
    readonly store: RunStore,
    readonly runId: string,
    private readonly handle: LockHandle,
  ) {}

  get owner(): LockOwner {
    return this.handle.owner;
  }

  /**
   * Persist the state atomically. Saves requested while one is waiting share it (the waiting
   * save writes whatever the state is when its turn comes), so bursts cost one write. A failed
   * write rejects with a StorageError; the caller decides what a run does without its state.
   */
  save(state: RunState): Promise<void> {
    this.latest = state;
    this.pending ??= this.mutex.run(async () => {
      this.pending = undefined;
      const snapshot = JSON.parse(JSON.stringify(this.latest)) as RunState;
      try {
        await writeState(this.store.commonDir, snapshot);
      } catch (e) {
        throw storageError(e, this.store.paths(this.runId).state, "the run's state");
      }
    });
    return this.pending;
  }

  async release(): Promise<void> {
    try {
      await this.pending?.catch(() => undefined);
    } finally {
      await this.handle.release();
    }
  }
}
