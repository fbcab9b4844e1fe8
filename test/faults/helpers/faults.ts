/**
 * Tools for the fault suite: the real CLI as a separate process (dist/cli.js), a git shim that
 * kills it at a chosen git step, a seeded PRNG (failures reproduce from the printed seed), a
 * byte-exact picture of a checkout, and scans of /proc for processes we left behind.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../../helpers/repo';

export const ROOT = path.resolve(__dirname, '../../..');
export const CLI = path.join(ROOT, 'dist/cli.js');
/** The fault suite's own scripted agent (record / write / rm / sleep). */
export const FAULT_AGENT = path.join(__dirname, 'agent.js');

// ——— build ———

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const abs = path.join(dir, name);
    const st = statSync(abs);
    newest = Math.max(newest, st.isDirectory() ? newestMtime(abs) : st.mtimeMs);
  }
  return newest;
}

/** Build dist/cli.js when any source is newer (another engineer may be editing src/). */
export function ensureBuilt(): void {
  const built = existsSync(CLI) ? statSync(CLI).mtimeMs : 0;
  const sources = Math.max(newestMtime(path.join(ROOT, 'src')), statSync(path.join(ROOT, 'esbuild.config.mjs')).mtimeMs);
  if (sources > built) execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
}

// ——— randomness that reproduces ———

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed from $name (to reproduce a failure) or a fresh one; printed either way. */
export function seedFrom(name: string): number {
  const fromEnv = process.env[name];
  const seed = fromEnv ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 31);
  console.log(`      seed ${seed} (reproduce with ${name}=${seed})`);
  return seed;
}

export const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

// ——— the git shim ———

/** git itself, found before any shim goes first on PATH. */
export const REAL_GIT = (() => {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, 'git');
    if (dir && existsSync(p)) return p;
  }
  return '/usr/bin/git';
})();

/**
 * A folder with a `git` that (with $LANES_FAULT_DIR set) logs every call and, on the k-th call
 * of subcommand $LANES_FAULT_SUB, kills the lanes CLI above it with SIGKILL: before running git
 * ($LANES_FAULT_WHEN=before: the step never happens) or right after it (the step happened, its
 * caller never learns). The CLI is found by walking up the parent chain in /proc to the process
 * whose command line holds dist/cli.js: git may run under a wrapper, so $PPID is not enough.
 */
export function makeGitShim(): string {
  const dir = tempDir('lanes-fault-shim-');
  const script = `#!/bin/sh
real=${REAL_GIT}
d="$LANES_FAULT_DIR"
[ -n "$d" ] || exec "$real" "$@"
[ -z "$LANES_FAULT_LOG" ] || printf '%s\\t%s\\n' "$(date +%s%3N)" "$*" >> "$d/calls.log"
kill_cli() {
  pid=$$
  while [ "$pid" -gt 1 ] 2>/dev/null; do
    if tr '\\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -q 'dist/cli\\.js'; then
      echo "$pid $*" > "$d/killed"
      kill -9 "$pid"
      return 0
    fi
    pid=$(sed 's/.*) //' /proc/$pid/stat 2>/dev/null | cut -d' ' -f2)
  done
  echo "no cli above $$ for: $*" >> "$d/not-found"
  return 1
}
if [ -n "$LANES_FAULT_SUB" ] && [ "$1" = "$LANES_FAULT_SUB" ]; then
  # One counter per run, taken under a mkdir lock (lanes run calls git from parallel lanes).
  while ! mkdir "$d/count.lock" 2>/dev/null; do sleep 0.005; done
  n=$(( $(cat "$d/count" 2>/dev/null || echo 0) + 1 ))
  echo $n > "$d/count"
  rmdir "$d/count.lock"
  if [ "$n" = "$LANES_FAULT_AT" ]; then
    if [ "$LANES_FAULT_WHEN" = before ]; then
      kill_cli "$@" && exit 137
    else
      "$real" "$@"
      rc=$?
      kill_cli "$@"
      exit $rc
    fi
  fi
fi
exec "$real" "$@"
`;
  writeFileSync(path.join(dir, 'git'), script, { mode: 0o755 });
  return dir;
}

