import * as assert from 'node:assert/strict';
import { AttemptOutcome, judge } from '../../src/core/run/judge';

const ok: AttemptOutcome = { agentName: 'script', cancelled: false, timedOut: false, exitCode: 0, exit: 'exit code 0', changed: true, outputTail: 'did it\n', timeoutMs: 60_000 };

describe('judge (pure)', () => {
  it('passes an agent that exited 0 and changed something, verified or not', () => {
    assert.deepEqual(judge(ok, 1, 1, 1), { kind: 'passed', reason: 'agent finished (no verify command)' });
    const v = { command: 'npm test', passed: true, exit: 'exit code 0', outputTail: '', cancelled: false };
    assert.deepEqual(judge({ ...ok, verify: v }, 1, 1, 1), { kind: 'passed', reason: 'verified: npm test' });
  });

  it('fails an agent that changed nothing, even with exit 0', () => {
    const v = judge({ ...ok, changed: false }, 1, 1, 1);
    assert.equal(v.kind, 'failed');
    assert.match((v as { reason: string }).reason, /changed nothing/);
  });

  it('retries while attempts are left, with the evidence for the next brief', () => {
    const v = judge({ ...ok, exitCode: 3, exit: 'exit code 3', outputTail: 'boom' }, 1, 1, 2);
    assert.equal(v.kind, 'retry');
    assert.equal((v as { summary: string }).summary, 'the script agent failed: exit code 3');
    assert.match((v as { failure: string }).failure, /Last output of the agent:\nboom/);
  });

  it('fails a verify with its output, and names the command', () => {
    const v = judge({ ...ok, verify: { command: 'npm test', passed: false, exit: 'exit code 1', outputTail: '1 failing', cancelled: false } }, 2, 1, 1);
    assert.equal(v.kind, 'failed');
    assert.equal((v as { reason: string }).reason, 'verify `npm test` failed: exit code 1');
    assert.match((v as { failure: string }).failure, /Output of the verify command:\n1 failing/);
  });

  it('a timeout is its own status', () => {
    const v = judge({ ...ok, timedOut: true, exitCode: null }, 2, 2, 2);
    assert.deepEqual([v.kind, (v as { status: string }).status, (v as { reason: string }).reason], ['failed', 'timed-out', 'timed out after 2 attempts']);
  });

  it('a program that cannot start is not retried', () => {
    const v = judge({ ...ok, exitCode: null, spawnError: { code: 'ENOENT', message: 'spawn x ENOENT', program: 'claude' } }, 1, 1, 5);
    assert.equal(v.kind, 'failed');
    assert.equal((v as { reason: string }).reason, 'could not start the script agent (claude): program not found on PATH');
  });

  it('cancelled is cancelled, never failed, whatever else happened', () => {
    assert.deepEqual(judge({ ...ok, cancelled: true, exitCode: null }, 1, 1, 3), { kind: 'cancelled', reason: 'cancelled', failure: 'cancelled' });
    assert.deepEqual(judge({ ...ok, cancelled: true, exitCode: null }, 1, 1, 3, true), { kind: 'cancelled', reason: 'the run was cancelled', failure: 'cancelled' });
    const v = { command: 'npm test', passed: false, exit: 'cancelled', outputTail: '', cancelled: true };
    assert.equal(judge({ ...ok, verify: v }, 1, 1, 1).kind, 'cancelled');
  });
});
