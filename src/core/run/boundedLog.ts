/**
 * A lane's log with a size limit: the first half of the limit is written as it comes, the last
 * half is kept as a rolling tail, and what falls between is left out with a marker saying how
 * much. An agent that prints 300 MB costs a few MB on disk; the start and the end survive.
 */
import type { WriteStream } from 'node:fs';

/** Default limit of one lane's log: 4 MiB (LANES_LOG_MAX_BYTES overrides; 0 keeps everything). */
export const DEFAULT_LOG_MAX_BYTES = 4 * 1024 * 1024;

export function logLimitFrom(env: NodeJS.ProcessEnv | undefined): number {
  const v = Number(env?.LANES_LOG_MAX_BYTES);
  return Number.isFinite(v) && v >= 0 && env?.LANES_LOG_MAX_BYTES !== undefined && env.LANES_LOG_MAX_BYTES !== '' ? v : DEFAULT_LOG_MAX_BYTES;
}

export class BoundedLog {
  private written = 0;
  private tail: string[] = [];
  private tailSize = 0;
  private dropped = 0;

  constructor(
    private readonly out: WriteStream,
    /** 0: no limit. */
    private readonly max: number,
  ) {}

  write(chunk: string): void {
    if (!this.max) {
      this.out.write(chunk);
      return;
    }
    const head = Math.floor(this.max / 2);
    if (this.written < head) {
      const room = head - this.written;
      const now = chunk.slice(0, room);
      this.out.write(now);
      this.written += now.length;
      chunk = chunk.slice(now.length);
      if (!chunk) return;
    }
    this.tail.push(chunk);
    this.tailSize += chunk.length;
    const keep = this.max - head;
    while (this.tailSize > keep && this.tail.length) {
      const first = this.tail[0]!;
      const over = this.tailSize - keep;
      if (first.length <= over) {
        this.tail.shift();
        this.tailSize -= first.length;
        this.dropped += first.length;
      } else {
        this.tail[0] = first.slice(over);
        this.tailSize -= over;
        this.dropped += over;
      }
    }
  }

  /** Write the kept tail (after the marker, when something was left out). */
  flush(): void {
    if (this.dropped) this.out.write(`\n[lanes] … ${this.dropped} characters of output left out here (the log keeps ${this.max}; set LANES_LOG_MAX_BYTES=0 to keep everything) …\n`);
    for (const c of this.tail) this.out.write(c);
    this.written += this.tailSize;
    this.tail = [];
    this.tailSize = 0;
    this.dropped = 0;
  }
}

/** Where a lane's log lines go (the bounded log, or a plain stream in tests). */
export interface LogSink {
  write(chunk: string): unknown;
}
