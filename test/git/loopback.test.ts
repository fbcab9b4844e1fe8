/**
 * Loop back: findings between lanes, loop-backs inside a run, blame from evidence in the merge
 * queue, reviews that request changes, and the limits that stop a ping-pong. Every scenario runs
 * real scripted agents (which raise findings with the `lanes finding` command on their PATH, in
 * the lane sandbox where this machine has one) on a real repository.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { attributeLines } from '../../src/core/reconcile/attribution';
import { LanesSession } from '../../src/core/session/session';
import type { RunState } from '../../src/core/run/state';
import { agent, statusOf, writePlan } from '../helpers/engine';
import { lanes } from '../helpers/cli';
import { createTempRepo, tempDir, TempRepo } from '../helpers/repo';

const BUGGY = "module.exports = function range(n) { return Array.from({ length: n - 1 }, (_, i) => i); };";
const FIXED = "module.exports = function range(n) { return Array.from({ length: n }, (_, i) => i); };";
const TEST = "const test = require('node:test'); const assert = require('node:assert'); const range = require('../src/range'); test('range(3) has 3 items', () => assert.strictEqual(range(3).length, 3));";

function repoWithRange(): TempRepo {
  return createTempRepo({ 'README.md': '# sample\n', 'package.json': '{"name":"x","private":true}\n', 'test/smoke.test.js': "require('node:test')('smoke', () => {});\n" });
}

async function session(repo: TempRepo): Promise<LanesSession> {
  return LanesSession.open({ cwd: repo.dir, face: 'test', runDefaults: () => ({ worktreeRoot: tempDir('lanes-wt-') }) });
}

const git = (repo: TempRepo, ...args: string[]) => execFileSync('git', args, { cwd: repo.dir, encoding: 'utf8' }).trim();

/** Commits on the lane's branch (since the run's base) that touched `file`. */
function commitsTouching(repo: TempRepo, state: RunState, lane: string, file: string): string[] {
  const l = state.lanes.find((x) => x.id === lane)!;
  return git(repo, 'log', '--format=%H', `${state.baseCommit}..${l.head}`, '--', file).split('\n').filter(Boolean);
}

