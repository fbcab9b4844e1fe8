import * as assert from 'node:assert/strict';
import { acceptedLanes, buildPanelState, queueView, radarMatrix } from '../../src/shared/panelState';
import { parseToHost, parseToWebview } from '../../src/shared/protocol';
import type { RunState } from '../../src/core/run/state';

const lane = (id: string, status: string, head?: string): RunState['lanes'][number] =>
  ({ id, status, branch: `lanes/r/${id}`, worktree: `/w/${id}`, base: 'b'.repeat(40), head, busyMs: 0, attempts: [], warnings: [], portBase: 30000 }) as RunState['lanes'][number];

const run = {
  runId: 'r',
  baseCommit: 'b'.repeat(40),
  lanes: [lane('impl', 'passed', 'c'.repeat(40)), lane('docs', 'passed', 'd'.repeat(40)), lane('lazy', 'failed', 'b'.repeat(40)), lane('later', 'skipped')],
} as RunState;

describe('reconcile panel: protocol and state', () => {
  it('accepts well-formed messages and drops everything else', () => {
    assert.deepEqual(parseToHost({ type: 'ready' }), { type: 'ready' });
    assert.deepEqual(parseToHost({ type: 'acceptLane', lane: 'impl', accepted: false }), { type: 'acceptLane', lane: 'impl', accepted: false });
    assert.deepEqual(parseToHost({ type: 'sendFeedback', lane: 'impl', text: '  use the cache  ' }), { type: 'sendFeedback', lane: 'impl', text: 'use the cache' });
    const bad: unknown[] = [
      null,
      'apply',
      42,
      { type: 'nope' },
      { type: 'apply', extra: 1 },
      { type: 'openDiff', lane: 'x' },
      { type: 'openDiff', lane: 5, path: 'a' },
      { type: 'sendFeedback', lane: 'x', text: '   ' },
      { type: 'acceptLane', lane: 'x', accepted: 'yes' },
      { type: 'openDiff', lane: '', path: 'a' },
      { type: 'sendFeedback', lane: 'x', text: 'x'.repeat(20001) },
    ];
    for (const m of bad) assert.equal(parseToHost(m), undefined, JSON.stringify(m)?.slice(0, 80));
    assert.equal(parseToWebview({ type: 'state', state: { folder: 'f' } }), undefined);
    assert.deepEqual(parseToWebview({ type: 'result', action: 'apply', ok: true, text: '<b>x</b>' }), { type: 'result', action: 'apply', ok: true, text: '<b>x</b>' });
  });

  it('builds the panel state: mergeable lanes accepted unless left out, files and verify per lane', () => {
    const s = buildPanelState({
      folder: '/repo',
      run,
      goal: 'g',
      roles: { impl: 'implement', docs: 'document' },
      files: { impl: [{ path: 'src/a.ts', kind: 'modified', added: 2, removed: 1, binary: false }] },
      pairs: [],
      excluded: new Set(['docs']),
    });
    assert.deepEqual(
      s.lanes.map((l) => [l.id, l.role, l.mergeable, l.accepted, l.files.length]),
      [
        ['impl', 'implement', true, true, 1],
        ['docs', 'document', true, false, 0],
        ['lazy', 'implement', false, false, 0],
        ['later', 'implement', false, false, 0],
      ],
    );
    assert.deepEqual(acceptedLanes(s), ['impl']);
    assert.ok(parseToWebview({ type: 'state', state: s }), 'the state the host sends passes the webview\'s own validation');
  });

  it('carries scope violations to the lane and the collision they cause, and inherited conflicts to their origin', () => {
    const s = buildPanelState({
      folder: '/repo',
      run,
      goal: 'g',
      roles: {},
      files: { impl: [{ path: 'README.md', kind: 'modified', added: 1, removed: 0, binary: false }] },
      pairs: [{ a: 'impl', b: 'docs', kind: 'conflict', files: ['README.md'], outOfScope: [{ lane: 'impl', files: ['README.md'] }], inheritedBy: [{ a: 'later', b: 'docs' }] }],
      outOfScope: { impl: ['README.md'] },
      excluded: new Set(),
    });
    assert.deepEqual(s.lanes.find((l) => l.id === 'impl')!.outOfScope, ['README.md']);
    assert.deepEqual(s.pairs[0]!.outOfScope, [{ lane: 'impl', files: ['README.md'] }]);
    assert.deepEqual(s.pairs[0]!.inheritedBy, [{ a: 'later', b: 'docs' }]);
    assert.ok(parseToWebview({ type: 'state', state: s }));
  });

  it('lays the radar out as a symmetric lane-by-lane matrix, conflicts over hot spots', () => {
    const m = radarMatrix(['a', 'b', 'c'], [
      { a: 'a', b: 'c', kind: 'hotspot', files: ['x'] },
      { a: 'a', b: 'c', kind: 'conflict', files: ['y'] },
      { a: 'b', b: 'zzz', kind: 'conflict', files: ['q'] },
    ]);
    assert.deepEqual(m[0]![2], { kind: 'conflict', files: ['y'] });
    assert.deepEqual(m[2]![0], { kind: 'conflict', files: ['y'] });
    assert.equal(m[0]![1], undefined);
    assert.equal(m[1]![1], undefined);
  });

  it('summarises a merge queue result with the bisect\'s finding', () => {
    const v = queueView({
      branch: 'lanes-integration/r',
      head: 'h',
      merged: ['a'],
      held: [{ lane: 'b', reason: 'breaks it', files: ['f'] }],
      verify: { command: 'npm test', commit: 'h', passed: true, exit: 'exit code 0', outputTail: '', durationMs: 1 },
      rounds: [{ merged: ['a', 'b'], held: [], head: 'x', culprit: { lane: 'b', probes: 2, verify: { command: 'npm test', commit: 'x', passed: false, exit: 'exit code 1', outputTail: 'boom', durationMs: 1 } } }],
      sentBack: [],
      passed: true,
    });
    assert.deepEqual(v.culprit, { lane: 'b', outputTail: 'boom', probes: 2 });
    assert.deepEqual(v.held, [{ lane: 'b', reason: 'breaks it' }]);
    assert.equal(v.passed, true);
  });
});

describe('reconcile panel: what lanes used', () => {
  it('shows what each agent used and what it spent against its budget; nothing when unreported', () => {
    const used = { ...lane('impl', 'passed', 'c'.repeat(40)), busyMs: 90_000, attempts: [{ attempt: 1, startedAt: '', agentArgv: [], briefFile: '', usage: { inputTokens: 300, outputTokens: 60, costUsd: 0.0024, turns: 3 } }] } as RunState['lanes'][number];
    const s = buildPanelState({ folder: '/r', run: { ...run, lanes: [used, lane('docs', 'passed', 'd'.repeat(40))] } as RunState, goal: 'g', roles: {}, files: {}, pairs: [], excluded: new Set(), budgets: { impl: { usd: 0.5, minutes: 10 } } });
    assert.equal(s.lanes[0]!.used, '300 in / 60 out · $0.0024 · 3 turns');
    assert.equal(s.lanes[0]!.budget, '$0.0024 of $0.5 · 1.5 of 10 min');
    assert.equal(s.lanes[1]!.used, undefined);
    assert.equal(s.lanes[1]!.budget, undefined);
    assert.ok(parseToWebview({ type: 'state', state: s }), 'the protocol carries it');
  });
});
