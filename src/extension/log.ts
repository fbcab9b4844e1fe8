import * as vscode from 'vscode';
import { onGitCommand } from '../core/git/git';

/** Where QueueStore fetches the claims ref to (src/core/queue/store.ts). */
const QUEUE_FETCHED_REF = 'refs/lanes/queue/fetched';

export type Log = vscode.LogOutputChannel;

/** The "Agent Lanes" log channel, with every git command the extension runs. */
export function createLog(): { log: Log; dispose(): void } {
  const log = vscode.window.createOutputChannel('Agent Lanes', { log: true });
  // Reads (status polls, rev-parse, diffs) at trace level: the channel shows what changed
  // something, and failures stand out.
  const off = onGitCommand((e) => {
    // The Queue view reads the claims ref every few seconds while it is visible: a fetch into a
    // private ref of ours (and its removal when there is none) is a read too.
    const queueRead = e.args.some((a) => a === QUEUE_FETCHED_REF || a.endsWith(`:${QUEUE_FETCHED_REF}`));
    const line = `> git ${e.args.join(' ')} [${e.ms}ms]${e.code === 0 ? '' : ` (exit ${e.code})`} in ${e.cwd}`;
    if (!e.ok) log.warn(line);
    else if (e.readOnly || queueRead) log.trace(line);
    else log.info(line);
  });
  return {
    log,
    dispose() {
      off();
      log.dispose();
    },
  };
}
