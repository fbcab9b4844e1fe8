/**
 * In-memory merges with `git merge-tree --write-tree` (git >= 2.38): no working tree or index
 * is touched. The exit status decides (0 clean, 1 conflicts); the output is only parsed for
 * the names of the conflicting files.
 */
import { LanesError } from '../errors';
import { git, gitOut } from './git';

export interface TrialMerge {
  clean: boolean;
  /** The merged tree (with conflict markers in conflicted files when not clean). */
  tree: string;
  conflicts: string[];
}

export async function trialMerge(repo: string, ours: string, theirs: string, signal?: AbortSignal): Promise<TrialMerge> {
  const r = await git(['merge-tree', '--write-tree', '--name-only', '--no-messages', ours, theirs], { cwd: repo, okCodes: [1], readOnly: true, signal });
  const lines = r.stdout.split('\n');
  const tree = lines[0]!.trim();
  if (r.code === 0) return { clean: true, tree, conflicts: [] };
  const conflicts: string[] = [];
  for (const l of lines.slice(1)) {
    if (l === '') break;
    if (!conflicts.includes(l)) conflicts.push(l);
  }
  return { clean: false, tree, conflicts };
}

export async function isAncestor(repo: string, a: string, b: string): Promise<boolean> {
  const r = await git(['merge-base', '--is-ancestor', a, b], { cwd: repo, okCodes: [1], readOnly: true });
  return r.code === 0;
}

export class MergeConflictError extends LanesError {
  readonly reason = 'conflict' as const;
  constructor(
    message: string,
    readonly conflicts: string[],
  ) {
    super(message);
    this.name = 'MergeConflictError';
  }
}

/**
 * One commit holding the work of every head: the heads themselves when one contains the
 * others, else merge commits made with merge-tree + commit-tree. Throws MergeConflictError.
 */
export async function mergeHeads(repo: string, heads: { label: string; commit: string }[], message: string, env?: NodeJS.ProcessEnv): Promise<string> {
  if (heads.length === 0) throw new Error('mergeHeads: nothing to merge');
  let cur = heads[0]!.commit;
  let curLabel = heads[0]!.label;
  for (const h of heads.slice(1)) {
    if (h.commit === cur || (await isAncestor(repo, h.commit, cur))) continue;
    if (await isAncestor(repo, cur, h.commit)) {
      cur = h.commit;
      curLabel = h.label;
      continue;
    }
    const m = await trialMerge(repo, cur, h.commit);
    if (!m.clean) throw new MergeConflictError(`${curLabel} and ${h.label} conflict in ${m.conflicts.join(', ')}`, m.conflicts);
    cur = await gitOut(['commit-tree', m.tree, '-p', cur, '-p', h.commit, '-F', '-'], { cwd: repo, input: `${message}\n\nMerges ${curLabel} and ${h.label}.\n`, env });
    curLabel = `${curLabel}+${h.label}`;
  }
  return cur;
}
