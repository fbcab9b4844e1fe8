/**
 * kill -9 of `lanes reconcile --apply` at random moments. The user's checkout holds their own
 * unstaged edits, staged changes (one file partly staged), an intent-to-add file, a staged
 * deletion, a mode change, untracked and ignored files; a finished run's lanes change, add and
 * delete 55 other files. After each kill the next `lanes` command must leave the checkout exactly
 * as it was before the apply or exactly as a complete apply leaves it (bytes, modes, index,
 * untracked and ignored files), and `lanes undo` must bring back the before-state byte for byte.
 *
 * The kill moment is chosen two ways, from a seeded PRNG (LANES_FAULT_SEED reproduces a run):
 *  - a random delay after spawn, up to the measured length of an unkilled apply;
 *  - a chosen git step: a PATH shim kills the CLI on the k-th call of a git subcommand, before
 *    or right after git runs, picked from the calls an unkilled apply makes.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import * as path from 'node:path';
import { runPlan, writePlan } from '../helpers/engine';
import { createTempRepo, tempDir, TempRepo } from '../helpers/repo';
import {
  ensureBuilt,
  FAULT_AGENT,
  GitCall,
  KillAt,
  loggedCalls,
  makeGitShim,
  Picture,
  picture,
  pictureDiff,
  prng,
  reachableFromRefs,
  runCli,
  samePicture,
  seedFrom,
  shimEnv,
  spawnCli,
  strayProcesses,
  Timings,
  waitForNoStrays,
  withOrdinals,
} from './helpers/faults';

const ITERATIONS = Number(process.env.LANES_FAULT_ITERATIONS ?? 24);

const agentOf = (...steps: string[]) => ({ command: ['node', FAULT_AGENT, ...steps] });
const range = (n: number) => [...Array(n).keys()].map((i) => String(i).padStart(2, '0'));

interface Fixture {
  repo: TempRepo;
  wtRoot: string;
  runId: string;
  laneHeads: string[];
  head: string;
}

/**
 * The repository: base files the lanes work on, a finished run of three lanes (10 files
 * changed, 20 deleted, 25 added in new folders), then the user's own work in files no lane
 * touches. Everything is deterministic, so every fixture has the same bytes and blob ids.
 */
async function makeFixture(): Promise<Fixture> {
  const files: Record<string, string> = {
    'README.md': '# sample\n',
    '.gitignore': '*.log\nbuild/\n',
    'user/notes.txt': 'my notes\n',
    'user/staged.txt': 'staged: old\n',
    'user/partial.txt': 'line 1\nline 2\nline 3\n',
    'user/removed.txt': 'I will be git rm-ed\n',
    'user/script.sh': '#!/bin/sh\necho user\n',
  };
  for (const i of range(20)) files[`src/mod${i}.ts`] = `export const mod${i} = ${Number(i)};\n`;
  for (const i of range(10)) files[`docs/old/page${i}.md`] = `# old page ${i}\n`;
  const repo = createTempRepo(files);
  writePlan(repo, [
    { id: 'edit', scope: ['src/mod0*'], agent: agentOf(...range(10).map((i) => `write=src/mod${i}.ts:export const mod${i} = ${Number(i) * 100}; // edited by lane edit`)) },
    { id: 'prune', scope: ['src/mod1*', 'docs/**'], agent: agentOf(...range(10).map((i) => `rm=src/mod1${i.slice(1)}.ts`), ...range(10).map((i) => `rm=docs/old/page${i}.md`)) },
    { id: 'add', scope: ['lib/**'], agent: agentOf(...range(25).map((i) => `write=lib/gen/${'abc'[Number(i) % 3]}/f${i}.ts:export const f${i} = '${'x'.repeat(Number(i))}';`)) },
  ]);
  const wtRoot = tempDir('lanes-wt-');
  const { state } = await runPlan(repo, { worktreeRoot: wtRoot });
  assert.deepEqual(state.lanes.map((l) => [l.id, l.status]), [['edit', 'passed'], ['prune', 'passed'], ['add', 'passed']], 'the fixture run passed');

  // The user's own work, in files no lane touches: every kind git distinguishes.
  repo.write('user/notes.txt', 'my notes\nedited, not staged\n');
  repo.write('user/staged.txt', 'staged: new\n');
  repo.git('add', 'user/staged.txt');
  repo.write('user/partial.txt', 'line 1 staged\nline 2\nline 3\n');
  repo.git('add', 'user/partial.txt');
  repo.write('user/partial.txt', 'line 1 staged\nline 2\nline 3 not staged\n');
  repo.write('user/new-staged.txt', 'new and staged\n');
  repo.git('add', 'user/new-staged.txt');
  repo.write('user/intent.txt', 'intent to add\n');
  repo.git('add', '-N', 'user/intent.txt');
  repo.git('rm', '-q', 'user/removed.txt');
  chmodSync(path.join(repo.dir, 'user/script.sh'), 0o755);
  repo.write('user/untracked.txt', 'untracked\n');
  repo.write('notes/todo.md', '- untracked folder\n');
  repo.write('debug.log', 'ignored log\n');
  repo.write('build/deep/x.o', 'ignored object\n');
  writeFileSync(path.join(repo.dir, 'build/out.bin'), Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13, 0]));
  return { repo, wtRoot, runId: state.runId, laneHeads: state.lanes.map((l) => l.head!), head: repo.git('rev-parse', 'HEAD') };
}

