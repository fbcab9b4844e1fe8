import * as assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { changedFiles, hunks } from '../../src/core/reconcile/diff';
import { MergeQueue } from '../../src/core/reconcile/queue';
import { conflictRadar } from '../../src/core/reconcile/radar';
import { validatePlanText } from '../../src/core/plan/validate';
import { agent, newRepo, runPlan, writePlan } from '../helpers/engine';
import { LanesSession } from '../../src/core/session/session';
import { tempDir } from '../helpers/repo';

function radarLanes(state: Awaited<ReturnType<typeof runPlan>>['state']) {
  return state.lanes.filter((l) => l.head).map((l) => ({ id: l.id, base: l.base!, head: l.head! }));
}

describe('reconcile: what each lane did, the conflict radar and the merge queue', function () {
  this.timeout(60000);

  it('lists each lane\'s files, line counts and hunks from git, with renames and binary files', async () => {
    const repo = newRepo();
    repo.write('old.txt', 'one\ntwo\nthree\nfour\nfive\n');
    repo.write('gone.txt', 'bye\n');
    const base = repo.commitAll('files');
    repo.git('mv', 'old.txt', 'new.txt');
    repo.write('new.txt', 'one\ntwo\nthree\nfour\nfive\nsix\n');
    repo.git('rm', '-q', 'gone.txt');
    repo.write('img.bin', '\u0000\u0001\u0002binary');
    repo.write('src/a.ts', 'export const a = 2;\n');
    const head = repo.commitAll('changes');
    const files = await changedFiles(repo.dir, base, head);
    const by = Object.fromEntries(files.map((f) => [f.path, f]));
    assert.deepEqual(by['new.txt'], { path: 'new.txt', oldPath: 'old.txt', kind: 'renamed', added: 1, removed: 0, binary: false });
    assert.equal(by['gone.txt']!.kind, 'deleted');
    assert.equal(by['img.bin']!.binary, true);
    assert.equal(by['img.bin']!.added, undefined);
    assert.deepEqual([by['src/a.ts']!.kind, by['src/a.ts']!.added, by['src/a.ts']!.removed], ['modified', 1, 1]);
    const h = await hunks(repo.dir, base, head, ['src/a.ts'], 0);
    assert.deepEqual(h.map((x) => [x.path, x.oldStart, x.oldLines, x.newStart, x.newLines, x.lines]), [['src/a.ts', 1, 1, 1, 1, ['-export const a = 1;', '+export const a = 2;']]]);
  });

  it('the radar reports conflicting pairs with files, and clean hot spots, before anything is merged', async () => {
    const repo = newRepo();
    repo.write('shared.txt', Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n') + '\n');
    repo.commitAll('shared');
    writePlan(repo, [
      { id: 'a', agent: agent('write=conflict.txt:from a', 'write=a.txt:a') },
      { id: 'b', agent: agent('write=conflict.txt:from b') },
      { id: 'c', agent: { command: ['sh', '-c', 'sed -i "s/line 1$/line one/" shared.txt'] } },
      { id: 'd', agent: { command: ['sh', '-c', 'sed -i "s/line 28$/line twenty-eight/" shared.txt'] } },
      { id: 'e', agent: agent('write=docs/e.md:e') },
    ]);
    const { state } = await runPlan(repo);
    assert.ok(state.lanes.every((l) => l.status === 'passed'), JSON.stringify(state.lanes.map((l) => [l.id, l.status, l.reason])));
    const before = repo.git('status', '--porcelain');
    const r = await conflictRadar(repo.dir, radarLanes(state));
    assert.deepEqual(r.pairs, [
      { a: 'a', b: 'b', kind: 'conflict', files: ['conflict.txt'] },
      { a: 'c', b: 'd', kind: 'hotspot', files: ['shared.txt'] },
    ]);
    assert.equal(r.checked, 10);
    assert.equal(r.merged, 2, 'disjoint pairs are not trial-merged');
    assert.equal(repo.git('status', '--porcelain'), before, 'no working tree touched');
  });

  it('detects a file/folder clash between lanes that change different paths', async () => {
    const repo = newRepo();
    writePlan(repo, [
      { id: 'file', agent: agent('write=thing:a file') },
      { id: 'folder', agent: agent('write=thing/inside.txt:a folder') },
    ]);
    const { state } = await runPlan(repo);
    const r = await conflictRadar(repo.dir, radarLanes(state));
    assert.equal(r.pairs.length, 1);
    assert.equal(r.pairs[0]!.kind, 'conflict');
  });

  it('merges disjoint lanes in dependency order onto an integration branch, with trailers, touching nothing of the user\'s', async () => {
    const repo = newRepo();
    writePlan(
      repo,
      [
        { id: 'docs', agent: agent('write=docs/x.md:x') },
        { id: 'tests', dependsOn: ['impl'], agent: agent('write=test/t.txt:t') },
        { id: 'impl', agent: agent('write=src/b.ts:b') },
      ],
      { verify: 'test -f src/b.ts && test -f docs/x.md && test -f test/t.txt' },
    );
    const { state, o } = await runPlan(repo);
    const userHead = repo.git('rev-parse', 'HEAD');
    const q = new MergeQueue({ repo: repo.dir, commonDir: o.commonDir, state, plan: o.plan });
    const res = await q.run();
    assert.equal(res.passed, true);
    assert.deepEqual(res.merged, ['docs', 'impl', 'tests']);
    assert.deepEqual(res.held, []);
    assert.equal(res.verify!.passed, true);
    assert.equal(repo.git('rev-parse', res.branch), res.head);
    assert.match(repo.git('log', '-1', '--format=%B', res.head), /^Lanes-Merged-Lane: tests$/m);
    assert.equal(repo.git('rev-parse', 'HEAD'), userHead, 'the user\'s HEAD did not move');
    assert.equal(repo.git('status', '--porcelain'), '');
  });

  it('holds back a lane that conflicts with what is already integrated, and merges the rest', async () => {
    const repo = newRepo();
    writePlan(repo, [
      { id: 'a', agent: agent('write=same.txt:from a') },
      { id: 'b', agent: agent('write=same.txt:from b') },
      { id: 'c', agent: agent('write=c.txt:c') },
      { id: 'd', dependsOn: ['b'], agent: agent('write=d.txt:d') },
    ]);
    const { state, o } = await runPlan(repo);
    const res = await new MergeQueue({ repo: repo.dir, commonDir: o.commonDir, state, plan: o.plan }).run();
    assert.deepEqual(res.merged, ['a', 'c']);
    assert.deepEqual(res.held, [
      { lane: 'b', reason: 'conflicts with the lanes merged before it in same.txt', files: ['same.txt'] },
      { lane: 'd', reason: 'depends on b, which is not integrated' },
    ]);
  });

  it('finds the lane whose merge breaks the integration check by bisecting, keeps the others merged', async () => {
    const repo = newRepo();
    const ids = ['l1', 'l2', 'l3', 'bad', 'l5', 'l6'];
    writePlan(
      repo,
      ids.map((id) => ({ id, agent: agent(id === 'bad' ? 'write=BROKEN:x' : `write=${id}.txt:${id}`) })),
      { verify: 'echo checking; if [ -f BROKEN ]; then echo "integration broken by BROKEN" >&2; exit 1; fi', maxParallel: 6 },
    );
    const { state, o } = await runPlan(repo);
    const res = await new MergeQueue({ repo: repo.dir, commonDir: o.commonDir, state, plan: o.plan }).run();
    assert.equal(res.passed, true);
    assert.deepEqual(res.merged, ['l1', 'l2', 'l3', 'l5', 'l6']);
    assert.equal(res.held.length, 1);
    assert.equal(res.held[0]!.lane, 'bad');
    assert.match(res.held[0]!.reason, /breaks the integration check/);
    const first = res.rounds[0]!;
    assert.equal(first.culprit!.lane, 'bad');
    assert.match(first.culprit!.verify.outputTail, /integration broken by BROKEN/);
    assert.ok(first.culprit!.probes <= 3, `bisect used ${first.culprit!.probes} probes for 6 lanes`);
    assert.equal(repo.git('cat-file', '-t', `${res.head}:l6.txt`), 'blob');
    assert.throws(() => repo.git('cat-file', '-t', `${res.head}:BROKEN`));
  });

  it('sends the breaking lane back with the failure and takes it back when it passes', async () => {
    const repo = newRepo();
    writePlan(
      repo,
      [
        { id: 'ok', agent: agent('write=ok.txt:ok') },
        { id: 'fixme', retries: 1, agent: agent('write=BROKEN:x') },
        { id: 'onfixme', dependsOn: ['fixme'], agent: agent('write=on.txt:on') },
      ],
      { verify: 'test ! -f BROKEN' },
    );
    const { state, o } = await runPlan(repo);
    const feedbacks: string[] = [];
    const res = await new MergeQueue({
      repo: repo.dir,
      commonDir: o.commonDir,
      state,
      plan: o.plan,
      sendBack: async (lane, feedback) => {
        feedbacks.push(feedback);
        // Stand-in for the agents; the real re-run through the engine is the CLI test below.
        const l = state.lanes.find((x) => x.id === lane)!;
        if (lane === 'fixme') {
          repo.git('-C', l.worktree, 'rm', '-q', 'BROKEN');
          repo.git('-C', l.worktree, 'commit', '-q', '-m', 'fix');
        } else {
          repo.git('-C', l.worktree, 'merge', '-q', '--no-edit', state.lanes.find((x) => x.id === 'fixme')!.head!);
        }
        return { ...l, head: repo.git('-C', l.worktree, 'rev-parse', 'HEAD'), status: 'passed' };
      },
    }).run();
    assert.equal(feedbacks.length, 2);
    assert.match(feedbacks[0]!, /integration check `test ! -f BROKEN` failed/);
    assert.match(feedbacks[1]!, /Lane fixme, which this lane builds on, was changed/);
    assert.deepEqual(res.sentBack, [
      { lane: 'fixme', result: 'passed' },
      { lane: 'onfixme', result: 'passed' },
    ]);
    assert.equal(res.passed, true);
    assert.deepEqual(res.merged, ['ok', 'fixme', 'onfixme'], 'the lane built on the re-run lane ran again on top of it and was merged');
    assert.ok(validatePlanText(JSON.stringify(o.plan)).ok);
  });
});

describe('lanes reconcile (CLI)', function () {
  this.timeout(60000);

  it('runs radar and queue, re-runs the breaking lane through the engine with the failure, and writes the report', async () => {
    const { lanes } = await import('../helpers/cli');
    const { readState, runPaths } = await import('../../src/core/run/state');
    const { commonDir } = await import('../../src/core/git/git');
    const { readFileSync } = await import('node:fs');
    const repo = newRepo();
    writePlan(
      repo,
      [
        { id: 'ok', agent: agent('write=ok.txt:ok') },
        // Attempt 1 breaks the integration check; when sent back (attempt 2) it fixes it.
        { id: 'fixme', retries: 1, agent: { command: ['sh', '-c', 'if [ "$LANES_ATTEMPT" = 1 ]; then echo broken > BROKEN; else rm -f BROKEN; echo fixed > fixed.txt; fi'] } },
        // Built on fixme: runs again on top of fixme's fix (which the engine merges in first).
        { id: 'onfixme', dependsOn: ['fixme'], agent: { command: ['sh', '-c', 'echo "attempt $LANES_ATTEMPT" > on.txt; test -f BROKEN && echo saw-broken >> on.txt; true'] }, verify: 'test ! -f BROKEN || test "$LANES_ATTEMPT" = 1' },
      ],
      { verify: 'test ! -f BROKEN' },
    );
    const ran = await lanes(repo.dir, ['run', '--worktree-root', (await import('../helpers/repo')).tempDir()]);
    assert.equal(ran.code, 0, ran.err + ran.out);
    const r = await lanes(repo.dir, ['reconcile', '--json']);
    assert.equal(r.code, 0, r.err + r.out);
    const out = JSON.parse(r.out);
    assert.deepEqual(out.queue.merged, ['ok', 'fixme', 'onfixme']);
    assert.deepEqual(out.queue.sentBack, [
      { lane: 'fixme', result: 'passed' },
      { lane: 'onfixme', result: 'passed' },
    ]);
    assert.equal(out.queue.rounds[0].culprit.lane, 'fixme');
    const common = await commonDir(repo.dir);
    const state = await readState(common, out.runId);
    const fixme = state.lanes.find((l) => l.id === 'fixme')!;
    assert.equal(fixme.attempts.length, 2);
    assert.match(readFileSync(fixme.attempts[1]!.briefFile, 'utf8'), /## Feedback[\s\S]*integration check `test ! -f BROKEN` failed/);
    const on = state.lanes.find((l) => l.id === 'onfixme')!;
    assert.equal(on.attempts.length, 2);
    assert.equal(on.base, fixme.head, 'its new base is fixme\'s new head');
    assert.equal(repo.git('show', `${on.head}:on.txt`), 'attempt 2', 'it ran on top of the fix (BROKEN was gone)');
    assert.equal(repo.git('merge-base', '--is-ancestor', fixme.head!, on.head!), '');
    const report = readFileSync(runPaths(common, out.runId).report, 'utf8');
    assert.match(report, /## Merge queue/);
    assert.match(report, /Bisect found that merging \*\*fixme\*\* breaks `test ! -f BROKEN`/);
    assert.match(report, /sent \*\*fixme\*\* back to its agent with the failure: passed/);
    assert.equal(repo.git('status', '--porcelain'), '', 'the user\'s checkout is untouched');
  });
});

describe('attribution', function () {
  this.timeout(60000);

  it('names the lane behind every line of the integrated result, including commits agents made themselves', async () => {
    const { attributeLines } = await import('../../src/core/reconcile/attribution');
    const repo = newRepo();
    repo.write('shared.txt', Array.from({ length: 12 }, (_, i) => `line ${i + 1}`).join('\n') + '\n');
    repo.commitAll('shared');
    writePlan(repo, [
      { id: 'top', agent: { command: ['sh', '-c', 'sed -i "s/^line 1$/line 1 by top/" shared.txt'] } },
      { id: 'bottom', agent: { command: ['sh', '-c', 'sed -i "s/^line 12$/line 12 by bottom/" shared.txt && git add -A && git -c user.name=a -c user.email=a@x commit -qm self'] } },
    ]);
    const { state, o } = await runPlan(repo);
    const res = await new MergeQueue({ repo: repo.dir, commonDir: o.commonDir, state, plan: o.plan }).run();
    const ranges = await attributeLines(repo.dir, state, res.head, 'shared.txt', (id) => o.plan.lanes.find((l) => l.id === id)?.dependsOn ?? []);
    assert.deepEqual(
      ranges.map((r) => [r.lane, r.startLine, r.endLine]),
      [
        ['top', 1, 1],
        [undefined, 2, 11],
        ['bottom', 12, 12],
      ],
    );
  });
});

describe('reconcile --apply, undo and discard (CLI)', function () {
  this.timeout(60000);

  it('applies the integrated result into a dirty checkout, keeps the user\'s edits, and undo restores it', async () => {
    const { lanes } = await import('../helpers/cli');
    const { tempDir } = await import('../helpers/repo');
    const { readFileSync, writeFileSync, existsSync } = await import('node:fs');
    const path = await import('node:path');
    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: agent('write=src/new.ts:new') }, { id: 'b', agent: agent('write=docs/b.md:b') }], { verify: 'test -f src/new.ts' });
    assert.equal((await lanes(repo.dir, ['run', '--worktree-root', tempDir()])).code, 0);
    writeFileSync(path.join(repo.dir, 'README.md'), '# sample\nmy unsaved-to-git edit\n');
    const r = await lanes(repo.dir, ['reconcile', '--apply']);
    assert.equal(r.code, 0, r.err + r.out);
    assert.match(r.out, /applied to your checkout \(three-way\): 2 file\(s\) written/);
    assert.equal(readFileSync(path.join(repo.dir, 'src/new.ts'), 'utf8'), 'new\n');
    assert.equal(readFileSync(path.join(repo.dir, 'README.md'), 'utf8'), '# sample\nmy unsaved-to-git edit\n');
    const u = await lanes(repo.dir, ['undo']);
    assert.equal(u.code, 0, u.err);
    assert.equal(existsSync(path.join(repo.dir, 'src/new.ts')), false);
    assert.equal(readFileSync(path.join(repo.dir, 'README.md'), 'utf8'), '# sample\nmy unsaved-to-git edit\n');
    assert.equal(repo.git('status', '--porcelain'), ' M README.md');
    assert.equal((await lanes(repo.dir, ['undo'])).code, 1, 'nothing left to undo');
  });

  it('refuses to apply over a file the user changed, exit 1, nothing changed', async () => {
    const { lanes } = await import('../helpers/cli');
    const { tempDir } = await import('../helpers/repo');
    const { writeFileSync, readFileSync } = await import('node:fs');
    const path = await import('node:path');
    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: agent('write=src/a.ts:lane version') }]);
    assert.equal((await lanes(repo.dir, ['run', '--worktree-root', tempDir()])).code, 0);
    writeFileSync(path.join(repo.dir, 'src/a.ts'), 'user version\n');
    const r = await lanes(repo.dir, ['reconcile', '--apply']);
    assert.equal(r.code, 1);
    assert.match(r.err, /not applied: you have changed files the lanes also change: src\/a\.ts/);
    assert.equal(readFileSync(path.join(repo.dir, 'src/a.ts'), 'utf8'), 'user version\n');
  });

  it('discard saves the lane to a snapshot ref before removing its branch and worktree', async () => {
    const { lanes } = await import('../helpers/cli');
    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: agent('write=x.txt:x') }]);
    const { state } = await runPlan(repo);
    const r = await lanes(repo.dir, ['discard', 'a']);
    assert.equal(r.code, 0, r.err);
    const ref = repo.git('for-each-ref', '--format=%(refname)', 'refs/lanes/snapshots/');
    assert.equal(repo.git('rev-parse', ref), state.lanes[0]!.head);
    assert.equal(repo.git('branch', '--list', state.lanes[0]!.branch), '');
  });

  it('holds back a lane whose branch moved since it finished (never merged blind)', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: agent('write=x.txt:x') }]);
    const { state, o } = await runPlan(repo);
    repo.git('-C', state.lanes[0]!.worktree, 'commit', '-q', '--allow-empty', '-m', 'someone moved it');
    const res = await new MergeQueue({ repo: repo.dir, commonDir: o.commonDir, state, plan: o.plan }).run();
    assert.deepEqual(res.merged, []);
    assert.match(res.held[0]!.reason, /moved since the lane finished/);
  });
});

