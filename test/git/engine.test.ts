import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { commonDir } from '../../src/core/git/git';
import { ensureWorktree, listWorktrees } from '../../src/core/git/worktrees';
import { Orchestrator, RunError } from '../../src/core/run/orchestrator';
import { readState, runPaths } from '../../src/core/run/state';
import { agent, alive, newRepo, readText, runPlan, statusOf, waitFor, writePlan } from '../helpers/engine';
import { tempDir } from '../helpers/repo';
import { lanes } from '../helpers/cli';

describe('fan-out engine', function () {
  this.timeout(60000);

  it('runs independent lanes in parallel and dependent lanes from their dependency\'s verified head', async () => {
    const repo = newRepo();
    writePlan(repo, [
      { id: 'impl', agent: agent('write=src/b.ts:export const b = 2;', 'memory=b is 2'), verify: 'test -f src/b.ts' },
      { id: 'docs', agent: agent('write=docs/b.md:# b') },
      { id: 'tests', dependsOn: ['impl'], agent: agent('write=test/b.test.ts:b'), verify: ['test', '-f', 'src/b.ts'] },
    ]);
    const base = repo.git('rev-parse', 'HEAD');
    const { state, events } = await runPlan(repo);
    assert.deepEqual(statusOf(state), { impl: 'passed', docs: 'passed', tests: 'passed' });
    const [impl, docs, tests] = state.lanes;
    assert.equal(impl!.base, base);
    assert.equal(docs!.base, base);
    assert.equal(tests!.base, impl!.head, 'a dependent lane starts from its dependency\'s head');
    assert.equal(repo.git('rev-parse', `${tests!.head}~1`), impl!.head);
    assert.equal(impl!.branch, `lanes/${state.runId}/impl`);
    // Lane commits carry trailers naming the lane, role, agent and run.
    const msg = repo.git('log', '-1', '--format=%B', impl!.head!);
    assert.match(msg, /^Lanes-Lane: impl$/m);
    assert.match(msg, /^Lanes-Role: implement$/m);
    assert.match(msg, /^Lanes-Agent: custom$/m);
    assert.match(msg, new RegExp(`^Lanes-Run: ${state.runId}$`, 'm'));
    // Every status change is an event, in order.
    const implStatuses = events.filter((e) => e.type === 'lane-status' && e.lane === 'impl').map((e) => (e as { status: string }).status);
    assert.deepEqual([...new Set(implStatuses)], ['running', 'verifying', 'passed']);
    const testStatuses = events.filter((e) => e.type === 'lane-status' && e.lane === 'tests').map((e) => (e as { status: string }).status);
    assert.equal(testStatuses[0], 'blocked');
    // The later lane's brief includes what the earlier lane wrote to the shared memory.
    const brief = readText(tests!.attempts[0]!.briefFile);
    assert.match(brief, /### from `impl`\n\nb is 2/);
    // The user's checkout is untouched and nothing is in its status.
    assert.equal(repo.git('status', '--porcelain'), '');
  });

  it('starts a lane with several dependencies from the merge of their heads', async () => {
    const repo = newRepo();
    writePlan(repo, [
      { id: 'a', agent: agent('write=a.txt:a') },
      { id: 'b', agent: agent('write=b.txt:b') },
      { id: 'c', dependsOn: ['a', 'b'], agent: agent('write=c.txt:c'), verify: 'test -f a.txt && test -f b.txt' },
    ]);
    const { state } = await runPlan(repo);
    assert.deepEqual(statusOf(state), { a: 'passed', b: 'passed', c: 'passed' });
    const c = state.lanes[2]!;
    const parents = repo.git('log', '-1', '--format=%P', c.base!).split(' ');
    assert.deepEqual(parents, [state.lanes[0]!.head, state.lanes[1]!.head]);
  });

  it('fails a lane whose dependencies conflict, with the files', async () => {
    const repo = newRepo();
    writePlan(repo, [
      { id: 'a', agent: agent('write=same.txt:from a') },
      { id: 'b', agent: agent('write=same.txt:from b') },
      { id: 'c', dependsOn: ['a', 'b'], agent: agent('write=c.txt:c') },
    ]);
    const { state } = await runPlan(repo);
    assert.equal(state.lanes[2]!.status, 'failed');
    assert.match(state.lanes[2]!.reason!, /its dependencies conflict: a and b conflict in same\.txt/);
  });

  it('respects maxParallel', async () => {
    const repo = newRepo();
    const rec = path.join(tempDir(), 'record.txt');
    writePlan(
      repo,
      ['l1', 'l2', 'l3', 'l4', 'l5'].map((id) => ({ id, agent: agent(`record=${rec}`, 'sleep=300', `write=${id}.txt:x`) })),
      { maxParallel: 2 },
    );
    const { state } = await runPlan(repo);
    assert.ok(state.lanes.every((l) => l.status === 'passed'));
    const evts = readText(rec)
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([k, , t]) => ({ k, t: Number(t) }))
      .sort((x, y) => x.t - y.t || (x.k === 'end' ? -1 : 1));
    let cur = 0;
    let max = 0;
    for (const e of evts) {
      cur += e.k === 'start' ? 1 : -1;
      max = Math.max(max, cur);
    }
    assert.equal(max, 2);
  });

  it('reports an agent that changed nothing as failed, and skips what depends on it while unrelated lanes go on', async () => {
    const repo = newRepo();
    writePlan(repo, [
      { id: 'lazy', agent: agent('sleep=10') },
      { id: 'after', dependsOn: ['lazy'], agent: agent('write=x.txt:x') },
      { id: 'later', dependsOn: ['after'], agent: agent('write=y.txt:y') },
      { id: 'other', agent: agent('write=o.txt:o') },
    ]);
    const { state } = await runPlan(repo);
    assert.deepEqual(statusOf(state), { lazy: 'failed', after: 'skipped', later: 'skipped', other: 'passed' });
    assert.equal(state.lanes[0]!.reason, 'the agent exited 0 but changed nothing (no commits and no changes in the worktree)');
    assert.match(state.lanes[1]!.reason!, /^dependency lazy failed/);
    assert.match(state.lanes[2]!.reason!, /^dependency after skipped/);
  });

  it('passes a lane only when its verify exits 0, and accepts commits the agent made itself', async () => {
    const repo = newRepo();
    writePlan(repo, [
      { id: 'bad', agent: agent('write=x.txt:x'), verify: 'exit 4' },
      { id: 'self', agent: agent('write=s.txt:s', 'commit=agent commit'), verify: 'test -f s.txt' },
    ]);
    const { state } = await runPlan(repo);
    assert.deepEqual(statusOf(state), { bad: 'failed', self: 'passed' });
    assert.equal(state.lanes[0]!.reason, 'verify `exit 4` failed: exit code 4');
    assert.equal(state.lanes[0]!.attempts[0]!.verify!.exitCode, 4);
    assert.equal(repo.git('log', '-1', '--format=%s', state.lanes[1]!.head!), 'agent commit');
  });

  it('retries a failed lane with the failure (exit code, output, verify output) in the next brief', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'flaky', retries: 2, agent: agent('fail-first=3', 'write=f.txt:ok') }]);
    const { state, events } = await runPlan(repo);
    const l = state.lanes[0]!;
    assert.equal(l.status, 'passed');
    assert.equal(l.attempts.length, 2);
    assert.equal(l.attempts[0]!.exitCode, 3);
    const second = readText(l.attempts[1]!.briefFile);
    assert.match(second, /## Attempt 2: the previous attempt failed/);
    assert.match(second, /the custom agent failed: exit code 3/);
    assert.match(second, /failing on purpose: attempt 1/);
    assert.ok(events.some((e) => e.type === 'warning' && /attempt 1 failed .*retrying/.test(e.message)));

    const repo2 = newRepo();
    writePlan(repo2, [{ id: 'v', retries: 1, agent: agent('append=v.txt:x'), verify: 'echo "verify says no" >&2; exit 1' }]);
    const r2 = await runPlan(repo2);
    assert.equal(r2.state.lanes[0]!.status, 'failed');
    assert.equal(r2.state.lanes[0]!.attempts.length, 2);
    assert.match(readText(r2.state.lanes[0]!.attempts[1]!.briefFile), /Output of the verify command:\nverify says no/);
  });

  it('times out a hanging agent and leaves no process behind', async () => {
    const repo = newRepo();
    const pids = path.join(tempDir(), 'pids');
    writePlan(repo, [{ id: 'hang', timeoutMinutes: 0.02, agent: agent(`hang=${pids}`) }], { isolation: 'none' });
    const { state } = await runPlan(repo);
    assert.equal(state.lanes[0]!.status, 'timed-out');
    const [agentPid, childPid] = readText(pids).split(' ').map(Number);
    await waitFor(() => !alive(agentPid!) && !alive(childPid!), 5000, 'the agent and its child to die');
  });

  it('cancels one lane (whole process tree), skips its dependents, and lets the rest finish', async () => {
    const repo = newRepo();
    const pids = path.join(tempDir(), 'pids');
    writePlan(repo, [
      { id: 'stuck', agent: agent(`hang=${pids}`) },
      { id: 'after', dependsOn: ['stuck'], agent: agent('write=a.txt:a') },
      { id: 'fine', agent: agent('sleep=200', 'write=f.txt:f') },
    ], { isolation: 'none' });
    const { state } = await runPlan(repo, {}, (o) => {
      void waitFor(() => existsSync(pids)).then(() => o.cancelLane('stuck'));
    });
    assert.deepEqual(statusOf(state), { stuck: 'cancelled', after: 'skipped', fine: 'passed' });
    const [agentPid, childPid] = readText(pids).split(' ').map(Number);
    await waitFor(() => !alive(agentPid!) && !alive(childPid!), 5000, 'the cancelled tree to die');
  });

  it('cancels the whole run', async () => {
    const repo = newRepo();
    const pids = path.join(tempDir(), 'pids');
    writePlan(repo, [{ id: 'a', agent: agent(`hang=${pids}`) }, { id: 'b', dependsOn: ['a'], agent: agent('write=b:b') }], { isolation: 'none' });
    const { state } = await runPlan(repo, {}, (o) => void waitFor(() => existsSync(pids)).then(() => o.cancel()));
    assert.equal(state.status, 'cancelled');
    assert.deepEqual(statusOf(state), { a: 'cancelled', b: 'skipped' });
    const [agentPid, childPid] = readText(pids).split(' ').map(Number);
    await waitFor(() => !alive(agentPid!) && !alive(childPid!), 5000, 'the tree to die');
  });

  it('delivers brief text with quotes, $(), backticks and newlines unchanged, as argv, file and env', async () => {
    const repo = newRepo();
    const dir = tempDir();
    const hostile = 'Fix "quotes" and \'single\' $(touch /tmp/lanes-pwned) `id` ; rm -rf / && echo \\n\nline two {lane} ünïcødé';
    writePlan(repo, [{ id: 'h', brief: hostile, agent: agent(`brief-to=${dir}/argv.txt`, '{brief}', `env-to=${dir}/env.json`, 'write=x:x') }], { goal: 'goal with $(whoami) and `backticks`' });
    const { state } = await runPlan(repo);
    assert.equal(state.lanes[0]!.status, 'passed');
    const briefFile = readText(state.lanes[0]!.attempts[0]!.briefFile);
    assert.equal(readText(`${dir}/argv.txt`), briefFile, '{brief} is the whole brief as one argument');
    assert.ok(briefFile.includes(hostile), 'the lane brief is in the brief text verbatim');
    assert.ok(briefFile.includes('goal with $(whoami) and `backticks`'));
    const env = JSON.parse(readText(`${dir}/env.json`));
    assert.equal(env.LANES_BRIEF, briefFile);
    assert.equal(env.LANES_LANE, 'h');
    assert.equal(env.LANES_RUN, state.runId);
    assert.equal(env.LANES_BRIEF_FILE, state.lanes[0]!.attempts[0]!.briefFile);
    assert.equal(env.LANES_MEMORY_DIR, path.join(state.lanes[0]!.worktree, '.lanes', 'memory'), "the lane's view of the shared memory is inside its worktree (agents may write there)");
    assert.equal(env.LANES_MEMORY_FILE, path.join(env.LANES_MEMORY_DIR, 'h.md'));
    assert.match(env.LANES_PORT_BASE, /^\d+$/);
    assert.equal(env.GIT_DIR, undefined, 'agents never inherit GIT_DIR');
    assert.equal(existsSync('/tmp/lanes-pwned'), false);
  });

  it('gives every lane its own port range and worktree outside the checkout', async () => {
    const repo = newRepo();
    const dir = tempDir();
    writePlan(repo, ['a', 'b', 'c'].map((id) => ({ id, agent: agent(`env-to=${dir}/${id}.json`, 'write=x:x') })));
    const { state } = await runPlan(repo);
    const bases = ['a', 'b', 'c'].map((id) => Number(JSON.parse(readText(`${dir}/${id}.json`)).LANES_PORT_BASE));
    assert.equal(new Set(bases).size, 3);
    for (const l of state.lanes) assert.ok(!l.worktree.startsWith(repo.dir + path.sep), l.worktree);
  });

  it('flags an agent that writes into the main checkout', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'rogue', agent: agent('escape=stray.txt', 'write=x:x') }], { isolation: 'none' });
    const { state, events } = await runPlan(repo);
    const w = state.lanes[0]!.warnings.find((x) => x.includes('stray.txt'));
    assert.ok(w, JSON.stringify(state.lanes[0]!.warnings));
    assert.match(w!, /WARNING: the main checkout changed: stray\.txt while lane rogue ran/);
    assert.ok(events.some((e) => e.type === 'warning' && e.lane === 'rogue'));
  });

  it('leaves .git/config and hooks unchanged and worktrees locked while in use', async () => {
    const repo = newRepo();
    const config = readFileSync(path.join(repo.dir, '.git/config'), 'utf8');
    const hooks = readdirSync(path.join(repo.dir, '.git/hooks')).sort();
    let lockedDuring = false;
    writePlan(repo, [{ id: 'a', agent: agent('sleep=300', 'write=x:x') }]);
    await runPlan(repo, {}, (o) => {
      o.onEvent((e) => {
        if (e.type === 'lane-status' && e.status === 'running' && e.reason?.startsWith('attempt')) {
          void listWorktrees(repo.dir).then((ws) => (lockedDuring = ws.some((w) => w.branch?.endsWith('/a') && w.locked)));
        }
      });
    });
    await waitFor(() => lockedDuring, 3000, 'the lock check');
    assert.equal(readFileSync(path.join(repo.dir, '.git/config'), 'utf8'), config);
    assert.deepEqual(readdirSync(path.join(repo.dir, '.git/hooks')).sort(), hooks);
  });

  it('rejects invalid plans and hostile ids before anything reaches git or the file system', async () => {
    const repo = newRepo();
    const before = repo.git('for-each-ref');
    for (const id of ['../../escape', '-rf', 'a b', 'x.lock', 'a@{1}']) {
      writePlan(repo, [{ id, agent: agent('write=x:x') }], {}, false);
      await assert.rejects(Orchestrator.prepare({ cwd: repo.dir, worktreeRoot: tempDir() }), (e: unknown) => e instanceof RunError && e.reason === 'invalidPlan' && /not a safe lane id/.test(e.message));
    }
    assert.equal(repo.git('for-each-ref'), before);
    assert.equal(repo.git('worktree', 'list').split('\n').length, 1);
    assert.equal(existsSync(path.join(await commonDir(repo.dir), 'lanes')), false);
  });

  it('creates 12 worktrees at once with no failures and no leftovers', async () => {
    const repo = newRepo();
    for (let i = 0; i < 200; i++) repo.write(`files/f${i}.txt`, `file ${i}\n`);
    const base = repo.commitAll('many files');
    const common = await commonDir(repo.dir);
    const root = tempDir();
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        ensureWorktree({ repo: repo.dir, commonDir: common, branch: `lanes/t/l${i}`, dir: path.join(root, `l${i}`), startPoint: base, lockReason: 'test' }),
      ),
    );
    assert.ok(results.every((r) => r.created && r.head === base));
    const wts = await listWorktrees(repo.dir);
    assert.equal(wts.length, 13);
    assert.ok(wts.slice(1).every((w) => w.locked));
    for (let i = 0; i < 12; i++) assert.equal(repo.git('-C', path.join(root, `l${i}`), 'status', '--porcelain'), '', `worktree ${i} is clean and complete`);
    assert.equal(readdirSync(path.join(repo.dir, '.git')).filter((f) => f.endsWith('.lock')).length, 0);
    assert.doesNotMatch(readFileSync(path.join(repo.dir, '.git/config'), 'utf8'), /\[branch/, 'no upstream config written');
    // Idempotent: again, and a branch whose worktree is missing is picked up.
    const again = await ensureWorktree({ repo: repo.dir, commonDir: common, branch: 'lanes/t/l0', dir: path.join(root, 'l0'), startPoint: base, lockReason: 'test' });
    assert.equal(again.created, false);
    repo.git('branch', 'lanes/t/orphan', base);
    const picked = await ensureWorktree({ repo: repo.dir, commonDir: common, branch: 'lanes/t/orphan', dir: path.join(root, 'orphan'), startPoint: base, lockReason: 'test' });
    assert.equal(picked.created, true);
    assert.equal(picked.reusedBranch, true);
  });

  it('persists state under the git common dir, atomically', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: agent('write=x:x') }]);
    const { state, o } = await runPlan(repo);
    const p = runPaths(o.commonDir, state.runId);
    const disk = await readState(o.commonDir, state.runId);
    assert.equal(disk.lanes[0]!.status, 'passed');
    assert.equal(disk.stateVersion, 1);
    assert.ok(p.state.startsWith(path.join(repo.dir, '.git', 'lanes')));
    assert.deepEqual(readdirSync(p.dir).filter((f) => f.endsWith('.tmp')), []);
    assert.match(readText(path.join(p.logs, 'a.log')), /agent a done/);
  });
});

