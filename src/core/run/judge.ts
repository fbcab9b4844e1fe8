/**
 * The judge, pure: from what an attempt did (the agent's exit, whether it changed anything,
 * the verify result) and how many attempts are left, the lane's verdict and the failure text
 * the next brief carries. No git, no processes.
 */
import type { LaneStatus } from './state';

export interface AttemptOutcome {
  agentName: string;
  /** The agent program could not be started at all. */
  spawnError?: { code?: string; message: string; program: string };
  cancelled: boolean;
  timedOut: boolean;
  exitCode: number | null;
  /** describeExit() of the agent's process. */
  exit: string;
  /** The lane's head moved (the agent committed, or left changes that were committed). */
  changed: boolean;
  /** The tail of the agent's output, for the failure text. */
  outputTail: string;
  timeoutMs: number;
  verify?: { command: string; passed: boolean; exit: string; outputTail: string; cancelled: boolean };
  /** The attempt was stopped because the lane went over its budget (the reason). */
  budget?: string;
  /** The agent took its worktree away (deleted it, switched its branch): the reason. */
  broken?: string;
  /** Findings the agent raised in this attempt (a review that only approves changes nothing). */
  raised?: number;
}

export type Verdict =
  | { kind: 'passed'; reason: string }
  | { kind: 'cancelled'; reason: string; failure: string }
  | { kind: 'retry'; failure: string; summary: string }
  | { kind: 'failed'; status: Extract<LaneStatus, 'failed' | 'timed-out'>; reason: string; failure: string };

/** Why an attempt failed: a one-line summary first, then the evidence for the next brief. */
export function failureText(summary: string, logTail: string, verifyOutput?: string): string {
  const parts = [summary];
  if (logTail.trim()) parts.push(`Last output of the agent:\n${logTail}`);
  if (verifyOutput !== undefined) parts.push(`Output of the verify command:\n${verifyOutput}`);
  return parts.join('\n\n');
}

/**
 * @param attempt this attempt's number in the lane's history (1-based)
 * @param usedThisSession attempts this orchestrator has made for the lane, this one included
 * @param allowed attempts allowed per session (retries + 1)
 * @param runCancelled the whole run was cancelled (not just this lane)
 */
export function judge(o: AttemptOutcome, attempt: number, usedThisSession: number, allowed: number, runCancelled = false): Verdict {
  // A worktree the agent deleted or moved to another branch: nothing to retry in.
  if (o.broken) return { kind: 'failed', status: 'failed', reason: o.broken, failure: o.broken };
  // Over budget: stopped, and another attempt would only spend more.

  if (o.budget) return { kind: 'failed', status: 'failed', reason: o.budget, failure: `stopped: ${o.budget}` };
  if (o.cancelled || o.verify?.cancelled) {

    return { kind: 'cancelled', reason: runCancelled ? 'the run was cancelled' : o.verify?.cancelled ? 'cancelled while verifying' : 'cancelled', failure: 'cancelled' };
  }
  if (o.spawnError) {
    const why =
      o.spawnError.code === 'ENOENT'
        ? 'program not found on PATH'
        : o.spawnError.code === 'E2BIG'
          ? 'its command line is too long for the system (the brief passed as an argument?); pass the brief by file with {briefFile}'
          : o.spawnError.message;

    const failure = `could not start the ${o.agentName} agent (${o.spawnError.program}): ${why}`;
    return { kind: 'failed', status: 'failed', reason: failure, failure }; // another attempt cannot help
  }
  let failure: string | undefined;
  let status: 'failed' | 'timed-out' = 'failed';
  if (o.timedOut) {
    status = 'timed-out';
    failure = failureText(`the ${o.agentName} agent timed out after ${+(o.timeoutMs / 60000).toFixed(2)} min`, o.outputTail.slice(-3000));
  } else if (o.exitCode !== 0) {
    failure = failureText(`the ${o.agentName} agent failed: ${o.exit}`, o.outputTail.slice(-3000));
  } else if (!o.changed && !o.raised) {
    failure = 'the agent exited 0 but changed nothing (no commits and no changes in the worktree)';
  } else if (o.verify && !o.verify.passed) {
    failure = failureText(`verify \`${o.verify.command}\` failed: ${o.verify.exit}`, o.outputTail.slice(-1500), o.verify.outputTail);
  }
  if (!failure) {
    if (!o.changed) return { kind: 'passed', reason: `changed nothing; raised ${o.raised} finding${o.raised === 1 ? '' : 's'}` };
    return { kind: 'passed', reason: o.verify ? `verified: ${o.verify.command}` : 'agent finished (no verify command)' };
  }
  const summary = failure.split('\n')[0]!;
  if (usedThisSession < allowed) return { kind: 'retry', failure, summary };
  return { kind: 'failed', status, reason: status === 'timed-out' ? `timed out after ${attempt} attempt${attempt > 1 ? 's' : ''}` : summary, failure };
}