/** The apply journal of the checkout, if any (one checkout per repository here). */
function journalStep(repo: TempRepo): string | undefined {
  const dir = path.join(repo.dir, '.git/lanes/apply');
  if (!existsSync(dir)) return undefined;
  for (const key of readdirSync(dir)) {
    const f = path.join(dir, key, 'journal.json');
    if (existsSync(f)) return (JSON.parse(readFileSync(f, 'utf8')) as { step: string }).step;
  }
  return undefined;
}

/**
 * For a picture that is neither before nor after: where the missing or changed user bytes are.
 * They count as kept only if a ref under refs/lanes/ holds them (shown by reading its tree).
 */
function whereAreTheBytes(repo: TempRepo, now: Picture, before: Picture): string[] {
  const refs = repo.git('for-each-ref', '--format=%(refname)', 'refs/lanes/').split('\n').filter(Boolean);
  const out: string[] = [];
  for (const [file, was] of Object.entries(before.files)) {
    if (now.files[file] === was || file.endsWith('/')) continue;
    const bytes = Buffer.from(was.slice(was.indexOf(':') + 1), 'base64');
    const holders = refs.filter((r) => {
      try {
        return execFileSync('git', ['cat-file', 'blob', `${r}:${file}`], { cwd: repo.dir }).equals(bytes);
      } catch {
        return false;
      }
    });
    out.push(`${file}: ${now.files[file] === undefined ? 'missing' : 'changed'}; before-bytes held by ${holders.length ? holders.join(', ') : 'NO ref'}`);
  }
  return out;
}

