/**
 * Fan-out benchmark: create and start N lanes (no-op agent) on a repository of ~5,000 files,
 * against the raw git commands doing the same work in the same run.
 *
 *   npx tsx bench/fanout.ts [--files=5000] [--rounds=3]
 *
 * raw floor  = for each lane: `git worktree add --no-track -b <branch> <dir> <base>` then start
 *              the agent (`true`) in it, one lane after another (running the adds in parallel
 *              is not a floor: git races on its lock files and some adds fail; that count is
 *              printed too).
 * ours       = `Orchestrator.prepare` + `run` of a plan with N lanes whose agent is `true`
 *              (worktree, brief, agent start, leftover check, state writes; no verify).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Orchestrator } from '../src/core/run/orchestrator';
import { arg, git, gitEnv, makeRepo, median, rm, time, tmp } from './common';

async function rawSequential(repo: string, n: number, round: number): Promise<void> {
  const base = git(repo, 'rev-parse', 'HEAD');
  const root = tmp('lanes-bench-raw-');
  for (let i = 0; i < n; i++) {
    const dir = path.join(root, `l${i}`);
    const r = spawnSync('git', ['worktree', 'add', '-q', '--no-track', '-b', `raw/${round}/l${i}`, dir, base], { cwd: repo, env: gitEnv });
    if (r.status !== 0) throw new Error(`raw worktree add failed: ${r.stderr}`);
    spawnSync('true', [], { cwd: dir });
  }
}

async function rawParallel(repo: string, n: number, round: number): Promise<number> {
  const base = git(repo, 'rev-parse', 'HEAD');
  const root = tmp('lanes-bench-rawp-');
  const codes = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      new Promise<number>((resolve) => {
        const c = spawn('git', ['worktree', 'add', '-q', '--no-track', '-b', `rawp/${round}/l${i}`, path.join(root, `l${i}`), base], { cwd: repo, env: gitEnv, stdio: 'ignore' });
        c.on('exit', (code) => resolve(code ?? 1));
      }),
    ),
  );
  return codes.filter((c) => c !== 0).length;
}

async function ours(repo: string, n: number): Promise<void> {
  const plan = { version: 1, goal: 'bench', maxParallel: n, lanes: Array.from({ length: n }, (_, i) => ({ id: `l${i}`, brief: 'noop', agent: { command: ['true'] } })) };
  mkdirSync(path.join(repo, '.lanes'), { recursive: true });
  writeFileSync(path.join(repo, '.lanes/plan.json'), JSON.stringify(plan));
  const o = await Orchestrator.prepare({ cwd: repo, worktreeRoot: tmp('lanes-bench-ours-') });
  const s = await o.run();
  if (s.lanes.some((l) => !l.attempts.length)) throw new Error('a lane did not start');
}

async function main() {
  const files = arg('files', 5000);
  const rounds = arg('rounds', 3);
  console.log(`fan-out: repository of ${files} files, ${rounds} rounds, medians (ms)`);
  console.log('lanes  raw-seq  raw-par (failed adds)  ours   ours/raw-seq  ours/raw-par');
  for (const n of [8, 16]) {
    const raw: number[] = [];
    const our: number[] = [];
    const par: number[] = [];
    let parFails = 0;
    for (let r = 0; r < rounds; r++) {
      // Fresh repositories each round so no side benefits from the other's warm state.
      const a = makeRepo(files);
      const b = makeRepo(files);
      const c = makeRepo(files);
      if (r % 2 === 0) {
        raw.push(await time(() => rawSequential(a, n, r)));
        our.push(await time(() => ours(b, n)));
      } else {
        our.push(await time(() => ours(b, n)));
        raw.push(await time(() => rawSequential(a, n, r)));
      }
      let fails = 0;
      par.push(await time(async () => void (fails = await rawParallel(c, n, r))));
      parFails += fails;
      for (const d of [a, b, c]) rm(d);
    }
    console.log(
      `${String(n).padStart(5)}  ${median(raw).toFixed(0).padStart(7)}  ${median(par).toFixed(0).padStart(7)} (${parFails}/${n * rounds})`.padEnd(38) +
        `${median(our).toFixed(0).padStart(5)}  ${(median(our) / median(raw)).toFixed(2).padStart(11)}×  ${(median(our) / median(par)).toFixed(2).padStart(11)}×`,
    );
  }
  console.log('target: ours ≤ 1.2× the raw git floor (raw-par is the floor when none of its adds fail, else raw-seq)');
}

void main();
