/**
 * Git-process count of a run (issue 15, "Scale"): every git process `lanes run` starts for 8, 16
 * and 32 lanes whose agent writes one file, on a repository of 5,000 files, against the floor.
 *
 *   npx tsx bench/gitcount.ts [--quick] [--files=5000] [--lanes=8,16,32]
 *
 * --quick runs 8 and 16 lanes only. The bench rebuilds dist/ first if it is older than src/.
 *
 * modes      shared    every lane writes the same tracked file (src/m0/f0.ts), each with its own
 *                      content: every pair intersects (and conflicts)
 *            disjoint  lane i writes its own tracked file (src/m<i>/f<i*100>.ts): no pair intersects
 * ours       `node dist/cli.js run --json` on a plan of N lanes (`isolation: "none"`, maxParallel N,
 *            no verify, worktrees under a temp folder); the agent is a tiny node script.
 * floor      3 per lane (worktree add, add, commit) + one merge per distinct intersecting pair
 *            (pairs of lanes whose changed paths intersect, counted from the run's own heads).
 * target     ours ≤ floor + 2 per lane.
 * raw        the floor done with plain git in the same run, on a fresh repository of the same
 *            size, one lane after another: `worktree add -b`, write the file, `add`, `commit`,
 *            then `merge-tree --write-tree` per intersecting pair. Timed against ours.
 *
 * Counts: every git process comes through a sh shim first on PATH that appends its folder and
 * arguments to a log, then execs git. Both sides run through it (its cost is on both). git's own
 * helpers (the checkout inside `worktree add`) run from git's exec path and are counted on
 * neither side. The live radar's calls are `diff --name-only`, `merge-tree` and `merge-base`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { git, gitEnv, makeRepo, rm, time, tmp } from './common';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const quick = process.argv.includes('--quick');
const argOf = (name: string, def: string) => (process.argv.find((a) => a.startsWith(`--${name}=`)) ?? `--${name}=${def}`).split('=')[1]!;
const FILES = Number(argOf('files', '5000'));
const LANES = argOf('lanes', quick ? '8,16' : '8,16,32').split(',').map(Number);
const MODES = ['shared', 'disjoint'] as const;
type Mode = (typeof MODES)[number];

const REAL_GIT = (() => {
  for (const d of (process.env.PATH ?? '').split(':')) if (d && existsSync(path.join(d, 'git'))) return path.join(d, 'git');
  return '/usr/bin/git';
})();

/** Logs "<cwd>\t<args>" and execs git; without $GC_GIT_LOG it is git. */
function makeShim(): string {
  const dir = tmp('lanes-bench-gitcount-shim-');
  writeFileSync(
    path.join(dir, 'git'),
    `#!/bin/sh
[ -z "$GC_GIT_LOG" ] || printf '%s\\t%s\\n' "$PWD" "$*" | tr -d '\\r' >> "$GC_GIT_LOG"
exec ${REAL_GIT} "$@"
`,
    { mode: 0o755 },
  );
  return dir;
}

/** The file lane `i` writes. */
const fileOf = (mode: Mode, i: number) => (mode === 'shared' ? 'src/m0/f0.ts' : `src/m${i}/f${i * 100}.ts`);

const AGENT = `const fs = require('fs');
const [lane, file] = process.argv.slice(2);
fs.writeFileSync(file, 'export const lane = ' + JSON.stringify(lane) + ';\\n');
`;

interface Call {
  cwd: string;
  args: string[];
  sub: string;
}

/** The subcommand: the first argument that is not a global option (or its value). */
function subOf(args: string[]): string {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-C' || a === '-c' || a === '--git-dir' || a === '--work-tree' || a === '--namespace') i++;
    else if (!a.startsWith('-')) return a;
  }
  return '?';
}

function readCalls(file: string): Call[] {
  if (!existsSync(file)) return [];
  // Commit messages can span lines: a record starts with an absolute folder and a tab.
  const out: Call[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(\/[^\t]*)\t(.*)$/.exec(line);
    if (!m) continue;
    const args = m[2]!.split(' ');
    out.push({ cwd: m[1]!, args, sub: subOf(args) });
  }
  return out;
}

const isRadar = (c: Call) => c.sub === 'merge-tree' || c.sub === 'merge-base' || (c.sub === 'diff' && c.args.includes('--name-only'));

/** A name for the table: the subcommand, with the first option that tells calls apart. */
function labelOf(c: Call): string {
  if (c.sub === 'worktree' || c.sub === 'stash') return `${c.sub} ${c.args[c.args.indexOf(c.sub) + 1] ?? ''}`.trim();
  if (c.sub === 'diff' && c.args.includes('--name-only')) return 'diff --name-only';
  if (c.sub === 'merge-base' && c.args.includes('--is-ancestor')) return 'merge-base --is-ancestor';
  return c.sub;
}

