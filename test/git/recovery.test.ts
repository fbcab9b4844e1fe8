import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { commonDir } from '../../src/core/git/git';
import { cleanRuns } from '../../src/core/run/clean';
import { inspectRun } from '../../src/core/run/inspect';
import { listRuns, readState, runPaths } from '../../src/core/run/state';
import { lanes } from '../helpers/cli';
import { agent, alive, newRepo, readText, runPlan, waitFor, writePlan } from '../helpers/engine';
import { tempDir } from '../helpers/repo';

const ROOT = path.resolve(__dirname, '../..');

describe('recovery and cleanup', function () {
  this.timeout(60000);

  it('tells the truth after the orchestrator is killed, and --resume finishes without redoing passed lanes', async () => {
    const repo = newRepo();
    const pids = path.join(tempDir(), 'pids');
    const wtRoot = tempDir();
    // "slow" hangs on its first attempt (a stand-in for a long agent) and finishes on the next.
    writePlan(repo, [
      { id: 'quick', agent: agent('write=q.txt:q') },
      { id: 'slow', agent: { command: ['sh', '-c', `if [ "$LANES_ATTEMPT" = 1 ]; then exec node "$0" hang=${pids}; else exec node "$0" write=s.txt:s; fi`, path.join(ROOT, 'test/fixtures/agents/agent.js')] } },
      { id: 'after', dependsOn: ['slow'], agent: agent('write=a.txt:a') },
    ], { isolation: 'none' });
    const child = spawn(process.execPath, ['--import', require.resolve('tsx'), path.join(ROOT, 'src/cli/index.ts'), 'run', '--worktree-root', wtRoot], {
      cwd: repo.dir,
      stdio: 'ignore',
    });
    const common = await commonDir(repo.dir);
    await waitFor(() => existsSync(pids), 20000, 'the slow agent to start');
    const runId = (await listRuns(common))[0]!;
    await waitFor(() => {
      try {
        return require('node:fs').readFileSync(runPaths(common, runId).state, 'utf8').includes('"status": "passed"');
      } catch {
        return false;
      }
    }, 20000, 'quick to pass');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const truth = await inspectRun(common, runId);
    assert.equal(truth.status, 'interrupted');
    assert.equal(truth.orchestrator, 'dead');
    const slow = truth.lanes.find((l) => l.id === 'slow')!;
    assert.equal(slow.process, 'ours', 'the orphaned agent is found again by PID and command line');
    const st = await lanes(repo.dir, ['status']);
    assert.match(st.out, /interrupted/);
    assert.match(st.out, /slow: its agent is still running \(pid \d+\) without an orchestrator/);
    assert.match(st.out, /lanes run --resume/);

    const [agentPid, grandchild] = readText(pids).split(' ').map(Number);
    const resumed = await lanes(repo.dir, ['run', '--resume', '--json']);
    assert.equal(resumed.code, 0, resumed.err + resumed.out);
    const final = await readState(common, runId);
    assert.deepEqual(final.lanes.map((l) => [l.id, l.status, l.attempts.length]), [
      ['quick', 'passed', 1],
      ['slow', 'passed', 2],
      ['after', 'passed', 1],
    ]);
    assert.ok(!alive(agentPid!) && !alive(grandchild!), 'the orphan was stopped before its lane ran again');
  });

  it('never kills a recorded PID that now belongs to another program', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: agent('write=x:x') }]);
    const { state, o } = await runPlan(repo);
    // Pretend the lane was running under a PID that is now some other program.
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    state.status = 'running';
    state.orchestrator = { pid: 999999, argv: ['node', 'gone'], startedAt: new Date().toISOString() };
    state.lanes[0]!.status = 'running';
    state.lanes[0]!.process = { pid: other.pid!, argv: ['node', 'agent.js'], startedAt: new Date().toISOString() };
    writeFileSync(runPaths(o.commonDir, state.runId).state, JSON.stringify(state));
    const truth = await inspectRun(o.commonDir, state.runId);
    assert.equal(truth.lanes[0]!.process, 'reused', 'the command line differs');
    state.lanes[0]!.process.startTime = '1';
    state.lanes[0]!.process.argv = ['sleep', '30'];
    writeFileSync(runPaths(o.commonDir, state.runId).state, JSON.stringify(state));
    assert.equal((await inspectRun(o.commonDir, state.runId)).lanes[0]!.process, 'reused', 'same command line, but it started at another time');
    await cleanRuns({ repo: repo.dir, commonDir: o.commonDir });
    assert.ok(alive(other.pid!), 'an unrelated process is never killed');
    other.kill();
  });

  it('reports a corrupt state file instead of resetting it', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: agent('write=x:x') }]);
    const { state, o } = await runPlan(repo);
    const file = runPaths(o.commonDir, state.runId).state;
    writeFileSync(file, '{"stateVersion": 1, "runId": "trunc');
    const r = await lanes(repo.dir, ['status']);
    assert.equal(r.code, 1);
    assert.match(r.err, /state file is corrupt/);
    assert.equal(readText(file), '{"stateVersion": 1, "runId": "trunc', 'left as it was');
  });

  it('clean removes finished worktrees but keeps unmerged branches and dirty worktrees unless forced, after a snapshot', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: agent('write=a.txt:a') }, { id: 'b', agent: agent('write=b.txt:b') }, { id: 'm', agent: agent('write=m.txt:m') }]);
    const { state, o } = await runPlan(repo);
    const [a, b, m] = state.lanes;
    // m's work is merged into main; b's worktree has uncommitted work; a is unmerged.
    repo.git('merge', '-q', '--ff-only', m!.head!);
    writeFileSync(path.join(b!.worktree, 'wip.txt'), 'not committed\n');

    const first = await cleanRuns({ repo: repo.dir, commonDir: o.commonDir });
    const by = (lane: string) => first.filter((x) => x.lane === lane);
    assert.equal(by('m')[0]!.action, 'removed');
    assert.equal(repo.git('branch', '--list', m!.branch), '', 'a merged branch is deleted');
    assert.equal(by('a')[0]!.action, 'kept');
    assert.match(by('a')[0]!.detail, /1 commit\(s\) not merged anywhere/);
    assert.equal(repo.git('rev-parse', a!.branch), a!.head, 'unmerged branch kept');
    assert.equal(existsSync(a!.worktree), false, 'its clean worktree is removed (the branch holds the work)');
    assert.equal(by('b')[0]!.action, 'kept');
    assert.match(by('b')[0]!.detail, /1 uncommitted change/);
    assert.equal(readText(path.join(b!.worktree, 'wip.txt')), 'not committed\n');

    const forced = await cleanRuns({ repo: repo.dir, commonDir: o.commonDir, force: true });
    const snaps = repo.git('for-each-ref', '--format=%(refname)', 'refs/lanes/snapshots/').split('\n');
    assert.ok(forced.every((x) => x.action === 'removed'), JSON.stringify(forced));
    const bWork = snaps.find((s) => s.includes('/b-worktree-'))!;
    assert.equal(repo.git('show', `${bWork}:wip.txt`), 'not committed', 'dirty work saved before removal');
    const aSnap = snaps.find((s) => s.includes('/a-branch-'))!;
    assert.equal(repo.git('rev-parse', aSnap), a!.head, 'unmerged commits saved before the branch is deleted');
    assert.equal(existsSync(b!.worktree), false);
    const st = await lanes(repo.dir, ['status']);
    assert.match(st.out, /snapshot refs/);
    assert.match(st.out, /refs\/lanes\/snapshots\//);
  });

  it('clean skips a run that is still active', async () => {
    const repo = newRepo();
    const pids = path.join(tempDir(), 'pids');
    writePlan(repo, [{ id: 'a', agent: agent(`hang=${pids}`) }], { isolation: 'none' });
    await runPlan(repo, {}, (o) => {
      void waitFor(() => existsSync(pids)).then(async () => {
        const acts = await cleanRuns({ repo: repo.dir, commonDir: o.commonDir });
        assert.equal(acts[0]!.action, 'skipped');
        assert.match(acts[0]!.detail, /still active/);
        o.cancel();
      });
    });
  });
});

describe('run folders', () => {
  it('a folder without a state file (killed before its first write) hides no earlier run', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: agent('write=a.txt:x') }]);
    const { state } = await runPlan(repo);
    const common = await commonDir(repo.dir);
    mkdirSync(path.join(common, 'lanes', 'runs', '29991231-235959-0000'), { recursive: true });
    assert.deepEqual(await listRuns(common), [state.runId]);
    const st = await lanes(repo.dir, ['status', '--json']);
    assert.equal(JSON.parse(st.out).run.runId, state.runId);
  });
});

describe('run ids', () => {

  it('sort in creation order, also within one second', async () => {
    const { newRunId } = await import('../../src/core/run/state');
    const base = Date.UTC(2026, 10, 24, 14, 3, 55, 0);
    const ids = [0, 1, 17, 250, 999].map((ms) => newRunId(new Date(base + ms)));
    assert.deepEqual([...ids].sort(), ids);
    assert.ok(ids.every((id) => /^\d{8}-\d{6}-[0-9a-f]{4}$/.test(id)));
  });
});