describe('live radar', function () {
  this.timeout(60000);

  it('reports a collision while other lanes are still working', async () => {
    const { watchRadar } = await import('../../src/core/reconcile/radar');
    const repo = newRepo();
    writePlan(repo, [
      { id: 'a', agent: agent('write=same.txt:from a') },
      { id: 'b', agent: agent('sleep=200', 'write=same.txt:from b') },
      { id: 'slow', agent: agent('sleep=2500', 'write=slow.txt:s') },
    ]);
    const findings: { pair: string; slowStatus: string }[] = [];
    let stop: (() => void) | undefined;
    await runPlan(repo, {}, (o) => {
      stop = watchRadar(repo.dir, o, (p) => findings.push({ pair: `${p.kind} ${p.a}/${p.b} ${p.files.join(',')}`, slowStatus: o.lane('slow').status })).stop;
    });
    stop?.();
    assert.deepEqual(findings, [{ pair: 'conflict a/b same.txt', slowStatus: 'running' }]);
  });
});

describe('live radar on commits agents make while they work', function () {
  this.timeout(60000);
  it('reports the collision while the committing agent is still running', async () => {
    const { watchRadar } = await import('../../src/core/reconcile/radar');
    const repo = newRepo();
    writePlan(repo, [
      { id: 'early', agent: agent('write=same.txt:from early', 'commit=early work', 'sleep=4000', 'write=late.txt:x') },
      { id: 'quick', agent: agent('write=same.txt:from quick') },
    ]);
    const findings: string[] = [];
    await runPlan(repo, {}, (o) => {
      watchRadar(repo.dir, o, (p) => findings.push(`${p.kind} ${p.a}/${p.b} while early is ${o.lane('early').status}`));
    });
    assert.deepEqual(findings, ['conflict early/quick while early is running']);
  });
});

