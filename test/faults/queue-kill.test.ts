/**
 * kill -9 of a queue worker at chosen git steps (the PATH shim for git kills the `lanes worker`
 * above it): before or after a claim's push, the integration lock's, the integration branch's,
 * the done record's. Then a second worker finishes the queue. After every fault: every task is
 * done exactly once, nothing is left claimed or locked, every integration commit is on the
 * remote's integration branch, the branch passes the whole suite, and no process is left.
 */
import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { seedQueue } from '../../src/core/queue/queue';
import { QueueSchema } from '../../src/core/queue/schema';
import { QueueStore } from '../../src/core/queue/store';
import { createTempRepo, sh, tempDir } from '../helpers/repo';
import { CLI, ensureBuilt, KillAt, makeGitShim, shimEnv, waitForNoStrays } from './helpers/faults';

const AGENT = String.raw`
const fs = require('fs');
const brief = fs.readFileSync(process.env.LANES_BRIEF_FILE, 'utf8');
const m = /test\/(m\d+)\.test\.js/.exec(brief);
if (!m) process.exit(3);
fs.writeFileSync('src/' + m[1] + '.js', "module.exports.f = (x) => x * 2;\n");
`;

function sample() {
  const files: Record<string, string> = { 'package.json': '{"name":"q","private":true}\n', '.queue-agent.js': AGENT, 'test/ok.test.js': "require('node:test')('ok', () => {});\n" };
  for (let i = 1; i <= 3; i++) {
    files[`src/m${i}.js`] = 'module.exports.f = (x) => x * 3;\n';
    files[`test/m${i}.test.js`] = `const test = require('node:test'); const assert = require('node:assert'); const { f } = require('../src/m${i}');\ntest('m${i} doubles', () => assert.strictEqual(f(${i}), ${2 * i}));\n`;
  }
  files['.lanes/queue.json'] = JSON.stringify({
    version: 1,
    goal: 'Make every test pass',
    sources: [{ tests: ['node', '--test', '--test-reporter=tap', 'test/'], format: 'tap' }],
    agent: { command: ['node', '.queue-agent.js'] },
    gate: { command: ['node', '--test', '--test-reporter=tap', 'test/'], format: 'tap' },
    claimTtlSeconds: 3,
  });
  return createTempRepo(files);
}

function worker(remote: string, dir: string, queue: string, id: string, env: NodeJS.ProcessEnv = {}) {
  let out = '';
  const child = spawn(process.execPath, [CLI, 'worker', '--remote', remote, '--dir', dir, '--queue', queue, '--id', id], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { out: () => out, exited: new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal }))) };
}

const POINTS: KillAt[] = [
  { sub: 'push', k: 1, when: 'after' }, // the claim is on the remote; its worker is gone
  { sub: 'push', k: 2, when: 'before' },
  { sub: 'push', k: 2, when: 'after' }, // holding the integration lock (or a renewal)
  { sub: 'push', k: 3, when: 'after' }, // the integration branch moved; the done record never written
  { sub: 'commit-tree', k: 2, when: 'after' },
  { sub: 'worktree', k: 2, when: 'before' },
];

describe('faults: kill -9 of a queue worker at a chosen git step', function () {
  this.timeout(180000);
  before(ensureBuilt);
  const shim = makeGitShim();

  for (const at of POINTS) {
    it(`killed ${at.when} its ${at.sub} #${at.k}: another worker finishes the queue, nothing lost or done twice`, async () => {
      const repo = sample();
      const remote = path.join(tempDir('lanes-remote-'), 'app.git');
      sh(repo.dir, ['clone', '--quiet', '--bare', repo.dir, remote]);
      const queue = path.join(repo.dir, '.lanes/queue.json');
      await seedQueue({ repo: repo.dir, remote, queue: QueueSchema.parse(JSON.parse(readFileSync(queue, 'utf8'))) });
      const faultDir = tempDir('lanes-fault-');
      const scratch = tempDir();
      const doomed = worker(remote, path.join(scratch, 'doomed'), queue, 'doomed', shimEnv(shim, faultDir, { killAt: at }));
      const first = await doomed.exited;
      const killed = existsSync(path.join(faultDir, 'killed'));
      assert.ok(killed || first.code === 0, `the worker was killed at the step, or finished before reaching it: ${doomed.out()}`);
      const rescue = worker(remote, path.join(scratch, 'rescue'), queue, 'rescue');
      const r = await rescue.exited;
      assert.equal(r.code, 0, doomed.out() + '\n----\n' + rescue.out());
      const s = await new QueueStore(repo.dir, remote).read();
      assert.equal(s.done.size, 3, JSON.stringify([...s.done.values()].map((d) => [d.task, d.how])));
      assert.equal(s.locks.size, 0, 'nothing left claimed');
      assert.equal(s.integrationLock, undefined, 'the integration lock is not left held');
      // Every integration the done records name is on the branch; the branch passes the suite.
      const check = path.join(tempDir(), 'check');
      sh(scratch, ['clone', '--quiet', '--branch', 'lanes-queue/integration', remote, check]);
      for (const d of s.done.values()) if (d.commit) assert.equal(sh(check, ['merge-base', '--is-ancestor', d.commit, 'HEAD']), '', `${d.task}'s commit is on the branch`);
      assert.match(execFileSync('node', ['--test', '--test-reporter=tap', 'test/'], { cwd: check, encoding: 'utf8' }), /# fail 0/);
      if (killed) assert.match(rescue.out(), /reclaimed|recheck|claimed/);
      assert.deepEqual(await waitForNoStrays({ dirs: [path.join(scratch, 'doomed')] }, 5000), []);
    });
  }
});
