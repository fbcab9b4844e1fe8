import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { isGroupAlive, killTree } from './proc';

/**
 * How a process is identified: Linux's /proc, or `ps` where there is none (macOS).
 * LANES_PROCESS_INFO=ps forces ps, so that path can be tested on Linux too.
 */
type Method = 'proc' | 'ps';
const hasProc = existsSync('/proc/self/stat');
const method = (): Method => (process.env.LANES_PROCESS_INFO === 'ps' || !hasProc ? 'ps' : 'proc');

/** ps start times carry their method: a /proc tick count and a ps date never compare. */
const PS_TAG = 'ps:';

interface Seen {
  startTime?: string;
  /** Undefined for a zombie: it has no command line any more. */
  argv?: string[];
}

/**
 * One process as ps shows it: 'gone' when ps says there is no such PID, undefined when ps could
 * not answer. A fixed locale and time zone, since the recorder (an editor, a terminal) and the
 * reader may have different ones and lstart is local time.
 */
function psSeen(pid: number): Seen | 'gone' | undefined {
  let out: string;
  try {
    out = execFileSync('ps', ['-ww', '-o', 'lstart=,command=', '-p', String(pid)], {
      encoding: 'utf8',
      timeout: 3000,
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, LC_ALL: 'C', TZ: 'UTC0' },
    });
  } catch (e) {
    const r = e as { status?: number | null; stdout?: string };
    return r.status === 1 && !r.stdout?.trim() ? 'gone' : undefined;
  }
  // lstart is five words ("Wed Nov 25 07:40:23 2026"); the rest of the line is the command.
  const m = /^\s*(\S+\s+\S+\s+\S+\s+\S+\s+\S+) +(.*)$/s.exec(out.replace(/\n$/, ''));
  if (!m) return out.trim() ? undefined : 'gone';
  const command = m[2]!;
  return { startTime: PS_TAG + m[1]!, argv: /<defunct>$/.test(command) ? undefined : command.split(' ') };
}

function procSeen(pid: number): Seen {
  let argv: string[] | undefined;
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (raw) argv = raw.replace(/\0$/, '').split('\0'); // empty: zombie or kernel thread
  } catch {
    argv = undefined;
  }
  return { startTime: procStartTime(pid), argv };
}

function seen(pid: number): Seen | 'gone' | undefined {
  return method() === 'ps' ? psSeen(pid) : procSeen(pid);
}

/**
 * What a PID is now. A PID recorded earlier may belong to another program today, so before
 * anything is killed its command line is compared with the one we recorded. With ps it is the
 * text ps shows split at spaces: joined again, it compares with ps's text.
 */
export function commandLineOf(pid: number): string[] | undefined {
  const s = seen(pid);
  return typeof s === 'object' ? s.argv : undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export type ProcessMatch = 'ours' | 'dead' | 'reused';

function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/**
 * When the process started (clock ticks since boot from /proc/<pid>/stat, or "ps:" and ps's
 * lstart, to the second): with the PID it identifies one process for good, since a reused PID
 * starts later.
 */
export function processStartTime(pid: number): string | undefined {
  if (method() === 'proc') return procStartTime(pid);
  const s = psSeen(pid);
  return typeof s === 'object' ? s.startTime : undefined;
}

/**
 * ps (in the C locale) shows each byte it cannot print (a control character, a byte of a
 * non-ASCII character) as one stand-in ('?', '.', a space): such a byte of the recorded
 * command line matches any one character there; every other byte must be equal.
 */
function psShows(text: string, argv: readonly string[]): boolean {
  const got = Buffer.from(text, 'utf8');
  const want = Buffer.from(argv.join(' '), 'utf8');
  return got.length === want.length && want.every((b, i) => b === got[i] || b < 0x20 || b >= 0x7f);
}

function sameCommand(now: string[], argv: readonly string[], m: Method): boolean {
  if (m === 'ps') return psShows(now.join(' '), argv);
  return now.length === argv.length && now.every((a, i) => a === argv[i]);
}

/**
 * Is `pid` still the process we started? With a recorded start time that decides (a program
 * may exec another, changing its command line, and stay ours), if one of the same method can
 * be read now; otherwise the command line must equal the recorded one. When ps cannot answer,
 * the process is not ours: nothing unknown is ever stopped.
 */
export function matchProcess(pid: number, argv: readonly string[], startTime?: string): ProcessMatch {
  if (!isAlive(pid)) return 'dead';
  const m = method();
  const now = seen(pid);
  if (now === 'gone') return 'dead';
  if (!now) return 'reused';
  // A zombie (exited, not yet reaped: e.g. under an init that does not reap) has no command
  // line: it is dead, whatever its start time says.
  if (!now.argv) return 'dead';
  if (startTime !== undefined && now.startTime !== undefined && startTime.startsWith(PS_TAG) === now.startTime.startsWith(PS_TAG)) {
    return now.startTime === startTime ? 'ours' : 'reused';
  }
  return sameCommand(now.argv, argv, m) ? 'ours' : 'reused';
}

/**
 * Stop a recorded process group only if its leader still runs the recorded command line.
 * A group whose leader died but whose children live on is ours too: POSIX does not hand out a
 * PID that is still in use as a process group id.
 */
export async function stopRecorded(pid: number, argv: readonly string[], startTime?: string, graceMs = 2000): Promise<ProcessMatch> {
  const m = matchProcess(pid, argv, startTime);
  if (m === 'reused') return m;
  if (m === 'dead' && !isGroupAlive(pid)) return m;
  killTree(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isGroupAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (isGroupAlive(pid)) killTree(pid, 'SIGKILL');
  return m;
}
