/**
 * Cleaning up finished runs without ever losing work:
 *  - a worktree with uncommitted changes is kept, unless forced; forced, its state is first
 *    saved to a snapshot ref (refs/lanes/snapshots/...);
 *  - a lane branch with commits that no other branch or tag holds is kept, unless forced;
 *    forced, its head is first saved to a snapshot ref;
 *  - an agent still running in a worktree is stopped first (only if its PID still runs the
 *    command line we recorded).
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { git, gitOut } from '../git/git';
import { branchHead, dirtyPaths, listWorktrees, unlockWorktree } from '../git/worktrees';
import { mutexFor } from '../util/mutex';
import { stopRecorded } from '../util/processInfo';
import { inspectState } from './inspect';
import { BusyError } from '../errors';
import { listRuns, RunState, SNAPSHOT_REF_PREFIX } from './state';
import { RunLease, RunStore } from './store';

export interface CleanAction {
  runId: string;
  lane?: string;
  action: 'removed' | 'kept' | 'skipped';
  detail: string;
  snapshot?: string;
}

export interface CleanOptions {
  repo: string;
  commonDir: string;
  force?: boolean;
  runIds?: string[];
}

/** Commits on `branch` that no ref outside Agent Lanes' own holds. */
export async function unmergedCount(repo: string, branch: string): Promise<number> {
  const out = await gitOut(
    ['rev-list', '--count', `refs/heads/${branch}`, '--not', '--exclude=refs/heads/lanes/*', '--exclude=refs/lanes/*', '--exclude=refs/stash', '--all'],
    { cwd: repo, readOnly: true },
  );
  return Number(out.trim());
}

