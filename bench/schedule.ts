/**
 * Scheduling benchmark: 8 lanes whose agent sleeps 2 s (`sh -c "sleep 2 && echo done > out"`),
 * maxParallel 8.
 * The ideal wall time is one agent's time (2 s: every lane runs at once); the ratio shows what
 * worktrees, briefs, commits, state writes and scheduling add on top.
 *
 *   npx tsx bench/schedule.ts [--lanes=8] [--sleep=2000] [--rounds=3] [--files=200]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Orchestrator } from '../src/core/run/orchestrator';
import { arg, makeRepo, median, rm, time, tmp } from './common';

async function main() {
  const n = arg('lanes', 8);
  const sleepMs = arg('sleep', 2000);
  const rounds = arg('rounds', 3);
  const files = arg('files', 200);
  const walls: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const repo = makeRepo(files);
    const plan = {
      version: 1,
      goal: 'bench',
      maxParallel: n,
      lanes: Array.from({ length: n }, (_, i) => ({
        id: `l${i}`,
        brief: 'sleep then write',
        // The agent sleeps, then leaves one file (a lane that changes nothing does not pass).
        agent: { command: ['sh', '-c', `sleep ${sleepMs / 1000} && echo done > out-${i}.txt`] },
      })),
    };
    mkdirSync(path.join(repo, '.lanes'), { recursive: true });
    writeFileSync(path.join(repo, '.lanes/plan.json'), JSON.stringify(plan));
    let passed = 0;
    walls.push(
      await time(async () => {
        const o = await Orchestrator.prepare({ cwd: repo, worktreeRoot: tmp('lanes-bench-sched-') });
        passed = (await o.run()).lanes.filter((l) => l.status === 'passed').length;
      }),
    );
    if (passed !== n) throw new Error(`only ${passed}/${n} lanes passed`);
    rm(repo);
  }
  const wall = median(walls);
  console.log(`scheduling: ${n} lanes × ${sleepMs} ms agent, maxParallel ${n}, repository of ${files} files, ${rounds} rounds`);
  console.log(`wall ${wall.toFixed(0)} ms (median; runs ${walls.map((w) => w.toFixed(0)).join(', ')}), ideal ${sleepMs} ms, ratio ${(wall / sleepMs).toFixed(2)}×  (target ≤ 1.1×)`);
}

void main();
