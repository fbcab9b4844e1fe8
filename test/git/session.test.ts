/**
 * The application layer, and the bugs the redesign removed: each test here failed on the old
 * structure (two copies of reconcile, a journal and state without owners) and passes now.
 * Two-process cases run the real CLI as separate processes.
 */
import * as assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { StorageError } from '../../src/core/errors';
import { readJournal } from '../../src/core/reconcile/apply';
import { LanesSession, NotApproved } from '../../src/core/session/session';
import { isAlive } from '../../src/core/util/processInfo';
import { killTree } from '../../src/core/util/proc';
import { lanesBackground, lanesProcess } from '../helpers/cli';
import { agent, alive, newRepo, waitFor, writePlan } from '../helpers/engine';
import { tempDir, TempRepo } from '../helpers/repo';



async function session(repo: TempRepo, extra: Partial<Parameters<typeof LanesSession.open>[0]> = {}): Promise<LanesSession> {
  return LanesSession.open({ cwd: repo.dir, face: 'test', runDefaults: () => ({ worktreeRoot: tempDir('lanes-wt-') }), ...extra });
}

/**
 * `lanes run` as its own process with one lane whose agent hangs; `fn` runs once the agent is
 * up. Afterwards every process of it is gone, whatever `fn` did.
 */
async function withHangingRun(repo: TempRepo, fn: (run: ReturnType<typeof lanesBackground>, pids: string) => Promise<void>): Promise<void> {
  const pids = path.join(tempDir(), 'pids');
  writePlan(repo, [{ id: 'a', agent: agent(`hang=${pids}`) }], { isolation: 'none' });
  const run = lanesBackground(repo.dir, ['run', '--worktree-root', tempDir('lanes-wt-')]);
  try {
    await waitFor(() => existsSync(pids), 20000, 'the agent to start');
    await fn(run, pids);
  } finally {
    run.child.kill('SIGTERM');
    await run.exited;
    for (const pid of existsSync(pids) ? hangPids(pids) : []) killTree(pid, 'SIGKILL');
  }
}

function hangPids(file: string): number[] {
  return readFileSync(file, 'utf8').trim().split(' ').map(Number);
}

