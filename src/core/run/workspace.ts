/**
 * A lane's workspace: its worktree and branch. Creates or reuses the worktree, runs the plan's
 * worktree setup, brings moved dependencies into a lane that runs again, and commits what an
 * agent left behind with the lane's trailers.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { commandArgv, describeCommand } from '../agents/resolve';
import { LanesError } from '../errors';

import { git, gitOut } from '../git/git';
import { mergeHeads } from '../git/merge';
import { ensureWorktree, EnsuredWorktree, worktreeStatus } from '../git/worktrees';
import type { LaneGraph } from '../plan/graph';
import type { Plan } from '../plan/schema';
import { realPathInside } from '../util/fsx';
import { describeExit } from '../util/proc';

import type { LogSink } from './boundedLog';
import type { LaneRunner } from './runner';
import type { SandboxPolicy } from './sandbox';

import type { LaneState } from './state';

const tail = (s: string, n: number) => (s.length > n ? '…' + s.slice(s.length - n) : s);

export interface WorkspaceContext {
  repoRoot: string;
  commonDir: string;
  runId: string;
  baseCommit: string;
  plan: Plan;
  graph: LaneGraph;
  /** git identity for commits Agent Lanes makes when the repository has none. */
  identity: NodeJS.ProcessEnv;
  lane(id: string): LaneState;
}

export class LaneWorkspace {
  constructor(private readonly c: WorkspaceContext) {}

  /** Where a lane starts: the run's base, or the merged verified heads of its dependencies. */
  async startPoint(l: LaneState): Promise<string> {
    const deps = this.c.graph.dependenciesOf(l.id).map((d) => this.c.lane(d));
    if (!deps.length) return this.c.baseCommit;
    return mergeHeads(
      this.c.repoRoot,
      deps.map((d) => ({ label: d.id, commit: d.head! })),
      `lanes: start ${l.id} from ${deps.map((d) => d.id).join(' + ')}`,
      this.c.identity,
    );
  }

  ensure(l: LaneState, startPoint: string, signal?: AbortSignal): Promise<EnsuredWorktree> {
    return ensureWorktree({
      repo: this.c.repoRoot,
      commonDir: this.c.commonDir,
      branch: l.branch,
      dir: l.worktree,
      startPoint,
      lockReason: `agent lanes run ${this.c.runId}`,
      signal,
    });
  }

