/**
 * The engine's parts on their own, against real git and real processes: the lane workspace,
 * one attempt, and the local lane runner. (The scheduler and the judge are pure: test/unit.)
 */
import * as assert from 'node:assert/strict';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { resolveAgent } from '../../src/core/agents/resolve';
import { LaneGraph } from '../../src/core/plan/graph';
import type { Plan } from '../../src/core/plan/schema';
import { AttemptContext, runAttempt } from '../../src/core/run/attempt';
import { MemoryMirror } from '../../src/core/run/memory';
import { LocalProcessRunner } from '../../src/core/run/runner';
import { LaneState, laneBranch, runPaths } from '../../src/core/run/state';
import { LaneWorkspace, WorkspaceContext } from '../../src/core/run/workspace';
import { cleanEnv } from '../../src/core/util/proc';
import { AGENT, alive, newRepo, waitFor } from '../helpers/engine';
import { tempDir, TempRepo } from '../helpers/repo';

function lane(id: string, wt: string): LaneState {
  return { id, status: 'queued', branch: laneBranch('r1', id), worktree: path.join(wt, id), busyMs: 0, attempts: [], warnings: [], portBase: 30000 };
}

function setup(repo: TempRepo, plan: Plan) {
  const commonDir = path.join(repo.dir, '.git');
  const wt = tempDir('lanes-wt-');
  const lanes = new Map(plan.lanes.map((l) => [l.id, lane(l.id, wt)]));
  const ctx: WorkspaceContext = {
    repoRoot: repo.dir,
    commonDir,
    runId: 'r1',
    baseCommit: repo.git('rev-parse', 'HEAD'),
    plan,
    graph: new LaneGraph(plan.lanes),
    identity: {},
    lane: (id) => lanes.get(id)!,
  };
  return { ctx, ws: new LaneWorkspace(ctx), lanes, commonDir };
}

const plan = (lanes: Plan['lanes']): Plan => ({ version: 1, goal: 'g', lanes }) as Plan;

describe('lane workspace', () => {
  it('creates a filled worktree on its branch, reuses it, and commits leftovers with the trailers', async () => {
    const repo = newRepo();
    const { ws, lanes, ctx } = setup(repo, plan([{ id: 'impl', brief: 'Add the thing\nmore' }] as Plan['lanes']));
    const l = lanes.get('impl')!;
    const first = await ws.ensure(l, ctx.baseCommit);
    assert.deepEqual([first.created, first.reusedBranch, first.head], [true, false, ctx.baseCommit]);
    assert.equal(readFileSync(path.join(l.worktree, 'src/a.ts'), 'utf8'), 'export const a = 1;\n', 'filled');
    const again = await ws.ensure(l, ctx.baseCommit);
    assert.deepEqual([again.created, again.reusedBranch], [false, true]);

    assert.deepEqual(await ws.commitLeftovers(l, 'script', 1), { committed: false, head: ctx.baseCommit });
    mkdirSync(path.join(l.worktree, 'lib'), { recursive: true });
    writeFileSync(path.join(l.worktree, 'lib/x.ts'), 'x\n');
    assert.equal((await ws.commitLeftovers(l, 'script', 1)).committed, true);
    const msg = repo.git('log', '-1', '--format=%B', l.branch);
    assert.match(msg, /^lanes\(impl\): Add the thing\n/);
    assert.match(msg, /Lanes-Lane: impl\nLanes-Role: implement\nLanes-Agent: script\nLanes-Run: r1\nLanes-Attempt: 1/);
  });

  it('starts a dependent lane from its dependencies, and brings a moved dependency into it later', async () => {
    const repo = newRepo();
    const { ws, lanes, ctx } = setup(repo, plan([{ id: 'impl', brief: 'i' }, { id: 'tests', brief: 't', dependsOn: ['impl'] }] as Plan['lanes']));
    const impl = lanes.get('impl')!;
    const tests = lanes.get('tests')!;
    await ws.ensure(impl, ctx.baseCommit);
    writeFileSync(path.join(impl.worktree, 'impl.txt'), 'v1\n');
    await ws.commitLeftovers(impl, 'script', 1);
    impl.head = repo.git('rev-parse', impl.branch);
    const start = await ws.startPoint(tests);
    assert.equal(start, impl.head, 'one dependency: its head');
    await ws.ensure(tests, start);
    assert.equal(readFileSync(path.join(tests.worktree, 'impl.txt'), 'utf8'), 'v1\n');
    assert.deepEqual(await ws.refreshFromDependencies(tests), {}, 'nothing moved');

    writeFileSync(path.join(impl.worktree, 'impl.txt'), 'v2\n');
    await ws.commitLeftovers(impl, 'script', 2);
    impl.head = repo.git('rev-parse', impl.branch);
    const r = await ws.refreshFromDependencies(tests);
    assert.equal(r.problem, undefined);
    assert.equal(r.base, impl.head);
    assert.equal(readFileSync(path.join(tests.worktree, 'impl.txt'), 'utf8'), 'v2\n', 'the new work is in the lane');
  });
});

