import { readFileSync } from 'node:fs';
import { isGroupAlive, killTree } from './proc';

/**
 * What a PID is now. A PID recorded earlier may belong to another program today, so before
 * anything is killed its command line is compared with the one we recorded.
 */
export function commandLineOf(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!raw) return undefined; // zombie or kernel thread
    return raw.replace(/\0$/, '').split('\0');
  } catch {
    return undefined;
  }
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

/**
 * When the process started (clock ticks since boot, from /proc/<pid>/stat): with the PID it
 * identifies one process for good, since a reused PID starts later.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/**
 * Is `pid` still the process we started? With a recorded start time that decides (a program
 * may exec another, changing its command line, and stay ours); otherwise the command line
 * must equal the recorded one.
 */
export function matchProcess(pid: number, argv: readonly string[], startTime?: string): ProcessMatch {
  if (!isAlive(pid)) return 'dead';
  if (startTime !== undefined) {
    const now = processStartTime(pid);
    if (now !== undefined) return now === startTime ? 'ours' : 'reused';
  }
  const cmd = commandLineOf(pid);
  if (!cmd) return process.platform === 'linux' ? 'dead' : 'reused';
  return cmd.length === argv.length && cmd.every((a, i) => a === argv[i]) ? 'ours' : 'reused';
}

/**
 * Stop a recorded process group only if its leader still runs the recorded command line.
 * A group whose leader died but whose children live on is ours too: Linux does not hand out a
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
