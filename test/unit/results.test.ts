import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { detectFormat, ParsedResults, parseResults, passingIds, regressions, relativePath, ResultFormat, TestResult } from '../../src/core/queue/results';

/**
 * Real reporter output (test/fixtures/results, see its README.md for the sample suites and the
 * exact commands): node 20.20 (--test-reporter=tap / junit), mocha 12 (tap, json, xunit),
 * pytest 9 (--junitxml, xunit2 and xunit1) and jest 30 with jest-junit 17. The samples ran in
 * /tmp/res-samples/<runner>, so that folder is the `root` that makes their paths relative.
 */
const fixture = (name: string) => readFileSync(path.resolve(__dirname, '../fixtures/results', name), 'utf8');
const root = (runner: string) => `/tmp/res-samples/${runner}`;
const parse = (name: string, runner: string, format: ResultFormat | 'auto' = 'auto') => parseResults(fixture(name), format, { root: root(runner) });

/** What each test is, in one row: id, status, file, line. */
type Row = [string, TestResult['status'], string | undefined, number | undefined];
const rows = (r: ParsedResults): Row[] => r.tests.map((t) => [t.id, t.status, t.file, t.line]);
const byId = (r: ParsedResults, id: string) => {
  const t = r.tests.find((x) => x.id === id);
  assert.ok(t, `no test ${id}`);
  return t;
};

const SPECIAL = 'handles \'quotes\' "double" <tags> & ünïcødé ✓';

