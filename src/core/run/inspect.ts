/**
 * The truth about runs after the fact: a run whose orchestrator died is "interrupted", and each
 * lane that was running is checked: its process still alive (matched by command line) or dead.
 */
import { gitOut } from '../git/git';
import { isGroupAlive } from '../util/proc';
import { matchProcess, ProcessMatch } from '../util/processInfo';
import { ACTIVE_STATUSES, listRuns, readState, RunState, SNAPSHOT_REF_PREFIX, StateError } from './state';

export interface LaneTruth {
  id: string;
  /** For lanes the state says are running: is their agent still alive? */
  process?: ProcessMatch | 'orphans';
}

export interface RunTruth {
  state: RunState;
  /** The status to show: 'interrupted' when the state says running but nobody runs it. */
  status: RunState['status'];
  orchestrator: 'alive' | 'dead' | 'none';
  lanes: LaneTruth[];
}

export function inspectState(state: RunState): RunTruth {
  let orchestrator: RunTruth['orchestrator'] = 'none';
  if (state.orchestrator) orchestrator = matchProcess(state.orchestrator.pid, state.orchestrator.argv, state.orchestrator.startTime) === 'ours' ? 'alive' : 'dead';
  const status = state.status === 'running' && orchestrator !== 'alive' ? 'interrupted' : state.status;
  const lanes = state.lanes.map((l) => {
    if (!ACTIVE_STATUSES.has(l.status) || !l.process) return { id: l.id };
    const m = matchProcess(l.process.pid, l.process.argv, l.process.startTime);
    return { id: l.id, process: m === 'dead' && isGroupAlive(l.process.pid) ? ('orphans' as const) : m };
  });
  return { state, status, orchestrator, lanes };
}

export async function inspectRun(commonDir: string, runId: string): Promise<RunTruth> {
  return inspectState(await readState(commonDir, runId));
}

export interface RunListing {
  runs: RunTruth[];
  /** Runs whose state could not be read (corrupt, newer version): reported, never reset. */
  unreadable: { runId: string; error: string }[];
}

export async function inspectAll(commonDir: string): Promise<RunListing> {
  const out: RunListing = { runs: [], unreadable: [] };
  for (const id of await listRuns(commonDir)) {
    try {
      out.runs.push(await inspectRun(commonDir, id));
    } catch (e) {
      if (e instanceof StateError) out.unreadable.push({ runId: id, error: e.message });
      else throw e;
    }
  }
  return out;
}

export interface SnapshotRef {
  ref: string;
  commit: string;
  date: string;
  subject: string;
}

export async function listSnapshots(repo: string): Promise<SnapshotRef[]> {
  const out = await gitOut(['for-each-ref', '--format=%(refname)%00%(objectname)%00%(creatordate:iso-strict)%00%(subject)', SNAPSHOT_REF_PREFIX], { cwd: repo, readOnly: true });
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [ref, commit, date, subject] = line.split('\0');
      return { ref: ref!, commit: commit!, date: date!, subject: subject ?? '' };
    });
}
