import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { DoneRecord, Lock, QueueSnapshot, Task, WorkerStatus } from '../../src/core/queue/store';
import { COMMANDS } from '../../src/extension/commandIds';
import { changedRows, doneText, folderRows, formatCost, formatTokens, groupOf, queueRows, viewRows, walkRows, workerStale, type QueueRow } from '../../src/extension/queueView';

const T0 = Date.parse('2025-03-01T10:00:00.000Z');
const at = (sec: number) => new Date(T0 + sec * 1000).toISOString();
const NOW = T0 + 3600_000;
const C1 = '1111111111aaaaaaaaaabbbbbbbbbbcccccccccc';
const C2 = '2222222222aaaaaaaaaabbbbbbbbbbcccccccccc';

const task = (id: string, over: Partial<Task> = {}): Task => ({ id, name: `${id} passes`, brief: `Make ${id} pass.`, source: 'tests', ...over });
const lock = (t: string, worker: string, renewedSecAgo = 5, ttl = 900): Lock => ({ task: t, worker, host: 'box', pid: 42, claimedAt: at(3000), renewedAt: new Date(NOW - renewedSecAgo * 1000).toISOString(), ttlSeconds: ttl });
const done = (t: string, how: DoneRecord['how'], sec: number, over: Partial<DoneRecord> = {}): DoneRecord => ({ task: t, worker: 'w1', at: at(sec), how, note: `${how} note`, ...over });
const worker = (id: string, over: Partial<WorkerStatus> = {}): WorkerStatus => ({ worker: id, host: 'box', pid: 7, state: 'idle', startedAt: at(0), updatedAt: at(3500), done: 0, failed: 0, ...over });

/**
 * a open · b claimed by w1 · c integrated · d failed · e closed by re-check · f duplicate of c ·
 * g split into g1 (open) and g2 (integrated) · h claimed by w2, whose claim went stale.
 */
function snapshot(): QueueSnapshot {
  const tasks = [
    task('a', { message: 'expected 4, got 6' }),
    task('b'),
    task('c'),
    task('d'),
    task('e'),
    task('f'),
    task('g', { name: 'suite g' }),
    task('g1', { parent: 'g', source: 'split' }),
    task('g2', { parent: 'g', source: 'split' }),
    task('h'),
  ];
  return {
    commit: 'claims1',
    tasks,
    locks: new Map([
      ['b', lock('b', 'w1')],
      ['h', lock('h', 'w2', 2000)],
    ]),
    done: new Map([
      ['c', done('c', 'integrated', 600, { commit: C1, usage: { costUsd: 0.5 } })],
      ['e', done('e', 'recheck', 900, { commit: C1 })],
      ['f', done('f', 'duplicate', 1200, { commit: C1, worker: 'w2' })],
      ['g', done('g', 'split', 1500)],
      ['g2', done('g2', 'integrated', 2400, { commit: C2 })],
    ]),
    failed: new Map([['d', { task: 'd', at: at(2000), note: 'the gate rejected it\nmore', rounds: 3 }]]),
    notes: new Map([['a', '## round 1 · w2 · x\n\nthe agent changed nothing\n']]),
    gate: { commit: C2, at: at(2400), passing: ['t1', 't2'], failing: ['t3'] },
    workers: new Map([
      ['w1', worker('w1', { state: 'working', task: 'b', done: 3, usage: { costUsd: 1.25, inputTokens: 10_000, outputTokens: 2_500 } })],
      ['w2', worker('w2', { state: 'working', task: 'h', done: 1, failed: 1 })],
      ['w3', worker('w3', { state: 'stopped', done: 1 })],
    ]),
    stop: false,
    rounds: new Map([['a', 1]]),
  };
}

