import * as assert from 'node:assert/strict';
import { LaneGraph } from '../../src/core/plan/graph';
import { describeSpent, overBudget, spentOf } from '../../src/core/run/budget';
import { judge } from '../../src/core/run/judge';
import { schedule } from '../../src/core/run/scheduler';

describe('budgets (pure)', () => {
  it('counts what the CLIs report and the minutes measured; unknown never counts as over', () => {
    assert.deepEqual(spentOf({ inputTokens: 300, outputTokens: 60, costUsd: 0.01 }, 90_000), { usd: 0.01, tokens: 360, minutes: 1.5 });
    assert.deepEqual(spentOf({}, 0), { usd: undefined, tokens: undefined, minutes: 0 });
    assert.equal(overBudget({ usd: 0.5 }, { usd: 0.6, minutes: 0 }), 'budget: $0.6000 spent of $0.5');
    assert.equal(overBudget({ tokens: 100 }, { tokens: 360, minutes: 0 }), 'budget: 360 tokens used of 100');
    assert.equal(overBudget({ minutes: 1 }, { minutes: 1.25 }), 'budget: 1.25 agent minutes of 1');
    assert.equal(overBudget({ usd: 0.5, tokens: 100 }, { minutes: 0 }), undefined, 'unknown cost and tokens are not over');
    assert.equal(overBudget(undefined, { usd: 99, minutes: 99 }), undefined);
    assert.equal(describeSpent({ usd: 1, tokens: 1000, minutes: 10 }, { tokens: 360, minutes: 2.5 }), 'cost unknown of $1 · 360 of 1000 tokens · 2.5 of 10 min');
  });

  it('an attempt stopped for its budget fails with the reason and is not retried', () => {
    const v = judge({ agentName: 'codex', cancelled: true, timedOut: false, exitCode: null, exit: 'cancelled', changed: false, outputTail: '', timeoutMs: 1, budget: 'budget: 360 tokens used of 100' }, 1, 1, 3);
    assert.deepEqual(v, { kind: 'failed', status: 'failed', reason: 'budget: 360 tokens used of 100', failure: 'stopped: budget: 360 tokens used of 100' });
  });

  it("once the run's budget is spent nothing new starts; waiting lanes end cancelled with the reason", () => {
    const g = new LaneGraph([{ id: 'a' }, { id: 'b' }, { id: 'c', dependsOn: ['a'] }]);
    const d = schedule({ graph: g, lanes: [{ id: 'a', status: 'running' }, { id: 'b', status: 'queued' }, { id: 'c', status: 'blocked' }], active: new Set(['a']), maxParallel: 4, cancelled: false, stopStarting: "the run's budget: $1 spent of $1" });
    assert.deepEqual(d.start, []);
    assert.deepEqual(d.transitions.map((t) => [t.lane, t.status, t.reason]), [
      ['b', 'cancelled', "the run's budget: $1 spent of $1"],
      ['c', 'cancelled', "the run's budget: $1 spent of $1"],
    ]);
  });
});
