import * as assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { BusyError } from '../../src/core/errors';
import { acquireLock, liveOwner, readLock } from '../../src/core/util/ownerLock';
import { commandLineOf, isAlive, matchProcess, processStartTime, stopRecorded } from '../../src/core/util/processInfo';
import { tempDir } from '../helpers/repo';

const ROOT = path.resolve(__dirname, '../..');

/** Run the tests of one method with LANES_PROCESS_INFO set (or unset) in this process, restored after. */
function withMethod(value: string | undefined): void {
  let saved: string | undefined;
  before(() => {
    saved = process.env.LANES_PROCESS_INFO;
    if (value === undefined) delete process.env.LANES_PROCESS_INFO;
    else process.env.LANES_PROCESS_INFO = value;
  });
  after(() => {
    if (saved === undefined) delete process.env.LANES_PROCESS_INFO;
    else process.env.LANES_PROCESS_INFO = saved;
  });
}

const children: ChildProcess[] = [];
function killChildren(): void {
  for (const c of children.splice(0)) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** A live child leading its own process group, once it runs its own program (after exec). */
async function child(argv: string[]): Promise<ChildProcess> {
  const c = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(c);
  await new Promise((r, j) => c.once('spawn', r).once('error', j));
  return c;
}

/** A PID that just exited. */
const deadPid = () => Number(spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim());

const exited = (c: ChildProcess) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r)));

for (const m of [
  { name: 'ps (LANES_PROCESS_INFO=ps)', env: 'ps', start: /^ps:\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/, other: '12345', wrong: 'ps:Mon Jan  1 00:00:00 2001' },
  { name: '/proc', env: undefined, start: /^\d+$/, other: 'ps:Mon Jan  1 00:00:00 2001', wrong: '1' },
]) {
  describe(`process identity via ${m.name}`, function () {
    before(function () {
      if (m.env === undefined && !existsSync('/proc/self/stat')) this.skip();
    });
    withMethod(m.env);
    afterEach(killChildren);

    it('a live child is ours by its start time, and by its command line', async () => {
      const c = await child(['sleep', '30']);
      const start = processStartTime(c.pid!);
      assert.match(start ?? '', m.start);
      assert.deepEqual(commandLineOf(c.pid!), ['sleep', '30']);
      assert.equal(matchProcess(c.pid!, ['sleep', '30'], start), 'ours');
      assert.equal(matchProcess(c.pid!, ['another', 'program'], start), 'ours', 'the start time decides (exec may change the command line)');
      assert.equal(matchProcess(c.pid!, ['sleep', '30']), 'ours', 'without a start time, by the command line');
    });

    it('a dead PID is dead', () => {
      const pid = deadPid();
      assert.equal(isAlive(pid), false);
      assert.equal(matchProcess(pid, ['sh', '-c', 'echo $$']), 'dead');
      assert.equal(matchProcess(pid, ['sh', '-c', 'echo $$'], m.wrong), 'dead');
    });

    it('a PID that started at another time, or runs another command line, was reused', async () => {
      const c = await child(['sleep', '30']);
      assert.equal(matchProcess(c.pid!, ['sleep', '30'], m.wrong), 'reused');
      assert.equal(matchProcess(c.pid!, ['sleep', '31']), 'reused');
      assert.equal(matchProcess(c.pid!, ['sleep']), 'reused');
    });

    it('a start time recorded by the other method is not compared: the command line decides', async () => {
      const c = await child(['sleep', '30']);
      assert.equal(matchProcess(c.pid!, ['sleep', '30'], m.other), 'ours');
      assert.equal(matchProcess(c.pid!, ['sleep', '31'], m.other), 'reused');
    });

    it('a command line ps cannot show faithfully (newline, tab, non-ASCII) still compares', async function () {
      // procps shows such bytes one for one; macOS's ps escapes them (then only the start time decides).
      if (m.env === 'ps' && process.platform !== 'linux') this.skip();
      const argv = [process.execPath, '-e', 'setTimeout(() => {},\n30000)', 'a\tb', 'é'];
      const c = await child(argv);
      assert.equal(matchProcess(c.pid!, argv), 'ours');
      assert.equal(matchProcess(c.pid!, [...argv.slice(0, 4), 'e']), 'reused');
    });

    it('stopRecorded stops a live child and its group', async () => {
      const c = await child(['sh', '-c', 'sleep 30 & echo $!; wait']);
      const grandchild = await new Promise<number>((r) => c.stdout!.once('data', (d: Buffer) => r(Number(d.toString().trim()))));
      assert.equal(isAlive(grandchild), true);
      const start = processStartTime(c.pid!);
      assert.equal(await stopRecorded(c.pid!, ['sh', '-c', 'sleep 30 & echo $!; wait'], start), 'ours');
      await exited(c);
      assert.notEqual(c.signalCode ?? c.exitCode, null);
      // Orphans are reaped by init when it gets to them: a zombie has exited all the same.
      assert.equal(matchProcess(grandchild, ['sleep', '30']), 'dead', 'the rest of the group is stopped too');
    });

    it('stopRecorded leaves alone a process whose start time does not match', async () => {
      const c = await child(['sleep', '30']);
      assert.equal(await stopRecorded(c.pid!, ['sleep', '30'], m.wrong), 'reused');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(c.exitCode, null);
      assert.equal(c.signalCode, null);
      assert.equal(matchProcess(c.pid!, ['sleep', '30'], processStartTime(c.pid!)), 'ours');
    });
  });
}

describe('owner lock via ps (LANES_PROCESS_INFO=ps)', () => {
  withMethod('ps');
  afterEach(killChildren);

  it('refuses a second owner while the first lives, and takes over once it died', async () => {
    const file = path.join(tempDir(), 'z.lock');
    const holder = path.join(tempDir(), 'holder.ts');
    writeFileSync(
      holder,
      `import { acquireLock } from ${JSON.stringify(path.resolve(ROOT, 'src/core/util/ownerLock'))};\n` +
        `acquireLock(${JSON.stringify(file)}, 'other process').then(() => { console.log('held'); setInterval(() => undefined, 1000); });\n`,
    );
    // The child inherits LANES_PROCESS_INFO=ps: it records a ps start time.
    const c = spawn(process.execPath, ['--import', 'tsx', holder], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(c);
    await new Promise<void>((r) => c.stdout!.on('data', (d: Buffer) => d.toString().includes('held') && r()));
    const owner = await readLock(file);
    assert.equal(owner!.pid, c.pid);
    assert.match(owner!.startTime ?? '', /^ps:/);
    assert.equal((await liveOwner(file))?.pid, c.pid);
    await assert.rejects(acquireLock(file, 'impatient'), (e: unknown) => {
      assert.ok(e instanceof BusyError);
      assert.match(e.message, /in use by other process \(pid \d+, since/);
      return true;
    });

    // Killed outright: its lock file stays behind, and is stale.
    c.kill('SIGKILL');
    await exited(c);
    assert.equal((await readLock(file))?.pid, c.pid);
    assert.equal(await liveOwner(file), undefined);
    const h = await acquireLock(file, 'taker');
    assert.equal((await readLock(file))!.command, 'taker');
    assert.match((await readLock(file))!.startTime ?? '', /^ps:/);
    await h.release();
  });
});
