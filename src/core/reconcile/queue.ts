/**
 * The gated merge queue. Passed lanes are merged one by one onto an integration branch, in
 * dependency order then plan order, with merge-tree + commit-tree (nothing in the user's folder
 * is checked out). A lane that conflicts with what is already integrated is held back with the
 * files; the rest go on. Then the plan's integration `verify` runs on the result, in a worktree
 * of the queue's own. When it fails, the queue bisects over the merge order to find the lane
 * whose merge broke it, takes that lane out (with the lanes built on it), keeps the others, and
 * can send the breaking lane back to its agent with the failure; it loops until the integration
 * passes or nothing more can be merged.
 */
import * as path from 'node:path';
import { commandArgv, describeCommand } from '../agents/resolve';
import { git, gitOut } from '../git/git';
import { trialMerge } from '../git/merge';
import { ensureWorktree } from '../git/worktrees';
import { LaneGraph } from '../plan/graph';
import type { Plan } from '../plan/schema';
import { cleanEnv, describeExit, run } from '../util/proc';
import type { LaneState, RunState } from '../run/state';
import { type FindingRecord, isOutstanding, possessive } from '../run/findings';
import { blameFromEvidence, BlameEvidence } from './blame';

export interface MergeStep {
  lane: string;
  /** The integration commit after this lane was merged. */
  commit: string;
}

export interface HeldLane {
  lane: string;
  reason: string;
  files?: string[];
}

export interface IntegrationVerify {
  command: string;
  commit: string;
  passed: boolean;
  exit: string;
  outputTail: string;
  durationMs: number;
}

export interface QueueRound {
  merged: string[];
  held: HeldLane[];
  head: string;
  verify?: IntegrationVerify;
  /** The lane whose merge broke the integration check, found by bisecting the merge order. */
  culprit?: { lane: string; verify: IntegrationVerify; probes: number; blame?: BlameEvidence; decision?: string };
}

export interface QueueResult {
  branch: string;
  head: string;
  merged: string[];
  held: HeldLane[];
  verify?: IntegrationVerify;
  rounds: QueueRound[];
  /** Lanes sent back to their agents with the failure, and what came of it. */
  sentBack: { lane: string; result: string }[];
  passed: boolean;
}

export interface QueueOptions {
  repo: string;
  commonDir: string;
  state: RunState;
  plan: Plan;
  /** Only these lanes (default: every passed lane). */
  lanes?: string[];
  signal?: AbortSignal;
  identity?: NodeJS.ProcessEnv;
  onProgress?: (message: string) => void;
  /**
   * Re-run a lane with feedback (failing output, integrated base). Resolves with the lane's new
   * state; the queue takes it back when it passed again.
   */
  sendBack?: (lane: string, feedback: string, finding?: Omit<FindingRecord, 'id' | 'at' | 'status' | 'history'>) => Promise<LaneState>;
  /** The run's findings (with a person's decisions): a lane with an outstanding blocking one is held. */
  findings?: readonly FindingRecord[];
}