describe('repository features lanes handle partly', () => {
  it('warns about submodules and Git LFS up front', async () => {
    const { repositoryWarnings } = await import('../../src/core/run/orchestrator');
    const repo = newRepo();
    assert.deepEqual(await repositoryWarnings(repo.dir), []);
    repo.write('.gitmodules', '[submodule "lib"]\n\tpath = lib\n\turl = ../lib\n');
    repo.write('.gitattributes', '*.bin filter=lfs diff=lfs merge=lfs -text\n');
    const w = await repositoryWarnings(repo.dir);
    assert.equal(w.length, 2);
    assert.match(w[0]!, /submodules/);
    assert.match(w[1]!, /Git LFS/);
  });
});

describe('processes that die with their orchestrator', function () {
  this.timeout(30000);

  it('stops the whole tree when the parent is killed with SIGKILL (dieWithParent)', async () => {
    const { spawn } = await import('node:child_process');
    const dir = tempDir();
    const pids = path.join(dir, 'pids');
    const script = path.join(dir, 'parent.ts');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      script,
      `import { run } from ${JSON.stringify(path.resolve(__dirname, '../../src/core/util/proc'))};\n` +
        `void run(['node', ${JSON.stringify(path.resolve(__dirname, '../fixtures/agents/agent.js'))}, 'hang=${pids}'], { dieWithParent: true });\n` +
        `setInterval(() => {}, 1000);\n`,
    );
    const parent = spawn(process.execPath, ['--import', require.resolve('tsx'), script], { stdio: 'ignore' });
    try {
      await waitFor(() => existsSync(pids), 15000, 'the agent to start');
      const [agentPid, childPid] = readText(pids).split(' ').map(Number);
      assert.ok(alive(agentPid!) && alive(childPid!));
      parent.kill('SIGKILL');
      await waitFor(() => !alive(agentPid!) && !alive(childPid!), 8000, 'the orphaned tree to stop itself');
    } finally {
      parent.kill('SIGKILL');
    }
  });
});

