/**
 * The reconcile panel's state logic, pure (no vscode, no DOM): what the panel shows is computed
 * here from the run, the radar and the merge queue, so it is unit-tested in plain Node.
 */
import { describeUsage, sumUsage } from '../core/agents/streams';
import type { FileChange } from '../core/reconcile/diff';
import type { QueueResult } from '../core/reconcile/queue';
import type { OutsideLink } from '../core/reconcile/links';
import type { PairResult } from '../core/reconcile/radar';
import { displayPath } from '../core/util/bytePath';
import { Budget, laneSpending } from '../core/run/budget';
import type { RunState } from '../core/run/state';

function spendingOf(l: RunState['lanes'][number], budget: Budget | undefined): { used?: string; budget?: string } {
  const s = laneSpending(l, budget);
  return { ...(s.used ? { used: s.used } : {}), ...(s.budget ? { budget: s.budget } : {}) };
}

import type { FindingView, LaneView, LoopBackView, PairView, PanelState, QueueView } from './protocol';

export interface PanelInput {
  folder: string;
  run: RunState;
  goal: string;
  roles: Record<string, string>;
  files: Record<string, FileChange[]>;
  pairs: PairResult[];
  /** Each lane's files changed outside its declared scope. */
  outOfScope?: Record<string, string[]>;
  /** Each lane's symlinks pointing outside the repository. */
  outsideLinks?: Record<string, OutsideLink[]>;
  /** Lanes the user took out (rejected or unticked); every other mergeable lane is accepted. */
  excluded: ReadonlySet<string>;
  queue?: QueueView;
  lastApply?: PanelState['lastApply'];
  busy?: string;
  /** Each lane's budget (lane, else the plan's defaults). */
  budgets?: Record<string, Budget | undefined>;
  /** The run's findings with a person's decisions applied, as views (the host builds them). */
  findings?: FindingView[];
  loopBacks?: LoopBackView[];
}

export function isMergeable(l: RunState['lanes'][number]): boolean {
  return l.status === 'passed' && !!l.head && !!l.base && l.head !== l.base;
}

export function buildPanelState(i: PanelInput): PanelState {
  const lanes: LaneView[] = i.run.lanes.map((l) => {
    const last = l.attempts[l.attempts.length - 1];
    const mergeable = isMergeable(l);
    const blockedBy = (i.findings ?? []).filter((f) => f.to === l.id && f.outstanding).map((f) => f.id);
    return {
      id: l.id,
      role: i.roles[l.id] ?? 'implement',
      status: l.status,
      reason: l.reason,
      attempts: l.attempts.length,
      verify: last?.verify ? { command: last.verify.command, passed: last.verify.passed } : undefined,
      files: (i.files[l.id] ?? []).map((f) => ({ path: f.path, oldPath: f.oldPath, kind: f.kind, added: f.added, removed: f.removed, binary: f.binary })),
      accepted: mergeable && !i.excluded.has(l.id),
      outsideLinks: i.outsideLinks?.[l.id]?.map((x) => ({ path: displayPath(x.path), target: x.target })),
      ...(i.outOfScope?.[l.id] ? { outOfScope: i.outOfScope[l.id] } : {}),
      mergeable,
      ...(blockedBy.length ? { blockedBy } : {}),
      ...spendingOf(l, i.budgets?.[l.id]),
    };
  });
  const pairs: PairView[] = i.pairs.map((p) => ({ a: p.a, b: p.b, kind: p.kind, files: p.files, ...(p.outOfScope ? { outOfScope: p.outOfScope } : {}), ...(p.inheritedBy ? { inheritedBy: p.inheritedBy } : {}) }));
  const used = i.run.lanes.flatMap((l) => l.attempts.map((a) => a.usage));
  const spend = used.some(Boolean) ? describeUsage(sumUsage(used)) : undefined;
  return { folder: i.folder, runId: i.run.runId, goal: i.goal, lanes, pairs, queue: i.queue, lastApply: i.lastApply, busy: i.busy, spend, findings: i.findings ?? [], loopBacks: i.loopBacks ?? [] };
}

export function queueView(r: QueueResult): QueueView {
  const culpritRound = [...r.rounds].reverse().find((x) => x.culprit);
  return {
    running: false,
    merged: r.merged,
    held: r.held.map((h) => ({ lane: h.lane, reason: h.reason })),
    verify: r.verify ? { command: r.verify.command, passed: r.verify.passed, exit: r.verify.exit, outputTail: r.verify.outputTail } : undefined,
    culprit: culpritRound?.culprit
      ? {
          lane: culpritRound.culprit.lane,
          outputTail: culpritRound.culprit.verify.outputTail,
          probes: culpritRound.culprit.probes,
          ...(culpritRound.culprit.blame && culpritRound.culprit.blame.lane !== culpritRound.culprit.lane ? { blamed: culpritRound.culprit.blame.lane } : {}),
          ...(culpritRound.culprit.decision ? { decision: culpritRound.culprit.decision.slice(0, 4000) } : {}),
        }
      : undefined,
    sentBack: r.sentBack,
    head: r.head,
    passed: r.passed,
  };
}

export interface MatrixCell {
  kind: 'conflict' | 'hotspot';
  files: string[];
}

/** The radar as a lane-by-lane matrix (symmetric; the diagonal is empty). */
export function radarMatrix(lanes: readonly string[], pairs: readonly PairView[]): (MatrixCell | undefined)[][] {
  const index = new Map(lanes.map((l, k) => [l, k]));
  const m: (MatrixCell | undefined)[][] = lanes.map(() => lanes.map(() => undefined));
  for (const p of pairs) {
    const a = index.get(p.a);
    const b = index.get(p.b);
    if (a === undefined || b === undefined) continue;
    const cell = { kind: p.kind, files: p.files };
    // A conflict outranks a hot spot for the same pair.
    if (!m[a]![b] || p.kind === 'conflict') {
      m[a]![b] = cell;
      m[b]![a] = cell;
    }
  }
  return m;
}

/** Accepted lanes, in run order: what the merge queue and an apply take. */
export function acceptedLanes(state: PanelState): string[] {
  return state.lanes.filter((l) => l.accepted).map((l) => l.id);
}
