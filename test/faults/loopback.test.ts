/**
 * A loop-back cut off by kill -9: `lanes run` dies while the implementer, sent back with a test
 * lane's finding, works on it. `lanes run --resume` finishes the loop: the implementer runs again
 * with the finding in its brief (the feedback held in memory died with the process; the finding
 * did not), the finder runs again on top, no loop-back is counted twice, every lane commit is
 * reachable, and no process of the run is left.
 */
import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { writePlan } from '../helpers/engine';
import { createTempRepo, tempDir } from '../helpers/repo';
import { ensureBuilt, laneCommits, reachableFromRefs, runCli, spawnCli, waitForNoStrays } from './helpers/faults';

const AGENT = path.resolve(__dirname, '../fixtures/agents/agent.js');
const BUGGY = 'module.exports = function range(n) { return Array.from({ length: n - 1 }, (_, i) => i); };';
const FIXED = 'module.exports = function range(n) { return Array.from({ length: n }, (_, i) => i); };';
const TEST = "const test = require('node:test'); const assert = require('node:assert'); const range = require('../src/range'); test('range(3) has 3 items', () => assert.strictEqual(range(3).length, 3));";

interface StateFile {
  runId: string;
  lanes: { id: string; status: string; attempts: { briefFile: string }[] }[];
  findings: { id: string; status: string }[];
  loopBacks: { sent: boolean }[];
}

describe('faults: a loop-back interrupted by kill -9', function () {
  this.timeout(120000);
  before(ensureBuilt);

  it('the resume finishes the loop: the finding reaches the implementer again, nothing counted twice, nothing left running', async () => {
    const repo = createTempRepo({ 'README.md': '# x\n', 'test/smoke.test.js': "require('node:test')('smoke', () => {});\n" });
    const marker = `loopback-kill-${process.pid}`;
    writePlan(repo, [
      { id: 'impl', agent: { command: ['node', AGENT, `write-first=src/range.js:${BUGGY}`, `write-later=src/range.js:${FIXED}`, 'sleep-later=4000', `write=notes/${marker}.txt:x`] }, retries: 2 },
      { id: 'tests', dependsOn: ['impl'], agent: { command: ['node', AGENT, `write=test/range.test.js:${TEST}`, 'find-if-fails=impl:node --test test/'] }, verify: ['node', '--test', 'test/'] },
    ]);
    const wt = tempDir('lanes-wt-');
    const runs = path.join(repo.dir, '.git/lanes/runs');
    const state = (): StateFile | undefined => {
      try {
        const id = readdirSync(runs).filter((n) => /^\d{8}-/.test(n)).sort().pop();
        return id ? (JSON.parse(readFileSync(path.join(runs, id, 'state.json'), 'utf8')) as StateFile) : undefined;
      } catch {
        return undefined; // between writes
      }
    };
    const cli = spawnCli(repo.dir, ['run', '--worktree-root', wt]);
    // Kill once impl's second attempt (the loop-back) is under way.
    const end = Date.now() + 60000;
    for (;;) {
      const s = state();
      const impl = s?.lanes.find((l) => l.id === 'impl');
      if (impl?.status === 'running' && impl.attempts.length === 2) break;
      if (Date.now() > end) throw new Error(`the loop-back never started:\n${cli.out()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    cli.child.kill('SIGKILL');
    await cli.exited;
    const before = state()!;
    assert.deepEqual(before.findings.map((f) => [f.id, f.status]), [['F1', 'sent']]);

    // The orphaned agent is sleeping in its loop-back; the resume stops it and runs it again.
    const resumed = await runCli(repo.dir, ['run', '--resume']);
    assert.equal(resumed.code, 0, resumed.out);
    const after = state()!;
    assert.deepEqual(after.lanes.map((l) => [l.id, l.status]), [['impl', 'passed'], ['tests', 'passed']], resumed.out);
    assert.deepEqual(after.findings.map((f) => [f.id, f.status]), [['F1', 'addressed']]);
    assert.deepEqual(after.loopBacks.map((x) => x.sent), [true], 'the loop-back is not counted again');
    const impl = after.lanes.find((l) => l.id === 'impl')!;
    const brief = readFileSync(impl.attempts[impl.attempts.length - 1]!.briefFile, 'utf8');
    assert.match(brief, /## Findings for you[\s\S]*F1 tests → impl \(bug, blocking, sent\)/);
    assert.match(brief, /range\(3\) has 3 items/);

    const reachable = reachableFromRefs(repo.dir);
    for (const c of laneCommits(repo.dir)) assert.ok(reachable.has(c.sha), `lane commit ${c.sha} (${c.lane}) is reachable`);
    assert.deepEqual(await waitForNoStrays({ markers: [marker], dirs: [wt] }, 5000), []);
  });
});