describe('lane workspace: never a mass deletion nobody made', () => {
  it('refuses to commit a worktree that lost every tracked file, and leaves the branch as it was', async () => {
    const repo = newRepo();
    const { ws, lanes, ctx } = setup(repo, plan([{ id: 'x', brief: 'b' }] as Plan['lanes']));
    const l = lanes.get('x')!;
    await ws.ensure(l, ctx.baseCommit);
    for (const f of ['README.md', 'src/a.ts', '.lanes/plan.json']) rmSync(path.join(l.worktree, f), { force: true });
    writeFileSync(path.join(l.worktree, 'stray.txt'), 's\n');
    await assert.rejects(ws.commitLeftovers(l, 'script', 1), /every tracked file \(\d+\) is gone from the lane's worktree/);
    assert.equal(repo.git('rev-parse', l.branch), ctx.baseCommit, 'nothing committed');
  });
});

describe('one attempt', () => {

  it('runs the agent through the runner, notices its own commits while it works, commits leftovers and verifies', async () => {
    const repo = newRepo();
    const p = plan([{ id: 'a', brief: 'b', verify: ['test', '-f', 'left.txt'] }] as Plan['lanes']);
    const { ws, lanes, ctx } = setup(repo, p);
    const l = lanes.get('a')!;
    await ws.ensure(l, ctx.baseCommit);
    l.base = ctx.baseCommit;
    const paths = runPaths(ctx.commonDir, 'r1');
    for (const d of [paths.logs, paths.briefs, paths.memory, path.join(l.worktree, '.lanes/memory')]) mkdirSync(d, { recursive: true });
    const statuses: string[] = [];
    const commits: string[] = [];
    const c: AttemptContext = {
      runId: 'r1',
      repoRoot: repo.dir,
      plan: p,
      graph: ctx.graph,
      paths,
      runner: new LocalProcessRunner(),
      workspace: ws,
      lane: (id) => lanes.get(id)!,
      env: (x, briefFile, _b, attempt) => cleanEnv({ LANES_BRIEF_FILE: briefFile, LANES_ATTEMPT: String(attempt), LANES_LANE: 'a', LANES_MEMORY_FILE: path.join(x.worktree, '.lanes/memory/a.md') }),

      setStatus: (_l, st, reason) => statuses.push(`${st}${reason ? `: ${reason}` : ''}`),
      persist: () => undefined,
      warn: (m) => assert.fail(m),
      guard: async () => undefined,
      collectMemory: (x) => new MemoryMirror(paths.memory).collect(x),
      collectFindings: async () => 0,
      findingsFor: async () => [],
      onCommit: (_l, head) => commits.push(head),
    };
    const agent = resolveAgent(p, p.lanes[0]!, { command: ['node', AGENT, 'write=mid.txt:m', 'commit=mid', 'sleep=2600', 'write=left.txt:l', 'memory=left.txt is the sign'] });
    const log = createWriteStream(path.join(paths.logs, 'a.log'));
    const out: string[] = [];
    const { outcome, rec } = await runAttempt(c, { l, lane: p.lanes[0]!, agent, start: ctx.baseCommit, timeoutMs: 60_000, signal: new AbortController().signal, log, output: (chunk) => out.push(chunk) });
    await new Promise<void>((r) => log.end(r));
    assert.equal(commits.length, 2, 'the commit the agent made while working, then the leftover commit');
    assert.deepEqual([outcome.exitCode, outcome.changed, outcome.cancelled], [0, true, false]);
    assert.deepEqual(outcome.verify && [outcome.verify.command, outcome.verify.passed], ['test -f left.txt', true]);
    assert.deepEqual(statuses, ['running: attempt 1: custom', 'verifying: test -f left.txt']);
    assert.equal(rec.attempt, 1);
    assert.ok(existsSync(rec.briefFile));
    assert.match(out.join(''), /agent a done \(attempt 1\)/);
    assert.match(readFileSync(path.join(paths.logs, 'a.log'), 'utf8'), /\[lanes\] ===== attempt 1/);
    assert.equal(readFileSync(path.join(paths.memory, 'a.md'), 'utf8'), 'left.txt is the sign\n', "the agent's note reached the run's memory");
  });
});

describe('local lane runner', () => {
  it('stops the whole process tree on abort', async () => {
    const pids = path.join(tempDir(), 'pids');
    const ac = new AbortController();
    const running = new LocalProcessRunner().run({ argv: ['node', AGENT, `hang=${pids}`], cwd: tempDir(), env: cleanEnv(), signal: ac.signal });
    await waitFor(() => existsSync(pids), 10000, 'the agent');
    const [a, child] = readFileSync(pids, 'utf8').trim().split(' ').map(Number);
    ac.abort();
    const r = await running;
    assert.equal(r.cancelled, true);
    await waitFor(() => !alive(a!) && !alive(child!), 10000, 'the tree to end');
  });
});
