import * as assert from 'node:assert/strict';
import { BusyError, describeError, storageError } from '../../src/core/errors';
import { GitError } from '../../src/core/git/git';
import { ApplyRefused } from '../../src/core/reconcile/apply';
import { latestOnly } from '../../src/core/util/latest';

describe('error model (pure)', () => {
  it('a git failure reads as the subcommand and git\'s own words, never the whole argv', () => {
    const e = new GitError(['commit-tree', 'abc123', '-p', 'def456', '-F', '-'], 128, 'hint: x\nfatal: not a valid object name abc123\n', '', 'badRef');
    const d = describeError(e);
    assert.equal(d.message, 'git commit-tree failed (exit 128): not a valid object name abc123');
    assert.doesNotMatch(d.message, /def456|-F/);
    assert.match(e.detail, /git commit-tree abc123 -p def456 -F -/, 'the log keeps everything');
  });

  it('a held git lock names the file and what to do', () => {
    const e = new GitError(['add', '-A'], 128, "fatal: Unable to create '/r/.git/index.lock': File exists.\n", '', 'lock');
    assert.match(describeError(e).message, /^git add could not take a lock \(\/r\/\.git\/index\.lock\): another git process .*remove \/r\/\.git\/index\.lock if no git process is running$/);
  });

  it('system errors become sentences; a disk-full write names the file', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const s = storageError(enospc, '/r/.git/lanes/runs/x/state.json', "the run's state");
    assert.equal(describeError(s).message, "could not write the run's state (/r/.git/lanes/runs/x/state.json): the disk is full");
    assert.equal(describeError(s).reason, 'diskFull');
    assert.match(describeError(Object.assign(new Error('EROFS'), { code: 'EROFS', path: '/x' })).message, /^the file system is read-only \(\/x\)/);
  });

  it('refusals and busy errors keep their reason and message', () => {
    assert.deepEqual(
      [describeError(new ApplyRefused('you have changed files the lanes also change: a.ts', 'dirtyOverlap', ['a.ts'])).reason, describeError(new BusyError('the repository is in use by lanes reconcile (pid 1)')).message],
      ['dirtyOverlap', 'the repository is in use by lanes reconcile (pid 1)'],
    );
  });

  it('never an empty message: bugs say where the details are', () => {
    for (const e of [new Error(''), new TypeError(''), 'a string', undefined, { weird: true }]) {
      const d = describeError(e);
      assert.ok(d.message.trim().length > 'unexpected error: '.length, JSON.stringify(d));
    }
    const d = describeError(new TypeError("Cannot read properties of undefined (reading 'fsPath')"));
    assert.equal(d.message, "unexpected error: Cannot read properties of undefined (reading 'fsPath') (details in the log)");
    assert.equal(d.expected, false);
    assert.match(d.logText, /TypeError/);
  });
});

describe('latestOnly (pure)', () => {
  it('runs one at a time, folds requests, and never delivers a stale result', async () => {
    let n = 0;
    let running = 0;
    let maxRunning = 0;
    const delivered: number[] = [];
    const gates: (() => void)[] = [];
    const refresh = latestOnly(
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        const mine = ++n;
        await new Promise<void>((r) => gates.push(r));
        running--;
        return mine;
      },
      (v) => delivered.push(v),
    );
    const a = refresh();
    const b = refresh(); // while the first computes: folded into one more run
    const c = refresh();
    await new Promise((r) => setImmediate(r));
    gates.shift()!(); // the first finishes: stale (newer asked for), not delivered
    await new Promise((r) => setImmediate(r));
    gates.shift()!();
    await Promise.all([a, b, c]);
    assert.deepEqual(delivered, [2]);
    assert.equal(maxRunning, 1);
  });
});