describe('application layer (LanesSession)', () => {
  it('accepting one file of a lane built on another brings in that file only (the base comes from the lane)', async () => {
    const repo = newRepo();
    writePlan(repo, [
      { id: 'impl', agent: agent('write=src/impl.ts:export const impl = 1;') },
      { id: 'tests', dependsOn: ['impl'], agent: agent('write=test/impl.test.ts:test 1', 'write=test/other.test.ts:test 2') },
    ]);
    const s = await session(repo);
    const o = await s.run();
    const state = await o.run();
    assert.deepEqual(state.lanes.map((l) => l.status), ['passed', 'passed']);
    const r = await s.apply(state.runId, { kind: 'files', lane: 'tests', paths: ['test/impl.test.ts'] });
    assert.deepEqual([r.applied, r.deleted], [['test/impl.test.ts'], []]);
    assert.equal(existsSync(path.join(repo.dir, 'src/impl.ts')), false, "impl's work did not come along");
    assert.equal(existsSync(path.join(repo.dir, 'test/other.test.ts')), false, 'nor the other file of the lane');
    assert.equal(repo.git('status', '--porcelain'), 'A  test/impl.test.ts');

    // One hunk of a lane, the same way (what the editor's accept lens does).
    await s.undo();
    const h = await s.apply(state.runId, { kind: 'hunks', lane: 'tests', path: 'test/other.test.ts', hunks: [0] });
    assert.deepEqual(h.applied, ['test/other.test.ts']);
    assert.equal(repo.git('status', '--porcelain'), 'A  test/other.test.ts');
  });

  it('a declined approval leaves nothing behind: no run, no branch, no worktree', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: agent('write=a.txt:x') }]);
    const wt = tempDir('lanes-wt-');
    const asked: string[][] = [];
    const s = await LanesSession.open({
      cwd: repo.dir,
      face: 'test',
      runDefaults: () => ({ worktreeRoot: wt }),
      approve: async (req) => {
        asked.push(req.lanes);
        return false;
      },
    });
    await assert.rejects(s.startRun(await s.planRun()), NotApproved);
    assert.deepEqual(asked, [['a']]);
    assert.deepEqual(await s.store.list(), []);
    assert.equal(repo.git('for-each-ref', 'refs/heads/lanes/'), '');
    assert.equal(repo.git('worktree', 'list').split('\n').length, 1);
    assert.equal(existsSync(path.join(wt, 'x')), false);
    assert.deepEqual(readdir(wt), []);
  });

  it('declining to resume an interrupted run kills nothing and changes nothing', async () => {
    const repo = newRepo();
    await withHangingRun(repo, async (a, pids) => {
      killTree(a.child.pid!, 'SIGKILL'); // the orchestrator dies; its agent (own group) lives on
      await a.exited;
      const [agentPid] = hangPids(pids);
      assert.ok(alive(agentPid!), 'the orphaned agent runs');
      const s = await session(repo, { approve: async () => false });
      const runId = (await s.latestRunId())!;
      const before = readFileSync(s.store.paths(runId).state, 'utf8');
      assert.equal((await s.inspect(runId)).status, 'interrupted');
      await assert.rejects(s.startRun(await s.planRun({ resume: 'latest' })), NotApproved);
      assert.ok(alive(agentPid!), 'not killed before the question was answered');
      assert.equal(readFileSync(s.store.paths(runId).state, 'utf8'), before, 'state untouched');
    });
  });

  it('a state write that fails stops every lane and ends the run with a clear error (no unhandled rejection)', async () => {
    const repo = newRepo();
    const pids = path.join(tempDir(), 'pids');
    // a hangs; b ends a little later, and its end is a transition that must be written.
    writePlan(repo, [{ id: 'a', agent: agent(`hang=${pids}`) }, { id: 'b', agent: agent('sleep=3000', 'write=b.txt:x') }], { isolation: 'none' });
    const s = await session(repo);
    const o = await s.run();
    const stateFile = s.store.paths(o.runId).state;
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const ended = o.run();
      await waitFor(() => existsSync(pids), 20000, 'the agent to start');
      // The disk "fills": the state file becomes something a write cannot replace.
      rmSync(stateFile);
      mkdirSync(path.join(stateFile, 'x'), { recursive: true });
      await assert.rejects(ended, (e: unknown) => {
        assert.ok(e instanceof StorageError, String(e));
        assert.match(e.message, /^could not write the run's state \(.*state\.json\): /);
        return true;
      });
      const [agentPid, childPid] = hangPids(pids);
      await waitFor(() => !alive(agentPid!) && !alive(childPid!), 10000, 'the agent to be stopped');
      assert.deepEqual(unhandled, []);
      assert.equal(await s.store.owner(o.runId), undefined, 'the run released its lock');
    } finally {
      process.off('unhandledRejection', onUnhandled);
      for (const pid of existsSync(pids) ? hangPids(pids) : []) killTree(pid, 'SIGKILL');
    }
  });

  it('two blocking operations of one process never overlap (two quick panel clicks)', async () => {
    const repo = newRepo();
    const log = path.join(tempDir(), 'verify.log');
    const verify = ['node', '-e', `const fs=require('fs');fs.appendFileSync(${JSON.stringify(log)},'start '+Date.now()+'\\n');setTimeout(()=>fs.appendFileSync(${JSON.stringify(log)},'end '+Date.now()+'\\n'),400)`];
    writePlan(repo, [{ id: 'a', agent: agent('write=a.txt:x') }, { id: 'b', agent: agent('write=b.txt:y') }], { verify });
    const s = await session(repo);
    const state = await (await s.run()).run();
    const [r1, r2] = await Promise.all([s.mergeQueue(state.runId), s.mergeQueue(state.runId, { lanes: ['a'] })]);
    assert.deepEqual([r1.merged, r2.merged], [['a', 'b'], ['a']]);
    const events = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' ')[0]);
    assert.deepEqual(events, ['start', 'end', 'start', 'end'], 'the second verify started after the first ended');
  });

  it('the report comes from what is recorded: the queue result survives, and every face gets the same text', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: agent('write=a.txt:x') }], { verify: ['node', '-e', 'process.exit(0)'] });
    const s = await session(repo);
    const state = await (await s.run()).run();
    await s.mergeQueue(state.runId);
    const fromQueue = readFileSync(s.store.paths(state.runId).report, 'utf8');
    assert.match(fromQueue, /## Merge queue[\s\S]*Merged: a\./);
    const other = await LanesSession.open({ cwd: repo.dir, face: 'another window' });
    const again = await other.report(state.runId);
    assert.equal(again.text, fromQueue);
    assert.deepEqual((await other.queueResult(state.runId))!.result.merged, ['a']);
  });
});

