/**
 * Finding a repository without running git: for untrusted folders (a hostile .git/config can
 * make git run programs, e.g. core.fsmonitor) and for fast activation. Reads `.git` (a folder,
 * or a file with "gitdir: …" in worktrees and submodules) and `commondir`.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export interface FoundRepo {
  /** The working tree root (the folder that holds `.git`). */
  root: string;
  /** This worktree's git dir. */
  gitDir: string;
  /** The common dir shared by all worktrees (where refs, config and lanes state live). */
  commonDir: string;
}

export async function discoverRepo(start: string): Promise<FoundRepo | undefined> {
  let dir = path.resolve(start);
  for (;;) {
    const dotGit = path.join(dir, '.git');
    const st = await fs.stat(dotGit).catch(() => undefined);
    if (st?.isDirectory()) return { root: dir, gitDir: dotGit, commonDir: await common(dotGit) };
    if (st?.isFile()) {
      const text = await fs.readFile(dotGit, 'utf8').catch(() => '');
      const m = /^gitdir:\s*(.+)$/m.exec(text);
      if (m) {
        const gitDir = path.resolve(dir, m[1]!.trim());
        return { root: dir, gitDir, commonDir: await common(gitDir) };
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

async function common(gitDir: string): Promise<string> {
  const text = await fs.readFile(path.join(gitDir, 'commondir'), 'utf8').catch(() => '');
  return text.trim() ? path.resolve(gitDir, text.trim()) : gitDir;
}
