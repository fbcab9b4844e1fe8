import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { importsOf, placesIn } from '../../src/core/reconcile/blame';
import { checkFindingFile, effectiveFindings, findingCommandScript, findingFeedback, FindingRecord, isOutstanding, nextFindingId, possessive } from '../../src/core/run/findings';
import { judge } from '../../src/core/run/judge';
import { schedule } from '../../src/core/run/scheduler';
import { LaneGraph } from '../../src/core/plan/graph';

const LANES = ['impl', 'tests', 'review'];

function rec(over: Partial<FindingRecord> = {}): FindingRecord {
  return { id: 'F1', from: 'tests', to: 'impl', kind: 'bug', title: 'x', blocking: true, at: '2026-11-25T10:00:00.000Z', source: 'agent', status: 'open', history: [], ...over };
}

describe('findings', () => {
  describe('checking what an agent wrote', () => {
    it('names the field and the fix', () => {
      const bad = (raw: unknown) => {
        const r = checkFindingFile(raw, 'tests', LANES);
        assert.equal(r.ok, false);
        return (r as { problem: string }).problem;
      };
      assert.match(bad({ title: 'x' }), /^"to": expected "to": the id of the lane/);
      assert.match(bad({ to: 'nobody', title: 'x' }), /"to": the plan has no lane "nobody"; use one of impl, review/);
      assert.match(bad({ to: 'tests', title: 'x' }), /a finding is for another lane/);
      assert.match(bad({ to: 'impl' }), /"title": say what is wrong/);
      assert.match(bad({ to: 'impl', title: 'x', kind: 'praise' }), /"kind": expected "kind" to be one of bug, changes, approve, note/);
      assert.match(bad({ to: 'impl', title: 'x', blocking: 'yes' }), /"blocking": expected "blocking" to be true or false/);
      assert.match(bad({ to: 'impl', title: 'x', evidence: { files: 'a.js' } }), /"evidence.files"/);
      assert.match(bad([1, 2]), /expected object/);
    });

    it('defaults: bugs and change requests block, notes and approvals never do; extra fields are ignored', () => {
      const ok = (raw: unknown) => {
        const r = checkFindingFile(raw, 'tests', LANES);
        assert.ok(r.ok, JSON.stringify(r));
        return r.value;
      };
      assert.equal(ok({ to: 'impl', title: 'x' }).blocking, true);
      assert.equal(ok({ to: 'impl', title: 'x', kind: 'changes' }).blocking, true);
      assert.equal(ok({ to: 'impl', title: 'x', kind: 'note', blocking: true }).blocking, false);
      const a = ok({ to: 'impl', kind: 'approve', mood: 'happy' });
      assert.deepEqual([a.kind, a.blocking, a.title], ['approve', false, 'approved impl']);
      assert.equal(ok({ to: 'impl', title: 'first line\nsecond' }).title, 'first line');
      const long = ok({ to: 'impl', title: 'x', evidence: { output: 'a'.repeat(20000) + 'THE END' } });
      assert.ok(long.evidence!.output!.length <= 8001 && long.evidence!.output!.endsWith('THE END'), 'the end of the output is kept');
    });
  });

  it('outstanding: blocking bugs and change requests not yet addressed or dismissed', () => {
    assert.equal(isOutstanding(rec()), true);
    assert.equal(isOutstanding(rec({ status: 'sent' })), true);
    assert.equal(isOutstanding(rec({ status: 'addressed' })), false);
    assert.equal(isOutstanding(rec({ status: 'dismissed' })), false);
    assert.equal(isOutstanding(rec({ blocking: false })), false);
    assert.equal(isOutstanding(rec({ kind: 'approve', blocking: false })), false);
  });

  it("a person's dismissal applies unless the finding was sent again after it", () => {
    const d = new Map([['F1', { finding: 'F1', action: 'dismiss' as const, at: '2026-11-25T10:05:00.000Z', by: 'lanes finding dismiss', reason: 'known' }]]);
    assert.equal(effectiveFindings([rec()], d)[0]!.status, 'dismissed');
    assert.match(effectiveFindings([rec()], d)[0]!.note!, /dismissed by lanes finding dismiss: known/);
    const resent = rec({ status: 'sent', history: [{ at: '2026-11-25T10:06:00.000Z', status: 'sent' }] });
    assert.equal(effectiveFindings([resent], d)[0]!.status, 'sent');
    assert.equal(effectiveFindings([rec({ id: 'F2' })], d)[0]!.status, 'open');
  });

  it('ids count up from the highest; feedback carries the evidence and says whose files stay', () => {
    assert.equal(nextFindingId([]), 'F1');
    assert.equal(nextFindingId([{ id: 'F1' }, { id: 'F7' }, { id: 'F3' }]), 'F8');
    const text = findingFeedback(rec({ title: 'range(3) has 2 items', evidence: { command: 'node --test', output: 'AssertionError ```weird```', files: ['test/r.test.js:5'] } }));
    assert.match(text, /Lane `tests` found a problem in your work \(finding F1, blocking\)/);
    assert.match(text, /Reproduce with: `node --test`/);
    assert.match(text, /````\nAssertionError ```weird```\n````/, 'a fence longer than any in the output');
    assert.match(text, /Do not change tests' files/);
    assert.match(findingFeedback(rec({ kind: 'changes', details: 'the details' }), 'edited by a person'), /requests changes[\s\S]*edited by a person/);
    assert.equal(possessive('tests'), "tests'");
    assert.equal(possessive('impl'), "impl's");
  });

  describe('the `lanes finding` command inside a lane', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lanes-finding-cmd-'));
    const script = path.join(dir, 'lanes');
    writeFileSync(script, findingCommandScript(process.execPath), { mode: 0o755 });
    const findings = path.join(dir, 'findings');
    const env = { ...process.env, LANES_FINDINGS_DIR: findings, LANES_LANE: 'tests', LANES_LANE_IDS: LANES.join(','), LANES_FINDINGS_FILE: path.join(dir, 'list.txt'), PATH: `${dir}:/usr/bin:/bin` };
    const lanes = (...args: string[]) => spawnSync(script, args, { env, encoding: 'utf8' });
    after(() => rmSync(dir, { recursive: true, force: true }));
    const written = () => readdirSync(findings).filter((n) => n.endsWith('.json')).map((n) => JSON.parse(readFileSync(path.join(findings, n), 'utf8')));

    it('writes what checkFindingFile accepts', () => {
      writeFileSync(path.join(dir, 'out.txt'), 'not ok 1 - range\n');
      const r = lanes('finding', 'add', '--to', 'impl', '--title', 'range is off by one', '--command', 'node --test', '--output-file', path.join(dir, 'out.txt'), '--file', 'src/range.js:1');
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /recorded: bug for impl: range is off by one/);
      const [f] = written();
      assert.deepEqual(f, { to: 'impl', kind: 'bug', title: 'range is off by one', evidence: { command: 'node --test', output: 'not ok 1 - range\n', files: ['src/range.js:1'] } });
      assert.ok(checkFindingFile(f, 'tests', LANES).ok);
      assert.equal(lanes('finding', 'approve', 'impl').status, 0);
      assert.equal(lanes('finding', 'request-changes', 'impl', '--title', 'validate n').status, 0);
      assert.deepEqual(written().map((x) => x.kind).sort(), ['approve', 'bug', 'changes']);
      assert.equal(readdirSync(findings).some((n) => n.endsWith('.tmp')), false);
    });

    it('refuses what would not be recorded, at once, with the way to do it', () => {
      assert.match(lanes('finding', 'add', '--to', 'nobody', '--title', 'x').stderr, /the plan has no lane "nobody"; lanes: impl, tests, review/);
      assert.match(lanes('finding', 'add', '--to', 'tests', '--title', 'x').stderr, /not your own/);
      assert.match(lanes('finding', 'add', '--to', 'impl').stderr, /say what is wrong: --title TEXT/);
      assert.match(lanes('finding', 'add', '--title', 'x').stderr, /--to LANE/);
      assert.equal(lanes('finding', 'add', '--to', 'impl', '--bogus').status, 2);
      assert.match(lanes('run').stderr, /inside a lane only "lanes finding \.\.\." is available/);
      assert.equal(lanes('finding', '--help').status, 0);
    });

    it('list shows what the run wrote for the lane', () => {
      assert.match(lanes('finding', 'list').stdout, /No findings/);
      writeFileSync(path.join(dir, 'list.txt'), 'F1 tests → impl (bug, blocking, sent): x\n');
      assert.match(lanes('finding', 'list').stdout, /F1 tests → impl/);
    });

    it('hands any other command to the next lanes on PATH', () => {
      const other = path.join(dir, 'other');
      execFileSync('mkdir', [other]);
      writeFileSync(path.join(other, 'lanes'), '#!/bin/sh\necho "real lanes $*"\n', { mode: 0o755 });
      const r = spawnSync(script, ['status', '--all'], { env: { ...env, PATH: `${dir}:${other}:/usr/bin:/bin` }, encoding: 'utf8' });
      assert.equal(r.stdout.trim(), 'real lanes status --all');
      assert.equal(execFileSync(script, ['finding', 'list'], { env: { ...env, PATH: `${dir}:${other}:/usr/bin:/bin` }, encoding: 'utf8' }).includes('F1'), true);
    });
  });

  describe('blame evidence', () => {
    it('reads path:line places from node, mocha and pytest output, relative to the check folder', () => {
      const out = [
        "    at TestContext.<anonymous> (/tmp/wt/.integration/test/range.test.js:5:10)",
        '    at Test.runInAsyncScope (node:async_hooks:206:9)',
        '    at Object.<anonymous> (/usr/lib/node_modules/x/index.js:3:1)',
        "  location: '/tmp/wt/.integration/test/range.test.js:4:1'",
        'src/range.py:12: AssertionError',
        '    at range (file:///tmp/wt/.integration/src/range.mjs:2:30)',
        '  ../outside/x.js:3',
        'node_modules/foo/bar.js:1',
      ].join('\n');
      assert.deepEqual(placesIn(out, ['/tmp/wt/.integration']), [
        { file: 'test/range.test.js', line: 5 },
        { file: 'test/range.test.js', line: 4 },
        { file: 'src/range.py', line: 12 },
        { file: 'src/range.mjs', line: 2 },
      ]);
    });

    it('reads relative imports of JavaScript and TypeScript tests', () => {
      const text = "const r = require('../src/range');\nimport { x } from './helpers.js';\nimport y from 'node:test';\nconst z = await import('../lib/z');\n";
      const imports = importsOf('test/range.test.js', text);
      assert.equal(imports.length, 3);
      assert.ok(imports[0]!.includes('src/range.js') && imports[0]!.includes('src/range.ts'));
      assert.ok(imports[1]!.includes('test/helpers.js') && imports[1]!.includes('test/helpers.ts'), 'a .js specifier may be a .ts file');
      assert.ok(imports[2]!.includes('lib/z/index.js'));
    });
  });

  it('judge: a review that changed nothing but raised findings passes; one that did neither fails', () => {
    const base = { agentName: 'a', cancelled: false, timedOut: false, exitCode: 0, exit: 'exit code 0', changed: false, outputTail: '', timeoutMs: 1000 };
    assert.deepEqual(judge({ ...base, raised: 1 }, 1, 1, 1), { kind: 'passed', reason: 'changed nothing; raised 1 finding' });
    assert.equal(judge({ ...base, raised: 0 }, 1, 1, 1).kind, 'failed');
  });

  it('scheduler: a lane that sent its dependency back says why it waits', () => {
    const graph = new LaneGraph([{ id: 'impl' }, { id: 'tests', dependsOn: ['impl'] }]);
    const d = schedule({
      graph,
      lanes: [
        { id: 'impl', status: 'queued' },
        { id: 'tests', status: 'blocked', reason: 'x' },
      ],
      active: new Set(['impl']),
      maxParallel: 2,
      cancelled: false,
      waitNotes: new Map([['tests', 'sent impl back with F1']]),
    });
    assert.deepEqual(d.transitions, [{ lane: 'tests', status: 'blocked', reason: 'waiting for impl (sent impl back with F1)' }]);
  });
});
