import * as assert from 'node:assert/strict';
import { diffSignature, NEAR_IDENTICAL, similarity, splitByUnits, taskId } from '../../src/core/queue/tasks';
import { isStale, SAFE_TASK_ID } from '../../src/core/queue/store';
import { progressLog } from '../../src/core/queue/worker';
import { viewOf } from '../../src/core/queue/queue';
import type { QueueSnapshot, Task } from '../../src/core/queue/store';

const diff = (lines: string[]) => ['diff --git a/x b/x', '--- a/x', '+++ b/x', '@@ -1 +1 @@', ...lines].join('\n');

describe('queue tasks', () => {
  it('task ids are stable, readable and safe as file names', () => {
    const a = taskId('test', 'test/range.test.js > range > has "3" items / ../x');
    assert.equal(a, taskId('test', 'test/range.test.js > range > has "3" items / ../x'));
    assert.match(a, /^test-[a-z0-9-]+-[0-9a-f]{8}$/);
    assert.notEqual(a, taskId('test', 'test/range.test.js > range > has "3" items / ../y'));
  });

  it('near-identical changes are found by their lines, whatever the file or whitespace', () => {
    const one = diffSignature(diff(['-  return a - b;', '+  return a + b;', '+// fixed', '+const x = 1;', '+const y = 2;']));
    const same = diffSignature(diff(['-return a - b;', '+    return a + b;', '+// fixed', '+const x = 1;', '+const y = 2;']));
    const alike = diffSignature(diff(['-  return a - b;', '+  return a + b;', '+// fixed', '+const x = 1;', '+const y = 2;', '+const z = 3;']));
    const other = diffSignature(diff(['-  return a * b;', '+  return a / b;']));
    assert.equal(similarity(one, same), 1);
    assert.ok(similarity(one, alike) >= NEAR_IDENTICAL, String(similarity(one, alike)));
    assert.equal(similarity(one, other), 0);
    assert.equal(similarity([], one), 0);
    const elsewhere = diffSignature(diff(['-  return a - b;', '+  return a + b;', '+// fixed', '+const x = 1;', '+const y = 2;']).replace(/ b\/x/g, ' b/y'));
    assert.equal(similarity(one, elsewhere), 0, 'the same lines in another file are other work');
  });

  it('a task whose check fails in several units splits into one task per unit, with its lineage', () => {
    const t: Task = { id: 'file-a', name: 'src/a.js', brief: 'Convert src/a.js', source: 'files', check: ['npm', 'test'] };
    const units = ['x', 'y', 'z'].map((n) => ({ id: `t > ${n}`, name: n, path: ['t', n], status: 'failed' as const, message: `${n} broke` }));
    const parts = splitByUnits(t, units);
    assert.equal(parts.length, 3);
    assert.ok(parts.every((p) => p.parent === 'file-a' && p.source === 'split' && p.check === t.check));
    assert.match(parts[1]!.brief, /make this unit pass: t > y/);
    assert.deepEqual(splitByUnits(t, units.slice(0, 1)), [], 'one failing unit: no split');
    assert.deepEqual(splitByUnits(parts[0]!, units), [], 'a unit is never split again');
  });

  it('task ids a hostile remote could send are not plain names', () => {
    for (const bad of ['../../x', '/etc', '.hidden', '', 'a/b', 'a b', 'x'.repeat(200)]) assert.equal(SAFE_TASK_ID.test(bad) && !bad.includes('..'), false, bad);
    assert.ok(SAFE_TASK_ID.test(taskId('test', 'a > b')));
  });

  it('a lock is stale once not renewed within its TTL', () => {
    const l = { task: 't', worker: 'w', host: 'h', pid: 1, claimedAt: '2026-11-25T10:00:00Z', renewedAt: '2026-11-25T10:00:00Z', ttlSeconds: 60 };
    assert.equal(isStale(l, Date.parse('2026-11-25T10:00:59Z')), false);
    assert.equal(isStale(l, Date.parse('2026-11-25T10:01:01Z')), true);
    assert.equal(isStale({ ...l, renewedAt: 'garbage' }), true, 'an unreadable time is stale, never stuck');
    assert.equal(isStale({ ...l, ttlSeconds: undefined as unknown as number }), true);
  });

  it('the progress log and the view: done, open, claimed, failed, lineage, throughput', () => {
    const tasks: Task[] = [
      { id: 'a', name: 'A', brief: 'b', source: 'list' },
      { id: 'b', name: 'B', brief: 'b', source: 'list' },
      { id: 'c', name: 'C', brief: 'b', source: 'split', parent: 'a' },
      { id: 'd', name: 'D', brief: 'b', source: 'list' },
    ];
    const s: QueueSnapshot = {
      commit: 'x',
      tasks,
      locks: new Map([['b', { task: 'b', worker: 'w2', host: 'h', pid: 1, claimedAt: '', renewedAt: new Date().toISOString(), ttlSeconds: 60 }]]),
      done: new Map([
        ['a', { task: 'a', worker: 'w1', at: '2026-11-25T10:00:00Z', how: 'split' as const, note: 'split into 1 task: c' }],
        ['c', { task: 'c', worker: 'w1', at: '2026-11-25T10:30:00Z', how: 'integrated' as const, note: 'integrated at abc' }],
      ]),
      failed: new Map([['d', { task: 'd', at: '', note: 'still fails', rounds: 3 }]]),
      notes: new Map([['b', '## round 1 · w1\n\nthe check still fails\n']]),
      workers: new Map(),
      stop: false,
      rounds: new Map([['b', 1]]),
    };
    const log = progressLog(s, { version: 1, goal: 'Fix it', sources: [{ list: 'x' }], gate: { command: 'npm test' } });
    assert.match(log, /2 done, 1 open \(1 claimed\), 1 failed, of 4 tasks/);
    assert.match(log, /- b: B — claimed by w2 — the check still fails/);
    assert.match(log, /- d: D — still fails/);
    const v = viewOf(s);
    assert.deepEqual([v.open, v.claimed, v.done, v.failed, v.total], [1, 1, 2, 1, 4]);
    assert.deepEqual(v.lineage, [{ task: 'c', parent: 'a' }]);
    assert.equal(Math.round(v.perHour!), 2);
  });
});