function srcNewerThan(dir: string, t: number): boolean {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() ? srcNewerThan(p, t) : statSync(p).mtimeMs > t) return true;
  }
  return false;
}

function ensureBuilt(): void {
  if (existsSync(CLI) && !srcNewerThan(path.join(ROOT, 'src'), statSync(CLI).mtimeMs)) return;
  console.log('building dist/ (older than src/)…');
  const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('npm run build failed');
}

interface LaneOut {
  id: string;
  status: string;
  base?: string;
  head?: string;
}

function runCli(repo: string, env: NodeJS.ProcessEnv, worktreeRoot: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, 'run', '--plan', '.lanes/plan.json', '--worktree-root', worktreeRoot, '--json'], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('error', reject);
    c.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** Pairs of lanes whose changed paths intersect, once per distinct pair of heads. */
function intersectingPairs(repo: string, lanes: LaneOut[]): number {
  const touched = lanes.map((l) => new Set(l.head && l.base && l.head !== l.base ? git(repo, 'diff', '--name-only', '--no-renames', l.base, l.head).split('\n').filter(Boolean) : []));
  const seen = new Set<string>();
  for (let i = 0; i < lanes.length; i++) {
    for (let j = i + 1; j < lanes.length; j++) {
      if (![...touched[i]!].some((p) => touched[j]!.has(p))) continue;
      const [a, b] = [lanes[i]!.head!, lanes[j]!.head!].sort();
      seen.add(`${a}|${b}`);
    }
  }
  return seen.size;
}

interface Row {
  n: number;
  mode: Mode;
  total: number;
  radar: number;
  outside: number;
  pairs: number;
  mergeTree: number;
  floor: number;
  oursMs: number;
  rawMs: number;
  rawLanesMs: number;
  rawCalls: number;
  bySub: Map<string, { radar: boolean; count: number }>;
}

async function ours(n: number, mode: Mode, shim: string, agentJs: string): Promise<Omit<Row, 'rawMs' | 'rawLanesMs' | 'rawCalls'>> {
  const repo = makeRepo(FILES);
  const plan = {
    version: 1,
    goal: 'gitcount bench',
    maxParallel: n,
    isolation: 'none',
    lanes: Array.from({ length: n }, (_, i) => ({ id: `l${i}`, brief: 'write one file', agent: { command: ['node', agentJs, `l${i}`, fileOf(mode, i)] } })),
  };
  mkdirSync(path.join(repo, '.lanes'), { recursive: true });
  writeFileSync(path.join(repo, '.lanes/plan.json'), JSON.stringify(plan, null, 2));
  const log = path.join(tmp('lanes-bench-gitcount-log-'), 'git.log');
  const env = { ...process.env, PATH: `${shim}:${process.env.PATH ?? ''}`, GC_GIT_LOG: log };
  let r = { code: 0, stdout: '', stderr: '' };
  const oursMs = await time(async () => void (r = await runCli(repo, env, tmp('lanes-bench-gitcount-wt-'))));
  let state: { lanes: LaneOut[] };
  try {
    state = JSON.parse(r.stdout) as { lanes: LaneOut[] };
  } catch {
    throw new Error(`lanes run printed no JSON (exit ${r.code}):\n${r.stderr.slice(-2000)}`);
  }
  const bad = state.lanes.filter((l) => l.status !== 'passed');
  if (bad.length) throw new Error(`${bad.length} lanes did not pass (${bad.map((l) => `${l.id}: ${l.status}`).join(', ')}):\n${r.stderr.slice(-2000)}`);
  const calls = readCalls(log);
  const bySub = new Map<string, { radar: boolean; count: number }>();
  for (const c of calls) {
    const k = labelOf(c);
    const e = bySub.get(k) ?? { radar: isRadar(c), count: 0 };
    e.count++;
    bySub.set(k, e);
  }
  const radar = calls.filter(isRadar).length;
  const pairs = intersectingPairs(repo, state.lanes);
  rm(repo);
  return {
    n,
    mode,
    total: calls.length,
    radar,
    outside: calls.length - radar,
    pairs,
    mergeTree: calls.filter((c) => c.sub === 'merge-tree').length,
    floor: 3 * n + pairs,
    oursMs,
    bySub,
  };
}