describe('two processes, one repository', () => {
  it('status while reconcile --apply writes: the live apply is left alone and completes', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: agent('write=src/new.ts:new', 'write=src/a.ts:export const a = 2;') }]);
    const s = await session(repo);
    const state = await (await s.run()).run();
    assert.equal(state.lanes[0]!.status, 'passed');
    // A git shim that holds the apply's write step until told to go on.
    const shim = tempDir('lanes-shim-');
    const gate = path.join(shim, 'gate');
    const realGit = lanesProcessGit();
    writeFileSync(
      path.join(shim, 'git'),
      `#!/bin/sh\ncase " $* " in *" checkout "*" --pathspec-from-file=- "*) if [ -n "$LANES_TEST_GATE" ]; then touch "$LANES_TEST_GATE.started"; while [ ! -e "$LANES_TEST_GATE.go" ]; do sleep 0.05; done; fi ;; esac\nexec ${realGit} "$@"\n`,
    );
    chmodSync(path.join(shim, 'git'), 0o755);
    const a = lanesBackground(repo.dir, ['reconcile', '--apply'], { PATH: `${shim}:${process.env.PATH}`, LANES_TEST_GATE: gate });
    try {
      await waitFor(() => existsSync(`${gate}.started`), 30000, 'the apply to start writing');
      const st = lanesProcess(repo.dir, ['status']);
      assert.equal(st.code, 0, st.err);
      assert.match(st.err, /an apply into this checkout is under way \(lanes reconcile --apply: apply \(pid \d+/);
      assert.doesNotMatch(st.err + st.out, /rolled back/);
      writeFileSync(`${gate}.go`, '');
      assert.equal(await a.exited, 0, a.out());
      assert.match(a.out(), /applied to your checkout/);
      assert.equal(readFileSync(path.join(repo.dir, 'src/a.ts'), 'utf8'), 'export const a = 2;\n');
      assert.equal(repo.git('status', '--porcelain'), 'M  src/a.ts\nA  src/new.ts');
      assert.equal((await readJournal(s.commonDir, repo.dir))!.step, 'done');
      assert.doesNotMatch(repo.git('for-each-ref', 'refs/lanes/apply/'), /before-recovery/);
    } finally {
      writeFileSync(`${gate}.go`, '');
      await a.exited;
    }
  });

  it('clean while a run works: the active run is skipped with its owner, its worktree stays', async () => {
    const repo = newRepo();
    await withHangingRun(repo, async () => {
      const c = lanesProcess(repo.dir, ['clean', '--force', '--json']);
      assert.equal(c.code, 0, c.err);
      const actions = JSON.parse(c.out).actions as { action: string; detail: string }[];
      assert.equal(actions.length, 1);
      assert.equal(actions[0]!.action, 'skipped');
      assert.match(actions[0]!.detail, /^the run is still active \(lanes run, pid \d+\); it is left as it is$/);
      const s = await session(repo);
      const st = await s.store.read((await s.latestRunId())!);
      assert.ok(existsSync(st.lanes[0]!.worktree), 'the worktree is still there');
      assert.equal(st.cleaned, undefined);
    });
  });

  it('a second run in the same repository is refused, naming the active one and its owner', async () => {
    const repo = newRepo();
    let agentPid = 0;
    await withHangingRun(repo, async (a, pids) => {
      agentPid = hangPids(pids)[0]!;
      const b = lanesProcess(repo.dir, ['run', '--worktree-root', tempDir('lanes-wt-')]);
      assert.equal(b.code, 1);
      assert.match(b.err, /^lanes run: run \S+ is active in this repository, run by lanes run \(pid \d+, since \d\d:\d\d:\d\d UTC\); wait for it to finish or stop it first\n$/);
      const s = await session(repo);
      assert.equal((await s.store.list()).length, 1, 'the refused run left nothing');
      a.child.kill('SIGTERM');
      assert.equal(await a.exited, 130, 'interrupted');
    });
    // The first run's agent was stopped by the SIGTERM; nothing is left.
    await waitFor(() => !isAlive(agentPid) || !alive(agentPid), 10000, 'the agent to end');
  });
});