describe('loop back', function () {
  this.timeout(120000);

  it('a test lane that exposes a bug sends it to the implementer, then runs again on the fix; the integration passes', async () => {
    const repo = repoWithRange();
    writePlan(
      repo,
      [
        { id: 'impl', agent: agent(`write-first=src/range.js:${BUGGY}`, `write-later=src/range.js:${FIXED}`), retries: 1, verify: ['node', '-e', "require('./src/range')"] },
        { id: 'tests', dependsOn: ['impl'], agent: agent(`write=test/range.test.js:${TEST}`, 'find-if-fails=impl:node --test test/'), verify: ['node', '--test', 'test/'] },
      ],
      { verify: ['node', '--test', 'test/'] },
    );
    const s = await session(repo);
    const o = await s.run();
    const events: string[] = [];
    o.onEvent((e) => {
      if (e.type === 'loop-back') events.push(`${e.loopBack.from}->${e.loopBack.to}`);
    });
    const state = await o.run();
    assert.deepEqual(statusOf(state), { impl: 'passed', tests: 'passed' }, JSON.stringify(state.lanes.map((l) => [l.id, l.reason])));
    const impl = state.lanes.find((l) => l.id === 'impl')!;
    const tests = state.lanes.find((l) => l.id === 'tests')!;
    assert.equal(impl.attempts.length, 2, 'impl ran again with the finding');
    assert.equal(tests.attempts.length, 2, 'tests ran again on the fix');
    // The finding: raised by tests' agent through `lanes finding add`, with the failing output.
    assert.equal(state.findings.length, 1);
    const f = state.findings[0]!;
    assert.deepEqual([f.id, f.from, f.to, f.kind, f.blocking, f.status], ['F1', 'tests', 'impl', 'bug', true, 'addressed']);
    assert.match(f.evidence?.output ?? '', /range\(3\) has 3 items/);
    assert.equal(f.evidence?.command, 'node --test test/');
    assert.deepEqual(events, ['tests->impl']);
    assert.deepEqual(
      state.loopBacks.map((x) => [x.from, x.to, x.finding, x.by, x.sent]),
      [['tests', 'impl', 'F1', 'run', true]],
    );
    // impl's second brief carried the finding and its evidence.
    const brief = readdirSync(path.dirname(impl.attempts[1]!.briefFile)).includes('impl-2.md');
    assert.ok(brief);
    const text = execFileSync('cat', [impl.attempts[1]!.briefFile], { encoding: 'utf8' });
    assert.match(text, /Lane `tests` found a problem in your work \(finding F1, blocking\)/);
    assert.match(text, /range\(3\) has 3 items/);
    assert.doesNotMatch(text, /## Findings for you/, 'the finding is in the feedback, not twice (agents are paid by the token)');
    // tests re-ran on top of the fix (lineage): impl's new head is in its history.
    assert.equal(git(repo, 'merge-base', '--is-ancestor', impl.head!, tests.head!), '');
    // The test file is unchanged: one commit on tests' branch wrote it.
    assert.equal(commitsTouching(repo, state, 'tests', 'test/range.test.js').length, 1);

    const q = await s.mergeQueue(state.runId);
    assert.equal(q.passed, true, q.verify?.outputTail);
    // Attribution: the fixed line came from impl.
    const lines = await attributeLines(repo.dir, state, q.head, 'src/range.js', (id) => (id === 'tests' ? ['impl'] : []));
    assert.deepEqual([...new Set(lines.map((x) => x.lane))], ['impl']);
    assert.equal(git(repo, 'show', `${q.head}:src/range.js`), FIXED);

    const { text: report } = await s.report(state.runId);
    assert.match(report, /## Findings/);
    assert.match(report, /\| F1 \| tests → impl \|/);
    assert.match(report, /## Loop-backs/);
  });

  it('a review lane requests a change, the implementer makes it, the review approves', async () => {
    const repo = repoWithRange();
    writePlan(repo, [
      { id: 'impl', agent: agent('write-first=src/range.js:module.exports = (n) => [];', "write-later=src/range.js:module.exports = (n) => { if (n < 0) throw new RangeError('n'); return []; };"), retries: 1 },
      {
        id: 'review',
        dependsOn: ['impl'],
        agent: agent('lanes-first=["finding","request-changes","impl","--title","range must reject negative n","--details","throw RangeError for n < 0"]', 'lanes-later=["finding","approve","impl"]'),
      } as never,
    ]);
    // role review (writePlan's type has no role field)
    const planFile = path.join(repo.dir, '.lanes/plan.json');
    const plan = JSON.parse(execFileSync('cat', [planFile], { encoding: 'utf8' }));
    plan.lanes[1].role = 'review';
    writeFileSync(planFile, JSON.stringify(plan, null, 2));
    repo.commitAll('review role');
    const s = await session(repo);
    const state = await (await s.run()).run();
    assert.deepEqual(statusOf(state), { impl: 'passed', review: 'passed' }, JSON.stringify(state.lanes.map((l) => [l.id, l.reason])));
    assert.deepEqual(
      state.findings.map((f) => [f.id, f.from, f.to, f.kind, f.status]),
      [
        ['F1', 'review', 'impl', 'changes', 'addressed'],
        ['F2', 'review', 'impl', 'approve', 'open'],
      ],
    );
    assert.match(git(repo, 'show', `${state.lanes[0]!.head}:src/range.js`), /RangeError/);
    const q = await s.mergeQueue(state.runId);
    assert.deepEqual(q.merged, ['impl', 'review']);
  });

  it('a ping-pong is stopped by the limit, with a clear reason, and the merge queue holds the lane until the finding is dismissed', async () => {
    const repo = repoWithRange();
    writePlan(
      repo,
      [
        // impl never fixes the bug, though it changes something each time.
        { id: 'impl', agent: agent(`write=src/range.js:${BUGGY}`, 'append=src/notes.txt:tried'), retries: 5 },
        { id: 'tests', dependsOn: ['impl'], agent: agent(`write=test/range.test.js:${TEST}`, 'find-if-fails=impl:node --test test/'), verify: ['node', '--test', 'test/'] },
      ],
      { loopBack: { perPair: 2 } },
    );
    const s = await session(repo);
    const state = await (await s.run()).run();
    const tests = state.lanes.find((l) => l.id === 'tests')!;
    assert.equal(tests.status, 'failed');
    assert.match(tests.reason ?? '', /tests and impl have looped back 2 times already \(loopBack\.perPair: 2\); no ping-pong beyond that/);
    assert.deepEqual(
      state.loopBacks.map((x) => x.sent),
      [true, true, false],
    );
    assert.equal(state.lanes.find((l) => l.id === 'impl')!.attempts.length, 3);
    const open = state.findings.filter((f) => f.status === 'open');
    assert.equal(open.length, 1);
    assert.match(open[0]!.note ?? '', /not sent back/);
    // The queue holds impl (an outstanding blocking finding) and tests (built on it).
    const q = await s.mergeQueue(state.runId);
    assert.deepEqual(q.merged, []);
    assert.match(q.held.find((h) => h.lane === 'impl')?.reason ?? '', new RegExp(`${open[0]!.id}.*dismiss`));
    // Dismissed, the person overrides: impl is integrated.
    await s.dismissFinding(state.runId, open[0]!.id, 'known, tracked elsewhere');
    const q2 = await s.mergeQueue(state.runId);
    assert.deepEqual(q2.merged, ['impl']);
    const listed = await s.findings(state.runId);
    assert.equal(listed.find((f) => f.id === open[0]!.id)?.status, 'dismissed');
  });

  it('the same bug reached only in the merge queue: the queue blames impl on the evidence, not tests', async () => {
    const repo = repoWithRange();
    // tests does not depend on impl and never runs the tests itself: the bug shows only once merged.
    writePlan(
      repo,
      [
        { id: 'impl', agent: agent(`write-first=src/range.js:${BUGGY}`, `write-later=src/range.js:${FIXED}`), retries: 1 },
        { id: 'tests', agent: agent(`write=test/range.test.js:${TEST}`), retries: 1 },
      ],
      { verify: ['node', '--test', 'test/'] },
    );
    const s = await session(repo);
    const state = await (await s.run()).run();
    assert.deepEqual(statusOf(state), { impl: 'passed', tests: 'passed' });
    const testsHead = state.lanes.find((l) => l.id === 'tests')!.head;
    const q = await s.mergeQueue(state.runId);
    assert.equal(q.passed, true, q.verify?.outputTail);
    const culprit = q.rounds.find((r) => r.culprit)!.culprit!;
    assert.equal(culprit.lane, 'tests', 'the merge of tests is what breaks the check');
    assert.equal(culprit.blame?.lane, 'impl', JSON.stringify(culprit.blame));
    assert.match(culprit.blame!.reason, /test\/range\.test\.js/);
    assert.match(culprit.blame!.reason, /src\/range\.js/);
    assert.deepEqual(q.sentBack.map((x) => [x.lane, x.result]), [['impl', 'passed']]);
    const after = await s.store.read(state.runId);
    assert.equal(after.lanes.find((l) => l.id === 'tests')!.head, testsHead, 'tests is kept as it is');
    assert.equal(after.lanes.find((l) => l.id === 'tests')!.attempts.length, 1);
    assert.deepEqual(
      after.findings.map((f) => [f.from, f.to, f.source, f.status]),
      [['tests', 'impl', 'merge-queue', 'addressed']],
    );
    const { text: report } = await s.report(state.runId);
    assert.match(report, /blamed \*\*impl\*\*/);
  });

  it('the queue blames by the lines a stack trace names (attribution), and records why', async () => {
    const repo = repoWithRange();
    const PARSE_BAD = "module.exports = function parse(s) {\n  if (!s) throw new Error('empty input');\n  return s.trim();\n};";
    const PARSE_OK = "module.exports = function parse(s) {\n  if (!s) return '';\n  return s.trim();\n};";
    const PTEST = "const test = require('node:test'); const assert = require('node:assert'); const parse = require('../src/parse.js'); test('parse of nothing is empty', () => assert.strictEqual(parse(''), ''));";
    writePlan(
      repo,
      [
        { id: 'impl', agent: agent(`write-first=src/parse.js:${PARSE_BAD}`, `write-later=src/parse.js:${PARSE_OK}`), retries: 1 },
        { id: 'tests', agent: agent(`write=test/parse.test.js:${PTEST}`) },
      ],
      { verify: ['node', '--test', 'test/'] },
    );
    const s = await session(repo);
    const state = await (await s.run()).run();
    const q = await s.mergeQueue(state.runId);
    assert.equal(q.passed, true, q.verify?.outputTail);
    const blame = q.rounds.find((r) => r.culprit)!.culprit!.blame!;
    assert.equal(blame.lane, 'impl');
    assert.ok(blame.exercised.some((e) => e.file === 'src/parse.js' && e.line === 2 && e.how === 'output'), JSON.stringify(blame));
    assert.match(blame.reason, /the failure runs through src\/parse\.js:2, written by impl/);
    const { text: report } = await s.report(state.runId);
    assert.match(report, /Decision: blamed \*\*impl\*\*, not tests/);
    assert.match(report, /`src\/parse\.js:2` \(impl, named in the output\)/);
  });

  it('a failing test of the breaking lane that runs no other lane\'s code: the breaking lane goes back, as before', async () => {
    const repo = repoWithRange();
    const SELF = "const test = require('node:test'); const assert = require('node:assert'); test('wrong on its own', () => assert.strictEqual(1 + 1, 3));";
    writePlan(
      repo,
      [
        { id: 'impl', agent: agent(`write=src/range.js:${FIXED}`) },
        { id: 'tests', agent: agent(`write-first=test/self.test.js:${SELF}`, "write-later=test/self.test.js:require('node:test')('fine', () => {});"), retries: 1 },
      ],
      { verify: ['node', '--test', 'test/'] },
    );
    const s = await session(repo);
    const state = await (await s.run()).run();
    const q = await s.mergeQueue(state.runId);
    assert.equal(q.passed, true, q.verify?.outputTail);
    const c = q.rounds.find((r) => r.culprit)!.culprit!;
    assert.equal(c.blame, undefined);
    assert.match(c.decision!, /tests is at fault/);
    assert.deepEqual(q.sentBack.map((x) => x.lane), ['tests']);
  });

  it('a person sends an open finding back with edited text (CLI): the lane runs again with it, and the finder on top', async () => {
    const repo = repoWithRange();
    // Loop-backs are off: the finding stays open for the person.
    writePlan(
      repo,
      [
        { id: 'impl', agent: agent(`write-first=src/range.js:${BUGGY}`, `write-later=src/range.js:${FIXED}`), retries: 1 },
        { id: 'tests', dependsOn: ['impl'], agent: agent(`write=test/range.test.js:${TEST}`, 'find-if-fails=impl:node --test test/'), verify: ['node', '--test', 'test/'], retries: 1 },
      ],
      { loopBack: { max: 0 } },
    );
    const run = await lanes(repo.dir, ['run', '--worktree-root', tempDir('lanes-wt-')]);
    assert.equal(run.code, 1, run.out + run.err);
    assert.match(run.err, /⚑ tests raised F1 for impl \(bug, blocking\): node --test test\/ fails/);
    assert.match(run.err, /⊘ impl is not sent back with F1: loop-backs are off in this plan \(loopBack\.max: 0\)/);
    const list = await lanes(repo.dir, ['finding', 'list']);
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, /● F1 tests → impl {2}bug, blocking {2}open/);
    assert.match(list.out, /reproduce: node --test test\//);
    const json = JSON.parse((await lanes(repo.dir, ['finding', 'list', '--json'])).out);
    assert.equal(json.findings[0].id, 'F1');

    const sent = await lanes(repo.dir, ['finding', 'send', 'f1', '--message', 'range(n) must return n items: [0, …, n-1]']);
    assert.equal(sent.code, 0, sent.out + sent.err);
    assert.match(sent.out, /F1 tests → impl \(bug, blocking, addressed\)/);
    const s = await session(repo);
    const state = await s.store.read((await s.latestRunId())!);
    assert.deepEqual(statusOf(state), { impl: 'passed', tests: 'passed' });
    const impl = state.lanes.find((l) => l.id === 'impl')!;
    assert.match(readFileSync(impl.attempts[impl.attempts.length - 1]!.briefFile, 'utf8'), /range\(n\) must return n items/);
    // tests retried once and raised the same problem again: still one finding, F1.
    assert.deepEqual(state.findings.map((f) => [f.id, f.attempt, f.status]), [['F1', 2, 'addressed']]);
    assert.deepEqual(state.loopBacks.map((x) => [x.by, x.sent]), [['run', false], ['run', false], ['person', true]]);
    assert.match((await lanes(repo.dir, ['finding', 'send', 'F9'])).err, /has no finding F9; it has F1/);
    assert.match((await lanes(repo.dir, ['finding', 'dismiss'])).err, /say which finding to dismiss/);
  });

  it('a person sends a finding back while the run works: the lane runs again in the same run, then the finder', async () => {
    const repo = repoWithRange();
    writePlan(
      repo,
      [
        { id: 'impl', agent: agent(`write-first=src/range.js:${BUGGY}`, `write-later=src/range.js:${FIXED}`), retries: 1 },
        { id: 'tests', dependsOn: ['impl'], agent: agent(`write=test/range.test.js:${TEST}`, 'find-if-fails=impl:node --test test/'), verify: ['node', '--test', 'test/'] },
        { id: 'slow', agent: agent('sleep=6000', 'write=src/slow.js:1') },
      ],
      { loopBack: { max: 0 } },
    );
    const s = await session(repo);
    const o = await s.run();
    let sent: Promise<boolean> | undefined;
    o.onEvent((e) => {
      if (e.type === 'lane-status' && e.lane === 'tests' && e.status === 'failed' && !sent) sent = o.sendFinding('F1', 'range(n) returns n items');
    });
    const state = await o.run();
    assert.equal(await sent, true);
    assert.deepEqual(statusOf(state), { impl: 'passed', tests: 'passed', slow: 'passed' }, JSON.stringify(state.lanes.map((l) => [l.id, l.reason])));
    assert.equal(state.findings[0]!.status, 'addressed');
    assert.deepEqual(state.loopBacks.map((x) => [x.by, x.sent]), [['run', false], ['person', true]]);
    assert.match(readFileSync(state.lanes[0]!.attempts[1]!.briefFile, 'utf8'), /range\(n\) returns n items/);
  });

  it('findings for a lane that starts later are in its brief; notes never loop back', async () => {
    const repo = repoWithRange();
    writePlan(repo, [
      { id: 'a', agent: agent('write=src/a.js:1', 'lanes=["finding","add","--to","c","--title","use the helper in src/a.js","--kind","note"]') },
      { id: 'b', dependsOn: ['a'], agent: agent('write=src/b.js:2', 'lanes=["finding","add","--to","a","--title","a.js needs a comment","--no-blocking"]') },
      { id: 'c', dependsOn: ['b'], agent: agent('write=src/c.js:3') },
    ]);
    const s = await session(repo);
    const state = await (await s.run()).run();
    assert.deepEqual(statusOf(state), { a: 'passed', b: 'passed', c: 'passed' });
    assert.deepEqual(state.loopBacks, [], 'a non-blocking finding, with a passing verify, sends nobody back');
    const brief = readFileSync(state.lanes.find((l) => l.id === 'c')!.attempts[0]!.briefFile, 'utf8');
    assert.match(brief, /## Findings for you[\s\S]*F1 a → c \(note, open\): use the helper in src\/a\.js/);
    assert.match(brief, /lanes finding add --to LANE/);
  });

  it('a findings folder the agent made a symlink out of its worktree is never read through', async () => {
    const repo = repoWithRange();
    const outside = tempDir('lanes-outside-');
    writeFileSync(path.join(outside, 'keep.json'), JSON.stringify({ to: 'impl', title: 'not from the lane' }));
    writePlan(repo, [
      { id: 'impl', agent: agent('write=src/a.js:1') },
      { id: 'tests', agent: agent('write=src/b.js:2') },
    ]);
    const s = await session(repo);
    const o = await s.run();
    o.onEvent((e) => {
      // As the lane starts, its findings folder becomes a symlink to a folder outside.
      if (e.type === 'lane-status' && e.lane === 'tests' && e.status === 'running' && e.reason?.startsWith('attempt')) {
        const dir = path.join(o.lane('tests').worktree, '.lanes/memory/findings');
        execFileSync('rm', ['-rf', dir]);
        symlinkSync(outside, dir);
      }
    });
    const state = await o.run();
    assert.equal(state.findings.length, 0);
    assert.deepEqual(readdirSync(outside), ['keep.json'], 'the file outside is neither taken nor renamed');
    assert.match(state.lanes.find((l) => l.id === 'tests')!.warnings.join('\n'), /is a symlink; Agent Lanes does not write through it; findings there are not read/);
  });

  it('bad finding files are reported with the field and the fix, and kept', async () => {
    const repo = repoWithRange();
    mkdirSync(path.join(repo.dir, 'x'), { recursive: true });
    writePlan(repo, [
      { id: 'impl', agent: agent('write=src/a.js:1') },
      {
        id: 'tests',
        agent: agent(
          'write=.lanes/memory/findings/a.json:{"to":"nobody","title":"x"}',
          'write=.lanes/memory/findings/b.json:{"to":"impl"}',
          'write=.lanes/memory/findings/c.json:not json',
          'write=.lanes/memory/findings/d.json:{"to":"impl","title":"works","blocking":false}',
          ...Array.from({ length: 21 }, (_, i) => `write=.lanes/memory/findings/e${String(i).padStart(2, '0')}.json:{"to":"impl","title":"flood ${i}","kind":"note"}`),
          'write=src/b.js:2',
        ),
      },
    ]);
    const s = await session(repo);
    const state = await (await s.run()).run();
    const tests = state.lanes.find((l) => l.id === 'tests')!;
    const w = tests.warnings.join('\n');
    assert.match(w, /a\.json was not recorded: "to": the plan has no lane "nobody"; use one of impl/);
    assert.match(w, /b\.json was not recorded: "title": say what is wrong/);
    assert.match(w, /c\.json was not recorded: not valid JSON/);
    assert.equal(state.findings.length, 20, 'at most 20 findings from one attempt');
    assert.deepEqual(state.findings.slice(0, 1).map((f) => [f.from, f.to, f.title, f.blocking]), [['tests', 'impl', 'works', false]]);
    assert.match(w, /more than 20 findings in one attempt/);
    assert.ok(existsSync(path.join(tests.worktree, '.lanes/memory/findings/a.json.invalid')), String(readdirSync(path.join(tests.worktree, '.lanes/memory/findings'))));
    assert.equal(git(repo, 'show', '--stat', '--format=', tests.head!).includes('.lanes'), false, 'finding files are never committed');
  });
});