describe('kill -9 of lanes reconcile --apply', function () {
  this.timeout(120000);
  let seed = 0;
  const timings = new Timings();
  let shim: string;
  let beforePic: Picture;
  let afterPic: Picture;
  /** Length of an unkilled `reconcile --apply`, and the git calls it makes (with their ordinals). */
  let applyMs = 0;
  let calls: (GitCall & { k: number })[] = [];
  /** Index in `calls` of the first call of the apply proper (its snapshot's write-tree). */
  let applyStart = 0;
  /** Index of the first call after the trial merge: the calls that write the checkout. */
  let writeStart = 0;
  /** When the apply proper starts, in ms after spawn (scaled to an unlogged run). */
  let applyAtMs = 0;

  before(async function () {
    this.timeout(300000);
    seed = seedFrom('LANES_FAULT_SEED');
    ensureBuilt();
    shim = makeGitShim();
    // The reference: one unkilled apply in an identical repository, through the logging shim.
    const f = await makeFixture();
    beforePic = picture(f.repo.dir);
    const faultDir = path.join(tempDir(), 'fault');
    const r = await runCli(f.repo.dir, ['reconcile', '--apply'], shimEnv(shim, faultDir, { log: true }));
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /applied to your checkout \(three-way\): 35 file\(s\) written, 20 deleted/);
    afterPic = picture(f.repo.dir);
    assert.ok(!samePicture(beforePic, afterPic), 'the apply changed the checkout');
    const u = await runCli(f.repo.dir, ['undo']);
    assert.equal(u.code, 0, u.out);
    assert.deepEqual(pictureDiff(picture(f.repo.dir), beforePic), [], 'an unkilled apply and undo restore the checkout exactly');
    // Timed again without logging (the log costs a fork per call), the median of three.
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const g = await makeFixture();
      const t = await runCli(g.repo.dir, ['reconcile', '--apply'], shimEnv(shim, path.join(tempDir(), 'fault')));
      assert.equal(t.code, 0, t.out);
      times.push(t.ms);
    }
    applyMs = times.sort((a, b) => a - b)[1]!;
    calls = withOrdinals(loggedCalls(faultDir));
    applyStart = calls.findIndex((c) => c.sub === 'write-tree');
    assert.ok(applyStart > 0, 'the apply snapshots with write-tree');
    writeStart = calls.map((c) => c.sub).lastIndexOf('merge-tree') + 1;
    assert.ok(writeStart > applyStart && writeStart < calls.length, 'the apply trial-merges, then writes');
    applyAtMs = Math.round(((calls[applyStart]!.ms - r.started) / r.ms) * applyMs);
    const hist = new Map<string, number>();
    for (const c of calls.slice(applyStart)) hist.set(c.sub, (hist.get(c.sub) ?? 0) + 1);
    console.log(
      `      unkilled reconcile --apply: ${applyMs} ms (runs: ${times.join(', ')}), the apply proper from about ${applyAtMs} ms; ` +
        `${calls.length} git calls, ${calls.length - applyStart} in the apply: ${[...hist].map(([k, v]) => `${k}×${v}`).join(' ')}; ` +
        `writing: ${calls.slice(writeStart).map((c) => c.sub).join(', ')}`,
    );
  });

  after(() => console.log(timings.summary('kill-apply timings')));

  for (let i = 0; i < ITERATIONS; i++) {
    it(`iteration ${i}: killed ${i % 2 ? 'at a git step' : 'after a random delay'}, then recovered and undone`, async () => {
      const rnd = prng(seed + i * 7919);
      const t0 = Date.now();
      const f = await makeFixture();
      assert.deepEqual(pictureDiff(picture(f.repo.dir), beforePic), [], 'the fixture is the same as the reference');
      const tSetup = Date.now() - t0;
      const faultDir = path.join(tempDir(), 'fault');
      let how: string;
      let killAt: KillAt | undefined;
      let delay: number | undefined;
      if (i % 2) {
        // Two in five kills fall where the checkout is written, one in three elsewhere in the
        // apply (snapshot, refs, checks, trial merge), the rest in the radar and merge queue.
        const x = rnd();
        const between = (from: number, to: number) => from + Math.floor(rnd() * (to - from));
        const idx = x < 0.4 ? between(writeStart, calls.length) : x < 0.75 ? between(applyStart, writeStart) : between(0, applyStart);
        const c = calls[idx]!;
        killAt = { sub: c.sub, k: c.k, when: rnd() < 0.5 ? 'before' : 'after' };
        how = `git step #${idx} ${killAt.when} "${c.args.slice(0, 80)}" (${c.sub} #${c.k})`;
      } else {
        // Half anywhere in the command's life, half in the apply proper (its last ~100 ms).
        delay = Math.floor(rnd() < 0.5 ? rnd() * applyMs * 1.1 : applyAtMs - 30 + rnd() * (applyMs - applyAtMs + 60));
        how = `${delay} ms after spawn`;
      }
      const pids: number[] = [];
      const p = spawnCli(f.repo.dir, ['reconcile', '--apply'], shimEnv(shim, faultDir, { killAt }));
      pids.push(p.pid);
      const timer = delay === undefined ? undefined : setTimeout(() => p.child.kill('SIGKILL'), delay);
      const ended = await p.exited;
      clearTimeout(timer);
      const killed = ended.signal === 'SIGKILL';
      if (killAt) assert.ok(killed, `the shim killed the CLI at ${how} (exit ${ended.code}): ${p.out()}`);
      else if (!killed) assert.equal(ended.code, 0, p.out());
      // git commands the CLI had started run to their end as orphans: wait for them.
      const strays = await waitForNoStrays({ dirs: [f.repo.dir, f.wtRoot], markers: [f.repo.dir] }, 15000);
      assert.deepEqual(strays, [], 'processes left running after the kill');
      const crashed = picture(f.repo.dir);
      const stepAtKill = journalStep(f.repo);
      const label = `${how}: journal ${stepAtKill ?? 'none'}${killed ? '' : ' (finished before the kill)'}`;

      // Any lanes command recovers an interrupted apply (its owner is dead).
      const st = await runCli(f.repo.dir, ['status'], {}, pids);
      assert.equal(st.code, 0, `${label}\n${st.out}`);
      const now = picture(f.repo.dir);
      const isBefore = samePicture(now, beforePic);
      const isAfter = samePicture(now, afterPic);
      if (!isBefore && !isAfter) {
        assert.fail(
          `${label}: after "lanes status" the checkout is neither as before nor as after the apply\n` +
            `vs before: ${pictureDiff(beforePic, now).join(', ')}\nvs after: ${pictureDiff(afterPic, now).join(', ')}\n` +
            `${whereAreTheBytes(f.repo, now, beforePic).join('\n')}\nstatus said: ${st.out}`,
        );
      }
      if (stepAtKill === 'writing' || stepAtKill === 'snapshotted') {
        assert.match(st.out, /an apply into your checkout was interrupted; it has been rolled back/, label);
        assert.ok(isBefore, `${label}: an interrupted apply is rolled back`);
        assert.ok(f.repo.git('for-each-ref', 'refs/lanes/apply/').includes('/before-recovery'), 'the state as found was saved first');
        // What the crash left is what the recovery saved (nothing of the user's is only in memory).
        const saved = f.repo.git('for-each-ref', '--format=%(refname)', 'refs/lanes/apply/').split('\n').find((r) => r.endsWith('/before-recovery'))!;
        for (const file of Object.keys(crashed.files).filter((x) => !x.endsWith('/') && !beforePic.status.includes(`!! ${x}`) && !/^(debug\.log|build\/)/.test(x))) {
          const bytes = Buffer.from(crashed.files[file]!.slice(crashed.files[file]!.indexOf(':') + 1), 'base64');
          assert.ok(execFileSync('git', ['cat-file', 'blob', `${saved}:${file}`], { cwd: f.repo.dir }).equals(bytes), `${label}: ${file} as found is in ${saved}`);
        }
      }

      // Forward to the complete apply if it was rolled back, then undo: exactly the before-state.
      const t1 = Date.now();
      if (isBefore) {
        const again = await runCli(f.repo.dir, ['reconcile', '--apply'], {}, pids);
        assert.equal(again.code, 0, `${label}\n${again.out}`);
        assert.deepEqual(pictureDiff(afterPic, picture(f.repo.dir)), [], `${label}: the apply after the crash is complete`);
      }
      const u = await runCli(f.repo.dir, ['undo'], {}, pids);
      assert.equal(u.code, 0, `${label}\n${u.out}`);
      assert.deepEqual(pictureDiff(beforePic, picture(f.repo.dir)), [], `${label}: undo restores the checkout byte for byte`);
      assert.equal(journalStep(f.repo), 'undone');
      assert.equal(f.repo.git('rev-parse', 'HEAD'), f.head, 'HEAD never moves');

      // Nothing a lane made is lost: every lane head in the run's state is reachable from a ref.
      const state = JSON.parse(readFileSync(path.join(f.repo.dir, '.git/lanes/runs', f.runId, 'state.json'), 'utf8')) as { lanes: { id: string; head?: string }[] };
      const reachable = reachableFromRefs(f.repo.dir);
      for (const l of state.lanes) assert.ok(l.head && reachable.has(l.head), `lane ${l.id}'s head ${l.head} is reachable from a ref`);
      assert.deepEqual(state.lanes.map((l) => l.head), f.laneHeads, 'the lane heads did not move');
      assert.deepEqual(strayProcesses({ dirs: [f.repo.dir, f.wtRoot], markers: [f.repo.dir], pids }), [], 'no process of ours is left');
      timings.add(`#${String(i).padStart(2)} ${isAfter ? 'after ' : 'before'} ${label}`, { setup: tSetup, killedAt: ended.ms, recoverAndUndo: Date.now() - t1, total: Date.now() - t0 });
      f.repo.cleanup();
    });
  }
});