/** The floor with plain git through the same shim: one lane after another, then the merges. */
async function raw(n: number, mode: Mode, shim: string): Promise<{ ms: number; lanesMs: number; calls: number }> {
  const repo = makeRepo(FILES);
  const root = tmp('lanes-bench-gitcount-raw-');
  const log = path.join(tmp('lanes-bench-gitcount-rawlog-'), 'git.log');
  const env = { ...gitEnv, PATH: `${shim}:${process.env.PATH ?? ''}`, GC_GIT_LOG: log };
  const g = (cwd: string, ...args: string[]) => {
    const r = spawnSync('git', args, { cwd, env, encoding: 'utf8' });
    if (r.status !== 0 && !(args[0] === 'merge-tree' && r.status === 1)) throw new Error(`raw git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const base = git(repo, 'rev-parse', 'HEAD');
  const heads: string[] = [];
  let lanesMs = 0;
  const t0 = process.hrtime.bigint();
  const ms = await time(() => {
    for (let i = 0; i < n; i++) {
      const dir = path.join(root, `l${i}`);
      g(repo, 'worktree', 'add', '-q', '--no-track', '-b', `raw/l${i}`, dir, base);
      writeFileSync(path.join(dir, fileOf(mode, i)), `export const lane = "l${i}";\n`);
      g(dir, 'add', '-A');
      g(dir, 'commit', '-q', '-m', `l${i}`);
    }
    lanesMs = Number(process.hrtime.bigint() - t0) / 1e6;
    for (let i = 0; i < n; i++) heads.push(git(repo, 'rev-parse', `raw/l${i}`));
    // The same files in both modes as ours: shared intersects every pair, disjoint none.
    if (mode === 'shared') for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) g(repo, 'merge-tree', '--write-tree', '--name-only', '--no-messages', heads[i]!, heads[j]!);
  });
  const calls = readCalls(log).length;
  rm(repo);
  rm(root);
  return { ms, lanesMs, calls };
}

const pad = (v: string | number, w: number) => String(v).padStart(w);

async function main() {
  ensureBuilt();
  const shim = makeShim();
  const agentJs = path.join(tmp('lanes-bench-gitcount-agent-'), 'agent.js');
  writeFileSync(agentJs, AGENT);
  console.log(`git processes per run: ${LANES.join(', ')} lanes, one file each, repository of ${FILES} files, isolation none`);
  const rows: Row[] = [];
  for (const n of LANES) {
    for (const mode of MODES) {
      // Alternate which side goes first so neither always gets the warmer cache.
      let r: Omit<Row, 'rawMs' | 'rawLanesMs' | 'rawCalls'>;
      let f: { ms: number; lanesMs: number; calls: number };
      if (rows.length % 2 === 0) {
        f = await raw(n, mode, shim);
        r = await ours(n, mode, shim, agentJs);
      } else {
        r = await ours(n, mode, shim, agentJs);
        f = await raw(n, mode, shim);
      }
      rows.push({ ...r, rawMs: f.ms, rawLanesMs: f.lanesMs, rawCalls: f.calls });
      process.stderr.write(`  done: ${n} ${mode}\n`);
    }
  }

  console.log('');
  console.log('lanes  mode      ours  outside-radar  per-lane  floor  ratio  target  over  merge-tree/pairs   ours-ms  raw-ms (lanes, calls)  ms-ratio');
  for (const r of rows) {
    const target = r.floor + 2 * r.n;
    console.log(
      `${pad(r.n, 5)}  ${r.mode.padEnd(8)}  ${pad(r.total, 4)}  ${pad(r.outside, 13)}  ${pad((r.outside / r.n).toFixed(2), 8)}  ${pad(r.floor, 5)}  ${pad((r.total / r.floor).toFixed(2), 4)}×  ${pad(target, 6)}  ${pad(r.total > target ? `+${r.total - target}` : 'no', 4)}  ` +
        `${pad(`${r.mergeTree}/${r.pairs}`, 16)}  ${pad(r.oursMs.toFixed(0), 8)}  ${pad(r.rawMs.toFixed(0), 6)} (${pad(r.rawLanesMs.toFixed(0), 5)}, ${pad(r.rawCalls, 4)})  ${pad((r.oursMs / r.rawMs).toFixed(2), 7)}×`,
    );
  }
  console.log('floor = 3/lane (worktree add, add, commit) + distinct intersecting pairs; target = floor + 2/lane; raw = that floor in plain git, sequential');

  console.log('\nper lane, by subcommand (R = the live radar\'s)');
  const keys = [...new Set(rows.flatMap((r) => [...r.bySub.keys()]))].sort((a, b) => {
    const ra = rows.some((r) => r.bySub.get(a)?.radar) ? 1 : 0;
    const rb = rows.some((r) => r.bySub.get(b)?.radar) ? 1 : 0;
    return ra - rb || a.localeCompare(b);
  });
  const w = Math.max(...keys.map((k) => k.length)) + 2;
  console.log(`${'subcommand'.padEnd(w)}  ${rows.map((r) => `${r.n}${r.mode[0]}`.padStart(7)).join('')}`);
  for (const k of keys) {
    const radar = rows.some((r) => r.bySub.get(k)?.radar);
    console.log(`${(radar ? 'R ' : '  ') + k}`.padEnd(w) + '  ' + rows.map((r) => pad(((r.bySub.get(k)?.count ?? 0) / r.n).toFixed(2), 7)).join(''));
  }
  console.log(`${'  total'.padEnd(w)}  ${rows.map((r) => pad((r.total / r.n).toFixed(2), 7)).join('')}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