export interface KillAt {
  sub: string;
  /** The k-th call of `sub` (1-based), counted over the whole process tree of the CLI. */
  k: number;
  when: 'before' | 'after';
}

/** The environment for a CLI run through the shim; `faultDir` gets calls.log, count, killed. */
export function shimEnv(shim: string, faultDir: string, o: { killAt?: KillAt; log?: boolean } = {}): NodeJS.ProcessEnv {
  mkdirSync(faultDir, { recursive: true });
  return {
    PATH: `${shim}:${process.env.PATH}`,
    LANES_FAULT_DIR: faultDir,
    LANES_FAULT_LOG: o.log ? '1' : '',
    LANES_FAULT_SUB: o.killAt?.sub ?? '',
    LANES_FAULT_AT: o.killAt ? String(o.killAt.k) : '',
    LANES_FAULT_WHEN: o.killAt?.when ?? '',
  };
}

export interface GitCall {
  ms: number;
  args: string;
  sub: string;
}

/** The calls the shim logged, in order. */
export function loggedCalls(faultDir: string): GitCall[] {
  const f = path.join(faultDir, 'calls.log');
  if (!existsSync(f)) return [];
  return readFileSync(f, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [ms, args = ''] = l.split('\t');
      return { ms: Number(ms), args, sub: args.split(' ')[0]! };
    });
}

/** The k-th occurrence (1-based) of each call's subcommand: what the shim counts. */
export function withOrdinals(calls: GitCall[]): (GitCall & { k: number })[] {
  const seen = new Map<string, number>();
  return calls.map((c) => {
    const k = (seen.get(c.sub) ?? 0) + 1;
    seen.set(c.sub, k);
    return { ...c, k };
  });
}

// ——— the CLI as a process ———

export interface Spawned {
  child: ChildProcess;
  pid: number;
  started: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  out(): string;
}

/** `node dist/cli.js ARGS` in the background. */
export function spawnCli(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  let out = '';
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal, ms: Date.now() - started })),
  );
  return { child, pid: child.pid!, started, exited, out: () => out };
}

export interface CliResult {
  /** When it was spawned (Date.now()). */
  started: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  ms: number;
}

/** `node dist/cli.js ARGS` to its end (stdout and stderr together, in order). */
export async function runCli(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}, pids?: number[]): Promise<CliResult> {
  const s = spawnCli(cwd, args, env);
  pids?.push(s.pid);
  const e = await s.exited;
  return { ...e, started: s.started, out: s.out() };
}

// ——— a byte-exact picture of a checkout ———

export interface Picture {
  /** Every file and symlink under the checkout but .git: mode and bytes (base64). */
  files: Record<string, string>;
  /** The index, entry by entry (mode, blob, stage, path). */
  index: string;
  /** What is staged, as git shows it (blob ids are content hashes: comparable across repos). */
  cached: string;
  /** Tracked changes, untracked and ignored files, as git sees them. */
  status: string;
}

function git(dir: string, args: string[]): string {
  return execFileSync(REAL_GIT, args, { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

export function picture(dir: string): Picture {
  const files: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const abs = path.join(d, name);
      const rel = path.relative(dir, abs);
      if (rel === '.git') continue;
      const st = lstatSync(abs);
      if (st.isDirectory()) {
        files[`${rel}/`] = 'dir';
        walk(abs);
      } else if (st.isSymbolicLink()) files[rel] = `link:${readlinkSync(abs)}`;
      else files[rel] = `${(st.mode & 0o777).toString(8)}:${readFileSync(abs).toString('base64')}`;
    }
  };
  walk(dir);
  return {
    files,
    index: git(dir, ['ls-files', '-s']),
    cached: git(dir, ['diff', '--cached', '--binary', '--full-index', '--no-renames']),
    status: git(dir, ['status', '--porcelain=v1', '--untracked-files=all', '--ignored']),
  };
}

/** How two pictures differ, one line per difference (empty: identical). */
export function pictureDiff(a: Picture, b: Picture): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(a.files), ...Object.keys(b.files)])) {
    if (a.files[k] === b.files[k]) continue;
    out.push(a.files[k] === undefined ? `+ ${k}` : b.files[k] === undefined ? `- ${k}` : `~ ${k}`);
  }
  for (const key of ['index', 'cached', 'status'] as const) if (a[key] !== b[key]) out.push(`${key} differs`);
  return out.sort();
}

