import * as assert from 'node:assert/strict';
import { LaneGraph } from '../../src/core/plan/graph';
import { schedule, SchedulerLane } from '../../src/core/run/scheduler';
import type { LaneStatus } from '../../src/core/run/state';

const graph = (deps: Record<string, string[]>) => new LaneGraph(Object.entries(deps).map(([id, dependsOn]) => ({ id, dependsOn })));
const lanes = (s: Record<string, LaneStatus | [LaneStatus, string]>): SchedulerLane[] =>
  Object.entries(s).map(([id, v]) => (Array.isArray(v) ? { id, status: v[0], reason: v[1] } : { id, status: v }));

describe('scheduler (pure)', () => {
  const g = graph({ impl: [], docs: [], tests: ['impl'], e2e: ['tests', 'docs'] });

  it('starts every lane without dependencies up to the limit, in plan order, and blocks the rest', () => {
    const d = schedule({ graph: g, lanes: lanes({ impl: 'queued', docs: 'queued', tests: 'queued', e2e: 'queued' }), active: new Set(), maxParallel: 4, cancelled: false });
    assert.deepEqual(d.start, ['impl', 'docs']);
    assert.deepEqual(d.transitions, [
      { lane: 'tests', status: 'blocked', reason: 'waiting for impl' },
      { lane: 'e2e', status: 'blocked', reason: 'waiting for tests, docs' },
    ]);
    assert.equal(d.done, false);
  });

  it('respects maxParallel, counting lanes already running', () => {
    const d = schedule({ graph: g, lanes: lanes({ impl: 'running', docs: 'queued', tests: 'queued', e2e: 'queued' }), active: new Set(['impl']), maxParallel: 1, cancelled: false });
    assert.deepEqual(d.start, []);
    assert.deepEqual(d.transitions.find((t) => t.lane === 'docs'), undefined, 'docs stays queued (no change)');
  });

  it('starts a lane once every dependency passed', () => {
    const d = schedule({ graph: g, lanes: lanes({ impl: 'passed', docs: 'running', tests: 'blocked', e2e: 'blocked' }), active: new Set(['docs']), maxParallel: 4, cancelled: false });
    assert.deepEqual(d.start, ['tests']);
    assert.deepEqual(d.transitions, [{ lane: 'e2e', status: 'blocked', reason: 'waiting for tests, docs' }]);
  });

  it('skips every lane downstream of a failure, transitively, with the reason', () => {
    const d = schedule({ graph: g, lanes: lanes({ impl: ['failed', 'exit code 1'], docs: 'passed', tests: 'blocked', e2e: 'blocked' }), active: new Set(), maxParallel: 4, cancelled: false });
    assert.deepEqual(d.start, []);
    assert.deepEqual(d.transitions, [
      { lane: 'tests', status: 'skipped', reason: 'dependency impl failed: exit code 1' },
      { lane: 'e2e', status: 'skipped', reason: 'dependency tests skipped: dependency impl failed: exit code 1' },
    ]);
    assert.equal(d.done, true);
  });

  it('a cancelled run starts nothing and cancels what waits, but leaves running lanes to end', () => {
    const d = schedule({ graph: g, lanes: lanes({ impl: 'running', docs: 'queued', tests: 'blocked', e2e: 'blocked' }), active: new Set(['impl']), maxParallel: 4, cancelled: true });
    assert.deepEqual(d.start, []);
    assert.deepEqual(
      d.transitions.map((t) => [t.lane, t.status]),
      [
        ['docs', 'cancelled'],
        ['tests', 'cancelled'],
        ['e2e', 'skipped'],
      ],
    );
    assert.equal(d.done, false, 'impl still runs');
  });

  it('is done when nothing runs and nothing can start', () => {
    const d = schedule({ graph: g, lanes: lanes({ impl: 'passed', docs: 'passed', tests: 'passed', e2e: 'passed' }), active: new Set(), maxParallel: 4, cancelled: false });
    assert.deepEqual(d, { transitions: [], start: [], done: true });
  });

  it('ignores dependencies outside the run (a run of some lanes)', () => {
    const d = schedule({ graph: graph({ tests: ['impl'] }), lanes: lanes({ tests: 'queued' }), active: new Set(), maxParallel: 2, cancelled: false });
    assert.deepEqual(d.start, ['tests']);
  });
});
