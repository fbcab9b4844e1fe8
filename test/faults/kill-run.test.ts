/**
 * kill -9 of `lanes run` at random moments, then `lanes run --resume`. The plan has four lanes
 * (a and b independent, c on a, d on b and c) whose agents take 200–800 ms, write files, and
 * record "start|end <lane> <attempt> <pid>" in a per-lane file in scratch space, so the test
 * knows how often each agent really ran. After the resume every lane must have passed; a lane
 * that had passed before the kill must not have run again; no lane+attempt has two commits;
 * every lane commit is reachable from a ref; the user's checkout is as it was; and no process
 * of the run is left.
 *
 * The kill moment: a random delay after spawn (up to the measured length of an unkilled run),
 * or a chosen git step (worktree add, read-tree, commit, update-ref, …) through the PATH shim.
 * Seeded: LANES_FAULT_SEED reproduces a run.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { writePlan } from '../helpers/engine';
import { createTempRepo, tempDir, TempRepo } from '../helpers/repo';
import {
  ensureBuilt,
  FAULT_AGENT,
  GitCall,
  KillAt,
  laneCommits,
  loggedCalls,
  makeGitShim,
  picture,
  pictureDiff,
  prng,
  reachableFromRefs,
  runCli,
  seedFrom,
  shimEnv,
  spawnCli,
  strayProcesses,
  Timings,
  waitForNoStrays,
  withOrdinals,
} from './helpers/faults';

const ITERATIONS = Number(process.env.LANES_FAULT_ITERATIONS ?? 12);
const LANES = ['a', 'b', 'c', 'd'] as const;
/** git subcommands that write (where a crash can leave something half-done). */
const WRITING = new Set(['worktree', 'read-tree', 'commit', 'update-ref', 'add', 'commit-tree', 'merge', 'checkout', 'branch', 'update-index', 'reset']);

interface LaneRec {
  id: string;
  status: string;
  head?: string;
  base?: string;
  branch: string;
  attempts: { attempt: number }[];
}
interface RunRec {
  runId: string;
  status: string;
  lanes: LaneRec[];
}

interface Setup {
  repo: TempRepo;
  rec: string;
  wtRoot: string;
}

/** A repository with the user's own work in progress and the four-lane plan (committed). */
function makeRepo(sleeps: Record<string, number>): Setup {
  const repo = createTempRepo({ 'README.md': '# sample\n', '.gitignore': '*.log\n', 'user/notes.txt': 'notes\n', 'user/staged.txt': 'old\n', 'src/app.ts': 'export const app = 1;\n' });
  const rec = tempDir(); // scratch space: sandboxed agents may write here
  const agentOf = (lane: string) => ({
    command: ['node', FAULT_AGENT, `record=${path.join(rec, `${lane}.log`)}`, `sleep=${sleeps[lane]}`, `write=${lane}/one.txt:${lane} one`, `write=${lane}/two.txt:${lane} two`],
  });
  writePlan(repo, [
    { id: 'a', scope: ['a/**'], agent: agentOf('a') },
    { id: 'b', scope: ['b/**'], agent: agentOf('b') },
    { id: 'c', scope: ['c/**'], dependsOn: ['a'], agent: agentOf('c') },
    { id: 'd', scope: ['d/**'], dependsOn: ['b', 'c'], agent: agentOf('d') },
  ]);
  repo.write('user/notes.txt', 'notes\nmine, not staged\n');
  repo.write('user/staged.txt', 'new\n');
  repo.git('add', 'user/staged.txt');
  repo.write('user/untracked.txt', 'untracked\n');
  repo.write('debug.log', 'ignored\n');
  return { repo, rec, wtRoot: tempDir('lanes-wt-') };
}

/** The run's state, if the run got as far as writing one. */
function readRun(repo: TempRepo): RunRec | undefined {
  const runs = path.join(repo.dir, '.git/lanes/runs');
  if (!existsSync(runs)) return undefined;
  for (const id of readdirSync(runs).sort().reverse()) {
    const f = path.join(runs, id, 'state.json');
    if (existsSync(f)) return JSON.parse(readFileSync(f, 'utf8')) as RunRec;
  }
  return undefined;
}

/** How many times each lane's agent started and ended normally (from the record files). */
function agentRuns(rec: string): Record<string, { start: number; end: number }> {
  const out: Record<string, { start: number; end: number }> = {};
  for (const lane of LANES) {
    const f = path.join(rec, `${lane}.log`);
    const lines = existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
    out[lane] = { start: lines.filter((l) => l.startsWith('start ')).length, end: lines.filter((l) => l.startsWith('end ')).length };
  }
  return out;
}