describe('test results (pure, from real reporter output)', () => {
  describe('TAP from node --test', () => {
    it('nested describe/it: only leaves are tests, ids are the name path, the file only where node gives it', () => {
      const r = parse('tap-node-nested.tap', 'node');
      assert.equal(r.format, 'tap');
      assert.deepEqual(rows(r), [
        ['range > has 3 items', 'passed', undefined, undefined],
        ['range > starts at zero', 'failed', 'test/range.test.js', 11],
        ['range > when empty > is empty', 'passed', undefined, undefined],
        ['range > when empty > is skipped', 'skipped', undefined, undefined],
        ['range > when empty > is a todo', 'skipped', undefined, undefined],
        [`range > ${SPECIAL}`, 'passed', undefined, undefined],
        ['range > prints to stdout', 'passed', undefined, undefined],
        ['top-level failing', 'failed', 'test/range.test.js', 35],
        ['top-level passing', 'passed', undefined, undefined],
      ]);
      assert.equal(r.skipped, 0, 'comments (a test printing to stdout) are understood');
      const zero = byId(r, 'range > starts at zero');
      assert.equal(zero.name, 'starts at zero');
      assert.deepEqual(zero.path, ['range', 'starts at zero']);
      assert.equal(zero.message, 'Expected values to be strictly deep-equal:\n+ actual - expected\n\n  [\n+   0,\n+   1,\n+   2\n-   1,\n-   2,\n-   3\n  ]');
      assert.equal(byId(r, 'top-level failing').message, 'math is broken\n\n2 !== 3\nexpected: 3\nactual: 2');
      assert.equal(byId(r, 'range > has 3 items').message, undefined);
      assert.equal(byId(r, 'range > has 3 items').durationMs, 0.676461);
      assert.deepEqual(byId(r, `range > ${SPECIAL}`).path, ['range', SPECIAL]);
    });

    it('a file that throws at load is one failing test named by its relative path, with its stderr', () => {
      const r = parse('tap-node-load-error.tap', 'node');
      assert.deepEqual(rows(r), [
        ['test/broken.test.js', 'failed', 'test/broken.test.js', undefined],
        ['same name', 'passed', undefined, undefined],
        ['same name #2', 'failed', 'test/other.test.js', 5],
        ['async rejects', 'failed', 'test/other.test.js', 6],
      ]);
      const broken = byId(r, 'test/broken.test.js');
      assert.match(broken.message!, /Error: Cannot find module '\.\/does-not-exist'/);
      assert.doesNotMatch(broken.message!, /Module\._resolveFilename|test failed$/, 'node-internal frames and the runner\'s own "test failed" are left out');
      assert.equal(byId(r, 'async rejects').message, 'boom <&> "x"');
      assert.equal(byId(r, 'same name #2').message, "Expected values to be strictly equal:\n\n'a' !== 'b'\nexpected: b\nactual: a");
      assert.equal(r.skipped, 0);
    });

    it('hooks: tests cancelled by a failed `before` carry its error; a failed `after` is a failure of its suite', () => {
      const r = parse('tap-node-hooks.tap', 'node2');
      assert.deepEqual(rows(r), [
        ['before hook fails > never runs', 'failed', 'test/hooks.test.mjs', 6],
        ['after hook fails > runs fine', 'passed', undefined, undefined],
        ['after hook fails', 'failed', 'test/hooks.test.mjs', 9],
        ['body throws', 'failed', 'test/hooks.test.mjs', 14],
        ['multi\\nline # hash \\ backslash', 'passed', undefined, undefined],
      ]);
      assert.equal(byId(r, 'before hook fails > never runs').message, 'test did not finish before its parent and was cancelled\nbefore hook fails: setup failed');
      assert.equal(byId(r, 'after hook fails').message, 'teardown failed');
    });

    it('ids do not change with durations, test numbers or a test starting to fail', () => {
      const text = fixture('tap-node-nested.tap');
      const rerun = text.replace(/duration_ms: [\d.]+/g, 'duration_ms: 99.5').replace(/^(\s*(?:not )?ok) (\d+)/gm, (_, ok: string, n: string) => `${ok} ${Number(n) + 7}`);
      assert.deepEqual(parseResults(rerun, 'tap', { root: root('node') }).tests.map((t) => t.id), parse('tap-node-nested.tap', 'node').tests.map((t) => t.id));
      // A passing test has no location in node's TAP; a failing one has: the id never holds the file.
      const failing = parse('tap-node-nested.tap', 'node').tests.filter((t) => t.status === 'failed');
      assert.ok(failing.every((t) => t.file && !t.id.includes(t.file)));
    });

    it('paths stay absolute (slashes normalized) without a root, and relative under one on Windows too', () => {
      assert.equal(parseResults(fixture('tap-node-load-error.tap'), 'tap').tests[0]!.id, '/tmp/res-samples/node/test/broken.test.js');
      assert.equal(relativePath('C:\\work\\repo\\test\\a.test.js', 'c:\\work\\repo\\'), 'test/a.test.js');
      assert.equal(relativePath('file:///tmp/r/test/a.mjs', '/tmp/r'), 'test/a.mjs');
      assert.equal(relativePath('./test/a.js'), 'test/a.js');
      assert.equal(relativePath('/elsewhere/a.js', '/tmp/r'), '/elsewhere/a.js');
    });
  });

  describe('TAP from mocha', () => {
    it('flat "ok N suite test" lines; failure details are the indented lines after "not ok"', () => {
      const r = parse('tap-mocha.tap', 'mocha');
      assert.equal(r.format, 'tap');
      assert.deepEqual(rows(r), [
        ['top-level failing', 'failed', 'test/range.test.js', 42],
        ['top-level passing', 'passed', undefined, undefined],
        ['range has 3 items', 'passed', undefined, undefined],
        ['range starts at zero', 'failed', 'test/range.test.js', 11],
        [`range ${SPECIAL}`, 'passed', undefined, undefined],
        ['range prints to stdout', 'passed', undefined, undefined],
        ['range when empty is empty', 'passed', undefined, undefined],
        ['range when empty is skipped', 'skipped', undefined, undefined],
        ['range when empty is pending (no body)', 'skipped', undefined, undefined],
        ['with a broken hook "before all" hook for "never runs"', 'failed', 'test/range.test.js', 36],
        ['other same name', 'passed', undefined, undefined],
        ['other same name #2', 'passed', undefined, undefined],
      ]);
      assert.equal(r.skipped, 1, 'the line a test printed to stdout');
      assert.equal(byId(r, 'top-level failing').message, 'math is broken\n\n2 !== 3\n\nAssertionError [ERR_ASSERTION]: math is broken\n\n2 !== 3\n\n    at Context.<anonymous> (test/range.test.js:42:10)');
    });

    it('tapVersion=13: the same tests, the failure from the YAML block', () => {
      const r = parse('tap-mocha-13.tap', 'mocha');
      assert.deepEqual(
        rows(r),
        rows(parse('tap-mocha.tap', 'mocha')).filter(([id]) => !id.startsWith('other ')),
      );
      assert.equal(byId(r, 'top-level failing').message, 'math is broken\n\n2 !== 3');
      assert.equal(byId(r, 'with a broken hook "before all" hook for "never runs"').message, 'setup failed');
    });
  });

  describe('JUnit XML', () => {
    it("node's junit reporter: suites nest, the placeholder classname is left out, entities decoded", () => {
      const r = parse('junit-node.xml', 'node');
      assert.equal(r.format, 'junit');
      assert.deepEqual(rows(r), [
        ['test/broken.test.js', 'failed', 'test/broken.test.js', undefined],
        ['same name', 'passed', undefined, undefined],
        ['same name #2', 'failed', 'test/other.test.js', 5],
        ['async rejects', 'failed', 'test/other.test.js', 6],
        ['range > has 3 items', 'passed', undefined, undefined],
        ['range > starts at zero', 'failed', 'test/range.test.js', 12],
        ['range > when empty > is empty', 'passed', undefined, undefined],
        ['range > when empty > is skipped', 'skipped', undefined, undefined],
        ['range > when empty > is a todo', 'skipped', undefined, undefined],
        [`range > ${SPECIAL}`, 'passed', undefined, undefined],
        ['range > prints to stdout', 'passed', undefined, undefined],
        ['top-level failing', 'failed', 'test/range.test.js', 36],
        ['top-level passing', 'passed', undefined, undefined],
      ]);
      assert.equal(r.skipped, 0);
      assert.equal(byId(r, 'async rejects').message, 'boom <&> "x"');
      assert.equal(byId(r, 'top-level failing').message, 'math is broken\n\n2 !== 3\nexpected: 3\nactual: 2');
      assert.equal(byId(r, 'range > starts at zero').durationMs, 1.949);
    });

    it('node junit and node TAP of the same suite give the same ids', () => {
      const tap = parse('tap-node-nested.tap', 'node').tests.map((t) => [t.id, t.status]);
      const junit = parse('junit-node.xml', 'node').tests.map((t) => [t.id, t.status]);
      for (const row of tap) assert.ok(junit.some((j) => j[0] === row[0] && j[1] === row[1]), `${row[0]} ${row[1]}`);
    });

    it('pytest --junitxml (xunit2): module and class from classname, errors are failures, skip and xfail skipped', () => {
      const r = parse('junit-pytest-style.xml', 'py');
      assert.deepEqual(rows(r), [
        ['pytest > tests.test_sample > test_passes', 'passed', undefined, undefined],
        ['pytest > tests.test_sample > test_fails', 'failed', 'tests/test_sample.py', 9],
        ['pytest > tests.test_sample > test_skipped', 'skipped', undefined, undefined],
        ['pytest > tests.test_sample > test_xfail', 'skipped', undefined, undefined],
        ['pytest > tests.test_sample > test_fixture_error', 'failed', 'tests/test_sample.py', 24],
        ['pytest > tests.test_sample.TestRange > test_prints', 'passed', undefined, undefined],
        ["pytest > tests.test_sample.TestRange > test_names[it's]", 'passed', undefined, undefined],
        ['pytest > tests.test_sample.TestRange > test_names[say "hi"]', 'passed', undefined, undefined],
        ['pytest > tests.test_sample.TestRange > test_names[<tag>]', 'failed', 'tests/test_sample.py', 38],
        ['pytest > tests.test_sample.TestRange > test_names[a&b]', 'passed', undefined, undefined],
        ['pytest > tests.test_sample.TestRange > test_names[\\xfcn\\xefc\\xf8d\\xe9 \\u2713]', 'passed', undefined, undefined],
      ]);
      const fails = byId(r, 'pytest > tests.test_sample > test_fails').message!;
      assert.ok(fails.startsWith('assert [0, 1, 2] == [1, 2, 3]\n\n  At index 0 diff: 0 != 1\n  Use -v to get more diff\n\ndef test_fails():\n'), fails);
      assert.ok(byId(r, 'pytest > tests.test_sample > test_fixture_error').message!.startsWith('failed on setup with "RuntimeError: fixture <broke> & \'died\'"'));
    });

    it('pytest xunit1: the file is part of the id, its 0-based line made 1-based', () => {
      const r = parse('junit-pytest-xunit1.xml', 'py');
      assert.deepEqual(rows(r).slice(0, 5), [
        ['tests/test_sample.py > pytest > tests.test_sample > test_passes', 'passed', 'tests/test_sample.py', 4],
        ['tests/test_sample.py > pytest > tests.test_sample > test_fails', 'failed', 'tests/test_sample.py', 8],
        ['tests/test_sample.py > pytest > tests.test_sample > test_skipped', 'skipped', 'tests/test_sample.py', 12],
        ['tests/test_sample.py > pytest > tests.test_sample > test_xfail', 'skipped', 'tests/test_sample.py', 17],
        ['tests/test_sample.py > pytest > tests.test_sample > test_fixture_error', 'failed', 'tests/test_sample.py', 27],
      ]);
      assert.equal(r.tests.length, 11);
    });

    it('jest-junit (file attribute, suite errors): classname equal to the name is left out; duplicate ids numbered', () => {
      const r = parse('junit-jest.xml', 'jest');
      assert.deepEqual(rows(r), [
        ['test/range.test.js > range > range has 3 items', 'passed', 'test/range.test.js', undefined],
        ['test/range.test.js > range > range starts at zero', 'failed', 'test/range.test.js', 11],
        ['test/range.test.js > range > range when empty is empty', 'passed', 'test/range.test.js', undefined],
        ['test/range.test.js > range > range when empty is skipped', 'skipped', 'test/range.test.js', undefined],
        // jest-junit writes a todo as a plain testcase.
        ['test/range.test.js > range > range when empty is a todo', 'passed', 'test/range.test.js', undefined],
        [`test/range.test.js > range > range ${SPECIAL}`, 'passed', 'test/range.test.js', undefined],
        ['test/range.test.js > range > range prints to stdout', 'passed', 'test/range.test.js', undefined],
        ['test/range.test.js > range > with a broken hook never runs', 'failed', 'test/range.test.js', 37],
        ['test/range.test.js > range > top-level failing', 'failed', 'test/range.test.js', 43],
        ['test/range.test.js > range > top-level passing', 'passed', 'test/range.test.js', undefined],
        ['test/broken.test.js > test/broken.test.js > Test suite failed to run > test/broken.test.js', 'failed', 'test/broken.test.js', 1],
        ['test/broken.test.js > test/broken.test.js > Test suite failed to run > test/broken.test.js #2', 'failed', 'test/broken.test.js', undefined],
      ]);
      const zero = byId(r, 'test/range.test.js > range > range starts at zero').message!;
      assert.ok(zero.startsWith('assert.deepStrictEqual(received, expected)\n\nExpected value to deeply and strictly equal to:\n  [1, 2, 3]'));
      assert.doesNotMatch(zero, /jest-circus|node_modules|<anonymous>\)$/m, 'framework frames are left out');
      assert.match(byId(r, 'test/broken.test.js > test/broken.test.js > Test suite failed to run > test/broken.test.js').message!, /Cannot find module '\.\/does-not-exist'/);
    });

    it('mocha xunit: numeric character references, classname as the parent suites, text before the XML counted', () => {
      const r = parse('junit-mocha-xunit.xml', 'mocha');
      assert.equal(r.format, 'junit');
      assert.deepEqual(rows(r), [
        ['test/range.test.js > Mocha Tests > top-level failing', 'failed', 'test/range.test.js', 42],
        ['test/range.test.js > Mocha Tests > top-level passing', 'passed', 'test/range.test.js', undefined],
        ['test/range.test.js > Mocha Tests > range > has 3 items', 'passed', 'test/range.test.js', undefined],
        ['test/range.test.js > Mocha Tests > range > starts at zero', 'failed', 'test/range.test.js', 11],
        [`test/range.test.js > Mocha Tests > range > ${SPECIAL}`, 'passed', 'test/range.test.js', undefined],
        ['test/range.test.js > Mocha Tests > range > prints to stdout', 'passed', 'test/range.test.js', undefined],
        ['test/range.test.js > Mocha Tests > range when empty > is empty', 'passed', 'test/range.test.js', undefined],
        ['test/range.test.js > Mocha Tests > range when empty > is skipped', 'skipped', 'test/range.test.js', undefined],
        ['test/range.test.js > Mocha Tests > range when empty > is pending (no body)', 'skipped', 'test/range.test.js', undefined],
        ['test/range.test.js > Mocha Tests > with a broken hook > "before all" hook for "never runs"', 'failed', 'test/range.test.js', 36],
      ]);
      assert.equal(r.skipped, 1);
    });

    it('the XML reader: CDATA, single quotes, unquoted and &#NN; attributes, comments, unknown elements counted', () => {
      const xml = [
        '<?xml version="1.0"?>',
        '<!-- a comment with <testcase name="not one"/> inside -->',
        "<testsuites><testsuite name='s &amp; t' file='./lib/x.test.ts'>",
        "  <properties><property name='a' value='b'/></properties>",
        '  <testcase name=plain time=0.5 />',
        "  <testcase classname='' name='q &#39;x&#39; &#x263A;' time='1'><failure message='m'><![CDATA[x < y && <b>raw</b>]]></failure></testcase>",
        '  <testcase name="e"><error message="boom"/><system-out>hi</system-out></testcase>',
        '  <testcase name="s"><skipped/></testcase>',
        '  <mystery/>',
        '</testsuite></testsuites>',
      ].join('\n');
      const r = parseResults(xml, 'auto');
      assert.equal(r.format, 'junit');
      assert.deepEqual(rows(r), [
        ['lib/x.test.ts > s & t > plain', 'passed', 'lib/x.test.ts', undefined],
        ["lib/x.test.ts > s & t > q 'x' ☺", 'failed', 'lib/x.test.ts', undefined],
        ['lib/x.test.ts > s & t > e', 'failed', 'lib/x.test.ts', undefined],
        ['lib/x.test.ts > s & t > s', 'skipped', 'lib/x.test.ts', undefined],
      ]);
      assert.equal(r.tests[0]!.durationMs, 500);
      assert.equal(r.tests[1]!.message, 'm\n\nx < y && <b>raw</b>');
      assert.equal(r.tests[2]!.message, 'boom');
      assert.equal(r.skipped, 1, '<mystery/>');
    });
  });

  describe('mocha JSON', () => {
    it('file > parent suites > title; status from the lists; hook failures are failures; printed text before the JSON counted', () => {
      const r = parse('mocha.json', 'mocha');
      assert.equal(r.format, 'mocha-json');
      assert.deepEqual(rows(r), [
        ['test/range.test.js > top-level failing', 'failed', 'test/range.test.js', 42],
        ['test/range.test.js > top-level passing', 'passed', 'test/range.test.js', undefined],
        ['test/range.test.js > range > has 3 items', 'passed', 'test/range.test.js', undefined],
        ['test/range.test.js > range > starts at zero', 'failed', 'test/range.test.js', 11],
        [`test/range.test.js > range > ${SPECIAL}`, 'passed', 'test/range.test.js', undefined],
        ['test/range.test.js > range > prints to stdout', 'passed', 'test/range.test.js', undefined],
        ['test/range.test.js > range when empty > is empty', 'passed', 'test/range.test.js', undefined],
        ['test/range.test.js > range when empty > is skipped', 'skipped', 'test/range.test.js', undefined],
        ['test/range.test.js > range when empty > is pending (no body)', 'skipped', 'test/range.test.js', undefined],
        ['test/other.test.js > other > same name', 'passed', 'test/other.test.js', undefined],
        ['test/other.test.js > other > same name #2', 'passed', 'test/other.test.js', undefined],
        ['test/range.test.js > with a broken hook > "before all" hook for "never runs"', 'failed', 'test/range.test.js', 36],
      ]);
      assert.equal(r.skipped, 1, '"hello from a test", printed before the JSON');
      const t = byId(r, 'test/range.test.js > range when empty > is empty');
      assert.equal(t.name, 'is empty');
      assert.deepEqual(t.path, ['range when empty', 'is empty']);
      assert.equal(byId(r, 'test/range.test.js > top-level failing').message, 'math is broken\n\n2 !== 3\n\nexpected: 3\nactual: 2');
      assert.equal(byId(r, 'test/range.test.js > with a broken hook > "before all" hook for "never runs"').message, 'setup failed');
    });

    it('finds the JSON between other output, braces inside strings included', () => {
      const doc = { stats: { tests: 1 }, tests: [{ title: 'a {b}', fullTitle: 's a {b}', file: '/r/t.js', err: {} }], pending: [], failures: [], passes: [] };
      const r = parseResults(`{ not: json }\n${JSON.stringify(doc, null, 2)}\ntrailing noise\n`, 'auto', { root: '/r' });
      assert.equal(r.format, 'mocha-json');
      assert.deepEqual(rows(r), [['t.js > s > a {b}', 'passed', 't.js', undefined]]);
      assert.equal(r.skipped, 2);
    });
  });

  describe('detectFormat', () => {
    for (const [name, format] of [
      ['tap-node-nested.tap', 'tap'],
      ['tap-node-load-error.tap', 'tap'],
      ['tap-node-hooks.tap', 'tap'],
      ['tap-mocha.tap', 'tap'],
      ['tap-mocha-13.tap', 'tap'],
      ['junit-node.xml', 'junit'],
      ['junit-mocha-xunit.xml', 'junit'],
      ['junit-pytest-style.xml', 'junit'],
      ['junit-pytest-xunit1.xml', 'junit'],
      ['junit-jest.xml', 'junit'],
      ['mocha.json', 'mocha-json'],
    ] as const) {
      it(`${name} is ${format}`, () => assert.equal(detectFormat(fixture(name)), format));
    }
    it('nothing it knows', () => {
      assert.equal(detectFormat(''), undefined);
      assert.equal(detectFormat('hello\nworld\n'), undefined);
      assert.equal(detectFormat('{"a": 1}'), undefined);
    });
  });

  describe('robustness', () => {
    it('empty input: no tests', () => {
      for (const f of ['auto', 'tap', 'junit', 'mocha-json'] as const) {
        const r = parseResults('', f);
        assert.deepEqual(r.tests, [], f);
        assert.equal(r.skipped, 0, f);
      }
    });

    it('TAP cut off mid-run: the tests that finished, under the suites announced; a cut line is not a test', () => {
      const text = fixture('tap-node-nested.tap');
      const cut = text.slice(0, text.indexOf('ok 2 - is skipped') + 'ok 2 - is sk'.length);
      const r = parseResults(cut, 'auto', { root: root('node') });
      assert.deepEqual(rows(r), [
        ['range > has 3 items', 'passed', undefined, undefined],
        ['range > starts at zero', 'failed', 'test/range.test.js', 11],
        ['range > when empty > is empty', 'passed', undefined, undefined],
      ]);
      assert.equal(r.skipped, 1);
    });

    it('JUnit cut off mid-failure: a testcase that never closed is not a test', () => {
      const text = fixture('junit-node.xml');
      const r = parseResults(text.slice(0, text.indexOf('+   1,')), 'auto', { root: root('node') });
      assert.deepEqual(
        r.tests.map((t) => t.id),
        ['test/broken.test.js', 'same name', 'same name #2', 'async rejects', 'range > has 3 items'],
      );
      assert.ok(r.skipped >= 1);
    });

    it('mocha JSON cut off: no tests (the gate then sees every test missing)', () => {
      const text = fixture('mocha.json');
      const r = parseResults(text.slice(0, text.length / 2), 'mocha-json');
      assert.deepEqual(r.tests, []);
      assert.ok(r.skipped > 0);
    });

    it('garbage lines are counted, not tests; CRLF is fine', () => {
      const tap = 'TAP version 13\r\nwhat is this\r\nok 1 - a\r\n<html>\r\nnot ok 2 - b # TODO later\r\nok 3 - c # SKIP\r\n# comment\r\n1..3\r\n';
      const r = parseResults(tap, 'auto');
      assert.deepEqual(rows(r), [
        ['a', 'passed', undefined, undefined],
        ['b', 'skipped', undefined, undefined],
        ['c', 'skipped', undefined, undefined],
      ]);
      assert.equal(r.skipped, 2);
      assert.equal(parseResults('just\nsome\nwords\n', 'auto').skipped, 3);
      assert.deepEqual(parseResults('<<<>>> & </nope>\n<testsuite>', 'junit').tests, []);
    });

    it('subtests without "# Subtest:" lines (plain TAP 14) still nest by indentation', () => {
      const tap = ['TAP version 14', '    ok 1 - inner a', '    not ok 2 - inner b', '    1..2', 'not ok 1 - outer', 'ok 2 - alone', '1..2', ''].join('\n');
      assert.deepEqual(rows(parseResults(tap, 'tap')), [
        ['outer > inner a', 'passed', undefined, undefined],
        ['outer > inner b', 'failed', undefined, undefined],
        ['alone', 'passed', undefined, undefined],
      ]);
    });

    it('a YAML block that never closes ends where the indentation does; "# time=" is not part of a name', () => {
      const tap = ['TAP version 13', 'not ok 1 - a # time=3.2ms', '  ---', "  error: 'boom'", 'ok 2 - b # time=1ms', '1..2', ''].join('\n');
      assert.deepEqual(
        parseResults(tap, 'tap').tests.map((t) => [t.id, t.status, t.message]),
        [
          ['a', 'failed', 'boom'],
          ['b', 'passed', undefined],
        ],
      );
    });

    it('large output stays fast', () => {
      const lines = ['TAP version 13'];
      for (let s = 0; s < 200; s++) {
        lines.push(`# Subtest: suite ${s}`);
        for (let t = 0; t < 100; t++) lines.push(`    # Subtest: test ${t}`, `    ok ${t + 1} - test ${t}`, '      ---', '      duration_ms: 0.1', '      ...');
        lines.push('    1..100', `ok ${s + 1} - suite ${s}`, '  ---', "  type: 'suite'", '  ...');
      }
      const started = Date.now();
      const r = parseResults(`${lines.join('\n')}\n`, 'auto');
      assert.equal(r.tests.length, 20000);
      assert.equal(r.tests[20000 - 1]!.id, 'suite 199 > test 99');
      assert.ok(Date.now() - started < 2000, `${Date.now() - started}ms`);
    });

    it('messages are capped', () => {
      const long = 'x'.repeat(5000);
      const t = parseResults(`<testsuite><testcase name="a"><failure>${long}</failure></testcase></testsuite>`, 'junit').tests[0]!;
      assert.equal(t.message!.length, 2000);
      assert.ok(t.message!.endsWith('…'));
    });
  });

  describe('the gate', () => {
    const t = (id: string, status: TestResult['status'], message?: string): TestResult => ({ id, name: id, path: [id], status, ...(message ? { message } : {}) });

    it('passed → failed and passed → missing are regressions; failed → passed and skipped → failed are not', () => {
      const before = [t('a', 'passed'), t('b', 'passed'), t('c', 'failed'), t('d', 'skipped'), t('e', 'passed')];
      const after = [t('a', 'failed', 'boom'), t('c', 'passed'), t('d', 'failed'), t('e', 'passed'), t('new', 'failed')];
      assert.deepEqual(regressions(before, after), [
        { id: 'a', now: 'failed', message: 'boom' },
        { id: 'b', now: 'missing' },
      ]);
    });

    it('a passing test that is now skipped no longer runs: missing', () => {
      assert.deepEqual(regressions([t('a', 'passed')], [t('a', 'skipped')]), [{ id: 'a', now: 'missing', message: 'skipped now' }]);
    });

    it('nothing before, nothing to lose', () => {
      assert.deepEqual(regressions([], [t('a', 'failed')]), []);
      assert.deepEqual(regressions([t('a', 'passed')], [t('a', 'passed')]), []);
    });

    it('passingIds: sorted, each once', () => {
      assert.deepEqual(passingIds([t('b', 'passed'), t('a', 'passed'), t('c', 'failed'), t('a', 'passed')]), ['a', 'b']);
    });

    it('on real output: a run cut short loses the tests it never reached', () => {
      const before = parse('tap-node-nested.tap', 'node').tests;
      const text = fixture('tap-node-nested.tap');
      const after = parseResults(text.slice(0, text.indexOf('# Subtest: when empty')), 'tap', { root: root('node') }).tests;
      assert.deepEqual(regressions(before, after), [
        { id: 'range > when empty > is empty', now: 'missing' },
        { id: `range > ${SPECIAL}`, now: 'missing' },
        { id: 'range > prints to stdout', now: 'missing' },
        { id: 'top-level passing', now: 'missing' },
      ]);
      assert.deepEqual(passingIds(before), [`range > ${SPECIAL}`, 'range > has 3 items', 'range > prints to stdout', 'range > when empty > is empty', 'top-level passing']);
    });
  });
});
