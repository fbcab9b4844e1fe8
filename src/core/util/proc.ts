/**
 * Running programs: always an argv array, never a shell string built from our inputs. Each
 * child gets its own process group so cancel and timeout stop the whole tree it started.
 */
import { spawn, SpawnOptions } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import * as nodePath from 'node:path';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Aborting stops the whole process tree (SIGTERM, then SIGKILL after `killGraceMs`). */
  signal?: AbortSignal;
  /** Stop the process tree after this many milliseconds. */
  timeoutMs?: number;
  killGraceMs?: number;
  /** Text or bytes written to stdin (stdin is closed either way). */
  input?: string | Buffer;
  /** Keep stdout as bytes (`stdoutBytes`), for output that is not text (git's -z file names). */
  binaryStdout?: boolean;
  /** Called with every chunk of stdout/stderr as it arrives. */
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
  /** Keep at most this many characters of each stream in the result (the tail). Default 4 MiB. */
  maxBuffer?: number;
  /** Called once the process has a PID. */
  onSpawn?: (pid: number) => void;
  /**
   * Stop the process tree when this process dies, even by SIGKILL (a window closing, an extension
   * host crash): a small watchdog leads the process group and ends it when its parent is gone.
   */
  dieWithParent?: boolean;
}

/**
 * The watchdog: our own constant code (never built from inputs), run by this Node. argv after
 * the "lanes-watchdog" marker is the real command, spawned without a shell in the watchdog's
 * process group.
 */
const WATCHDOG = `
const { spawn } = require('child_process');
const argv = process.argv.slice(process.argv.indexOf('lanes-watchdog') + 1);
const parent = process.ppid;
const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit' });
const stop = () => { try { process.kill(-process.pid, 'SIGTERM'); } catch {} setTimeout(() => { try { process.kill(-process.pid, 'SIGKILL'); } catch {} }, 2000).unref(); };
const t = setInterval(() => { if (process.ppid !== parent) stop(); }, 500);
for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => { try { child.kill(s); } catch {} });
child.on('error', (e) => { process.stderr.write(String(e.message) + '\\n'); process.exit(e.code === 'ENOENT' ? 127 : 126); });
child.on('exit', (code, sig) => { clearInterval(t); if (sig) { process.exitCode = 128 + (require('os').constants.signals[sig] || 1); } else process.exitCode = code; });
`;

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** stdout as bytes, with `binaryStdout`. */
  stdoutBytes?: Buffer;
  stderr: string;
  timedOut: boolean;
  cancelled: boolean;
  /** The program could not be started (e.g. not installed). */
  spawnError?: NodeJS.ErrnoException;
  /** It exited, but something it started outside its process group kept its output open (and was left running). */
  heldOpen?: boolean;
  pid?: number;
  durationMs: number;
}

/** Environment variables git sets for hooks that must never leak into a child's git calls. */
const GIT_LEAKS = ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_COMMON_DIR', 'GIT_PREFIX'];

/** An environment without the variables that would point a child's git elsewhere. */
export function withoutGitLeaks(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const k of GIT_LEAKS) delete out[k];
  return out;
}

export function cleanEnv(extra: NodeJS.ProcessEnv = {}, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const k of GIT_LEAKS) delete env[k];
  return { ...env, ...extra };
}

/** Signal a whole process group; ignores groups that are already gone. */
export function killTree(pid: number, signal: NodeJS.Signals = 'SIGTERM'): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