function lanesProcessGit(): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, 'git');
    if (existsSync(p)) return p;
  }
  return '/usr/bin/git';
}

function readdir(dir: string): string[] {
  return readdirSync(dir);
}

describe('one error model in the CLI', () => {
  it('a git failure reads as one line without the argv; the whole command goes to the log', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: agent('write=a.txt:x') }, { id: 'b', agent: agent('write=b.txt:y') }]);
    const s = await session(repo);
    const state = await (await s.run()).run();
    // A lane head that names no object (a damaged state or repository).
    const file = s.store.paths(state.runId).state;
    const json = JSON.parse(readFileSync(file, 'utf8'));
    json.lanes[0].head = 'deadbeef'.repeat(5);
    writeFileSync(file, JSON.stringify(json));
    const r = lanesProcess(repo.dir, ['reconcile']);
    assert.equal(r.code, 1);
    const lines = r.err.trim().split('\n');
    assert.equal(lines.length, 1, r.err);
    assert.match(lines[0]!, /^lanes reconcile: git diff failed \(exit 128\): bad object deadbeef/);
    assert.doesNotMatch(r.err, /--name-only|\bat .*\.ts:\d+/);
    const log = readFileSync(path.join(s.commonDir, 'lanes', 'cli.log'), 'utf8');
    assert.match(log, /git diff --\S+ .* deadbeef(deadbeef)+ \(exit 128\)/);
    assert.match(log, /GitError/);
  });
});

describe('crashes at a chosen git step', () => {
  it('kill -9 between registering a lane worktree and filling it: the resume fills it, and the lane commits only its own work', async () => {
    const repo = newRepo();
    repo.write('lib/keep.ts', 'export const keep = 1;\n');
    repo.commitAll('more files');
    writePlan(repo, [{ id: 'a', agent: agent('write=new.txt:new') }]);
    // A git that kills its caller (the orchestrator) when it is asked to fill a worktree.
    const shim = tempDir('lanes-kill-shim-');
    writeFileSync(path.join(shim, 'git'), `#!/bin/sh\ncase " $* " in *" read-tree -u "*) kill -9 $PPID; exit 1 ;; esac\nexec ${lanesProcessGit()} "$@"\n`, { mode: 0o755 });
    const wt = tempDir('lanes-wt-');
    const killed = lanesBackground(repo.dir, ['run', '--worktree-root', wt], { PATH: `${shim}:${process.env.PATH}` });
    assert.equal(await killed.exited, null, 'killed by SIGKILL');
    const s = await session(repo);
    const runId = (await s.latestRunId())!;
    const lane = (await s.store.read(runId)).lanes[0]!;
    assert.ok(existsSync(path.join(lane.worktree, '.git')), 'the worktree was registered');
    assert.equal(existsSync(path.join(lane.worktree, 'README.md')), false, 'and never filled');

    const r = lanesProcess(repo.dir, ['run', '--resume', '--json']);
    assert.equal(r.code, 0, r.err);
    const after = await s.store.read(runId);
    assert.equal(after.lanes[0]!.status, 'passed');
    const changed = repo.git('diff', '--name-status', after.lanes[0]!.base!, after.lanes[0]!.head!);
    assert.equal(changed, 'A\tnew.txt', 'only the agent\'s file: no deletion of the repository');
    assert.equal(readFileSync(path.join(lane.worktree, 'lib/keep.ts'), 'utf8'), 'export const keep = 1;\n', 'the worktree is whole');
  });
});
