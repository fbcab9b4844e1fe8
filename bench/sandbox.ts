/**
 * What the lane sandbox costs per program a lane starts (agent, verify, setup): our runner with
 * the bubblewrap policy a lane gets, against the same runner without it, against raw `bwrap …
 * true` and raw `true` spawned directly, interleaved in one run. Prints medians and ratios.
 *
 *   npx tsx bench/sandbox.ts [--rounds=60]
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { LocalProcessRunner } from '../src/core/run/runner';
import { bwrapArgv, prepareWritable, sandboxAvailability, SandboxPolicy } from '../src/core/run/sandbox';
import { cleanEnv } from '../src/core/util/proc';
import { median, tmp } from './common';

const rounds = Number((process.argv.find((a) => a.startsWith('--rounds=')) ?? '--rounds=60').split('=')[1]);

async function main(): Promise<void> {
  const a = await sandboxAvailability();
  if (a.kind !== 'bwrap') {
    console.log(`no bubblewrap here (${a.reason}); nothing to measure`);
    return;
  }
  const wt = tmp('lanes-bench-sb-');
  const policy: SandboxPolicy = { kind: 'bwrap', writable: await prepareWritable({ createDirs: [path.join(wt, 'tmp')], writable: [wt] }), network: true, tmpDir: path.join(wt, 'tmp'), tool: a.tool };
  const runner = new LocalProcessRunner();
  const env = cleanEnv();
  const t: Record<string, number[]> = { 'raw true': [], 'raw bwrap true': [], 'runner, no sandbox': [], 'runner, sandbox': [] };
  const time = async (k: string, fn: () => unknown) => {
    const t0 = process.hrtime.bigint();
    await fn();
    t[k]!.push(Number(process.hrtime.bigint() - t0) / 1e6);
  };
  for (let i = 0; i < rounds; i++) {
    await time('raw true', () => spawnSync('true'));
    await time('raw bwrap true', () => spawnSync(bwrapArgv(policy, ['true'], wt, a.tool)[0]!, bwrapArgv(policy, ['true'], wt, a.tool).slice(1)));
    await time('runner, no sandbox', () => runner.run({ argv: ['true'], cwd: wt, env }));
    await time('runner, sandbox', () => runner.run({ argv: ['true'], cwd: wt, env, sandbox: policy }));
  }
  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
  for (const [k, v] of Object.entries(m)) console.log(`${k.padEnd(20)} ${v.toFixed(2)} ms (median of ${rounds})`);
  console.log(`sandbox cost per program: ${(m['runner, sandbox']! - m['runner, no sandbox']!).toFixed(2)} ms; runner+sandbox / raw bwrap: ${(m['runner, sandbox']! / m['raw bwrap true']!).toFixed(2)}×; runner / raw true: ${(m['runner, no sandbox']! / m['raw true']!).toFixed(2)}×`);
}

void main();