/** Every branch of a run with its tip, in one git call. */
async function laneTips(repo: string, runId: string): Promise<Map<string, string>> {
  const out = await gitOut(['for-each-ref', '--format=%(refname:strip=2) %(objectname)', `refs/heads/lanes/${runId}/`], { cwd: repo, readOnly: true });
  return new Map(out.split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
}

export function integrationBranch(runId: string): string {
  return `lanes-integration/${runId}`;
}

const tail = (s: string, n: number) => (s.length > n ? '…' + s.slice(s.length - n) : s);

export class MergeQueue {
  private readonly graph: LaneGraph;
  private worktree?: string;
  private readonly verifyCache = new Map<string, IntegrationVerify>();

  constructor(private readonly o: QueueOptions) {
    this.graph = new LaneGraph(o.state.lanes.map((l) => ({ id: l.id, dependsOn: o.plan.lanes.find((p) => p.id === l.id)?.dependsOn })));
  }

  private lane(id: string): LaneState {
    return this.o.state.lanes.find((l) => l.id === id)!;
  }

  /** Merge `ids` (in order) onto the run's base; conflicts and lanes built on held ones are held. */
  async build(ids: readonly string[]): Promise<{ steps: MergeStep[]; held: HeldLane[]; head: string }> {
    let cur = this.o.state.baseCommit;
    const mergedHeads = new Set<string>([cur]);
    const steps: MergeStep[] = [];
    const held: HeldLane[] = [];
    const tips = await laneTips(this.o.repo, this.o.state.runId);
    for (const id of ids) {
      const l = this.lane(id);
      const blocked = this.graph.dependenciesOf(id).find((d) => held.some((h) => h.lane === d) || !ids.includes(d));
      if (blocked) {
        held.push({ lane: id, reason: `depends on ${blocked}, which is not integrated` });
        continue;
      }
      // Never merge blind: the branch must still be where the lane left it.
      const tip = tips.get(l.branch);
      if (tip && tip !== l.head) {
        held.push({ lane: id, reason: `branch ${l.branch} moved since the lane finished (recorded ${l.head!.slice(0, 10)}, now ${tip.slice(0, 10)}); check it, then run the lane again` });
        continue;
      }
      if (mergedHeads.has(l.head!)) {
        steps.push({ lane: id, commit: cur }); // nothing new (no changes, or the same head as a merged lane)
        continue;
      }
      const m = await trialMerge(this.o.repo, cur, l.head!, this.o.signal);
      if (!m.clean) {
        held.push({ lane: id, reason: `conflicts with the lanes merged before it in ${m.conflicts.join(', ')}`, files: m.conflicts });
        continue;
      }
      const role = this.o.plan.lanes.find((p) => p.id === id)?.role ?? 'implement';
      const message = `lanes: integrate ${id}\n\nLanes-Merged-Lane: ${id}\nLanes-Role: ${role}\nLanes-Run: ${this.o.state.runId}\nLanes-Lane-Head: ${l.head}\n`;
      cur = await gitOut(['commit-tree', m.tree, '-p', cur, '-p', l.head!, '-F', '-'], { cwd: this.o.repo, input: message, env: this.o.identity });
      mergedHeads.add(l.head!);
      steps.push({ lane: id, commit: cur });
    }
    return { steps, held, head: cur };
  }

  private async ensureIntegrationWorktree(at: string): Promise<string> {
    if (!this.worktree) {
      const dir = path.join(this.o.state.worktreeRoot, this.o.state.runId, '.integration');
      await ensureWorktree({
        repo: this.o.repo,
        commonDir: this.o.commonDir,
        branch: integrationBranch(this.o.state.runId),
        dir,
        startPoint: at,
        lockReason: `agent lanes merge queue ${this.o.state.runId}`,
      });
      this.worktree = dir;
    }
    // The integration worktree belongs to the queue alone: moving it is safe.
    await git(['checkout', '--quiet', '--force', '-B', integrationBranch(this.o.state.runId), at], { cwd: this.worktree, lockRetries: 6 });
    return this.worktree;
  }

  async verifyAt(commit: string): Promise<IntegrationVerify> {
    const cached = this.verifyCache.get(commit);
    if (cached) return cached;
    const cmd = this.o.plan.verify!;
    const dir = await this.ensureIntegrationWorktree(commit);
    this.o.onProgress?.(`verify ${describeCommand(cmd)} at ${commit.slice(0, 10)}`);
    const r = await run(commandArgv(cmd), { cwd: dir, env: cleanEnv({ LANES_RUN: this.o.state.runId, LANES_INTEGRATION: '1' }), signal: this.o.signal });
    const v: IntegrationVerify = {
      command: describeCommand(cmd),
      commit,
      passed: r.code === 0 && !r.timedOut && !r.cancelled,
      exit: describeExit(r),
      outputTail: tail(r.stdout + r.stderr, 4000),
      durationMs: r.durationMs,
    };
    this.verifyCache.set(commit, v);
    return v;
  }

  /**
   * The first merge step whose result fails verify (the result after every step fails; the
   * base is checked only when the first step is the suspect). Binary search, like a merge queue.
   */
  async bisect(steps: MergeStep[]): Promise<{ index: number; verify: IntegrationVerify; probes: number } | undefined> {
    let lo = 0; // steps[lo-1] known good (or the base when lo = 0)
    let hi = steps.length - 1; // steps[hi] known bad
    let probes = 0;
    let badVerify = this.verifyCache.get(steps[hi]!.commit)!;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      probes++;
      const v = await this.verifyAt(steps[mid]!.commit);
      if (v.passed) lo = mid + 1;
      else {
        hi = mid;
        badVerify = v;
      }
    }
    if (hi === 0) {
      probes++;
      const baseV = await this.verifyAt(this.o.state.baseCommit);
      if (!baseV.passed) return undefined; // broken before any lane
    }
    return { index: hi, verify: badVerify, probes };
  }

  async run(): Promise<QueueResult> {
    const passed = this.o.state.lanes.filter((l) => l.status === 'passed' && l.head);
    const wanted = this.o.lanes?.length ? new Set(this.o.lanes) : undefined;
    const order = this.graph.topologicalOrder().filter((id) => passed.some((l) => l.id === id) && (!wanted || wanted.has(id)));
    const heldAlways: HeldLane[] = this.o.state.lanes
      .filter((l) => (!wanted || wanted.has(l.id)) && !passed.includes(l))
      .map((l) => ({ lane: l.id, reason: `did not pass (${l.status}${l.reason ? `: ${l.reason.split('\n')[0]}` : ''})` }));
    // A lane with a blocking finding not yet addressed (a review that requested changes, a bug a
    // test lane found) waits until it is, or until a person dismisses it.
    const outstanding = (this.o.findings ?? []).filter(isOutstanding);
    for (const id of [...order]) {
      const f = outstanding.find((x) => x.to === id);
      if (!f) continue;
      order.splice(order.indexOf(id), 1);
      const what = f.kind === 'changes' ? `${possessive(f.from)} review requested changes` : `${f.from} found a blocking problem`;
      heldAlways.push({ lane: id, reason: `${what}: ${f.title} (${f.id}, ${f.status}); it is integrated once that is addressed, or dismiss ${f.id} to integrate it anyway (lanes finding dismiss ${f.id})` });
    }
    let candidates = [...order];
    const removed: HeldLane[] = [];
    const rounds: QueueRound[] = [];
    const sentBack: QueueResult['sentBack'] = [];
    const sendBacks = new Map<string, number>();
    for (;;) {
      const { steps, held, head } = await this.build(candidates);
      const round: QueueRound = { merged: steps.map((s) => s.lane), held, head };
      rounds.push(round);
      this.o.onProgress?.(`merged ${round.merged.join(', ') || 'nothing'}${held.length ? `; held back ${held.map((h) => h.lane).join(', ')}` : ''}`);
      if (!this.o.plan.verify || steps.length === 0) {
        return this.finish(head, steps, [...heldAlways, ...removed, ...held], round, rounds, sentBack);
      }
      round.verify = await this.verifyAt(head);
      if (round.verify.passed) return this.finish(head, steps, [...heldAlways, ...removed, ...held], round, rounds, sentBack);
      const found = await this.bisect(steps);
      if (!found) {
        removed.push(...steps.map((s) => ({ lane: s.lane, reason: `not integrated: the integration check fails on the base itself (${round.verify!.exit})` })));
        return this.finish(this.o.state.baseCommit, [], [...heldAlways, ...removed, ...held], round, rounds, sentBack);
      }
      const culprit = steps[found.index]!.lane;
      // Before sending anyone back, look at what failed: a test lane whose new tests exercise
      // another lane's code found that lane's bug.
      const blame = await blameFromEvidence({
        repo: this.o.repo,
        state: this.o.state,
        dependsOn: (id) => this.graph.dependenciesOf(id),
        commit: found.verify.commit,
        output: found.verify.outputTail,
        roots: this.worktree ? [this.worktree] : [],
        culprit,
        integrated: steps.slice(0, found.index).map((s) => s.lane),
      }).catch(() => undefined);
      const target = blame?.lane ?? culprit;
      const keep = blame ? culprit : undefined;
      round.culprit = {
        lane: culprit,
        verify: found.verify,
        probes: found.probes,
        blame,
        decision: blame ? `blamed ${blame.lane}: ${blame.reason}` : `${culprit} is at fault: the failing output names no test of its own that runs another integrated lane's code`,
      };
      this.o.onProgress?.(`the merge of ${culprit} breaks ${found.verify.command} (found in ${found.probes} probe(s))${blame ? `; on the evidence, ${blame.lane} is at fault` : ''}`);
      const dependents = [...this.graph.descendants(target)].filter((d) => candidates.includes(d) && d !== keep);
      candidates = candidates.filter((c) => c !== target && !dependents.includes(c));
      const targetIndex = steps.findIndex((s) => s.lane === target);
      const good = targetIndex > 0 ? steps[targetIndex - 1]!.commit : this.o.state.baseCommit;
      const used = sendBacks.get(target) ?? 0;
      const retries = this.o.plan.lanes.find((p) => p.id === target)?.retries ?? this.o.plan.defaults?.retries ?? 0;
      if (this.o.sendBack && used < retries) {
        sendBacks.set(target, used + 1);
        const finding = blame
          ? {
              from: culprit,
              to: target,
              kind: 'bug' as const,
              title: `${found.verify.command} fails on the integration: ${blame.failing.map((p) => `${p.file}${p.line ? `:${p.line}` : ''}`).join(', ')}`,
              details: `The merge queue's integration check failed once ${culprit} was merged; ${blame.reason}.`,
              blocking: true,
              evidence: { command: found.verify.command, output: found.verify.outputTail, files: [...blame.failing, ...blame.exercised].map((p) => `${p.file}${p.line ? `:${p.line}` : ''}`) },
              source: 'merge-queue' as const,
            }
          : undefined;
        const feedback = blame
          ? [
              `The merge queue integrated the lanes, and the integration check \`${found.verify.command}\` failed (${found.verify.exit}) once lane \`${culprit}\` was merged: ${blame.reason}.`,
              `Fix your code so that ${culprit}'s tests pass; do not change ${culprit}'s tests. ${culprit}'s work is at commit ${this.lane(culprit).head} (\`git show ${this.lane(culprit).head} --stat\`; \`git merge ${this.lane(culprit).head}\` brings its tests into your worktree to run them).`,
              '',
              'Output of the failing check:',
              '```',
              found.verify.outputTail,
              '```',
            ].join('\n')
          : [
              `The merge queue integrated your lane with the others, and the integration check \`${found.verify.command}\` failed (${found.verify.exit}) once your work was merged.`,
              `The integrated work before yours passed at commit ${good} (run \`git log ${this.o.state.baseCommit}..${good}\` to see it; \`git merge ${good}\` brings it into your worktree).`,
              '',
              'Output of the failing check:',
              '```',
              found.verify.outputTail,
              '```',
            ].join('\n');
        this.o.onProgress?.(`sending ${target} back to its agent with the failure`);
        const after = await this.o.sendBack(target, feedback, finding);
        sentBack.push({ lane: target, result: after.status });
        if (after.status === 'passed') {
          Object.assign(this.lane(target), after);
          // Lanes built on the target's earlier work run again on top of its new work (the engine
          // merges it into their branches first); the ones that pass go back into the queue. A
          // test lane whose evidence blamed it is kept as it is.
          const back = new Set([target, ...(keep ? [keep] : [])]);
          for (const d of this.graph.topologicalOrder().filter((id) => dependents.includes(id))) {
            if (![...this.graph.dependenciesOf(d)].every((x) => back.has(x) || candidates.includes(x))) {
              removed.push({ lane: d, reason: `built on lanes that are not integrated` });
              continue;
            }
            this.o.onProgress?.(`re-running ${d} on top of ${target}'s new work`);
            const again = await this.o.sendBack(
              d,
              `Lane ${target}, which this lane builds on, was changed to fix the integration check; its new work is merged into your worktree. Check that your work still fits it.`,
            );
            sentBack.push({ lane: d, result: again.status });
            if (again.status === 'passed') {
              Object.assign(this.lane(d), again);
              back.add(d);
            } else removed.push({ lane: d, reason: `built on ${target}, which was re-run; running it again on top did not pass (${again.status})` });
          }
          candidates = this.graph.topologicalOrder().filter((id) => back.has(id) || candidates.includes(id));
          continue;
        }
      }
      removed.push({
        lane: target,
        reason: blame ? `${culprit}'s tests fail on its code (${found.verify.command}, ${found.verify.exit}): ${blame.reason.split(':')[0]}` : `its merge breaks the integration check ${found.verify.command} (${found.verify.exit})`,
      });
      for (const d of dependents) removed.push({ lane: d, reason: `built on ${target}, whose work breaks the integration check` });
    }
  }

  private async finish(head: string, steps: MergeStep[], held: HeldLane[], round: QueueRound, rounds: QueueRound[], sentBack: QueueResult['sentBack']): Promise<QueueResult> {
    const branch = integrationBranch(this.o.state.runId);
    await git(['update-ref', `refs/heads/${branch}`, head], { cwd: this.o.repo, lockRetries: 6 });
    if (this.worktree) await git(['checkout', '--quiet', '--force', branch], { cwd: this.worktree, lockRetries: 6 }).catch(() => undefined);
    const seen = new Set<string>();
    const uniqueHeld = held.filter((h) => !seen.has(h.lane) && seen.add(h.lane));
    return {
      branch,
      head,
      merged: steps.map((s) => s.lane),
      held: uniqueHeld,
      verify: round.verify,
      rounds,
      sentBack,
      passed: (round.verify?.passed ?? true) && steps.length > 0,
    };
  }
}