describe('worktree setup from the plan', function () {
  this.timeout(60000);

  it('copies only the listed untracked files and runs the setup commands in each new worktree', async () => {
    const repo = newRepo();
    writeFileSync(path.join(repo.dir, '.gitignore'), '.env\nsecret.key\n');
    repo.commitAll('ignore');
    writeFileSync(path.join(repo.dir, '.env'), 'TOKEN=abc\n');
    writeFileSync(path.join(repo.dir, 'secret.key'), 'do not copy\n');
    writePlan(repo, [{ id: 'a', agent: agent('write=x.txt:x'), verify: 'test -f .env && test ! -f secret.key && test -f setup-ran.txt' }], {
      worktree: { copy: ['.env'], setup: ['echo "$LANES_LANE" > setup-ran.txt', ['sh', '-c', 'test -f .env']] },
    });
    const { state } = await runPlan(repo);
    assert.equal(state.lanes[0]!.status, 'passed', state.lanes[0]!.reason);
    assert.equal(readText(path.join(state.lanes[0]!.worktree, '.env')), 'TOKEN=abc\n');
    assert.equal(readText(path.join(state.lanes[0]!.worktree, 'setup-ran.txt')), 'a\n');
  });

  it('never copies a link out of the lane: a symlink inside the repository becomes its content, one pointing outside is refused', async () => {
    const repo = newRepo();
    const outside = path.join(tempDir('lanes-outside-'), 'secret.txt');
    writeFileSync(outside, 'the user\'s secret\n');
    writeFileSync(path.join(repo.dir, '.gitignore'), '.env\nconf/\nreal.env\n');
    repo.commitAll('ignore');
    writeFileSync(path.join(repo.dir, 'real.env'), 'TOKEN=abc\n');
    symlinkSync('real.env', path.join(repo.dir, '.env'));
    mkdirSync(path.join(repo.dir, 'conf'));
    writeFileSync(path.join(repo.dir, 'conf', 'ok.txt'), 'ok\n');
    symlinkSync(outside, path.join(repo.dir, 'conf', 'leak.txt'));
    writePlan(repo, [{ id: 'a', agent: agent('write=x.txt:x') }], { worktree: { copy: ['.env', 'conf'] } });
    const { state } = await runPlan(repo);
    const wt = state.lanes[0]!.worktree;
    assert.equal(state.lanes[0]!.status, 'passed', state.lanes[0]!.reason);
    assert.equal(lstatSync(path.join(wt, '.env')).isSymbolicLink(), false, 'a file, not a link to the user\'s .env');
    assert.equal(readText(path.join(wt, '.env')), 'TOKEN=abc\n');
    assert.equal(readText(path.join(wt, 'conf', 'ok.txt')), 'ok\n');
    assert.equal(existsSync(path.join(wt, 'conf', 'leak.txt')), false, 'the link out of the repository was not copied');
    assert.ok(state.lanes[0]!.warnings.some((w) => w === `worktree.copy: "conf/leak.txt" is a symlink to ${outside}, outside the repository: not copied`), JSON.stringify(state.lanes[0]!.warnings));
  });

  it('rejects a context file that is a symlink out of the repository, and never puts its text in a brief', async () => {
    const repo = newRepo();
    const outside = path.join(tempDir('lanes-outside-'), 'id_rsa');
    writeFileSync(outside, 'PRIVATE KEY\n');
    symlinkSync(outside, path.join(repo.dir, 'notes.md'));
    repo.commitAll('a hostile repository commits a link');
    writePlan(repo, [{ id: 'a', agent: agent('write=x.txt:x') }], { context: ['notes.md'] });
    const r = await lanes(repo.dir, ['validate']);
    assert.equal(r.code, 1);
    assert.match(r.out + r.err, /"notes\.md" is a symlink to a file outside the repository; context files must be inside it/);
    await assert.rejects(Orchestrator.prepare({ cwd: repo.dir, worktreeRoot: tempDir() }), /symlink to a file outside the repository/);
  });

  it('fails the lane with the command and its output when a setup command fails', async () => {

    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: agent('write=x.txt:x') }], { worktree: { setup: ['echo "npm ci broke" >&2; exit 7'] } });
    const { state } = await runPlan(repo);
    assert.equal(state.lanes[0]!.status, 'failed');
    assert.match(state.lanes[0]!.reason!, /^setup command `echo "npm ci broke" >&2; exit 7` exit code 7: npm ci broke/);
    assert.equal(state.lanes[0]!.attempts.length, 0, 'the agent never started');
  });
});

