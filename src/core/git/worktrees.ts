/**
 * Lane worktrees. Creation is safe when many lanes start at once:
 *  - the steps that write shared repository state (the branch ref and the worktree registry)
 *    run one at a time per repository, with lock retries and backoff;
 *  - `--no-track` so nothing is written to .git/config;
 *  - the expensive part, checking out the files, runs in parallel afterwards (the registry
 *    step uses --no-checkout and the new worktree is then filled with `read-tree -u`);
 *  - idempotent: a branch without its worktree is picked up, an existing worktree reused.
 * Worktrees are locked while a run uses them so `git worktree prune` and gc leave them alone.
 */
import { LanesError } from '../errors';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { mutexFor } from '../util/mutex';
import { git, GitError, gitOut } from './git';

export interface WorktreeInfo {
  path: string;
  head?: string;
  branch?: string;
  locked: boolean;
  prunable: boolean;
}

export async function listWorktrees(repo: string): Promise<WorktreeInfo[]> {
  const out = await gitOut(['worktree', 'list', '--porcelain', '-z'], { cwd: repo, readOnly: true });
  const result: WorktreeInfo[] = [];
  let cur: WorktreeInfo | undefined;
  for (const field of out.split('\0')) {
    if (field === '') {
      if (cur) result.push(cur);
      cur = undefined;
      continue;
    }
    const sp = field.indexOf(' ');
    const key = sp < 0 ? field : field.slice(0, sp);
    const value = sp < 0 ? '' : field.slice(sp + 1);
    if (key === 'worktree') cur = { path: value, locked: false, prunable: false };
    else if (!cur) continue;
    else if (key === 'HEAD') cur.head = value;
    else if (key === 'branch') cur.branch = value.replace(/^refs\/heads\//, '');
    else if (key === 'locked') cur.locked = true;
    else if (key === 'prunable') cur.prunable = true;
  }
  if (cur) result.push(cur);
  return result;
}

/** Default root for lane worktrees: a per-user cache folder, outside the user's workspace. */
export function defaultWorktreeRoot(repoRoot: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.LANES_WORKTREE_ROOT) return path.resolve(env.LANES_WORKTREE_ROOT);
  const cache =
    env.XDG_CACHE_HOME ||
    (process.platform === 'darwin' ? path.join(os.homedir(), 'Library', 'Caches') : process.platform === 'win32' ? env.LOCALAPPDATA || os.tmpdir() : path.join(os.homedir(), '.cache'));
  const tag = createHash('sha256').update(path.resolve(repoRoot)).digest('hex').slice(0, 8);
  const name = path.basename(repoRoot).replace(/[^A-Za-z0-9._-]/g, '_') || 'repo';
  return path.join(cache, 'agent-lanes', 'worktrees', `${name}-${tag}`);
}

export async function branchHead(repo: string, branch: string): Promise<string | undefined> {
  try {
    return await gitOut(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`], { cwd: repo, readOnly: true });
  } catch {
    return undefined;
  }
}

export interface EnsureWorktreeOptions {
  repo: string;
  /** Key for serialising shared-state writes: the git common dir. */
  commonDir: string;
  branch: string;
  dir: string;
  startPoint: string;
  lockReason: string;
  signal?: AbortSignal;
}

export interface EnsuredWorktree {
  created: boolean;
  /** The branch already existed (a retry, a resume, or a crash between steps). */
  reusedBranch: boolean;
  head: string;
}

export class WorktreeError extends LanesError {
  constructor(
    message: string,
    readonly reason: 'pathTaken' | 'branchElsewhere' | 'missingFolder' | 'git',
  ) {
    super(message);
    this.name = 'WorktreeError';
  }
}

export async function ensureWorktree(o: EnsureWorktreeOptions): Promise<EnsuredWorktree> {
  const abs = path.resolve(o.dir);
  const registered = await mutexFor(o.commonDir).run(async () => {
    // Fast path for a new lane: no folder yet, so one `worktree add` does it (git itself refuses
    // a branch that is checked out elsewhere, and we fall back to the full check below).
    const folderExists = await fs.stat(abs).then(() => true, () => false);
    if (!folderExists) {
      await fs.mkdir(path.dirname(abs), { recursive: true });
      try {
        await git(['worktree', 'add', '--no-checkout', '--no-track', '--lock', '--reason', o.lockReason, '-b', o.branch, abs, o.startPoint], {
          cwd: o.repo,
          lockRetries: 8,
          signal: o.signal,
        });
        return { fresh: true, reusedBranch: false };
      } catch (e) {
        if (!(e instanceof GitError) || !/already exists/.test(e.stderr)) throw e;
      }
    }
    const list = await listWorktrees(o.repo);
    const here = list.find((w) => path.resolve(w.path) === abs);
    const elsewhere = list.find((w) => w.branch === o.branch && path.resolve(w.path) !== abs);
    if (elsewhere) throw new WorktreeError(`branch ${o.branch} is already checked out at ${elsewhere.path}`, 'branchElsewhere');
    if (here) {
      if (here.branch !== o.branch) throw new WorktreeError(`${abs} is a worktree of another branch (${here.branch ?? 'detached'})`, 'pathTaken');
      const exists = await fs.stat(abs).then(() => true, () => false);
      if (!exists) {
        // Registered but the folder is gone (deleted by hand): the branch is the truth.
        throw new WorktreeError(`the worktree folder ${abs} of ${o.branch} was deleted; its branch still holds the lane's commits`, 'missingFolder');
      }
      if (!here.locked) await git(['worktree', 'lock', '--reason', o.lockReason, abs], { cwd: o.repo, lockRetries: 6 }).catch(() => undefined);
      // Registered but never filled (a crash between `worktree add --no-checkout` and
      // `read-tree -u`): it has no index, so every file would read as deleted and the lane's
      // leftover commit would delete the whole repository. Fill it now, as a new one would be.
      if (!(await hasIndex(abs))) return { fresh: true, reusedBranch: false, unfilled: true };
      return { fresh: false, reusedBranch: true };
    }
    const occupied = await fs.readdir(abs).then((e) => e.length > 0, () => false);
    if (occupied) throw new WorktreeError(`${abs} exists and is not empty; it is not a worktree of ${o.branch}`, 'pathTaken');
    await fs.mkdir(path.dirname(abs), { recursive: true });
    const hadBranch = (await branchHead(o.repo, o.branch)) !== undefined;
    const args = hadBranch
      ? ['worktree', 'add', '--no-checkout', '--lock', '--reason', o.lockReason, abs, o.branch]
      : ['worktree', 'add', '--no-checkout', '--no-track', '--lock', '--reason', o.lockReason, '-b', o.branch, abs, o.startPoint];
    await git(args, { cwd: o.repo, lockRetries: 8, signal: o.signal });
    return { fresh: true, reusedBranch: hadBranch };
  });
  if (registered.fresh) {
    if ('unfilled' in registered) {
      // Only our own killed read-tree can have left a lock here (no agent ever ran in it).
      await fs.rm(await gitPath(abs, 'index.lock'), { force: true });
    }
    // Fill the new worktree outside the lock: checkouts of many lanes run in parallel.
    await git(['read-tree', '-u', '--reset', 'HEAD'], { cwd: abs, lockRetries: 8, signal: o.signal });
  }
  // A branch made here starts at startPoint; an existing one may have moved on.
  const head = registered.fresh && !registered.reusedBranch && !('unfilled' in registered) ? await resolveCommit(o.repo, o.startPoint) : await gitOut(['rev-parse', 'HEAD'], { cwd: abs, readOnly: true });
  return { created: registered.fresh, reusedBranch: registered.reusedBranch, head };
}