const rowsOf = (s = snapshot(), now = NOW) => queueRows({ key: 'queue:/repo', snapshot: s, goal: 'Make every test pass', remote: '/repo', now });
function find(rows: readonly QueueRow[], id: string): QueueRow {
  const r = [...walkRows(rows)].find((x) => x.row.id === id)?.row;
  assert.ok(r, `row ${id} in ${[...walkRows(rows)].map((x) => x.row.id).join(', ')}`);
  return r;
}
const childIds = (r: QueueRow) => (r.children ?? []).map((c) => c.id.replace('queue:/repo:', ''));
const text = (r: QueueRow) => (r.tooltip ?? []).map((p) => `${p.title ?? ''}\n${p.text}`).join('\n');

describe('the Queue view', () => {
  it('sums the queue up: open, claimed, done, failed, tasks per hour, spend', () => {
    const [summary, workers, tasks] = rowsOf();
    assert.equal(summary!.id, 'queue:/repo:summary');
    assert.equal(summary!.label, '5/10 done');
    // 5 done since the first worker started, the last 40 minutes later: 7.5 an hour.
    assert.equal(summary!.description, '2 open · 2 claimed · 1 failed · 7.5 tasks/h · $1.25 · 13k tokens');
    assert.equal(summary!.contextValue, 'queue:summary');
    assert.match(text(summary!), /Make every test pass/);
    assert.match(text(summary!), /2222222222 .*2 tests pass, 1 fail/);
    assert.equal(workers!.label, 'Workers');
    assert.equal(tasks!.label, 'Tasks');
    assert.deepEqual(childIds(tasks!), ['group:open', 'group:claimed', 'group:done', 'group:failed']);
    assert.deepEqual(tasks!.children!.map((g) => [g.label, g.description]), [
      ['Open', '2'],
      ['Claimed', '2'],
      ['Done', '5'],
      ['Failed', '1'],
    ]);
  });

  it('says how each task ended, who claimed it, and why it failed', () => {
    const rows = rowsOf();
    assert.equal(find(rows, 'queue:/repo:task:c').description, 'integrated at 1111111111 · by w1');
    assert.equal(find(rows, 'queue:/repo:task:e').description, 'closed by re-check (passes at 1111111111) · by w1');
    assert.equal(find(rows, 'queue:/repo:task:f').description, 'duplicate of c passes · by w2');
    assert.equal(find(rows, 'queue:/repo:task:g').description, 'split into g1 passes, g2 passes · by w1');
    assert.equal(find(rows, 'queue:/repo:task:b').description, 'claimed by w1');
    assert.equal(find(rows, 'queue:/repo:task:d').description, 'failed after 3 rounds: the gate rejected it');
    assert.equal(find(rows, 'queue:/repo:task:a').description, 'tried 1×');
    assert.deepEqual(
      ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((id) => find(rows, `queue:/repo:task:${id}`).contextValue),
      ['queue:task:open', 'queue:task:claimed', 'queue:task:done:integrated', 'queue:task:failed', 'queue:task:done:recheck', 'queue:task:done:duplicate', 'queue:task:done:split', 'queue:task:claimed:stale'],
    );
    assert.match(find(rows, 'queue:/repo:task:h').description!, /claimed by w2 \(stale\)/);
    // A duplicate whose twin is not known says which change it matched.
    const s = snapshot();
    s.done.delete('c');
    assert.equal(doneText(s, s.done.get('f')!), 'duplicate of the change at 1111111111');
  });

  it('shows split lineage: children under their parent in the same group, "split from" elsewhere', () => {
    const rows = rowsOf();
    const doneGroup = find(rows, 'queue:/repo:group:done');
    // Latest first; g2 (done) sits under g, not at the top.
    assert.deepEqual(childIds(doneGroup), ['task:g', 'task:f', 'task:e', 'task:c']);
    assert.deepEqual(childIds(find(rows, 'queue:/repo:task:g')), ['task:g2']);
    assert.equal(find(rows, 'queue:/repo:task:g2').description, 'integrated at 2222222222 · by w1', 'nested: no "split from"');
    assert.equal(find(rows, 'queue:/repo:task:g1').description, 'split from suite g');
    assert.deepEqual(childIds(find(rows, 'queue:/repo:group:open')), ['task:a', 'task:g1']);
  });

  it('puts the brief (clipped), the failure and earlier tries\' notes in the task tooltip', () => {
    const s = snapshot();
    s.tasks[0]!.brief = `Fix it. ${'word '.repeat(400)}`;
    const a = find(rowsOf(s), 'queue:/repo:task:a');
    const tip = text(a);
    assert.match(tip, /Brief\nFix it\. word word/);
    assert.ok(tip.length < 1500, `clipped (${tip.length})`);
    assert.match(tip, / …/);
    assert.match(tip, /Failure\nexpected 4, got 6/);
    assert.match(tip, /Notes from earlier tries\n## round 1 · w2 · x\n\nthe agent changed nothing/);
    assert.ok(a.tooltip!.find((p) => p.title === 'Notes from earlier tries')!.code);
  });

  it('lists workers with their state, task and done count, and marks the stale ones', () => {
    const rows = rowsOf();
    const workers = find(rows, 'queue:/repo:workers');
    assert.equal(workers.description, '1 active · 1 stale · 1 stopped');
    assert.deepEqual(workers.children!.map((w) => [w.label, w.description, w.contextValue]), [
      ['w1', 'working · b passes · 3 done', 'queue:worker:working'],
      ['w2', 'working, stale · h passes · 1 done · 1 given back', 'queue:worker:working:stale'],
      ['w3', 'stopped · 1 done', 'queue:worker:stopped'],
    ]);
    assert.equal(workers.children![1]!.icon!.id, 'warning');
    assert.match(text(workers.children![0]!), /spend: \$1\.25, 13k tokens/);
  });

  it('tells a stale worker from a busy one', () => {
    const s = snapshot();
    const w = (over: Partial<WorkerStatus>) => worker('w9', over);
    assert.equal(workerStale(s, w({ state: 'stopped', updatedAt: at(0) }), NOW), false);
    // Its task's lock was taken over by another worker.
    assert.equal(workerStale(s, w({ state: 'working', task: 'b' }), NOW), true);
    // Integrating (no task in its status): the lock it still holds on its task says.
    s.locks.set('x', lock('x', 'w9', 10));
    assert.equal(workerStale(s, w({ state: 'integrating' }), NOW), false);
    s.locks.set('x', lock('x', 'w9', 5000));
    assert.equal(workerStale(s, w({ state: 'integrating' }), NOW), true);
    s.locks.delete('x');
    // Waiting for tasks writes nothing: only an hour of silence is stale.
    assert.equal(workerStale(s, w({ state: 'idle', updatedAt: at(100) }), NOW), false);
    assert.equal(workerStale(s, w({ state: 'idle', updatedAt: at(-10) }), NOW), true);
    assert.equal(groupOf(s, 'b'), 'claimed');
  });

  it('keeps ids unique and rows identical from one poll to the next when nothing changed', () => {
    const rows = rowsOf();
    const ids = [...walkRows(rows)].map((x) => x.row.id);
    assert.equal(new Set(ids).size, ids.length);
    const later = rowsOf(snapshot(), NOW + 2000);
    assert.deepEqual(later, rows, 'no "5 s ago" that changes every poll');
    assert.deepEqual(changedRows(rows, later), { root: false, ids: [] });
  });

  it('redraws only what a poll changed: a claim changes the two groups, the task and the summary', () => {
    const before = rowsOf();
    const s = snapshot();
    s.locks.set('a', lock('a', 'w3'));
    const after = rowsOf(s);
    const diff = changedRows(before, after);
    assert.equal(diff.root, false);
    assert.deepEqual(diff.ids.map((id) => id.replace('queue:/repo:', '')).sort(), ['group:claimed', 'group:open', 'summary', 'task:a']);
    assert.deepEqual(changedRows(before, after.slice(1)), { root: true, ids: [] });
  });

  it('says when the queue is stopping', () => {
    const s = snapshot();
    s.stop = true;
    const [summary] = rowsOf(s);
    assert.equal(summary!.contextValue, 'queue:summary:stopping');
    assert.match(summary!.description!, /stopping$/);
    assert.equal(summary!.icon!.id, 'debug-pause');
  });

  it('shows one row in Restricted Mode, a start link before the queue exists, and a row per folder', () => {
    const f = { root: '/repo', name: 'repo', remote: '/repo', goal: 'g' };
    const untrusted = viewRows([{ ...f, snapshot: snapshot() }], false);
    assert.deepEqual(untrusted.map((r) => [r.label, r.command?.command]), [['Trust the workspace to see the queue', 'workbench.trust.manage']]);
    assert.deepEqual(viewRows([f], true).map((r) => r.label), ['Reading the queue…']);
    const empty: QueueSnapshot = { ...snapshot(), commit: undefined, tasks: [], locks: new Map(), done: new Map(), failed: new Map(), workers: new Map() };
    const notStarted = viewRows([{ ...f, snapshot: empty }], true);
    assert.equal(notStarted.length, 1);
    assert.equal(notStarted[0]!.command?.command, 'agentLanes.startQueue');
    assert.deepEqual(notStarted[0]!.command?.arguments, [{ folder: '/repo' }]);
    const broken = folderRows({ ...f, readError: 'could not fetch the queue from /repo: fatal', fileProblem: '.lanes/queue.json is not a valid queue:\n  gate: expected' });
    assert.deepEqual(broken.map((r) => r.id), ['queue:/repo:file', 'queue:/repo:error']);
    assert.equal(broken[0]!.openFile, path.join('/repo', '.lanes/queue.json'));
    assert.equal(broken[1]!.command?.command, 'agentLanes.refreshQueue');
    const two = viewRows([{ ...f, snapshot: snapshot() }, { ...f, root: '/b', name: 'b', snapshot: empty }], true, NOW);
    assert.deepEqual(two.map((r) => [r.id, r.label, r.description, r.contextValue]), [
      ['queue:/repo', 'repo', '5/10 done · 1 failed', 'queue:folder'],
      ['queue:/b', 'b', undefined, 'queue:folder'],
    ]);
    assert.equal(two[0]!.children![0]!.id, 'queue:/repo:summary');
  });

  it('formats spend', () => {
    assert.equal(formatCost(1.234), '$1.23');
    assert.equal(formatCost(0.004), '$0.004');
    assert.equal(formatTokens(950), '950 tokens');
    assert.equal(formatTokens(12_345), '12k tokens');
    assert.equal(formatTokens(4_100_000), '4.1M tokens');
  });
});

describe('the Queue view in package.json', () => {
  const pkg = JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8'));
  const c = pkg.contributes;

  it('is a view of the Agent Lanes container, shown when a folder has a queue file', () => {
    const view = c.views.agentLanes.find((v: { id: string }) => v.id === 'agentLanes.queue');
    assert.equal(view?.name, 'Queue');
    assert.equal(view?.when, 'agentLanes.hasQueue');
  });

  it('has Start, Stop and Refresh in its title bar; start and stop need trust, in the table and in package.json', () => {
    const title = c.menus['view/title'].filter((m: { when: string }) => m.when.includes('view == agentLanes.queue'));
    assert.deepEqual(title.map((m: { command: string }) => m.command), ['agentLanes.startQueue', 'agentLanes.stopQueue', 'agentLanes.refreshQueue']);
    for (const id of ['agentLanes.startQueue', 'agentLanes.stopQueue'] as const) {
      assert.equal(COMMANDS[id].trust, true, id);
      assert.equal(c.commands.find((x: { command: string }) => x.command === id).enablement, 'isWorkspaceTrusted', id);
    }
    assert.equal(COMMANDS['agentLanes.refreshQueue'].trust, false, 'refresh reads nothing in Restricted Mode (the handler checks)');
  });

  it('declares the queue task type', () => {
    const def = c.taskDefinitions.find((t: { type: string }) => t.type === 'agentLanesQueue');
    assert.equal(def.properties.workers.type, 'integer');
  });
});