describe('more faults the engine survives', function () {
  this.timeout(60000);

  it('a brief too long for one argument goes by file (inside the worktree, never committed); {brief} points at it', async () => {
    const repo = newRepo();
    repo.write('notes1.md', 'n'.repeat(68_000));
    repo.write('notes2.md', 'm'.repeat(68_000));
    repo.commitAll('big context');
    const AGENT_JS = path.join(__dirname, '../fixtures/agents/agent.js');
    writePlan(repo, [{ id: 'long', agent: { command: ['node', AGENT_JS, 'brief-to=brief-arg.txt', '{brief}'] } }, { id: 'other', agent: agent('write=o.txt:o') }], { context: ['notes1.md', 'notes2.md'] });
    const { state } = await runPlan(repo);
    assert.deepEqual(statusOf(state), { long: 'passed', other: 'passed' });
    const l = state.lanes[0]!;
    const arg = repo.git('show', `${l.branch}:brief-arg.txt`);
    assert.match(arg, /^Your brief is too long to pass on the command line \(\d+ bytes\)\. It is in the file .*\/\.lanes\/run\/brief\.md/);
    assert.equal(readText(path.join(l.worktree, '.lanes/run/brief.md')), readText(l.attempts[0]!.briefFile), 'the whole brief, in the worktree');
    assert.doesNotMatch(repo.git('ls-tree', '-r', '--name-only', l.branch), /\.lanes\/run/, 'never committed');
  });

  it('a spawn that fails at once (E2BIG from a huge environment) fails the lane with the reason, and the run ends', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'huge', agent: agent('write=h.txt:h'), env: { HUGE: 'x'.repeat(200_000) } } as never]);
    const { state } = await runPlan(repo);
    assert.equal(state.lanes[0]!.status, 'failed');
    assert.match(state.lanes[0]!.reason!, /^could not start the custom agent \(node\): its command line is too long/);
  });

  it('mirrors the shared memory: a note reaches a running lane within seconds and a later lane\'s brief, and is never committed', async () => {
    const repo = newRepo();
    writePlan(repo, [
      { id: 'impl', agent: agent('memory=the API is greet(name)', 'sleep=4000', 'write=src/greet.ts:export const greet = 1;') },
      { id: 'docs', agent: agent('await-memory=impl', 'write=docs.md:docs') },
      { id: 'tests', dependsOn: ['impl'], agent: agent('write=t.txt:t') },
    ]);
    const { state } = await runPlan(repo);
    assert.deepEqual(statusOf(state), { impl: 'passed', docs: 'passed', tests: 'passed' });
    // docs ran alongside impl and saw its note appear in its own memory folder while impl still worked.
    assert.equal(repo.git('show', `${state.lanes[1]!.branch}:seen-impl.txt`), 'the API is greet(name)');
    // tests started after impl: the note is in its brief.
    const brief = readText(state.lanes[2]!.attempts[0]!.briefFile);
    assert.match(brief, /### from `impl`\n\nthe API is greet\(name\)/);
    // The run's store holds it; no lane's commit does; the user's checkout status stays clean.
    const common = await commonDir(repo.dir);
    assert.equal(readText(path.join(runPaths(common, state.runId).memory, 'impl.md')), 'the API is greet(name)\n');
    for (const l of state.lanes) assert.doesNotMatch(repo.git('ls-tree', '-r', '--name-only', l.branch), /\.lanes\/memory/, l.id);
    assert.equal(repo.git('status', '--porcelain'), '');
    assert.match(readText(path.join(common, 'info', 'exclude')), /^\/\.lanes\/memory\/$/m);
  });

  it("parses a CLI's machine-readable output: readable text in the terminal and log, usage in the state, the raw stream kept", async () => {
    const repo = newRepo();
    // A stand-in named claude that prints Claude Code's real stream-json (test/fixtures/streams).
    const bin = tempDir('lanes-fake-claude-');
    const fixture = path.join(__dirname, '../fixtures/streams/claude.jsonl');
    writeFileSync(path.join(bin, 'claude'), `#!/usr/bin/env node\nrequire('fs').writeFileSync('hello.txt', 'hi\\n');\nprocess.stdout.write(require('fs').readFileSync(${JSON.stringify(fixture)}, 'utf8'));\n`, { mode: 0o755 });
    writePlan(repo, [{ id: 'c', agent: { command: ['claude', '-p', '{brief}', '--output-format', 'stream-json', '--verbose'] } }]);
    const out: string[] = [];
    const { state } = await runPlan(repo, { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } }, (o) => o.onEvent((e) => e.type === 'lane-output' && out.push(e.chunk)));
    assert.equal(state.lanes[0]!.status, 'passed', state.lanes[0]!.reason);
    assert.equal(out.join(''), '→ Write: /tmp/agent-clis/e2e/ws-claude/hello.txt\n→ Bash: echo shell-ran > shell.txt && cat hello.txt\nAll done.\n');
    assert.deepEqual(state.lanes[0]!.attempts[0]!.usage, { inputTokens: 300, cachedInputTokens: 0, outputTokens: 60, costUsd: 0.0024000000000000002, turns: 3, permissionDenials: 0 });
    const logs = runPaths(await commonDir(repo.dir), state.runId).logs;
    assert.match(readText(path.join(logs, 'c.log')), /→ Bash: echo shell-ran/);
    assert.doesNotMatch(readText(path.join(logs, 'c.log')), /"type":"assistant"/, 'no raw JSON in the readable log');
    assert.match(readText(path.join(logs, 'c-1.claude-stream-json.jsonl')), /"total_cost_usd"/);
    const st = await lanes(repo.dir, ['status', '--json']);
    assert.deepEqual(JSON.parse(st.out).run.lanes[0].usage, state.lanes[0]!.attempts[0]!.usage);
  });

  describe('budgets', () => {
    /** A stand-in named codex that prints Codex's --json usage line, then works on (or ends). */
    function fakeCodex(then: 'hang' | 'finish'): string {
      const bin = tempDir('lanes-fake-codex-');
      const usage = JSON.stringify({ type: 'turn.completed', usage: { input_tokens: 300, cached_input_tokens: 0, output_tokens: 60 } });
      const rest = then === 'hang' ? 'setTimeout(() => {}, 60000);' : "require('fs').writeFileSync('w.txt', 'w\\n');";
      writeFileSync(path.join(bin, 'codex'), `#!/usr/bin/env node\nconsole.log(${JSON.stringify(usage)});\n${rest}\n`, { mode: 0o755 });
      return bin;
    }
    const codex = { command: ['codex', 'exec', '--json', '{brief}'] };

    it('stops a lane that goes over its token budget, with the reason "budget", and does not retry it', async () => {
      const repo = newRepo();
      const bin = fakeCodex('hang');
      writePlan(repo, [{ id: 'spender', agent: codex, retries: 2, budget: { tokens: 100 } } as never, { id: 'other', agent: agent('write=o.txt:o') }]);
      const t0 = Date.now();
      const { state } = await runPlan(repo, { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
      assert.deepEqual(statusOf(state), { spender: 'failed', other: 'passed' });
      assert.equal(state.lanes[0]!.reason, 'budget: 360 tokens used of 100');
      assert.equal(state.lanes[0]!.attempts.length, 1, 'not retried');
      assert.ok(Date.now() - t0 < 30_000, 'stopped, not left to its 60 s');
    });

    it('stops a lane over its minutes', async () => {
      const repo = newRepo();
      const pids = path.join(tempDir(), 'pids');
      writePlan(repo, [{ id: 'slow', agent: agent(`hang=${pids}`) }], { isolation: 'none', defaults: { budget: { minutes: 0.02 } } });
      const { state } = await runPlan(repo);
      assert.equal(state.lanes[0]!.status, 'failed');
      assert.match(state.lanes[0]!.reason!, /^budget: 0\.0\d agent minutes of 0\.02$/);
      const [a, child] = readText(pids).split(' ').map(Number);
      await waitFor(() => !alive(a!) && !alive(child!), 10000, 'the agent to be stopped');
    });

    it("once the run's budget is spent no new lane starts, and the report says so", async () => {
      const repo = newRepo();
      const bin = fakeCodex('finish');
      writePlan(repo, [{ id: 'first', agent: codex }, { id: 'second', agent: agent('write=s.txt:s'), dependsOn: ['first'] }], { budget: { tokens: 300 } });
      const { state } = await runPlan(repo, { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
      assert.deepEqual(statusOf(state), { first: 'passed', second: 'cancelled' });
      assert.equal(state.lanes[1]!.reason, "the run's budget: 360 tokens used of 300");
      assert.equal(state.budgetSpent, "the run's budget: 360 tokens used of 300");
      const r = await lanes(repo.dir, ['reconcile', '--json']);
      assert.match(readText(JSON.parse(r.out).report), /\*\*Budget:\*\* the run's budget: 360 tokens used of 300; no lane started after that\./);
    });

    it("passes the lane's money budget to Claude Code as --max-budget-usd", async () => {
      const repo = newRepo();
      const bin = tempDir('lanes-fake-claude-');
      const argvFile = path.join(tempDir(), 'argv.json');
      writeFileSync(path.join(bin, 'claude'), `#!/usr/bin/env node\nrequire('fs').writeFileSync(${JSON.stringify(argvFile)}, JSON.stringify(process.argv.slice(2)));\nrequire('fs').writeFileSync('c.txt', 'c\\n');\n`, { mode: 0o755 });
      writePlan(repo, [{ id: 'c', agent: 'claude', budget: { usd: 0.5 } } as never]);
      const { state } = await runPlan(repo, { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
      assert.equal(state.lanes[0]!.status, 'passed', state.lanes[0]!.reason);
      const argv = JSON.parse(readText(argvFile)) as string[];
      assert.deepEqual(argv.slice(argv.indexOf('--max-budget-usd')), ['--max-budget-usd', '0.5']);
    });
  });

  it('an agent that switched its worktree to another branch, or deleted it, fails with exactly that reason; its commits are kept', async () => {
    const repo = newRepo();
    writePlan(repo, [
      { id: 'switcher', agent: { command: ['sh', '-c', 'git checkout -q -b elsewhere && echo x > x.txt && git add -A && git -c user.name=a -c user.email=a@b commit -qm x'] } },
      { id: 'deleter', agent: { command: ['sh', '-c', 'echo y > y.txt && git add -A && git -c user.name=a -c user.email=a@b commit -qm y && rm -rf "$LANES_WORKTREE"'] } },
    ], { isolation: 'none' });
    const { state } = await runPlan(repo);
    assert.deepEqual(statusOf(state), { switcher: 'failed', deleter: 'failed' });
    assert.equal(state.lanes[0]!.reason, `the agent switched its worktree to branch elsewhere; the lane's branch ${state.lanes[0]!.branch} keeps its commits`);
    assert.equal(state.lanes[1]!.reason, `the agent deleted its worktree (${state.lanes[1]!.worktree}); the lane's branch ${state.lanes[1]!.branch} keeps its commits`);
    assert.equal(repo.git('show', `${state.lanes[1]!.branch}:y.txt`), 'y', "the deleter's commit is on its branch");
    assert.equal(repo.git('show', 'elsewhere:x.txt'), 'x', "the switcher's commit is kept too");
  });

  it("bounds a lane's log: 3 MB of output keeps its start and end, a marker, and the limit", async () => {
    const repo = newRepo();
    const script = "for(let i=0;i<30000;i++)process.stdout.write('line '+i+' '+'x'.repeat(90)+'\\n');require('fs').writeFileSync('done.txt','d\\n')";
    writePlan(repo, [{ id: 'loud', agent: { command: ['node', '-e', script] } }]);
    const { state } = await runPlan(repo, { env: { ...process.env, LANES_LOG_MAX_BYTES: '200000' } });
    assert.equal(state.lanes[0]!.status, 'passed', state.lanes[0]!.reason);
    const log = readText(path.join(runPaths(await commonDir(repo.dir), state.runId).logs, 'loud.log'));
    assert.ok(log.length < 210_000, `log is ${log.length} characters`);
    assert.match(log, /line 0 x/);
    assert.match(log, /line 29999 x/);
    assert.match(log, /\[lanes\] … \d+ characters of output left out here \(the log keeps 200000; set LANES_LOG_MAX_BYTES=0 to keep everything\) …/);
  });

  it('the memory mirror never writes into a lane whose worktree is still being made', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'work', agent: agent('memory=a note', 'write=w.txt:w') }, { id: 'after', dependsOn: ['work'], agent: agent('write=a.txt:a') }]);
    // A git that takes its time adding the second lane's worktree: mirror ticks fall inside it.
    const shim = tempDir('lanes-slow-git-');
    const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
    writeFileSync(path.join(shim, 'git'), `#!/bin/sh\ncase " $* " in *" worktree add "*"/after "*) sleep 2.5 ;; esac\nexec ${realGit} "$@"\n`, { mode: 0o755 });
    const saved = process.env.PATH;
    process.env.PATH = `${shim}:${saved}`;
    try {
      const { state } = await runPlan(repo);
      assert.deepEqual(statusOf(state), { work: 'passed', after: 'passed' }, state.lanes[1]!.reason);
      assert.equal(readText(path.join(state.lanes[1]!.worktree, '.lanes/memory/work.md')), 'a note\n', 'and it got the note once its worktree was there');
    } finally {
      process.env.PATH = saved;
    }
  });

  it('an unsandboxed agent that changes .git/config, hooks or the user\'s ignored files: reported, .git/config and hooks restored (its versions kept aside), the old .env kept', async () => {







    const repo = newRepo();
    writeFileSync(path.join(repo.dir, '.gitignore'), '.env\n.npmrc\n');
    repo.commitAll('ignore');
    writeFileSync(path.join(repo.dir, '.env'), 'SECRET=mine\n');
    writeFileSync(path.join(repo.dir, '.npmrc'), 'registry=mine\n');
    const configBefore = readFileSync(path.join(repo.dir, '.git', 'config'));
    // Unsandboxed, an agent changes core.hooksPath, adds a hook and rewrites the user's ignored .env by absolute path.
    const script = 'git -C "$LANES_REPO" config core.hooksPath /tmp/evil-hooks && printf "#!/bin/sh\\ntouch /tmp/pwned\\n" > "$LANES_REPO/.git/hooks/pre-commit" && chmod +x "$LANES_REPO/.git/hooks/pre-commit" && echo EVIL=1 > "$LANES_REPO/.env" && echo x > x.txt';
    writePlan(repo, [{ id: 'meddler', agent: { command: ['sh', '-c', script] } }], { isolation: 'none', worktree: { copy: ['.env'] } });
    const { state } = await runPlan(repo);
    const w = state.lanes[0]!.warnings.find((x) => /\.git\/config changed/.test(x));
    assert.ok(w, JSON.stringify(state.lanes[0]!.warnings));
    assert.match(w!, /\.git\/config changed; \.git\/hooks changed; your ignored file \.env changed while lane meddler ran/);
    assert.match(w!, /Restored \.git\/config from before the run \(the changed one is kept at .*changed-\d+.*\/config\)/);
    assert.match(w!, /Restored \.git\/hooks from before the run/);
    assert.deepEqual(readFileSync(path.join(repo.dir, '.git', 'config')), configBefore, 'config restored byte for byte');
    assert.equal(existsSync(path.join(repo.dir, '.git', 'hooks', 'pre-commit')), false, "the agent's hook is gone from .git/hooks");
    const kept = /The content of \.env from before the run is kept at (\S+)\./.exec(w!)?.[1];
    assert.ok(kept, w);
    assert.equal(readFileSync(kept!, 'utf8'), 'SECRET=mine\n');
    assert.doesNotMatch(w!, /\.npmrc/, 'an untouched dotfile is not reported');
  });

  it('never silently recreates a lane worktree deleted by hand: the branch is the truth', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: agent('write=x.txt:x') }]);
    const { state } = await runPlan(repo);
    const { rmSync } = await import('node:fs');
    rmSync(state.lanes[0]!.worktree, { recursive: true, force: true });
    const again = await runPlan(repo, { resume: state.runId, lanes: ['a'] });
    assert.equal(again.state.lanes[0]!.status, 'failed');
    assert.match(again.state.lanes[0]!.reason!, /was deleted; its branch still holds the lane's commits/);
    assert.equal(repo.git('rev-parse', state.lanes[0]!.branch), state.lanes[0]!.head, 'the branch and its commits are untouched');
  });
});

