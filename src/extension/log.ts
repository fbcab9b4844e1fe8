import * as vscode from 'vscode';
import { onGitCommand } from '../core/git/git';

export type Log = vscode.LogOutputChannel;

/** The "Agent Lanes" log channel, with every git command the extension runs. */
export function createLog(): { log: Log; dispose(): void } {
  const log = vscode.window.createOutputChannel('Agent Lanes', { log: true });
  const off = onGitCommand((e) => log.info(`> git ${e.args.join(' ')} [${e.ms}ms]${e.code === 0 ? '' : ` (exit ${e.code})`} in ${e.cwd}`));
  return {
    log,
    dispose() {
      off();
      log.dispose();
    },
  };
}
