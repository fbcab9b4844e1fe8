import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BusyError } from '../../src/core/errors';
import { acquireLock, liveOwner, readLock } from '../../src/core/util/ownerLock';
import { tempDir } from '../helpers/repo';

describe('owner locks', () => {
  it('refuse while held, naming the owner (pid, command, since)', async () => {
    const file = path.join(tempDir(), 'locks', 'repository.lock');
    const h = await acquireLock(file, 'lanes reconcile --apply');
    try {
      const owner = await readLock(file);
      assert.equal(owner!.pid, process.pid);
      assert.equal(owner!.command, 'lanes reconcile --apply');
      await assert.rejects(acquireLock(file, 'lanes clean', { what: 'the repository' }), (e: unknown) => {
        assert.ok(e instanceof BusyError);
        assert.match(e.message, /^the repository is in use by lanes reconcile --apply \(pid \d+, this process, since \d\d:\d\d:\d\d UTC\); wait for it to finish or stop it$/);
        assert.equal(e.owner!.pid, process.pid);
        return true;
      });
    } finally {
      await h.release();
    }
    assert.equal(existsSync(file), false, 'released: the file is gone');
  });

  it('queue up in one process with wait, in order', async () => {
    const file = path.join(tempDir(), 'x.lock');
    const order: string[] = [];
    const first = await acquireLock(file, 'first');
    const waits: string[] = [];
    const second = acquireLock(file, 'second', { wait: true, onWait: (o) => waits.push(o.command) }).then(async (h) => {
      order.push('second');
      await h.release();
    });
    await new Promise((r) => setTimeout(r, 100));
    order.push('first done');
    await first.release();
    await second;
    assert.deepEqual(order, ['first done', 'second']);
    assert.deepEqual(waits, ['first']);
  });

  it('take over the lock of a dead owner, and wait for a live one in another process', async () => {
    const file = path.join(tempDir(), 'y.lock');
    // A process that is gone: its PID recorded in the lock.
    const dead = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
    writeFileSync(file, JSON.stringify({ pid: Number(dead), argv: ['sh'], command: 'lanes run', hostname: os.hostname(), acquiredAt: new Date().toISOString(), token: 'old' }));
    assert.equal(await liveOwner(file), undefined);
    const h = await acquireLock(file, 'taker');
    assert.equal((await readLock(file))!.command, 'taker');
    await h.release();

    // A live owner in another process: a child holds the lock for a moment.
    const holder = path.join(tempDir(), 'holder.ts');
    writeFileSync(
      holder,
      `import { acquireLock } from ${JSON.stringify(path.resolve(__dirname, '../../src/core/util/ownerLock'))};\n` +
        `acquireLock(${JSON.stringify(file)}, 'other process').then(async (h) => { console.log('held'); await new Promise((r) => setTimeout(r, 1500)); await h.release(); });\n`,
    );
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', 'tsx', holder], { cwd: path.resolve(__dirname, '../..'), stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((r) => child.on('exit', r));
    await new Promise<void>((r) => child.stdout.on('data', (d: Buffer) => d.toString().includes('held') && r()));
    await assert.rejects(acquireLock(file, 'impatient'), /in use by other process \(pid \d+, since/);
    const seen: number[] = [];
    const t0 = Date.now();
    const h2 = await acquireLock(file, 'patient', { wait: true, onWait: (o) => seen.push(o.pid) });
    assert.deepEqual(seen, [child.pid]);
    assert.ok(Date.now() - t0 > 300, 'it waited for the other process');
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).command, 'patient');
    await h2.release();
    await exited;
  });
});