async function gitPath(worktree: string, name: string): Promise<string> {
  const p = await gitOut(['rev-parse', '--git-path', name], { cwd: worktree, readOnly: true });
  return path.resolve(worktree, p);
}

/** Whether a worktree has its index (a worktree made with --no-checkout and never filled has none). */
async function hasIndex(worktree: string): Promise<boolean> {
  return fs.stat(await gitPath(worktree, 'index')).then(
    () => true,
    () => false,
  );
}

async function resolveCommit(repo: string, rev: string): Promise<string> {

  return /^[0-9a-f]{40}$/.test(rev) ? rev : gitOut(['rev-parse', '--verify', `${rev}^{commit}`], { cwd: repo, readOnly: true });
}

export async function unlockWorktree(repo: string, dir: string): Promise<void> {
  try {
    await git(['worktree', 'unlock', dir], { cwd: repo, lockRetries: 4 });
  } catch (e) {
    if (!(e instanceof GitError)) throw e; // not locked, or already gone
  }
}

/** Dirty paths in a worktree (tracked changes and untracked files), without taking locks. */
export async function dirtyPaths(dir: string): Promise<string[]> {
  const out = await gitOut(['status', '--porcelain=v1', '-z', '--untracked-files=all'], { cwd: dir, readOnly: true });
  return out
    .split('\0')
    .filter(Boolean)
    .filter((e) => /^[ MADRCU?!]{2} /.test(e))
    .map((e) => e.slice(3));
}

/** A worktree's HEAD commit, dirty paths and how many of them are deletions, in one read-only git call. */
export async function worktreeStatus(dir: string): Promise<{ head: string | undefined; dirty: string[]; deleted: number }> {
  const out = await gitOut(['status', '--porcelain=v2', '-z', '--branch', '--untracked-files=all'], { cwd: dir, readOnly: true });
  let head: string | undefined;
  const dirty: string[] = [];
  let deleted = 0;
  const fields = out.split('\0');
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    if (!f) continue;
    if (f.startsWith('# branch.oid ')) {
      const oid = f.slice('# branch.oid '.length);
      head = /^[0-9a-f]{40}$/.test(oid) ? oid : undefined;
    } else if (f.startsWith('#')) continue;
    else if (f.startsWith('? ') || f.startsWith('! ')) dirty.push(f.slice(2));
    else if (f.startsWith('1 ')) {
      dirty.push(f.split(' ').slice(8).join(' '));
      if (f.slice(2, 4).includes('D')) deleted++;
    }
    else if (f.startsWith('2 ')) {
      dirty.push(f.split(' ').slice(9).join(' '));
      i++; // the rename's original path
    } else if (f.startsWith('u ')) dirty.push(f.split(' ').slice(10).join(' '));
  }
  return { head, dirty, deleted };
}