describe('scope violations and inherited conflicts', () => {
  it('a lane that changes files outside its scope is named, the collision it causes says so, and a conflict a dependent lane inherits is reported once, at its origin', async () => {
    const repo = newRepo();
    writePlan(repo, [
      { id: 'impl', scope: ['lib/**'], agent: agent('write=lib/x.ts:x', 'write=README.md:impl says') },
      { id: 'docs', scope: ['docs/**'], agent: agent('write=docs/d.md:d', 'write=README.md:docs says') },
      { id: 'tests', dependsOn: ['impl'], scope: ['test/**'], agent: agent('write=test/x.test.ts:t') },
    ]);
    const s = await LanesSession.open({ cwd: repo.dir, face: 'test', runDefaults: () => ({ worktreeRoot: tempDir('lanes-wt-') }) });
    const state = await (await s.run()).run();
    assert.deepEqual(state.lanes.map((l) => l.status), ['passed', 'passed', 'passed']);
    const r = await s.radar(state.runId, { details: true });
    assert.deepEqual(r.outOfScope, { impl: ['README.md'], docs: ['README.md'] });
    const conflicts = r.pairs.filter((p) => p.kind === 'conflict');
    assert.equal(conflicts.length, 1, JSON.stringify(r.pairs));
    assert.deepEqual([conflicts[0]!.a, conflicts[0]!.b].sort(), ['docs', 'impl']);
    assert.deepEqual(conflicts[0]!.outOfScope?.map((o) => o.lane).sort(), ['docs', 'impl']);
    assert.deepEqual(conflicts[0]!.inheritedBy?.map((x) => [x.a, x.b].sort()), [['docs', 'tests']]);
    const report = (await s.report(state.runId)).text;
    assert.match(report, /conflict in `README\.md`; caused by \*\*\w+\*\* changing `README\.md` outside its scope; caused by \*\*\w+\*\* changing `README\.md` outside its scope; inherited by/);
    assert.match(report, /## Outside their scope\n\n- ⚠ \*\*impl\*\* changed `README\.md`, outside its declared scope/);
  });
});

describe('resolving a conflict into a lane', () => {
  it('merges the other lane into the conflicting lane, refuses while markers remain, commits the resolution with the lane trailers and records it; the queue then merges both', async () => {
    const repo = newRepo();
    writePlan(repo, [
      { id: 'impl', agent: agent('write=src/b.txt:impl') },
      { id: 'clash', agent: agent('write=src/b.txt:clash', 'write=lib/c.txt:c') },
    ]);
    const s = await LanesSession.open({ cwd: repo.dir, face: 'test', runDefaults: () => ({ worktreeRoot: tempDir('lanes-wt-') }) });
    const state = await (await s.run()).run();
    const q1 = await s.mergeQueue(state.runId, { sendBack: false });
    assert.deepEqual(q1.merged, ['impl']);
    assert.deepEqual(q1.held.map((h) => h.lane), ['clash']);

    // Before resolving: the panel can apply what does not conflict, or everything with markers.
    const nc = await s.apply(state.runId, { kind: 'nonConflicting', lane: 'clash' });
    assert.deepEqual([...nc.applied].sort(), ['lib/c.txt', 'src/b.txt']);
    assert.equal(readFileSync(path.join(repo.dir, 'src/b.txt'), 'utf8'), 'impl\n', 'the conflicted file as integrated');
    await s.undo();
    await s.apply(state.runId, { kind: 'markers', lane: 'clash' });
    assert.match(readFileSync(path.join(repo.dir, 'src/b.txt'), 'utf8'), /^<<<<<<< [\s\S]*impl[\s\S]*=======[\s\S]*clash[\s\S]*>>>>>>> /m);
    await s.undo();
    assert.equal(repo.git('status', '--porcelain'), '');

    const r = await s.resolveStart(state.runId, 'clash', 'impl');
    assert.deepEqual(r.conflicts, ['src/b.txt']);
    const clash = state.lanes.find((l) => l.id === 'clash')!;
    assert.equal(r.ours, clash.head);
    assert.equal(r.theirs, state.lanes.find((l) => l.id === 'impl')!.head);
    const file = path.join(r.worktree, 'src/b.txt');
    assert.match(readFileSync(file, 'utf8'), /^<<<<<<< /m, 'the worktree holds the conflict for the editor');
    await assert.rejects(s.resolveFinish(state.runId, 'clash', r.conflicts, 'impl'), /still conflicted \(conflict markers left\): src\/b\.txt/);

    writeFileSync(file, 'impl and clash\n'); // what the merge editor writes
    const head = await s.resolveFinish(state.runId, 'clash', r.conflicts, 'impl');
    assert.equal(repo.git('log', '-1', '--format=%(trailers:key=Lanes-Lane,valueonly)', head).trim(), 'clash');
    assert.equal(repo.git('rev-list', '--parents', '-n', '1', head).split(' ').length, 3, 'a merge commit');
    assert.equal((await s.store.read(state.runId)).lanes.find((l) => l.id === 'clash')!.head, head, 'recorded');

    const q2 = await s.mergeQueue(state.runId, { sendBack: false });
    assert.deepEqual(q2.merged.sort(), ['clash', 'impl']);
    assert.equal(repo.git('show', `${q2.branch}:src/b.txt`), 'impl and clash');
    assert.equal((await s.radar(state.runId)).pairs.filter((p) => p.kind === 'conflict').length, 0, 'the radar no longer sees it');
  });
});
