import * as assert from 'node:assert/strict';
import { runReport } from '../../src/core/reconcile/report';
import { formatDuration, laneTimes, runWallMs, type LaneState, type RunState } from '../../src/core/run/state';

const attempt = (n: number, start: string, end?: string) => ({ attempt: n, startedAt: start, endedAt: end, agentArgv: ['x'], briefFile: 'b' });
const lane = (over: Partial<LaneState>): LaneState => ({ id: 'a', status: 'running', branch: 'b', worktree: '/w', busyMs: 0, attempts: [], warnings: [], portBase: 30000, ...over });

describe('times that agree', () => {
  it("a lane's elapsed time counts from its current attempt; the total keeps every attempt", () => {
    const now = Date.parse('2026-11-25T10:10:00Z');
    const l = lane({ startedAt: '2026-11-25T10:00:00Z', busyMs: 120_000, attempts: [attempt(1, '2026-11-25T10:00:00Z', '2026-11-25T10:02:00Z'), attempt(2, '2026-11-25T10:09:30Z')] });
    assert.deepEqual(laneTimes(l, now), { attemptMs: 30_000, totalMs: 150_000 });
    const done = lane({ status: 'failed', busyMs: 150_000, attempts: [attempt(1, '2026-11-25T10:00:00Z', '2026-11-25T10:02:00Z'), attempt(2, '2026-11-25T10:09:30Z', '2026-11-25T10:10:00Z')] });
    assert.deepEqual(laneTimes(done, now + 60_000), { attemptMs: 30_000, totalMs: 150_000 });
    assert.equal(formatDuration(150_000), '2m30s');
    assert.equal(formatDuration(3_720_000), '1h02m');
  });

  it("the report's wall time is its end minus its start (a resumed run's too)", () => {
    const state = {
      stateVersion: 1,
      runId: 'r',
      repoRoot: '/r',
      planFile: 'p',
      planHash: 'h',
      planText: '{}',
      baseCommit: 'b'.repeat(40),
      worktreeRoot: '/w',
      maxParallel: 2,
      status: 'finished',
      startedAt: '2026-11-25T10:00:00.000Z',
      endedAt: '2026-11-25T10:02:44.000Z',
      wallMs: 45_500, // the last session only: not what a reader of start and end expects
      lanes: [lane({ status: 'passed', busyMs: 60_000 })],
      warnings: [],
    } as unknown as RunState;
    assert.equal(runWallMs(state), 164_000);
    assert.match(runReport(state, 'g'), /Wall time 164\.0 s, lane time 60\.0 s/);
  });
});