/**
 * The same checkout, with the apply complete, and `lanes undo` killed at a git step of its
 * restore. The next `lanes` command must find the checkout as it was before the apply or as the
 * apply left it, and `lanes undo` must then bring back the before-state byte for byte.
 */
describe('kill -9 of lanes undo', function () {
  this.timeout(120000);
  const timings = new Timings();
  let shim: string;
  let beforePic: Picture;
  let afterPic: Picture;
  /** The git calls of an unkilled undo, from its first write (the before-undo ref) on. */
  let calls: (GitCall & { k: number })[] = [];

  before(async function () {
    this.timeout(120000);
    ensureBuilt();
    shim = makeGitShim();
    const f = await makeFixture();
    beforePic = picture(f.repo.dir);
    const a = await runCli(f.repo.dir, ['reconcile', '--apply']);
    assert.equal(a.code, 0, a.out);
    afterPic = picture(f.repo.dir);
    const faultDir = path.join(tempDir(), 'fault');
    const u = await runCli(f.repo.dir, ['undo'], shimEnv(shim, faultDir, { log: true }));
    assert.equal(u.code, 0, u.out);
    assert.deepEqual(pictureDiff(beforePic, picture(f.repo.dir)), []);
    const all = withOrdinals(loggedCalls(faultDir));
    calls = all.slice(all.findIndex((c) => c.sub === 'update-ref' && c.args.includes('/before-undo')));
    console.log(`      unkilled undo: ${u.ms} ms; restore steps: ${calls.map((c) => `${c.sub}#${c.k}`).join(', ')}`);
  });

  after(() => console.log(timings.summary('kill-undo timings')));

  /**
   * Every git step of the undo, killed before and right after it. A step the undo no longer
   * makes (the code changed) is skipped with the reason.
   */
  const undoCase = (sub: string, when: 'before' | 'after') =>
    it(`undo killed ${when} its ${sub}, then undone again`, async function () {
      const at = calls.find((c) => c.sub === sub);
      if (!at) this.skip();
      const t0 = Date.now();
      const f = await makeFixture();
      const a = await runCli(f.repo.dir, ['reconcile', '--apply']);
      assert.equal(a.code, 0, a.out);
      assert.deepEqual(pictureDiff(afterPic, picture(f.repo.dir)), [], 'the apply is complete');
      const killAt: KillAt = { sub, k: at!.k, when };
      const how = `${when} "${at!.args.slice(0, 60)}" (${sub} #${at!.k})`;
      const pids: number[] = [];
      const p = spawnCli(f.repo.dir, ['undo'], shimEnv(shim, path.join(tempDir(), 'fault'), { killAt }));
      pids.push(p.pid);
      const ended = await p.exited;
      assert.equal(ended.signal, 'SIGKILL', `${how}: killed (${p.out()})`);
      assert.deepEqual(await waitForNoStrays({ dirs: [f.repo.dir, f.wtRoot], markers: [f.repo.dir] }, 15000), []);

      const st = await runCli(f.repo.dir, ['status'], {}, pids);
      assert.equal(st.code, 0, st.out);
      const now = picture(f.repo.dir);
      const state = samePicture(now, beforePic) ? 'before' : samePicture(now, afterPic) ? 'after' : undefined;
      assert.ok(state, `${how}: after an interrupted undo the checkout is neither as before nor as after the apply\nvs before: ${pictureDiff(beforePic, now).join(', ')}\nvs after: ${pictureDiff(afterPic, now).join(', ')}`);
      if (state === 'after') {
        const u = await runCli(f.repo.dir, ['undo'], {}, pids);
        assert.equal(u.code, 0, `${how}: undo again\n${u.out}`);
      }
      assert.deepEqual(pictureDiff(beforePic, picture(f.repo.dir)), [], `${how}: the before-state, byte for byte`);
      assert.deepEqual(strayProcesses({ dirs: [f.repo.dir, f.wtRoot], markers: [f.repo.dir], pids }), []);
      timings.add(`${state} ${how}`, { total: Date.now() - t0 });
      f.repo.cleanup();
    });

  undoCase('update-ref', 'before');
  undoCase('update-ref', 'after');
  undoCase('cat-file', 'before');
  undoCase('cat-file', 'after');
  // An undo killed between its first write and its end is journaled ("undoing"): the next
  // command finishes it (the person asked for the before-state).
  undoCase('update-index', 'before');
  undoCase('update-index', 'after');
  undoCase('checkout', 'before');
  undoCase('checkout', 'after');
  undoCase('reset', 'before');
  undoCase('reset', 'after');
});

/**
 * A second crash: the apply is killed right after it wrote the checkout (journal "writing"), and
 * the `lanes status` that rolls it back is killed too, at a git step of the rollback. The next
 * command must still end with the checkout exactly as before the apply.
 */
describe('kill -9 of the recovery of a killed apply', function () {
  this.timeout(120000);
  let shim: string;
  let beforePic: Picture;
  let calls: (GitCall & { k: number })[] = [];
  const applyKill: KillAt = { sub: 'checkout', k: 1, when: 'after' };

  before(async function () {
    this.timeout(120000);
    ensureBuilt();
    shim = makeGitShim();
    const f = await makeFixture();
    beforePic = picture(f.repo.dir);
    const a = await runCli(f.repo.dir, ['reconcile', '--apply'], shimEnv(shim, path.join(tempDir(), 'fault'), { killAt: applyKill }));
    assert.equal(a.signal, 'SIGKILL', a.out);
    const faultDir = path.join(tempDir(), 'fault');
    const st = await runCli(f.repo.dir, ['status'], shimEnv(shim, faultDir, { log: true }));
    assert.match(st.out, /has been rolled back/);
    assert.deepEqual(pictureDiff(beforePic, picture(f.repo.dir)), []);
    const all = withOrdinals(loggedCalls(faultDir));
    calls = all.slice(all.findIndex((c) => c.sub === 'update-ref' && c.args.includes('/before-recovery')));
    console.log(`      recovery steps: ${calls.map((c) => `${c.sub}#${c.k}`).join(', ')}`);
  });

  const recoveryCase = (sub: string, when: 'before' | 'after') =>
    it(`the recovery killed ${when} its ${sub}, then recovered again`, async function () {
      const at = calls.find((c) => c.sub === sub);
      if (!at) this.skip();
      const f = await makeFixture();
      const a = await runCli(f.repo.dir, ['reconcile', '--apply'], shimEnv(shim, path.join(tempDir(), 'fault'), { killAt: applyKill }));
      assert.equal(a.signal, 'SIGKILL', a.out);
      const pids: number[] = [];
      const st1 = await runCli(f.repo.dir, ['status'], shimEnv(shim, path.join(tempDir(), 'fault'), { killAt: { sub, k: at!.k, when } }), pids);
      assert.equal(st1.signal, 'SIGKILL', st1.out);
      assert.deepEqual(await waitForNoStrays({ dirs: [f.repo.dir, f.wtRoot], markers: [f.repo.dir] }, 15000), []);
      const st2 = await runCli(f.repo.dir, ['status'], {}, pids);
      assert.equal(st2.code, 0, st2.out);
      assert.deepEqual(pictureDiff(beforePic, picture(f.repo.dir)), [], `killed ${when} ${at!.args.slice(0, 60)}: the before-state, byte for byte`);
      assert.equal(journalStep(f.repo), 'rolled-back');
      // And the apply can be made again, then undone.
      const again = await runCli(f.repo.dir, ['reconcile', '--apply'], {}, pids);
      assert.equal(again.code, 0, again.out);
      const u = await runCli(f.repo.dir, ['undo'], {}, pids);
      assert.equal(u.code, 0, u.out);
      assert.deepEqual(pictureDiff(beforePic, picture(f.repo.dir)), []);
      assert.deepEqual(strayProcesses({ dirs: [f.repo.dir, f.wtRoot], markers: [f.repo.dir], pids }), []);
      f.repo.cleanup();
    });

  for (const sub of ['update-ref', 'update-index', 'checkout', 'reset']) for (const when of ['before', 'after'] as const) recoveryCase(sub, when);
});