describe('lanes joining a run while it works', () => {
  it('a failed lane retried during the run runs again (and its skipped dependents with it); a lane the run left out joins it; after the end nothing joins', async () => {
    const repo = newRepo();
    writePlan(repo, [
      { id: 'flaky', agent: agent('fail-first=3', 'write=f.txt:f') },
      { id: 'after', dependsOn: ['flaky'], agent: agent('write=a.txt:a') },
      { id: 'slow', agent: agent('sleep=4000', 'write=s.txt:s') },
      { id: 'extra', agent: agent('write=e.txt:e') },
    ]);
    const joined: boolean[] = [];
    const { state, o } = await runPlan(repo, { lanes: ['flaky', 'after', 'slow'] }, (o, events) => {
      let retried = false;
      o.onEvent((e) => {
        if (e.type === 'lane-status' && e.lane === 'flaky' && e.status === 'failed' && !retried) {
          retried = true;
          // Both while "slow" still works.
          void o.addLane('flaky').then((r) => joined.push(r));
          void o.addLane('extra').then((r) => joined.push(r));
        }
      });
      void events;
    });
    assert.deepEqual(joined, [true, true]);
    assert.deepEqual(statusOf(state), { flaky: 'passed', after: 'passed', slow: 'passed', extra: 'passed' });
    assert.equal(state.lanes.find((l) => l.id === 'flaky')!.attempts.length, 2, 'the failed attempt stays on record');
    assert.equal(await o.addLane('flaky'), false, 'the run has ended');
  });
});
