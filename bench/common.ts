/** Shared helpers for benchmarks: temp repos of a given size, timing, medians. Public tools only. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const gitEnv = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'bench',
  GIT_AUTHOR_EMAIL: 'bench@x',
  GIT_COMMITTER_NAME: 'bench',
  GIT_COMMITTER_EMAIL: 'bench@x',
};

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: gitEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Temp folders of this process, removed when it exits (a fan-out run leaves gigabytes). */
const created: string[] = [];
process.on('exit', () => {
  if (process.env.LANES_BENCH_KEEP) return;
  for (const d of created) rmSync(d, { recursive: true, force: true, maxRetries: 3 });
});

/** A new temp folder; removed at exit unless `keep` (a repo other processes use). */
export function tmp(prefix: string, keep = false): string {
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), prefix)));
  if (!keep) created.push(dir);
  return dir;
}

/** A repository with `files` files of a few lines each, spread over folders of 100. */
export function makeRepo(files: number, keep = false): string {
  const dir = tmp('lanes-bench-repo-', keep);
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'config', 'gc.auto', '0');
  for (let i = 0; i < files; i++) {
    const d = path.join(dir, 'src', `m${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(d, { recursive: true });
    writeFileSync(path.join(d, `f${i}.ts`), `export const v${i} = ${i};\n// line two\n// line three\n`);
  }
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'base');
  // Flush the writes now so their writeback does not land in the middle of a measurement.
  execFileSync('sync');
  return dir;
}

export function rm(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export async function time(fn: () => Promise<void> | void): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

export function arg(name: string, def: number): number {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : def;
}
