/**
 * git through argv only. Every call gets a clean environment (no GIT_DIR/GIT_WORK_TREE leaking
 * in from a hook or a parent git), C locale so stderr can be classified, no terminal prompts.
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LanesError } from '../errors';

import { joinNul, splitNul } from '../util/bytePath';
import { cleanEnv, run, RunOptions } from '../util/proc';

export type GitErrorReason = 'notARepository' | 'lock' | 'conflict' | 'badRef' | 'notInstalled' | 'noFolder' | 'cancelled' | 'other';

export class GitError extends LanesError {
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly stdout: string,
    readonly reason: GitErrorReason,
    /** For a lock: who holds it, if anybody (see lockHolder). */
    readonly lock?: LockHolder,
  ) {
    super(summarize(args, exitCode, stderr, stdout, reason, lock));
    this.name = 'GitError';
  }

  /** The whole command and its output: for the log, never for a person's first read. */
  get detail(): string {
    return `git ${this.args.join(' ')} (${this.exitCode === null ? 'no exit code' : `exit ${this.exitCode}`})\n${this.stderr.trim()}${this.stdout.trim() ? `\n${this.stdout.trim().slice(0, 2000)}` : ''}`;
  }

  static is(e: unknown, reason?: GitErrorReason): e is GitError {
    return e instanceof GitError && (reason === undefined || e.reason === reason);
  }
}

/**
 * What a person reads: the git subcommand and git's own last words, never the whole argv (it
 * can hold commit messages, paths and object ids that say nothing to the reader).
 */
function summarize(args: readonly string[], exitCode: number | null, stderr: string, stdout: string, reason: GitErrorReason, lock?: LockHolder): string {
  const sub = args.find((a) => !a.startsWith('-')) ?? 'git';
  if (reason === 'notInstalled') return 'git is not installed or not on PATH; install git and try again';
  if (reason === 'noFolder') return `git ${sub} could not run: ${stderr}`;
  if (reason === 'lock') {
    const file = lockFileOf(stderr);
    const head = `git ${sub} could not take a lock${file ? ` (${file})` : ''}`;
    if (lock?.running.length) {
      const p = lock.running[0]!;
      return `${head}: a git process is running in this repository (pid ${p.pid}: ${p.command.slice(0, 80)}); wait for it to finish and try again`;
    }
    if (lock && file) return `${head}: no git process is running in this repository, so the lock is stale (left by a crash); remove ${file} and try again`;
    return `${head}: another git process is using the repository; wait for it to finish${file ? `, or remove ${file} if no git process is running` : ''}`;
  }
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^hint:/.test(l));
  const said = (lines.find((l) => /^(fatal|error):/.test(l)) ?? lines[lines.length - 1] ?? stdout.trim().split('\n')[0] ?? '').replace(/^(fatal|error):\s*/, '');
  return `git ${sub} failed${exitCode === null ? '' : ` (exit ${exitCode})`}${said ? `: ${said.slice(0, 300)}` : ''}`;
}