describe('kill -9 of lanes run, then lanes run --resume', function () {
  this.timeout(120000);
  let seed = 0;
  const timings = new Timings();
  let shim: string;
  let runMs = 0;
  let calls: (GitCall & { k: number })[] = [];

  before(async function () {
    this.timeout(300000);
    seed = seedFrom('LANES_FAULT_SEED');
    ensureBuilt();
    shim = makeGitShim();
    // The reference: one unkilled run through the logging shim (the git calls a run makes).
    const s = makeRepo({ a: 500, b: 500, c: 500, d: 500 });
    const faultDir = path.join(tempDir(), 'fault');
    const running = spawnCli(s.repo.dir, ['run', '--worktree-root', s.wtRoot], shimEnv(shim, faultDir, { log: true }));
    // The process scan must see a live agent (sandboxed, in its own PID namespace) by its record path.
    let seen = false;
    while (!seen && running.child.exitCode === null) {
      seen = strayProcesses({ markers: [s.rec] }).length > 0;
      await new Promise((res) => setTimeout(res, 20));
    }
    const ended = await running.exited;
    const r = { ...ended, out: running.out() };
    assert.equal(r.code, 0, r.out);
    assert.ok(seen, 'the scan for stray processes finds running agents');
    assert.deepEqual(readRun(s.repo)!.lanes.map((l) => l.status), ['passed', 'passed', 'passed', 'passed']);
    calls = withOrdinals(loggedCalls(faultDir));
    runMs = r.ms;
    const hist = new Map<string, number>();
    for (const c of calls) hist.set(c.sub, (hist.get(c.sub) ?? 0) + 1);
    console.log(`      unkilled lanes run: ${runMs} ms; ${calls.length} git calls: ${[...hist].map(([k, v]) => `${k}×${v}`).join(' ')}`);
  });

  after(() => console.log(timings.summary('kill-run timings')));

  for (let i = 0; i < ITERATIONS; i++) {
    it(`iteration ${i}: killed ${i % 2 ? 'at a git step' : 'after a random delay'}, then resumed`, async () => {
      const rnd = prng(seed + i * 7919);
      const t0 = Date.now();
      const sleeps = Object.fromEntries(LANES.map((l) => [l, 200 + Math.floor(rnd() * 600)]));
      const s = makeRepo(sleeps);
      const userBefore = picture(s.repo.dir);
      const faultDir = path.join(tempDir(), 'fault');
      let killAt: KillAt | undefined;
      let delay: number | undefined;
      let how: string;
      if (i % 2) {
        // Four in five kills at a git step that writes (worktree add, read-tree, commit, …).
        const writing = calls.filter((c) => WRITING.has(c.sub));
        const c = rnd() < 0.8 ? writing[Math.floor(rnd() * writing.length)]! : calls[Math.floor(rnd() * calls.length)]!;
        killAt = { sub: c.sub, k: c.k, when: rnd() < 0.5 ? 'before' : 'after' };
        how = `${killAt.when} "${c.args.slice(0, 70)}" (${c.sub} #${c.k})`;
      } else {
        delay = Math.floor(rnd() * runMs);
        how = `${delay} ms after spawn`;
      }
      const pids: number[] = [];
      const markers = [s.rec, s.wtRoot, s.repo.dir];
      const dirs = [s.repo.dir, s.wtRoot];
      const p = spawnCli(s.repo.dir, ['run', '--worktree-root', s.wtRoot], shimEnv(shim, faultDir, { killAt }));
      pids.push(p.pid);
      const timer = delay === undefined ? undefined : setTimeout(() => p.child.kill('SIGKILL'), delay);
      const ended = await p.exited;
      clearTimeout(timer);
      const killed = ended.signal === 'SIGKILL';
      // A shim step that never came (its k-th call did not happen in this run's order) ends normally.
      if (!killed) assert.equal(ended.code, 0, `${how}: an unkilled run passes\n${p.out()}`);
      const atKill = readRun(s.repo);
      const ranAtKill = agentRuns(s.rec);
      const passedAtKill = (atKill?.lanes ?? []).filter((l) => l.status === 'passed');

      // The run's processes die with it (each lane's watchdog ends its group within seconds).
      const t1 = Date.now();
      const strays = await waitForNoStrays({ markers, dirs }, 15000);
      assert.deepEqual(strays, [], `${how}: processes of the killed run still alive after 15 s`);
      const orphansGoneMs = Date.now() - t1;
      const label = `${how}${killed ? '' : ' (finished first)'}: ${atKill ? `state ${atKill.lanes.map((l) => `${l.id}=${l.status}`).join(' ')}` : 'no state yet'}`;

      const t2 = Date.now();
      let r = await runCli(s.repo.dir, ['run', '--resume', '--json'], {}, pids);
      if (!atKill) {
        // Killed before the run wrote its state: there is nothing to resume, said plainly, and a
        // new run starts (the dead one's folder or lock is no obstacle).
        assert.equal(r.code, 1, `${label}\n${r.out}`);
        assert.match(r.out, /there is no run to resume/, label);
        r = await runCli(s.repo.dir, ['run', '--worktree-root', s.wtRoot, '--json'], {}, pids);
      }
      const resumeMs = Date.now() - t2;
      assert.equal(r.code, 0, `${label}\n${r.out}`);
      const final = readRun(s.repo)!;
      if (atKill) assert.equal(final.runId, atKill.runId, 'the same run was resumed');
      assert.deepEqual(final.lanes.map((l) => [l.id, l.status]), LANES.map((l) => [l, 'passed']), `${label}: no lane lost`);
      const ran = agentRuns(s.rec);

      // A lane that had passed before the kill did not run again and kept its work.
      for (const l of passedAtKill) {
        const now = final.lanes.find((x) => x.id === l.id)!;
        assert.equal(ran[l.id]!.start, ranAtKill[l.id]!.start, `${label}: lane ${l.id} had passed, yet its agent started again`);
        assert.equal(now.head, l.head, `${label}: lane ${l.id}'s head moved`);
        assert.equal(now.attempts.length, l.attempts.length, `${label}: lane ${l.id} got another attempt`);
      }

      // No duplicate commits: one commit per lane and attempt, across every ref and worktree.
      const commits = laneCommits(s.repo.dir).filter((c) => c.run === final.runId);
      const byAttempt = new Map<string, string[]>();
      for (const c of commits) byAttempt.set(`${c.lane}#${c.attempt}`, [...(byAttempt.get(`${c.lane}#${c.attempt}`) ?? []), c.sha]);
      for (const [key, shas] of byAttempt) assert.equal(shas.length, 1, `${label}: ${key} has ${shas.length} commits: ${shas.join(', ')}`);
      const reachable = reachableFromRefs(s.repo.dir);
      for (const l of final.lanes) {
        const mine = commits.filter((c) => c.lane === l.id);
        // Every commit of a lane comes from an agent run that ended (the orchestrator commits what
        // the agent left once it has exited), so there are at most as many as normal endings.
        assert.ok(mine.length >= 1 && mine.length <= ran[l.id]!.end, `${label}: lane ${l.id} has ${mine.length} commit(s) for ${ran[l.id]!.end} finished agent run(s)`);
        // The commits on its branch since its base are its own, one per attempt that left work.
        const own = s.repo
          .git('log', '--format=%(trailers:key=Lanes-Lane,valueonly,separator=%x2C)%x1f%(trailers:key=Lanes-Attempt,valueonly,separator=%x2C)', '--no-merges', `${l.base}..${l.branch}`)
          .split('\n')
          .filter(Boolean)
          .map((x) => x.split('\x1f'));
        const attempts = own.map((x) => x[1]!);
        assert.ok(own.every((x) => x[0] === l.id), `${label}: ${l.branch} holds another lane's commit since its base: ${own.join(' | ')}`);
        assert.equal(new Set(attempts).size, attempts.length, `${label}: ${l.branch} has two commits of one attempt: ${attempts.join(', ')}`);
        assert.ok(l.head && reachable.has(l.head), `${label}: lane ${l.id}'s head is reachable from a ref`);
        for (const c of mine) assert.ok(reachable.has(c.sha), `${label}: commit ${c.sha} of lane ${l.id} (attempt ${c.attempt}) is reachable from a ref`);
        // The lane's work is in its head, and its dependencies' work too.
        assert.equal(s.repo.git('show', `${l.head}:${l.id}/two.txt`), `${l.id} two`, `${label}: lane ${l.id}'s work is in its head`);
      }
      assert.equal(s.repo.git('show', `${final.lanes[3]!.head}:a/one.txt`), 'a one', 'd builds on c, which builds on a');

      // The user's checkout is as it was, and nothing of the run is left running.
      assert.deepEqual(pictureDiff(userBefore, picture(s.repo.dir)), [], `${label}: the user's checkout changed`);
      assert.deepEqual(strayProcesses({ markers, dirs, pids }), [], `${label}: processes left after the resume`);
      timings.add(`#${String(i).padStart(2)} ${label} ran=${LANES.map((l) => `${l}:${ran[l]!.start}/${ran[l]!.end}`).join(',')}`, {
        killedAt: ended.ms,
        orphansGone: orphansGoneMs,
        resume: resumeMs,
        total: Date.now() - t0,
      });
      s.repo.cleanup();
    });
  }
});
