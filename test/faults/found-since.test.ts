/**
 * The faults found since faults.md's first thirty (its 31–40, and issue 11's list), each caused
 * for real: a daemon that holds an unsandboxed agent's output, a full disk, a read-only file
 * system, a sparse checkout, an apply killed in one linked worktree while another runs commands,
 * a stale index.lock, and process identity without /proc. After each: the user's bytes are
 * intact (or in a named ref), lane commits reachable, no process left.
 */
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { readJournal } from '../../src/core/reconcile/apply';
import { LanesSession } from '../../src/core/session/session';
import { lanesBackground, lanesProcess } from '../helpers/cli';
import { agent, newRepo, processesMentioning, runPlan, waitFor, writePlan } from '../helpers/engine';
import { createTempRepo, tempDir, TempRepo } from '../helpers/repo';

const isRoot = process.getuid?.() === 0;


function readIfThere(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function realGit(): string {
  return execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
}

/** Every file of a folder (not .git) with its bytes, for before/after comparisons. */
function picture(dir: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    if (e.name === '.git') continue;
    const r = path.join(rel, e.name);
    if (e.isDirectory()) Object.assign(out, picture(dir, r));
    else out[r] = readFileSync(path.join(dir, r)).toString('base64');
  }
  return out;
}

/** Every lane head of every run is reachable from a ref. */
function laneHeadsReachable(repo: TempRepo): void {
  const runs = path.join(repo.dir, '.git', 'lanes', 'runs');
  if (!existsSync(runs)) return;
  const all = new Set(repo.git('rev-list', '--all').split('\n'));
  for (const id of readdirSync(runs)) {
    const f = path.join(runs, id, 'state.json');
    if (!existsSync(f)) continue;
    for (const l of JSON.parse(readFileSync(f, 'utf8')).lanes as { id: string; head?: string }[]) {
      if (l.head) assert.ok(all.has(l.head), `lane ${l.id}'s head ${l.head} is reachable`);
    }
  }
}

