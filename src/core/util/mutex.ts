/** A FIFO async mutex: serialises steps that write shared git state (refs, worktree registry). */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

const byKey = new Map<string, Mutex>();

/** One mutex per key (e.g. per git common dir) within this process. */
export function mutexFor(key: string): Mutex {
  let m = byKey.get(key);
  if (!m) byKey.set(key, (m = new Mutex()));
  return m;
}
