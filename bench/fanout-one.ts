/**
 * One fan-out, for timing a whole process from outside (e.g. with hyperfine or /usr/bin/time):
 *   npx tsx bench/fanout-one.ts --repo=DIR --mode=ours|raw-par [--lanes=8]
 * Prepare DIR once with: npx tsx bench/fanout-one.ts --make-repo=DIR [--files=5000]
 * Each call creates new branches and worktrees (in a new temp folder), so calls can repeat; these
 * folders are kept (removing them would be timed too): delete them with the repository.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Orchestrator } from '../src/core/run/orchestrator';
import { git, gitEnv, makeRepo, tmp } from './common';

const opt = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];

async function main() {
  if (opt('make-repo')) {
    const made = makeRepo(Number(opt('files') ?? 5000), true);
    console.log(made);
    return;
  }
  const repo = path.resolve(opt('repo')!);
  const n = Number(opt('lanes') ?? 8);
  const tag = Math.random().toString(16).slice(2, 8);
  if (opt('mode') === 'raw-par') {
    const base = git(repo, 'rev-parse', 'HEAD');
    const root = tmp('lanes-bench-rawp-', true);
    const codes = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        new Promise<number>((resolve) => {
          const c = spawn('git', ['worktree', 'add', '-q', '--no-track', '-b', `rawp/${tag}/l${i}`, path.join(root, `l${i}`), base], { cwd: repo, env: gitEnv, stdio: 'ignore' });
          c.on('exit', (code) => resolve(code ?? 1));
        }),
      ),
    );
    if (codes.some((c) => c !== 0)) process.exitCode = 1;
    return;
  }
  const plan = { version: 1, goal: 'bench', maxParallel: n, lanes: Array.from({ length: n }, (_, i) => ({ id: `l${i}`, brief: 'noop', agent: { command: ['true'] } })) };
  mkdirSync(path.join(repo, '.lanes'), { recursive: true });
  writeFileSync(path.join(repo, '.lanes/plan.json'), JSON.stringify(plan));
  const o = await Orchestrator.prepare({ cwd: repo, worktreeRoot: tmp('lanes-bench-ours-', true) });
  await o.run();
}

void main();