/** A repository made at `dir` (on a file system of the test's choosing). */
function repoAt(dir: string, files: Record<string, string>): TempRepo {
  mkdirSync(dir, { recursive: true });
  const g = (...a: string[]) => execFileSync('git', a, { cwd: dir, encoding: 'utf8' }).replace(/\n$/, '');
  g('init', '-q', '-b', 'main');
  const r: TempRepo = {
    dir,
    git: g,
    write: (rel, content) => {
      mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      writeFileSync(path.join(dir, rel), content);
    },
    commitAll: (m) => {
      g('add', '-A');
      g('commit', '-q', '-m', m);
      return g('rev-parse', 'HEAD');
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
  for (const [k, v] of Object.entries(files)) r.write(k, v);
  r.commitAll('initial');
  return r;
}

/** A small tmpfs at `dir` (root only): the full and read-only file system cases. */
function mountTmpfs(dir: string, size: string): () => void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  return () => spawnSync('umount', ['-l', dir]);
}

describe('faults found since (faults.md 31–40, issue 11)', () => {
  it('35. unsandboxed, a double-forked daemon that holds the agent\'s output cannot keep the lane (or its timeout) from ending', async () => {
    const repo = newRepo();
    const marker = `lanes-held-${process.pid}-${Date.now()}`;
    writePlan(
      repo,
      [
        { id: 'quits', agent: { command: ['sh', '-c', `setsid sh -c 'sleep 1000; echo ${marker}' & echo x > q.txt; exit 0`] } },
        { id: 'hangs', timeoutMinutes: 0.03, agent: { command: ['sh', '-c', `setsid sh -c 'sleep 1000; echo ${marker}' & sleep 1000`] } },
      ],
      { isolation: 'none' },
    );
    try {
      const { state } = await runPlan(repo);
      const quits = state.lanes.find((l) => l.id === 'quits')!;
      assert.equal(quits.status, 'passed', quits.reason);
      const hangs = state.lanes.find((l) => l.id === 'hangs')!;
      assert.equal(hangs.status, 'timed-out');
      assert.ok(hangs.warnings.some((w) => /escaped its process group \(setsid\) and held its output open/.test(w)), hangs.warnings.join('\n'));
      laneHeadsReachable(repo);
    } finally {
      // Unsandboxed, such a daemon is out of reach by design (the sandbox is the answer): the test cleans up its own.
      for (const pid of processesMentioning(marker)) process.kill(pid, 'SIGKILL');
    }
  });

  it('23/38. disk full during a run: one clear line, nothing half-written taken as truth, status tells the truth, --resume finishes', async function () {
    if (!isRoot) this.skip();
    const mnt = tempDir('lanes-full-');
    const unmount = mountTmpfs(mnt, '3m');
    try {
      // The repository lives on the small file system; the lanes' worktrees do not.
      const r = repoAt(path.join(mnt, 'r'), { 'README.md': '# sample\n' });
      const started = path.join(tempDir(), 'started');
      writePlan(r, [
        { id: 'a', agent: agent(`record=${started}`, 'sleep=1500', 'write=a.txt:a') },
        { id: 'b', dependsOn: ['a'], agent: agent('write=b.txt:b') },
      ]);
      const run = lanesBackground(r.dir, ['run', '--worktree-root', tempDir('lanes-wt-')]);
      await waitFor(() => existsSync(started), 30000, 'lane a to start');
      // Fill the disk while the lane works: its next state write fails.
      spawnSync('dd', ['if=/dev/zero', `of=${path.join(mnt, 'filler')}`, 'bs=64k'], { stdio: 'ignore' });
      const code = await run.exited;
      assert.notEqual(code, 0);
      rmSync(path.join(mnt, 'filler'));
      const st = lanesProcess(r.dir, ['status']);
      assert.equal(st.code, 0, st.err);
      assert.doesNotMatch(st.out + st.err, /ENOSPC|\bat .*\.ts:\d+/, 'no raw trace');
      assert.doesNotMatch(st.out, /▶ running/, `nothing shown as running:\n${st.out}`);
      assert.match(st.out, /interrupted/);
      const resumed = lanesProcess(r.dir, ['run', '--resume', '--json']);
      assert.equal(resumed.code, 0, resumed.err);
      assert.deepEqual(JSON.parse(resumed.out).lanes.map((l: { status: string }) => l.status), ['passed', 'passed']);
      laneHeadsReachable(r);
    } finally {
      unmount();
    }
  });

  it('23/38. the run\'s own output to a full disk says so in one line (the CLI, not a trace)', async function () {
    if (!isRoot) this.skip();
    const mnt = tempDir('lanes-full-');
    const unmount = mountTmpfs(mnt, '2m');
    try {
      const r = repoAt(path.join(mnt, 'r'), { 'README.md': '# sample\n' });
      writePlan(r, [{ id: 'a', agent: agent('write=a.txt:a') }]);
      spawnSync('dd', ['if=/dev/zero', `of=${path.join(mnt, 'filler')}`, 'bs=64k'], { stdio: 'ignore' });
      const res = lanesProcess(r.dir, ['run', '--worktree-root', tempDir('lanes-wt-')]);
      assert.notEqual(res.code, 0);
      const lines = res.err.trim().split('\n').filter((l) => !l.startsWith('run ') && !l.startsWith('!'));
      assert.ok(lines.length <= 2, res.err);
      assert.match(res.err, /disk is full|no space left/i);
      assert.doesNotMatch(res.err, /\bat .*\.(ts|js):\d+/);
    } finally {
      unmount();
    }
  });

  it('38. a read-only file system: apply says so in one line and changes nothing', async function () {
    if (!isRoot) this.skip();
    const mnt = tempDir('lanes-ro-');
    const unmount = mountTmpfs(mnt, '16m');
    try {
      const repo = repoAt(path.join(mnt, 'r'), { 'README.md': '# sample\n' });
      const dir = repo.dir;
      writePlan(repo, [{ id: 'a', agent: agent('write=a.txt:a') }]);
      const ran = lanesProcess(dir, ['run', '--worktree-root', tempDir('lanes-wt-')]);
      assert.equal(ran.code, 0, ran.err);
      assert.equal(lanesProcess(dir, ['reconcile']).code, 0);
      const before = picture(dir);
      execFileSync('mount', ['-o', 'remount,ro', mnt]);
      const res = lanesProcess(dir, ['reconcile', '--apply']);
      execFileSync('mount', ['-o', 'remount,rw', mnt]);
      assert.notEqual(res.code, 0);
      assert.match(res.err, /read-only/i);
      assert.equal(res.err.trim().split('\n').filter((l) => !/^(radar|queue):/.test(l)).length, 1, res.err);
      assert.deepEqual(picture(dir), before);
    } finally {
      unmount();
    }
  });

  it('38. a sparse checkout with an untracked file outside the cone: lanes work outside it, apply and undo keep everything', async () => {
    const repo = createTempRepo({ 'src/a.ts': 'a\n', 'docs/d.md': 'd\n' });
    writePlan(repo, [{ id: 'a', agent: { command: ['node', '-e', "const fs=require('fs'); fs.mkdirSync('docs',{recursive:true}); fs.writeFileSync('docs/new.md','n'); fs.writeFileSync('src/b.ts','b')"] } }]);
    repo.git('sparse-checkout', 'set', 'src', '.lanes');
    mkdirSync(path.join(repo.dir, 'docs'), { recursive: true });
    writeFileSync(path.join(repo.dir, 'docs', 'outside.txt'), 'mine\n');
    const before = picture(repo.dir);
    const ran = await runPlan(repo);
    assert.equal(ran.state.lanes[0]!.status, 'passed', ran.state.lanes[0]!.reason);
    assert.ok(ran.state.warnings.some((w) => /your checkout is sparse/.test(w)));
    const s = await LanesSession.open({ cwd: repo.dir, face: 'test' });
    await s.mergeQueue(ran.state.runId);
    const r = await s.apply(ran.state.runId, { kind: 'integration' });
    assert.deepEqual(r.applied.sort(), ['docs/new.md', 'src/b.ts']);
    assert.equal(readFileSync(path.join(repo.dir, 'docs', 'outside.txt'), 'utf8'), 'mine\n');
    await s.undo();
    assert.deepEqual(picture(repo.dir), before);
    laneHeadsReachable(repo);
  });

  it('2/32. an apply killed in linked worktree A: a command in checkout B leaves B alone; the next in A rolls A back after snapshotting it', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: agent('write=src/new.ts:new', 'write=src/a.ts:export const a = 2;') }]);
    const ran = await runPlan(repo);
    assert.equal(ran.state.lanes[0]!.status, 'passed');
    const checkoutA = path.join(tempDir('lanes-linked-'), 'A');
    repo.git('worktree', 'add', '-q', '--detach', checkoutA, 'HEAD');
    writeFileSync(path.join(checkoutA, 'README.md'), 'edited in A\n');
    writeFileSync(path.join(repo.dir, 'README.md'), 'edited in B\n');
    const beforeB = picture(repo.dir);
    // A git that kills the applying process when it starts writing into A.
    const shim = tempDir('lanes-kill-shim-');
    writeFileSync(path.join(shim, 'git'), `#!/bin/sh\ncase " $* " in *" checkout "*"--pathspec-from-file=- "*) kill -9 $PPID; exit 1 ;; esac\nexec ${realGit()} "$@"\n`, { mode: 0o755 });
    const killed = lanesBackground(checkoutA, ['reconcile', '--apply', ran.state.runId], { PATH: `${shim}:${process.env.PATH}` });
    assert.equal(await killed.exited, null, 'killed by SIGKILL');
    const s = await LanesSession.open({ cwd: repo.dir, face: 'test' });
    assert.equal((await readJournal(s.commonDir, checkoutA))?.step, 'writing', "A's journal says it was writing");

    const inB = lanesProcess(repo.dir, ['status']);
    assert.equal(inB.code, 0, inB.err);
    assert.deepEqual(picture(repo.dir), beforeB, "B's files untouched");
    assert.equal((await readJournal(s.commonDir, checkoutA))?.step, 'writing', "A's apply is not B's to roll back");

    const inA = lanesProcess(checkoutA, ['status']);
    assert.equal(inA.code, 0, inA.err);
    const j = (await readJournal(s.commonDir, checkoutA))!;
    assert.equal(j.step, 'rolled-back');
    assert.equal(readFileSync(path.join(checkoutA, 'README.md'), 'utf8'), 'edited in A\n');
    assert.equal(readFileSync(path.join(checkoutA, 'src/a.ts'), 'utf8'), 'export const a = 1;\n');
    assert.equal(existsSync(path.join(checkoutA, 'src/new.ts')), false);
    assert.match(repo.git('for-each-ref', '--format=%(refname)', `refs/lanes/apply/${j.id}/`), /before-recovery/, 'A was snapshotted before the rollback');
    laneHeadsReachable(repo);
  });

  it('12/31. a worktree used again must be at the lane\'s recorded head: a rewritten branch is refused on resume, its commits kept', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: agent('write=a.txt:a', 'exit=3') }], { isolation: 'none' });
    const ran = await runPlan(repo);
    const l = ran.state.lanes[0]!;
    assert.equal(l.status, 'failed');
    // Somebody rewrites the lane's branch in its worktree (an amended commit: not a descendant).
    execFileSync('git', ['commit', '-q', '--amend', '-m', 'rewritten'], { cwd: l.worktree });
    const rewritten = repo.git('rev-parse', l.branch);
    const r = lanesProcess(repo.dir, ['run', '--resume', '--json']);
    assert.equal(r.code, 1);
    const lane = JSON.parse(r.out).lanes[0];
    assert.equal(lane.status, 'failed');
    assert.match(lane.reason, /was moved or rewritten since the run recorded it .*nothing was run on it and its commits are kept/);
    assert.equal(repo.git('rev-parse', l.branch), rewritten, 'the branch is left as found');
    assert.ok(repo.git('rev-list', '--all').split('\n').includes(l.head!), 'the recorded head is still reachable, from a snapshot ref');
    assert.match(lane.reason, /kept at refs\/lanes\/snapshots\//);
  });

  it('11/38. a stale index.lock: reconcile --apply names the file, says no git runs, and what to do; nothing changes', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: agent('write=src/new.ts:new') }]);
    const ran = await runPlan(repo);
    assert.equal(lanesProcess(repo.dir, ['reconcile']).code, 0);
    const before = picture(repo.dir);
    const lock = path.join(repo.dir, '.git', 'index.lock');
    writeFileSync(lock, '');
    const r = lanesProcess(repo.dir, ['reconcile', '--apply', ran.state.runId]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, new RegExp(`no git process is running in this repository, so the lock is stale \\(left by a crash\\); remove ${lock.replace(/[.]/g, '\\.')} and try again`));
    assert.ok(existsSync(lock), 'the lock is never removed by us');
    assert.deepEqual(picture(repo.dir), before);
  });

  it('39. without /proc (process identity by ps): a killed orchestrator shows as interrupted, its agent as still running, and clean --force stops it', async () => {
    const repo = newRepo();
    const marker = `lanes-ps-${process.pid}-${Date.now()}`;
    writePlan(repo, [{ id: 'a', agent: { command: ['sh', '-c', `sleep 1000; echo ${marker}`] } }], { isolation: 'none' });
    const env = { LANES_PROCESS_INFO: 'ps' };
    const run = lanesBackground(repo.dir, ['run', '--worktree-root', tempDir('lanes-wt-')], env);
    try {
      await waitFor(() => processesMentioning(marker).length > 0, 30000, 'the agent to start');
      // Killed once the state records the agent's process (written just after it starts).
      const runsDir = path.join(repo.dir, '.git', 'lanes', 'runs');
      await waitFor(() => existsSync(runsDir) && readdirSync(runsDir).some((id) => /"process"/.test(readIfThere(path.join(runsDir, id, 'state.json')))), 30000, 'the agent to be recorded');
      run.child.kill('SIGKILL');
      await run.exited;
      const st = lanesProcess(repo.dir, ['status', '--json'], env);
      assert.equal(st.code, 0, st.err);
      const j = JSON.parse(st.out);
      assert.equal(j.run.status, 'interrupted');
      assert.ok(processesMentioning(marker).length > 0, 'the orphan still runs');
      const text = lanesProcess(repo.dir, ['status'], env);
      assert.match(text.out, /! a: its agent is still running \(pid \d+\) without an orchestrator/, 'known as ours by ps (start time)');
      // clean --force stops a recorded agent only when ps says it is still ours, then removes its worktree.
      const cleaned = lanesProcess(repo.dir, ['clean', '--force'], env);
      assert.equal(cleaned.code, 0, cleaned.err);
      await waitFor(() => processesMentioning(marker).length === 0, 10000, 'the orphan to be stopped');
    } finally {
      for (const pid of processesMentioning(marker)) process.kill(pid, 'SIGKILL');
    }
  });
});
