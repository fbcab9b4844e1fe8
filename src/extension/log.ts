import * as vscode from 'vscode';
import { onGitCommand } from '../core/git/git';

export type Log = vscode.LogOutputChannel;

/** The "Agent Lanes" log channel, with every git command the extension runs. */
export function createLog(): { log: Log; dispose(): void } {
  const log = vscode.window.createOutputChannel('Agent Lanes', { log: true });
  // Reads (status polls, rev-parse, diffs) at trace level: the channel shows what changed
  // something, and failures stand out.
  const off = onGitCommand((e) => {
    const line = `> git ${e.args.join(' ')} [${e.ms}ms]${e.code === 0 ? '' : ` (exit ${e.code})`} in ${e.cwd}`;
    if (!e.ok) log.warn(line);
    else if (e.readOnly) log.trace(line);
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
