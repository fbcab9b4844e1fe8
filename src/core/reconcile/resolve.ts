/**
 * Resolving a conflict into a lane's branch: the other side (another lane's head, or the
 * integration branch) is merged into the lane's worktree without committing; the conflicted files
 * are resolved by a person (VS Code's merge editor writes them); then the merge is committed with
 * the lane's trailers. The lane's branch then contains what it conflicted with, so it merges
 * cleanly afterwards. Nothing here touches the user's checkout.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LanesError } from '../errors';
import { git, gitOut, gitPaths, pathsOnStdin } from '../git/git';
import { encodePath } from '../util/bytePath';

export class ResolveError extends LanesError {
  constructor(
    message: string,
    readonly reason: 'dirty' | 'moved' | 'unresolved' | 'noMerge',
    readonly files: string[] = [],
  ) {
    super(message);
    this.name = 'ResolveError';
  }
}

export interface ResolutionStart {
  /** Files left with conflicts for a person to resolve (empty: it merged cleanly and was committed). */
  conflicts: string[];
  /** The merge base, the lane's head and the other side's head: the merge editor's three inputs. */
  base: string;
  ours: string;
  theirs: string;
  /** Set when nothing conflicted: the merge commit. */
  committed?: string;
}

const MARKER = /^(<{7}|>{7})( |$)/m;

async function identity(worktree: string): Promise<NodeJS.ProcessEnv> {
  const has = async (k: string) => (await git(['config', '--get', k], { cwd: worktree, okCodes: [1], readOnly: true })).stdout.trim() !== '';
  if ((await has('user.email')) && (await has('user.name'))) return {};
  return { GIT_AUTHOR_NAME: 'Agent Lanes', GIT_AUTHOR_EMAIL: 'lanes@agent-lanes.invalid', GIT_COMMITTER_NAME: 'Agent Lanes', GIT_COMMITTER_EMAIL: 'lanes@agent-lanes.invalid' };
}

/** Whether a merge is under way in this worktree (started here, not finished or aborted). */
export async function mergeInProgress(worktree: string): Promise<boolean> {
  return (await git(['rev-parse', '-q', '--verify', 'MERGE_HEAD'], { cwd: worktree, okCodes: [1], readOnly: true })).code === 0;
}

/** Files still unmerged in the worktree's index. */
async function unmerged(worktree: string): Promise<string[]> {
  return [...new Set(await gitPaths(['diff', '--name-only', '-z', '--diff-filter=U'], { cwd: worktree, readOnly: true }))];
}

/**
 * Merge `theirs` into the lane's worktree (at `laneHead`, clean) without committing. What merges
 * cleanly is committed at once; otherwise the conflicted files wait for `finishResolution`.
 */
export async function startResolution(o: { worktree: string; laneHead: string; theirs: string; message: string }): Promise<ResolutionStart> {
  if (await mergeInProgress(o.worktree)) {
    const conflicts = await unmerged(o.worktree);
    const ours = await gitOut(['rev-parse', 'HEAD'], { cwd: o.worktree, readOnly: true });
    const theirs = await gitOut(['rev-parse', 'MERGE_HEAD'], { cwd: o.worktree, readOnly: true });
    const base = await gitOut(['merge-base', ours, theirs], { cwd: o.worktree, readOnly: true });
    return { conflicts, base, ours, theirs };
  }
  const head = await gitOut(['rev-parse', 'HEAD'], { cwd: o.worktree, readOnly: true });
  if (head !== o.laneHead) throw new ResolveError(`the lane's worktree is at ${head.slice(0, 10)}, not at the lane's recorded head ${o.laneHead.slice(0, 10)}`, 'moved');
  const dirty = await gitOut(['status', '--porcelain', '--untracked-files=no'], { cwd: o.worktree, readOnly: true });
  if (dirty) throw new ResolveError(`the lane's worktree has uncommitted changes; commit or discard them first (${o.worktree})`, 'dirty');
  const base = await gitOut(['merge-base', o.laneHead, o.theirs], { cwd: o.worktree, readOnly: true });
  const env = await identity(o.worktree);
  const r = await git(['merge', '--no-commit', '--no-ff', '--no-edit', o.theirs], { cwd: o.worktree, env, okCodes: [1], lockRetries: 6 });
  const conflicts = r.code === 0 ? [] : await unmerged(o.worktree);
  if (!conflicts.length) {
    await git(['commit', '--quiet', '--no-verify', '-F', '-'], { cwd: o.worktree, input: o.message, env, lockRetries: 6 });
    return { conflicts, base, ours: o.laneHead, theirs: o.theirs, committed: await gitOut(['rev-parse', 'HEAD'], { cwd: o.worktree, readOnly: true }) };
  }
  return { conflicts, base, ours: o.laneHead, theirs: o.theirs };
}

/**
 * Commit the resolved merge. Refused, naming the files, while any conflicted file still has
 * conflict markers; the resolved files are staged first.
 */
export async function finishResolution(o: { worktree: string; files: string[]; message: string }): Promise<string> {
  if (!(await mergeInProgress(o.worktree))) throw new ResolveError('no resolution is under way in this lane', 'noMerge');
  const left: string[] = [];
  for (const f of o.files) {
    const text = await fs.readFile(encodePath(path.join(o.worktree, f)), 'utf8').catch(() => '');
    if (MARKER.test(text)) left.push(f);
  }
  if (left.length) throw new ResolveError(`still conflicted (conflict markers left): ${left.join(', ')}`, 'unresolved', left);
  // -A: a file resolved by deleting it is staged as deleted; names on stdin, literal.
  await git(['add', '-A', '--pathspec-from-file=-', '--pathspec-file-nul'], pathsOnStdin(o.files, { cwd: o.worktree, lockRetries: 6 }));
  const still = await unmerged(o.worktree);
  if (still.length) throw new ResolveError(`still unmerged: ${still.join(', ')}`, 'unresolved', still);
  await git(['commit', '--quiet', '--no-verify', '-F', '-'], { cwd: o.worktree, input: o.message, env: await identity(o.worktree), lockRetries: 6 });
  return gitOut(['rev-parse', 'HEAD'], { cwd: o.worktree, readOnly: true });
}

export async function abortResolution(worktree: string): Promise<void> {
  if (await mergeInProgress(worktree)) await git(['merge', '--abort'], { cwd: worktree, lockRetries: 6 });
}