export const samePicture = (a: Picture, b: Picture): boolean => pictureDiff(a, b).length === 0;

// ——— refs and commits ———

/** Every commit reachable from a ref (for-each-ref: branches, refs/lanes/…, tags). */
export function reachableFromRefs(dir: string): Set<string> {
  const tips = git(dir, ['for-each-ref', '--format=%(objectname) %(objecttype)'])
    .split('\n')
    .filter((l) => l.endsWith(' commit'))
    .map((l) => l.split(' ')[0]);
  const out = execFileSync(REAL_GIT, ['rev-list', '--stdin'], { cwd: dir, input: tips.join('\n') + '\n', encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return new Set(out.split('\n').filter(Boolean));
}

export interface LaneCommit {
  sha: string;
  run: string;
  lane: string;
  attempt: string;
}

/** Commits carrying a Lanes-Lane trailer anywhere in the repository (refs and worktree HEADs). */
export function laneCommits(dir: string): LaneCommit[] {
  const fmt = '%H%x1f%(trailers:key=Lanes-Run,valueonly,separator=%x2C)%x1f%(trailers:key=Lanes-Lane,valueonly,separator=%x2C)%x1f%(trailers:key=Lanes-Attempt,valueonly,separator=%x2C)%x1e';
  return git(dir, ['log', '--all', `--format=${fmt}`])
    .split('\x1e')
    .map((r) => r.trim())
    .filter(Boolean)
    .map((r) => {
      const [sha, run, lane, attempt] = r.split('\x1f').map((x) => x.trim());
      return { sha: sha!, run: run!, lane: lane!, attempt: attempt! };
    })
    .filter((c) => c.lane);
}

// ——— processes ———

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Live processes (not this one) whose command line mentions one of `markers`, whose working
 * folder is inside one of `dirs`, or whose PID is one of `pids` (the CLIs we spawned).
 */
export function strayProcesses(o: { markers?: string[]; dirs?: string[]; pids?: number[] }): string[] {
  const found: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid || !alive(pid)) continue;
    let cmd = '';
    let cwd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    } catch {
      continue;
    }
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      /* another user's, or gone */
    }
    const hit =
      o.pids?.includes(pid) ||
      o.markers?.some((m) => cmd.includes(m)) ||
      o.dirs?.some((d) => cwd === d || cwd.startsWith(d + '/'));
    if (hit) found.push(`${pid} (cwd ${cwd}): ${cmd.slice(0, 300)}`);
  }
  return found;
}

/** Wait until no such process is left; the ones still there after `ms` are returned. */
export async function waitForNoStrays(o: Parameters<typeof strayProcesses>[0], ms: number): Promise<string[]> {
  const end = Date.now() + ms;
  for (;;) {
    const left = strayProcesses(o);
    if (!left.length || Date.now() > end) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ——— timing ———

/** Per-iteration timings, printed as a summary at the end of a file. */
export class Timings {
  private rows: { label: string; parts: Record<string, number> }[] = [];

  add(label: string, parts: Record<string, number>): void {
    this.rows.push({ label, parts });
  }

  summary(title: string): string {
    const keys = [...new Set(this.rows.flatMap((r) => Object.keys(r.parts)))];
    const stat = (k: string) => {
      const xs = this.rows.map((r) => r.parts[k]).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
      if (!xs.length) return `${k}: -`;
      return `${k}: min ${xs[0]} / median ${xs[Math.floor(xs.length / 2)]} / max ${xs[xs.length - 1]} ms`;
    };
    const lines = this.rows.map((r) => `  ${r.label}  ${Object.entries(r.parts).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    return [`${title} (${this.rows.length} iterations)`, ...lines, ...keys.map((k) => `  ${stat(k)}`)].join('\n');
  }
}