function classify(stderr: string): GitErrorReason {
  if (/not a git repository/i.test(stderr)) return 'notARepository';
  if (/\.lock['"]?: File exists|Unable to create '.*\.lock'|could not lock config file|cannot lock ref/i.test(stderr)) return 'lock';
  if (/CONFLICT|conflict/.test(stderr)) return 'conflict';
  if (/unknown revision|bad revision|not a valid object name|invalid reference|Needed a single revision/i.test(stderr)) return 'badRef';
  return 'other';
}

export interface GitOptions extends Pick<RunOptions, 'signal' | 'input' | 'onOutput' | 'timeoutMs' | 'binaryStdout'> {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Read-only polls take no optional locks, so they never block the user's own git. */
  readOnly?: boolean;
  /** Exit codes that are answers, not failures (e.g. merge-tree's 1 = conflicts). */
  okCodes?: number[];
  /** Retries with backoff when another git holds index.lock or a ref lock. Default 0. */
  lockRetries?: number;
  /** A command in the user's own checkout: the repository's hooks run if the user opted in (LANES_GIT_HOOKS=1). */
  userCheckout?: boolean;
}

export interface GitResult {
  stdout: string;
  /** With `binaryStdout`. */
  stdoutBytes?: Buffer;
  stderr: string;
  code: number;
}

/** Observers of every git command we run (the VS Code log channel subscribes). */
type GitListener = (e: { args: readonly string[]; cwd: string; code: number | null; ms: number; readOnly: boolean; ok: boolean }) => void;
const listeners = new Set<GitListener>();
export function onGitCommand(l: GitListener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function gitEnv(extra: NodeJS.ProcessEnv = {}, readOnly = false, base: NodeJS.ProcessEnv = process.env, userHooks = false): NodeJS.ProcessEnv {
  // No fsmonitor command ever runs for our git (a config can name any program). Hooks only for
  // git in the user's own checkout, and only when the user opts in (LANES_GIT_HOOKS=1): never in
  // lane or integration worktrees, whose files agents write.
  const hooksOn = userHooks && base.LANES_GIT_HOOKS === '1';
  const hooks = hooksOn
    ? { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'core.fsmonitor', GIT_CONFIG_VALUE_0: 'false' }
    : { GIT_CONFIG_COUNT: '2', GIT_CONFIG_KEY_0: 'core.hooksPath', GIT_CONFIG_VALUE_0: '/dev/null', GIT_CONFIG_KEY_1: 'core.fsmonitor', GIT_CONFIG_VALUE_1: 'false' };
  return cleanEnv(
    {
      LC_ALL: 'C',
      LANGUAGE: 'C',
      GIT_TERMINAL_PROMPT: '0',
      GIT_ASKPASS: '',
      SSH_ASKPASS: '',
      GCM_INTERACTIVE: 'never',
      // No repository hook runs for a git command of ours: an agent can write hooks (or point
      // core.hooksPath somewhere), and ours run in the user's checkout (apply, undo) and the
      // integration worktree. Config from the environment outranks every config file.
      ...hooks,
      ...(readOnly ? { GIT_OPTIONAL_LOCKS: '0' } : {}),
      ...extra,
    },
    base,
  );
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function lockFileOf(stderr: string): string | undefined {
  return /'([^']+\.lock)'/.exec(stderr)?.[1];
}

export interface LockHolder {
  /** git processes working in the lock's repository now (empty: the lock is stale). */
  running: { pid: number; command: string }[];
}

/**
 * Who holds a git lock file: the git processes whose working folder is in the lock's repository
 * (Linux: /proc). Undefined where that cannot be told; then the message says both possibilities.
 */
export async function lockHolder(lockFile: string): Promise<LockHolder | undefined> {
  if (!existsSync('/proc/self/cwd')) return undefined;
  const at = lockFile.lastIndexOf(`${path.sep}.git${path.sep}`);
  const roots = [at >= 0 ? lockFile.slice(0, at) : path.dirname(path.dirname(lockFile))];
  // A lock in a linked worktree's admin folder (.git/worktrees/<name>/) belongs to that worktree.
  const wt = /[/\\]worktrees[/\\][^/\\]+[/\\]/.exec(lockFile);
  if (wt) {
    const admin = lockFile.slice(0, wt.index + wt[0].length);
    const gitdir = await fs.readFile(path.join(admin, 'gitdir'), 'utf8').catch(() => '');
    if (gitdir.trim()) roots.push(path.dirname(gitdir.trim()));
  }
  const running: LockHolder['running'] = [];
  for (const name of await fs.readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if ((await fs.readFile(`/proc/${name}/comm`, 'utf8')).trim() !== 'git') continue;
      const cwd = await fs.readlink(`/proc/${name}/cwd`);
      if (!roots.some((root) => cwd === root || cwd.startsWith(root + path.sep))) continue;
      const command = (await fs.readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').filter(Boolean).join(' ');
      running.push({ pid: Number(name), command });
    } catch {
      /* gone, or not ours to read */
    }
  }
  return { running };
}

export async function git(args: readonly string[], opts: GitOptions): Promise<GitResult> {
  const retries = opts.lockRetries ?? 0;
  for (let attempt = 0; ; attempt++) {
    const r = await run(['git', ...args], {
      cwd: opts.cwd,
      env: gitEnv(opts.env, opts.readOnly, process.env, opts.userCheckout),
      signal: opts.signal,
      input: opts.input,
      binaryStdout: opts.binaryStdout,
      onOutput: opts.onOutput,
      timeoutMs: opts.timeoutMs,
    });
    const ok = r.code === 0 || (r.code !== null && !!opts.okCodes?.includes(r.code));
    for (const l of listeners) l({ args, cwd: opts.cwd, code: r.code, ms: r.durationMs, readOnly: !!opts.readOnly, ok });
    if (r.spawnError) {
      // ENOENT is also what a spawn in a folder that no longer exists says: not a missing git.
      const gone = r.spawnError.code === 'ENOENT' && !existsSync(opts.cwd);
      if (gone) throw new GitError(args, null, `the folder ${opts.cwd} does not exist (any more)`, '', 'noFolder');
      throw new GitError(args, null, r.spawnError.message, '', r.spawnError.code === 'ENOENT' ? 'notInstalled' : 'other');
    }
    if (r.cancelled) throw new GitError(args, r.code, r.stderr, r.stdout, 'cancelled');
    if (r.code === 0 || (r.code !== null && opts.okCodes?.includes(r.code))) {
      return { stdout: r.stdout, stdoutBytes: r.stdoutBytes, stderr: r.stderr, code: r.code! };
    }
    const reason = classify(r.stderr);
    if (reason === 'lock' && attempt < retries) {
      await sleep(Math.min(2000, 50 * 2 ** attempt) + Math.random() * 50);
      continue;
    }
    const file = reason === 'lock' ? lockFileOf(r.stderr) : undefined;
    throw new GitError(args, r.code, r.stderr, r.stdout, reason, file ? await lockHolder(path.resolve(opts.cwd, file)) : undefined);
  }
}

/** stdout without the trailing newline. */
export async function gitOut(args: readonly string[], opts: GitOptions): Promise<string> {
  return (await git(args, opts)).stdout.replace(/\n$/, '');
}

/**
 * File names from a git command's -z output, byte-exact (see util/bytePath: names that are not
 * UTF-8 survive as escapes, and go back to git and the file system as the same bytes).
 */
export async function gitPaths(args: readonly string[], opts: GitOptions): Promise<string[]> {
  return splitNul((await git(args, { ...opts, binaryStdout: true })).stdoutBytes!);
}

/** Options for a git command that reads names from stdin: literal (no glob or magic), NUL-separated. */
export function pathsOnStdin(paths: readonly string[], opts: GitOptions): GitOptions {
  return { ...opts, input: joinNul(paths), env: { ...opts.env, GIT_LITERAL_PATHSPECS: '1' } };
}

export async function repoRoot(cwd: string): Promise<string> {
  return gitOut(['rev-parse', '--show-toplevel'], { cwd, readOnly: true });
}

/** The common git dir (shared by every worktree): where run state lives. */
export async function commonDir(cwd: string): Promise<string> {
  return gitOut(['rev-parse', '--path-format=absolute', '--git-common-dir'], { cwd, readOnly: true });
}

export async function isRepo(cwd: string): Promise<boolean> {
  try {
    await repoRoot(cwd);
    return true;
  } catch (e) {
    if (GitError.is(e, 'notARepository')) return false;
    throw e;
  }
}

export async function headCommit(cwd: string): Promise<string | undefined> {
  try {
    return await gitOut(['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'], { cwd, readOnly: true });
  } catch {
    return undefined;
  }
}
