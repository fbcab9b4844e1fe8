/**
 * Reconcile benchmark: K = 3, 8 and 16 lanes of ~20 changed files each (neighbouring lanes share
 * a few files), on a repository of ~5,000 files. Our conflict radar and our merge queue (verify
 * a no-op) against the raw git commands doing the same merges, in the same run.
 *
 *   npx tsx bench/reconcile.ts [--files=5000] [--rounds=3]
 *
 * raw radar = `git merge-tree --write-tree` for every pair of lane heads, one after another.
 * raw queue = for each lane in order: `git merge-tree --write-tree <integrated> <lane>` and, when
 *             clean, `git commit-tree` (what the queue must do at least), one after another.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { MergeQueue } from '../src/core/reconcile/queue';
import { conflictRadar } from '../src/core/reconcile/radar';
import type { Plan } from '../src/core/plan/schema';
import type { RunState } from '../src/core/run/state';
import { arg, git, gitEnv, makeRepo, median, rm, time } from './common';

function makeLanes(repo: string, k: number): { id: string; head: string }[] {
  const base = git(repo, 'rev-parse', 'HEAD');
  const lanes: { id: string; head: string }[] = [];
  for (let i = 0; i < k; i++) {
    git(repo, 'checkout', '-q', '-b', `lanes/bench-${k}/lane${i}`, base);
    // 20 files per lane; lane i and i+1 share 4 files (they change different lines of them).
    for (let f = 0; f < 20; f++) {
      const n = i * 16 + f;
      const file = path.join(repo, 'src', `m${Math.floor(n / 100)}`, `f${n}.ts`);
      // The first lane of a shared file changes its first line, the next lane its last line.
      const lines = [`export const v${n} = ${n};`, '// line two', '// line three'];
      if (f < 4) lines[2] = `// line three, changed by lane ${i}`;
      else lines[0] = `export const v${n} = ${n}; // changed by lane ${i}`;
      writeFileSync(file, lines.join('\n') + '\n');
    }
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', `lane ${i}`);
    lanes.push({ id: `lane${i}`, head: git(repo, 'rev-parse', 'HEAD') });
  }
  git(repo, 'checkout', '-q', 'main');
  return lanes;
}

function rawRadar(repo: string, heads: string[]): void {
  for (let i = 0; i < heads.length; i++) {
    for (let j = i + 1; j < heads.length; j++) spawnSync('git', ['merge-tree', '--write-tree', '--name-only', heads[i]!, heads[j]!], { cwd: repo, env: gitEnv });
  }
}

function rawQueue(repo: string, base: string, heads: string[]): void {
  let cur = base;
  for (const h of heads) {
    const r = spawnSync('git', ['merge-tree', '--write-tree', '--name-only', cur, h], { cwd: repo, env: gitEnv, encoding: 'utf8' });
    if (r.status !== 0) continue;
    cur = execFileSync('git', ['commit-tree', r.stdout.split('\n')[0]!, '-p', cur, '-p', h, '-m', 'merge'], { cwd: repo, env: gitEnv, encoding: 'utf8' }).trim();
  }
}

async function main() {
  const files = arg('files', 5000);
  const rounds = arg('rounds', 3);
  const repo = makeRepo(files);
  const base = git(repo, 'rev-parse', 'HEAD');
  console.log(`reconcile: repository of ${files} files, lanes of 20 changed files (neighbours share 4), ${rounds} rounds, medians (ms)`);
  console.log('lanes  pairs  raw-radar  our-radar  ratio   raw-queue  our-queue  ratio   conflicts');
  for (const k of [3, 8, 16]) {
    const lanes = makeLanes(repo, k).map((l) => ({ ...l, base }));
    const state = {
      stateVersion: 1,
      runId: `bench-${k}`,
      repoRoot: repo,
      planFile: '',
      planHash: '',
      planText: '',
      baseCommit: base,
      worktreeRoot: repo,
      maxParallel: k,
      status: 'finished',
      startedAt: '',
      warnings: [],
      lanes: lanes.map((l, i) => ({ id: l.id, status: 'passed', branch: `lanes/bench-${k}/lane${i}`, worktree: '', base, head: l.head, busyMs: 0, attempts: [], warnings: [], portBase: 0 })),
    } as unknown as RunState;
    const plan: Plan = { version: 1, goal: 'bench', verify: 'true', lanes: lanes.map((l) => ({ id: l.id, brief: 'x' })) };
    const rr: number[] = [];
    const or: number[] = [];
    const rq: number[] = [];
    const oq: number[] = [];
    let conflicts = 0;
    for (let r = 0; r < rounds; r++) {
      rr.push(await time(() => rawRadar(repo, lanes.map((l) => l.head))));
      or.push(await time(async () => void (conflicts = (await conflictRadar(repo, lanes)).pairs.filter((p) => p.kind === 'conflict').length)));
      rq.push(await time(() => rawQueue(repo, base, lanes.map((l) => l.head))));
      // Verify is a no-op here; the queue's integration worktree is made on first use.
      oq.push(await time(async () => void (await new MergeQueue({ repo, commonDir: path.join(repo, '.git'), state, plan: { ...plan, verify: undefined } }).run())));
    }
    const f = (x: number) => x.toFixed(0).padStart(9);
    console.log(
      `${String(k).padStart(5)}  ${String((k * (k - 1)) / 2).padStart(5)}  ${f(median(rr))}  ${f(median(or))}  ${(median(or) / median(rr)).toFixed(2).padStart(5)}×  ${f(median(rq))}  ${f(median(oq))}  ${(median(oq) / median(rq)).toFixed(2).padStart(5)}×  ${conflicts}`,
    );
  }
  console.log('targets: ours ≤ 1.3× the raw git floor; the radar for 16 lanes under 1 s');
  rm(repo);
}

void main();
