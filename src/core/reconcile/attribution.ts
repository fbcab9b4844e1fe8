/**
 * Attribution: which lanes changed each file, and which lane every line of the integrated
 * result came from. Lane commits are recognised by their Lanes-Lane trailer, or, for commits an
 * agent made itself, by being on that lane's branch and not on the lanes it builds on.
 */
import { gitOut } from '../git/git';
import { LaneGraph } from '../plan/graph';
import type { RunState } from '../run/state';

export interface LineRange {
  lane: string | undefined; // undefined: the line predates the run (or the merge made it)
  startLine: number;
  endLine: number;
  commit: string;
}

/** commit id -> lane id, for every commit the run's lanes produced. */
export async function laneCommits(repo: string, state: RunState, dependsOn: (id: string) => readonly string[]): Promise<Map<string, string>> {
  const graph = new LaneGraph(state.lanes.map((l) => ({ id: l.id, dependsOn: dependsOn(l.id) })));
  const map = new Map<string, string>();
  for (const id of graph.topologicalOrder()) {
    const l = state.lanes.find((x) => x.id === id)!;
    if (!l.head) continue;
    const exclude = [state.baseCommit, ...graph.dependenciesOf(id).map((d) => state.lanes.find((x) => x.id === d)?.head).filter((h): h is string => !!h)];
    const out = await gitOut(['log', '--format=%H%x00%(trailers:key=Lanes-Lane,valueonly,separator=%x2C)', l.head, ...exclude.map((e) => `^${e}`)], { cwd: repo, readOnly: true });
    for (const line of out.split('\n').filter(Boolean)) {
      const [commit, trailer] = line.split('\0');
      if (!map.has(commit!)) map.set(commit!, trailer?.trim() || id);
    }
  }
  return map;
}

/** Which lane wrote each line of `file` at `commit` (e.g. the integration head). */
export async function attributeLines(repo: string, state: RunState, commit: string, file: string, dependsOn: (id: string) => readonly string[]): Promise<LineRange[]> {
  const commits = await laneCommits(repo, state, dependsOn);
  const out = await gitOut(['blame', '--porcelain', commit, '--', file], { cwd: repo, readOnly: true });
  const ranges: LineRange[] = [];
  for (const line of out.split('\n')) {
    const m = /^([0-9a-f]{40}) \d+ (\d+)(?: (\d+))?$/.exec(line);
    if (!m) continue;
    const sha = m[1]!;
    const lineNo = Number(m[2]);
    const lane = commits.get(sha);
    const last = ranges[ranges.length - 1];
    if (last && last.lane === lane && last.endLine === lineNo - 1) {
      last.endLine = lineNo;
      if (last.lane === undefined && last.commit !== sha) last.commit = sha;
    } else ranges.push({ lane, startLine: lineNo, endLine: lineNo, commit: sha });
  }
  return ranges;
}
