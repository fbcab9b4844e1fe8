/**
 * The scheduler, pure: given the graph, every lane's status, the lanes running now and the
 * limit, what happens next. No git, no processes, no clock: the orchestrator applies the
 * decision and asks again whenever a lane ends.
 */
import type { LaneGraph } from '../plan/graph';
import { FINAL_STATUSES, LaneStatus } from './state';

export interface SchedulerLane {
  id: string;
  status: LaneStatus;
  reason?: string;
}

export interface SchedulerInput {
  graph: LaneGraph;
  /** In plan order. */
  lanes: readonly SchedulerLane[];
  /** Lanes whose attempt is under way. */
  active: ReadonlySet<string>;
  maxParallel: number;
  /** The whole run was cancelled: nothing new starts. */
  cancelled: boolean;
  /** Why nothing new may start (the run's budget is spent): waiting lanes end cancelled with it. */
  stopStarting?: string;
  /** Why a lane waits, beyond its dependencies (it sent one back with a finding). */
  waitNotes?: ReadonlyMap<string, string>;
}

export interface Transition {
  lane: string;
  status: LaneStatus;
  reason?: string;
}

export interface Decision {
  /** Status changes for lanes that are not starting (skipped, cancelled, blocked, queued). */
  transitions: Transition[];
  /** Lanes to start now, in plan order. */
  start: string[];
  /** Nothing runs and nothing can start: the run is over. */
  done: boolean;
}

export function schedule(i: SchedulerInput): Decision {
  const byId = new Map(i.lanes.map((l) => [l.id, { ...l }]));
  const transitions: Transition[] = [];
  const set = (id: string, status: LaneStatus, reason?: string) => {
    const l = byId.get(id)!;
    if (l.status === status && l.reason === reason) return;
    l.status = status;
    l.reason = reason;
    transitions.push({ lane: id, status, reason });
  };
  const waiting = (l: SchedulerLane) => !FINAL_STATUSES.has(l.status) && !i.active.has(l.id);

  // Lanes whose dependencies ended without passing can never start; a cancelled run starts nothing.
  // One pass in plan order is enough for chains: a dependency precedes its dependents.
  for (const id of i.graph.topologicalOrder()) {
    const l = byId.get(id);
    if (!l || !waiting(l)) continue;
    const bad = i.graph
      .dependenciesOf(id)
      .map((d) => byId.get(d))
      .find((d) => d && FINAL_STATUSES.has(d.status) && d.status !== 'passed');
    if (bad) set(id, 'skipped', `dependency ${bad.id} ${bad.status}${bad.reason ? `: ${bad.reason}` : ''}`);
    else if (i.cancelled) set(id, 'cancelled', 'the run was cancelled');
    else if (i.stopStarting) set(id, 'cancelled', i.stopStarting);
  }

  const passed = new Set([...byId.values()].filter((l) => l.status === 'passed').map((l) => l.id));
  const ended = new Set([...byId.values()].filter((l) => FINAL_STATUSES.has(l.status)).map((l) => l.id));
  const ready = i.graph.ready(passed, new Set([...i.active, ...ended])).filter((id) => byId.has(id));
  const start: string[] = [];
  if (!i.cancelled && !i.stopStarting) {

    const room = Math.max(0, i.maxParallel - i.active.size);
    start.push(...ready.slice(0, room));
  }

  for (const l of i.lanes) {
    const cur = byId.get(l.id)!;
    if (!waiting(cur) || start.includes(l.id)) continue;
    const missing = i.graph.dependenciesOf(l.id).filter((d) => byId.get(d)?.status !== 'passed');
    const note = i.waitNotes?.get(l.id);
    if (missing.length) set(l.id, 'blocked', `waiting for ${missing.join(', ')}${note ? ` (${note})` : ''}`);
    else set(l.id, 'queued', undefined);
  }
  return { transitions, start, done: i.active.size === 0 && start.length === 0 };
}
