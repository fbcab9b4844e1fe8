/**
 * A read-only document scheme for a file at any commit (a lane's head, the run's base, the
 * integrated result), so `vscode.diff` can compare any two. The query names the repository and
 * the commit; the content comes from `git show <commit>:<path>`.
 */
import * as vscode from 'vscode';
import { git } from '../core/git/git';

export const LANE_SCHEME = 'agent-lanes';

interface Query {
  repo: string;
  commit: string;
}

export function laneUri(repo: string, commit: string, relPath: string, label?: string): vscode.Uri {
  const q: Query = { repo, commit };
  return vscode.Uri.from({ scheme: LANE_SCHEME, path: `/${relPath}`, query: JSON.stringify(q), fragment: label ?? '' });
}

export class LaneContentProvider implements vscode.TextDocumentContentProvider {
  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    if (!vscode.workspace.isTrusted) return '(Agent Lanes runs no git in Restricted Mode)';
    let q: Query;
    try {
      q = JSON.parse(uri.query) as Query;
    } catch {
      return '';
    }
    if (!/^[0-9a-f]{7,40}$/.test(q.commit)) return '';
    const rel = uri.path.replace(/^\//, '');
    const r = await git(['show', `${q.commit}:${rel}`], { cwd: q.repo, readOnly: true, okCodes: [128] });
    return r.code === 0 ? r.stdout : ''; // absent at this commit (added or deleted): empty side
  }
}