/** Save a worktree's uncommitted state (tracked and untracked) as a commit, without touching it. */
export async function snapshotWorktree(dir: string, message: string): Promise<string> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'lanes-snap-'));
  const env = { GIT_INDEX_FILE: path.join(tmp, 'index') };
  try {
    await git(['read-tree', 'HEAD'], { cwd: dir, env });
    await git(['add', '-A', '--sparse'], { cwd: dir, env });
    const tree = await gitOut(['write-tree'], { cwd: dir, env });
    const identity = { GIT_AUTHOR_NAME: 'Agent Lanes', GIT_AUTHOR_EMAIL: 'lanes@agent-lanes.invalid', GIT_COMMITTER_NAME: 'Agent Lanes', GIT_COMMITTER_EMAIL: 'lanes@agent-lanes.invalid' };
    return await gitOut(['commit-tree', tree, '-p', 'HEAD', '-F', '-'], { cwd: dir, input: message, env: identity });
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

function snapshotRefName(runId: string, lane: string, what: string): string {
  return `${SNAPSHOT_REF_PREFIX}${runId}/${lane}-${what}-${Date.now()}`;
}

export async function cleanRuns(o: CleanOptions): Promise<CleanAction[]> {
  const actions: CleanAction[] = [];
  const ids = o.runIds?.length ? o.runIds : await listRuns(o.commonDir);
  const worktrees = await listWorktrees(o.repo);
  const store = new RunStore(o.commonDir);
  for (const runId of ids) {
    // Cleaning a run makes this process its one writer: a run that is active (or being resumed,
    // or cleaned by another process) is left alone, and nothing can resume it meanwhile.
    let lease: RunLease;
    try {
      lease = await store.claim(runId, 'clean');
    } catch (e) {
      if (e instanceof BusyError) {
        const by = e.owner ? ` (${e.owner.command}, pid ${e.owner.pid})` : '';
        actions.push({ runId, action: 'skipped', detail: `the run is still active${by}; it is left as it is` });
        continue;
      }
      throw e;
    }
    try {
      await cleanRun(o, runId, lease, worktrees, actions);
    } finally {
      await lease.release();
    }
  }
  return actions;
}

async function cleanRun(o: CleanOptions, runId: string, lease: RunLease, worktrees: Awaited<ReturnType<typeof listWorktrees>>, actions: CleanAction[]): Promise<void> {
  {
    let state: RunState;
    try {
      state = await lease.store.read(runId);
    } catch (e) {
      actions.push({ runId, action: 'skipped', detail: (e as Error).message });
      return;
    }
    if (state.cleaned) return;
    const truth = inspectState(state);
    if (truth.orchestrator === 'alive') {
      actions.push({ runId, action: 'skipped', detail: `the run is still active (pid ${state.orchestrator!.pid}); stop it first` });
      return;
    }
    let allGone = true;
    for (const l of state.lanes) {
      // Stop an agent still running in this worktree before anything is removed.
      if (l.process) {
        const found = await stopRecorded(l.process.pid, l.process.argv, l.process.startTime);
        if (found === 'ours') actions.push({ runId, lane: l.id, action: 'removed', detail: `stopped its agent (pid ${l.process.pid})` });
        l.process = undefined;
      }
      const wt = worktrees.find((w) => path.resolve(w.path) === path.resolve(l.worktree));
      const folderExists = await fs.stat(l.worktree).then(() => true, () => false);
      let snapshot: string | undefined;

      if (wt && folderExists) {
        const dirty = await dirtyPaths(l.worktree);
        if (dirty.length && !o.force) {
          actions.push({ runId, lane: l.id, action: 'kept', detail: `worktree ${l.worktree} has ${dirty.length} uncommitted change(s); use --force to save them to a snapshot ref and remove it` });
          allGone = false;
          continue;
        }
        if (dirty.length) {
          const commit = await snapshotWorktree(l.worktree, `lanes: snapshot of uncommitted work in lane ${l.id} (run ${runId}) before a forced clean\n`);
          snapshot = snapshotRefName(runId, l.id, 'worktree');
          await git(['update-ref', snapshot, commit, ''], { cwd: o.repo, lockRetries: 6 });
        }
        await mutexFor(o.commonDir).run(async () => {
          await unlockWorktree(o.repo, l.worktree);
          await git(['worktree', 'remove', ...(dirty.length ? ['--force'] : []), l.worktree], { cwd: o.repo, lockRetries: 6 });
        });
      } else if (wt) {
        // Registered but the folder is gone: forget the registration; the branch keeps the commits.
        await mutexFor(o.commonDir).run(async () => {
          await unlockWorktree(o.repo, l.worktree);
          await git(['worktree', 'prune'], { cwd: o.repo, lockRetries: 6 });
        });
      }

      const head = await branchHead(o.repo, l.branch);
      if (head) {
        const unmerged = await unmergedCount(o.repo, l.branch);
        if (unmerged > 0 && !o.force) {
          actions.push({
            runId,
            lane: l.id,
            action: 'kept',
            detail: `worktree removed; branch ${l.branch} kept: ${unmerged} commit(s) not merged anywhere (use --force to save them to a snapshot ref and delete the branch)`,
            snapshot,
          });
          allGone = false;
          continue;
        }
        if (unmerged > 0) {
          const ref = snapshotRefName(runId, l.id, 'branch');
          await git(['update-ref', ref, head, ''], { cwd: o.repo, lockRetries: 6 });
          snapshot = snapshot ? `${snapshot}, ${ref}` : ref;
        }
        // Compare-and-swap: delete only if the branch still points where we looked.
        await git(['update-ref', '-d', `refs/heads/${l.branch}`, head], { cwd: o.repo, lockRetries: 6 });
      }
      actions.push({ runId, lane: l.id, action: 'removed', detail: `removed worktree and branch ${l.branch}`, snapshot });
    }
    if (allGone) {
      state.cleaned = true;
      // Only an empty folder is removed: never a recursive delete of anything a lane may own.
      await fs.rmdir(path.join(state.worktreeRoot, runId)).catch(() => undefined);
    }
    await lease.save(state);
  }
}

/**
 * Discard one lane's work explicitly (the panel's "reject"): its head and any uncommitted work
 * are first saved to snapshot refs, then its worktree and branch are removed.
 */
export async function discardLane(o: { repo: string; commonDir: string; runId: string; lane: string }): Promise<CleanAction> {
  const lease = await new RunStore(o.commonDir).claim(o.runId, `discard ${o.lane}`);
  try {
    return await discardWithLease(o, lease);
  } finally {
    await lease.release();
  }
}

async function discardWithLease(o: { repo: string; commonDir: string; runId: string; lane: string }, lease: RunLease): Promise<CleanAction> {
  const state = await lease.store.read(o.runId);
  const l = state.lanes.find((x) => x.id === o.lane);
  if (!l) throw new Error(`run ${o.runId} has no lane "${o.lane}"`);
  if (inspectState(state).orchestrator === 'alive' && !['passed', 'failed', 'timed-out', 'cancelled', 'skipped'].includes(l.status)) {
    throw new Error(`lane ${o.lane} is still running; stop it first`);
  }
  const saved: string[] = [];
  if (await fs.stat(l.worktree).then(() => true, () => false)) {
    if ((await dirtyPaths(l.worktree)).length) {
      const commit = await snapshotWorktree(l.worktree, `lanes: snapshot of uncommitted work in lane ${l.id} (run ${o.runId}) before discard\n`);
      const ref = snapshotRefName(o.runId, l.id, 'worktree');
      await git(['update-ref', ref, commit, ''], { cwd: o.repo, lockRetries: 6 });
      saved.push(ref);
    }
    await mutexFor(o.commonDir).run(async () => {
      await unlockWorktree(o.repo, l.worktree);
      await git(['worktree', 'remove', '--force', l.worktree], { cwd: o.repo, lockRetries: 6 });
    });
  }
  const head = await branchHead(o.repo, l.branch);
  if (head) {
    const ref = snapshotRefName(o.runId, l.id, 'branch');
    await git(['update-ref', ref, head, ''], { cwd: o.repo, lockRetries: 6 });
    saved.push(ref);
    await git(['update-ref', '-d', `refs/heads/${l.branch}`, head], { cwd: o.repo, lockRetries: 6 });
  }
  l.warnings.push(`discarded; saved to ${saved.join(', ') || '(nothing to save)'}`);
  l.status = l.status === 'passed' ? 'cancelled' : l.status;
  l.reason = 'discarded by the user';
  await lease.save(state);
  return { runId: o.runId, lane: l.id, action: 'removed', detail: `discarded ${l.branch}`, snapshot: saved.join(', ') || undefined };
}