export function isGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  if (argv.length === 0 || !argv[0]) throw new Error('run: empty command');
  const started = Date.now();
  const max = opts.maxBuffer ?? 4 * 1024 * 1024;
  return new Promise<RunResult>((resolve) => {
    const spawnOpts: SpawnOptions = {
      cwd: opts.cwd,
      env: opts.env ?? cleanEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: process.platform !== 'win32', // own process group: kill(-pid) reaches every descendant
      windowsHide: true,
    };
    const real = opts.dieWithParent ? [process.execPath, '-e', WATCHDOG, 'lanes-watchdog', ...argv] : [...argv];
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(real[0]!, real.slice(1), spawnOpts);
    } catch (e) {
      // Some failures are thrown at once rather than emitted (E2BIG: the arguments or the
      // environment are too long): an answer like any other failure to start.
      resolve({ code: null, signal: null, stdout: '', stderr: '', timedOut: false, cancelled: false, spawnError: e as NodeJS.ErrnoException, durationMs: Date.now() - started });
      return;
    }
    let stdout = '';

    let stderr = '';
    let heldOpen = false;
    let timedOut = false;
    let cancelled = false;
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;
    const pid = child.pid;
    if (pid !== undefined) opts.onSpawn?.(pid);

    const stop = () => {
      if (pid === undefined) return;
      killTree(pid, 'SIGTERM');
      killTimer ??= setTimeout(() => killTree(pid, 'SIGKILL'), opts.killGraceMs ?? 2000);
    };
    const onAbort = () => {
      cancelled = true;
      stop();
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.timeoutMs !== undefined) {
      timeoutTimer = setTimeout(() => {
        timedOut = true;
        stop();
      }, opts.timeoutMs);
    }

    const keep = (buf: string, chunk: string) => {
      const s = buf + chunk;
      return s.length > max ? s.slice(s.length - max) : s;
    };
    const bytes: Buffer[] = [];
    if (opts.binaryStdout) child.stdout!.on('data', (c: Buffer) => bytes.push(c));
    else {
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (c: string) => {
        stdout = keep(stdout, c);
        opts.onOutput?.(c, 'stdout');
      });
    }
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => {
      stderr = keep(stderr, c);
      opts.onOutput?.(c, 'stderr');
    });
    child.stdin!.on('error', () => undefined); // EPIPE when the child ignores stdin
    child.stdin!.end(opts.input ?? '');

    const finish = (code: number | null, sig: NodeJS.Signals | null, spawnError?: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      clearTimeout(timeoutTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      resolve({ code, signal: sig, stdout, stdoutBytes: opts.binaryStdout ? Buffer.concat(bytes) : undefined, stderr, timedOut, cancelled, spawnError, pid, durationMs: Date.now() - started, heldOpen: heldOpen || undefined });
    };
    child.on('exit', (code, sig) => {
      // Background children that hold stdout open would keep 'close' from firing: stop them.
      if (pid !== undefined && isGroupAlive(pid)) {
        killTree(pid, 'SIGTERM');
        const t = setTimeout(() => killTree(pid, 'SIGKILL'), opts.killGraceMs ?? 2000);
        t.unref();
      }
      // One that left the group (setsid) and still holds the pipes cannot keep us waiting: once
      // the grace has passed, stop reading and finish with the program's own exit.
      const hold = setTimeout(() => {
        if (settled) return;
        heldOpen = true;
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(code, sig);
      }, (opts.killGraceMs ?? 2000) + 1000);
      hold.unref();
    });
    child.on('error', (e: NodeJS.ErrnoException) => finish(null, null, e));
    child.on('close', (code, sig) => finish(code, sig));
  });
}

/** A readable one-line description of a finished process, for logs and briefs. */
export function describeExit(r: RunResult): string {
  if (r.spawnError) return r.spawnError.code === 'ENOENT' ? 'could not start: program not found' : `could not start: ${r.spawnError.message}`;
  if (r.timedOut) return 'timed out';
  if (r.cancelled) return 'cancelled';
  if (r.signal) return `killed by ${r.signal}`;
  return `exit code ${r.code}`;
}

/**
 * Where `program` would be found by a spawn with this PATH (undefined: nowhere). A name with a
 * slash is a path, resolved against `cwd`.
 */
export async function findProgram(program: string, pathVar: string | undefined, cwd: string): Promise<string | undefined> {
  const ok = async (p: string) => (await stat(p).then((s) => s.isFile(), () => false)) && (await access(p, constants.X_OK).then(() => true, () => false));
  if (program.includes('/')) return (await ok(nodePath.resolve(cwd, program))) ? nodePath.resolve(cwd, program) : undefined;
  for (const dir of (pathVar ?? '').split(nodePath.delimiter)) {
    if (!dir) continue;
    const p = nodePath.join(dir, program);
    if (await ok(p)) return p;
  }
  return undefined;
}
