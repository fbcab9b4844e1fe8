/**
 * One error model for every face. Errors the core raises on purpose are `LanesError`s: a
 * message a person can act on (one line, no argv, no stack) and a `reason` code for programs.
 * `describeError` turns anything thrown into that shape; the CLI and every VS Code command go
 * through it, and the full text (argv, stderr, stack) goes to the log only.
 */

export abstract class LanesError extends Error {
  /** A stable code for programs and tests (never matched by message text). */
  abstract readonly reason: string;
  /** What the person can do about it, when there is something to say. */
  hint?: string;
}

/** Another process (or another action in this one) owns what this operation needs. */
export class BusyError extends LanesError {
  readonly reason = 'busy' as const;
  constructor(
    message: string,
    readonly owner?: { pid: number; command: string; since: string },
  ) {
    super(message);
    this.name = 'BusyError';
  }
}

/** Writing Agent Lanes' own files (state, journals, locks) failed. */
export class StorageError extends LanesError {
  constructor(
    message: string,
    readonly reason: 'diskFull' | 'readOnly' | 'permission' | 'other',
    readonly file: string,
  ) {
    super(message);
    this.name = 'StorageError';
  }
}

/** A condition the operation cannot start under (e.g. nothing to reconcile yet). */
export class PreconditionError extends LanesError {
  constructor(
    message: string,
    readonly reason: 'noRun' | 'unknownLane' | 'noWork' | 'invalidPlan' | 'notARepository' | 'other',
  ) {
    super(message);
    this.name = 'PreconditionError';
  }
}

export interface DescribedError {
  /** One line for the person: what happened and, where known, what to do. */
  message: string;
  /** The reason code (LanesError), the system error code, or 'internal'. */
  reason: string;
  /** Everything (argv, stderr, stack), for the log only. */
  logText: string;
  /** false for bugs: the message says to look at the log. */
  expected: boolean;
}

const SYSTEM: Record<string, string> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'a file name is too long',
  E2BIG: 'the command line is too long',
};

/** Which system error an error is, also when it is wrapped (cause chain). */
function systemCode(e: unknown): string | undefined {
  for (let cur = e, depth = 0; cur && depth < 5; depth++) {
    const code = (cur as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

function firstLine(s: string): string {
  return s.split('\n').map((x) => x.trim()).find(Boolean) ?? '';
}

/** Turn anything thrown into a message a person can act on (and the full text for the log). */
export function describeError(e: unknown): DescribedError {
  const err = e instanceof Error ? e : new Error(typeof e === 'string' ? e : JSON.stringify(e) ?? String(e));
  const logText = err.stack ?? `${err.name}: ${err.message}`;
  if (err instanceof LanesError) {
    const msg = err.message.trim() || err.name;
    return { message: err.hint ? `${msg}; ${err.hint}` : msg, reason: err.reason, logText, expected: true };
  }
  // Errors with a reason from modules that predate LanesError (GitError carries its own summary).
  const reason = (err as { reason?: unknown }).reason;
  if (typeof reason === 'string' && err.message.trim()) return { message: err.message.trim(), reason, logText, expected: true };
  const code = systemCode(err);
  if (code && SYSTEM[code]) {
    const where = (err as NodeJS.ErrnoException).path;
    return { message: `${SYSTEM[code]}${where ? ` (${where})` : ''}; free space or fix the permissions, then try again`, reason: code, logText, expected: true };
  }
  const text = firstLine(err.message) || err.name || 'unknown error';
  return { message: `unexpected error: ${text} (details in the log)`, reason: 'internal', logText, expected: false };
}

/** Wrap a failed write of our own files as a StorageError with a readable message. */
export function storageError(e: unknown, file: string, what: string): StorageError {
  const code = systemCode(e);
  const reason = code === 'ENOSPC' || code === 'EDQUOT' ? 'diskFull' : code === 'EROFS' ? 'readOnly' : code === 'EACCES' || code === 'EPERM' ? 'permission' : 'other';
  const why = code && SYSTEM[code] ? SYSTEM[code] : firstLine((e as Error)?.message ?? String(e));
  const err = new StorageError(`could not write ${what} (${file}): ${why}`, reason, file);
  (err as { cause?: unknown }).cause = e;
  return err;
}