  /**
   * The plan's worktree.copy and worktree.setup in a new worktree. Returns why it failed, if it
   * did; copies that fail are warnings (the lane may not need them).
   */
  async setup(
    l: LaneState,
    o: { log: LogSink; signal: AbortSignal; env: NodeJS.ProcessEnv; runner: LaneRunner; timeoutMs: number; warn: (m: string) => void; sandbox?: SandboxPolicy },
  ): Promise<string | undefined> {
    const wt = this.c.plan.worktree;
    const root = this.c.repoRoot;
    for (const rel of wt?.copy ?? []) {
      const src = path.resolve(root, rel);
      if (!src.startsWith(root + path.sep)) return `worktree.copy: "${rel}" is outside the repository`;
      const dest = path.join(l.worktree, path.relative(root, src));
      try {
        await fs.mkdir(path.dirname(dest), { recursive: true });
        // Never a link out of the lane: a symlink is copied as its target's content when the
        // target is inside the repository, and refused (with a warning) when it is not.
        const refused: string[] = [];
        await fs.cp(src, dest, {
          recursive: true,
          errorOnExist: false,
          force: true,
          dereference: true,
          filter: async (from) => {
            const st = await fs.lstat(from);
            if (!st.isSymbolicLink() || (await realPathInside(root, path.relative(root, from)))) return true;
            refused.push(path.relative(root, from));
            return false;
          },
        });
        for (const r of refused) o.warn(`worktree.copy: "${r}" is a symlink to ${await fs.readlink(path.join(root, r)).catch(() => '?')}, outside the repository: not copied`);
        o.log.write(`[lanes] copied ${rel}${refused.length ? ` (not ${refused.join(', ')})` : ''}\n`);
      } catch (e) {
        o.warn(`worktree.copy: could not copy "${rel}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    for (const cmd of wt?.setup ?? []) {
      o.log.write(`[lanes] setup: ${describeCommand(cmd)}\n`);
      const r = await o.runner.run({ argv: commandArgv(cmd), cwd: l.worktree, env: o.env, signal: o.signal, timeoutMs: o.timeoutMs, sandbox: o.sandbox, onOutput: (c) => o.log.write(c) });
      if (r.code !== 0) return `setup command \`${describeCommand(cmd)}\` ${describeExit(r)}: ${tail((r.stderr || r.stdout).trim(), 500)}`;
    }
    return undefined;
  }

  /**
   * Merge the current heads of a lane's dependencies into its branch when they moved since the
   * lane started (in the lane's own worktree). Returns the new base for "what this lane did".
   */
  async refreshFromDependencies(l: LaneState): Promise<{ base?: string; problem?: string }> {
    const deps = this.c.graph
      .dependenciesOf(l.id)
      .map((d) => this.c.lane(d))
      .filter((d) => d.head);
    if (!deps.length) return {};
    const cwd = l.worktree;
    const stale: LaneState[] = [];
    for (const d of deps) if (!(await isAncestorIn(cwd, d.head!))) stale.push(d);
    if (!stale.length) return {};
    const r = await git(['merge', '--no-edit', '--no-ff', '-m', `lanes: bring ${stale.map((d) => d.id).join(', ')} up to date in ${l.id}`, ...stale.map((d) => d.head!)], {
      cwd,
      env: this.c.identity,
      okCodes: [1],
      lockRetries: 6,
    });
    if (r.code !== 0) {
      const conflicts = (await gitOut(['diff', '--name-only', '--diff-filter=U'], { cwd, readOnly: true }).catch(() => '')).split('\n').filter(Boolean);
      await git(['merge', '--abort'], { cwd }).catch(() => undefined);
      return { problem: `its dependencies ${stale.map((d) => d.id).join(', ')} changed and now conflict with its work in ${conflicts.join(', ') || 'some files'}` };
    }
    const base = await mergeHeads(
      this.c.repoRoot,
      deps.map((d) => ({ label: d.id, commit: d.head! })),
      `lanes: start ${l.id} from ${deps.map((d) => d.id).join(' + ')}`,
      this.c.identity,
    );
    return { base };
  }

  /**
   * Commit whatever the agent left in the worktree, with trailers naming the lane. Returns the
   * lane's head afterwards when known without another git call.
   */
  async commitLeftovers(l: LaneState, agentName: string, attempt: number): Promise<{ committed: boolean; head?: string }> {
    const cwd = l.worktree;
    // One status pass tells whether anything is left (and the head); `add -A` only runs when something is.
    const st = await worktreeStatus(cwd);
    if (st.dirty.length === 0) return { committed: false, head: st.head };
    await git(['add', '-A', '--sparse'], { cwd, lockRetries: 6 });
    // Never record a mass deletion nobody made: a worktree that lost every tracked file is broken
    // (half-made, emptied by hand), and committing that would delete the repository in an apply.
    // The status pass above already counted deletions: the tree is listed only when there are some.
    if (st.deleted > 0) {
      const tracked = (await gitOut(['ls-tree', '-r', '--name-only', '-z', 'HEAD'], { cwd, readOnly: true })).split('\0').filter(Boolean).length;
      if (st.deleted >= tracked) {
        await git(['reset', '--quiet'], { cwd, lockRetries: 6 });
        throw new WorkspaceError(
          `every tracked file (${tracked}) is gone from the lane's worktree: that is a broken worktree, not the agent's work, so nothing was committed (the branch keeps the lane's commits)`,
          'massDeletion',
        );
      }
    }
    const lane = this.c.plan.lanes.find((x) => x.id === l.id)!;
    const subject = `lanes(${l.id}): ${lane.brief.trim().split('\n')[0]!.slice(0, 60)}`;
    const message = [
      subject,
      '',
      `Work left in the worktree by the ${agentName} agent of lane ${l.id} (attempt ${attempt}), committed by Agent Lanes.`,
      '',
      `Lanes-Lane: ${l.id}`,
      `Lanes-Role: ${lane.role ?? 'implement'}`,
      `Lanes-Agent: ${agentName}`,
      `Lanes-Run: ${this.c.runId}`,
      `Lanes-Attempt: ${attempt}`,
      '',
    ].join('\n');
    await git(['commit', '--quiet', '--no-verify', '-F', '-'], { cwd, input: message, env: this.c.identity, lockRetries: 6 });
    return { committed: true };
  }
}

export class WorkspaceError extends LanesError {
  constructor(
    message: string,
    readonly reason: 'massDeletion',
  ) {
    super(message);
    this.name = 'WorkspaceError';
  }
}

/** Whether `commit` is already in the history of the worktree's HEAD. */
async function isAncestorIn(worktree: string, commit: string): Promise<boolean> {
  const r = await git(['merge-base', '--is-ancestor', commit, 'HEAD'], { cwd: worktree, okCodes: [1], readOnly: true });
  return r.code === 0;
}
