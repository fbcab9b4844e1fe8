/**
 * Conflict radar: before anything is merged, trial-merge every pair of lane heads with
 * `git merge-tree --write-tree` (no working tree or index touched; its exit status decides).
 * Reports pairs that conflict, with the files, and "hot spots": files both lanes changed that
 * merge cleanly but deserve a look.
 *
 * Pairs whose lanes started from the same base and changed disjoint paths (no shared path and
 * no file/folder prefix between them) cannot conflict, so they are not trial-merged; every
 * other pair is.
 */
import { gitPaths } from '../git/git';
import { matchesAny } from '../plan/glob';
import { isAncestor, trialMerge } from '../git/merge';
import { changedFiles, FileChange, touchedPaths } from './diff';
import { OutsideLink, outsideLinks } from './links';

export interface RadarLane {
  id: string;
  base: string;
  head: string;
  /** The lane's declared scope (globs); files it changed outside them are scope violations. */
  scope?: readonly string[];
  /** Lanes it builds on (transitively): a conflict it inherits from one of them is reported there. */
  ancestors?: readonly string[];
}

export interface PairResult {
  a: string;
  b: string;
  /** conflict: the trial merge failed; hotspot: both changed the same files, merged cleanly. */
  kind: 'conflict' | 'hotspot';
  files: string[];
  /** Files of this collision that a lane changed outside its declared scope: the collision's cause. */
  outOfScope?: { lane: string; files: string[] }[];
  /** The same conflict reached lanes that build on these two: reported here, once. */
  inheritedBy?: { a: string; b: string }[];
}

export interface RadarResult {
  pairs: PairResult[];
  /** Pairs that were trial-merged (the rest were disjoint or in one line of descent). */
  merged: number;
  checked: number;
  /** Each lane's files (only with `details`). */
  changes: Record<string, FileChange[]>;
  /** Each lane's symlinks pointing outside the repository (only with `details`; lanes without any are absent). */
  outsideLinks: Record<string, OutsideLink[]>;
  /** Each lane's changed files outside its declared scope (lanes with a scope and violations only). */
  outOfScope: Record<string, string[]>;
}

/** The files a lane changed outside its scope (none when it declares no scope). */
export function outsideScope(files: readonly string[], scope: readonly string[] | undefined): string[] {
  if (!scope?.length) return [];
  return files.filter((f) => !matchesAny(f, scope));
}

/**
 * A conflict between a and b that a lane building on a (or b) inherits shows up again for that
 * lane, in the same files: keep it once, at its origin, and say which pairs inherited it.
 */
function dropInherited(pairs: PairResult[], lanes: readonly RadarLane[]): PairResult[] {
  const anc = new Map(lanes.map((l) => [l.id, new Set(l.ancestors ?? [])]));
  const key = (x: string, y: string) => (x < y ? `${x}\0${y}` : `${y}\0${x}`);
  const conflicts = new Map(pairs.filter((p) => p.kind === 'conflict').map((p) => [key(p.a, p.b), p]));
  const out: PairResult[] = [];
  for (const p of pairs) {
    let origin: PairResult | undefined;
    if (p.kind === 'conflict') {
      for (const [self, other] of [[p.a, p.b], [p.b, p.a]] as const) {
        for (const c of anc.get(self) ?? []) {
          const o = conflicts.get(key(c, other));
          if (o && o !== p && p.files.every((f) => o.files.includes(f))) origin ??= o;
        }
      }
    }
    if (origin) (origin.inheritedBy ??= []).push({ a: p.a, b: p.b });
    else out.push(p);
  }
  return out;
}

/** Paths overlap when equal, or when one is a folder that contains the other. */
function overlapping(a: readonly string[], b: readonly string[]): string[] {
  const setB = new Set(b);
  const out = new Set<string>();
  for (const p of a) if (setB.has(p)) out.add(p);
  const prefixes = (paths: readonly string[]) => {
    const s = new Set<string>();
    for (const p of paths) {
      const parts = p.split('/');
      for (let i = 1; i < parts.length; i++) s.add(parts.slice(0, i).join('/'));
    }
    return s;
  };
  const pa = prefixes(a);
  const pb = prefixes(b);
  for (const p of b) if (pa.has(p)) out.add(p);
  for (const p of a) if (pb.has(p)) out.add(p);
  return [...out].sort();
}

/**
 * What the radar already knows, by commit ids (which never change meaning): each lane head's
 * changed paths, each pair of heads' trial merge, each ancestry question. A live radar keeps one
 * for the whole run, so a check after a commit costs only the work that commit made new.
 */
export class RadarCache {
  readonly touched = new Map<string, string[]>();
  readonly merges = new Map<string, { clean: boolean; conflicts: string[] }>();
  readonly ancestry = new Map<string, boolean>();
}

const pairKey = (x: string, y: string) => (x < y ? `${x}|${y}` : `${y}|${x}`);

async function pool<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

export async function conflictRadar(
  repo: string,
  lanes: readonly RadarLane[],
  /** details: also list each lane's files with rename detection and line counts (for reports). */
  opts: { concurrency?: number; signal?: AbortSignal; details?: boolean; cache?: RadarCache } = {},
): Promise<RadarResult> {
  const cache = opts.cache;
  const changes: Record<string, FileChange[]> = {};
  const links: Record<string, OutsideLink[]> = {};
  const touched: Record<string, string[]> = {};
  await pool([...lanes], opts.concurrency ?? 4, async (l) => {
    if (opts.details) {
      changes[l.id] = l.head === l.base ? [] : await changedFiles(repo, l.base, l.head);
      touched[l.id] = touchedPaths(changes[l.id]!);
      const out = await outsideLinks(repo, l.base, l.head);
      if (out.length) links[l.id] = out;
    } else {
      // Without rename detection every path a rename touches is listed: all the radar needs.
      const key = `${l.base}..${l.head}`;
      let paths = cache?.touched.get(key);
      if (!paths) {
        paths = l.head === l.base ? [] : await gitPaths(['diff', '--name-only', '-z', '--no-renames', l.base, l.head], { cwd: repo, readOnly: true });
        cache?.touched.set(key, paths);
      }
      touched[l.id] = paths;
    }
  });
  const pairs: [RadarLane, RadarLane][] = [];
  for (let i = 0; i < lanes.length; i++) for (let j = i + 1; j < lanes.length; j++) pairs.push([lanes[i]!, lanes[j]!]);
  const results: (PairResult | undefined)[] = new Array(pairs.length);
  let merged = 0;
  await pool(
    pairs.map((p, k) => [p, k] as const),
    opts.concurrency ?? 4,
    async ([[a, b], k]) => {
      if (a.head === a.base || b.head === b.base) return;
      const shared = overlapping(touched[a.id]!, touched[b.id]!);
      if (a.base === b.base && shared.length === 0) return;
      // Lanes from one base cannot contain each other; otherwise one may build on the other.
      const ancestor = async (x: string, y: string) => {
        const k = `${x}>${y}`;
        let v = cache?.ancestry.get(k);
        if (v === undefined) {
          v = await isAncestor(repo, x, y);
          cache?.ancestry.set(k, v);
        }
        return v;
      };
      if (a.base !== b.base && ((await ancestor(a.head, b.head)) || (await ancestor(b.head, a.head)))) return;
      merged++;
      // One trial merge per distinct pair of heads, ever (a result by commit ids never changes).
      const mk = pairKey(a.head, b.head);
      let m = cache?.merges.get(mk);
      if (!m) {
        const r = await trialMerge(repo, a.head, b.head, opts.signal);
        m = { clean: r.clean, conflicts: r.conflicts };
        cache?.merges.set(mk, m);
      }
      if (!m.clean) results[k] = { a: a.id, b: b.id, kind: 'conflict', files: m.conflicts };
      else if (shared.length) results[k] = { a: a.id, b: b.id, kind: 'hotspot', files: shared };
    },
  );
  const outOfScope: Record<string, string[]> = {};
  for (const l of lanes) {
    const v = outsideScope(touched[l.id] ?? [], l.scope);
    if (v.length) outOfScope[l.id] = v;
  }
  const found = results.filter((r): r is PairResult => r !== undefined);
  for (const p of found) {
    const cause = [p.a, p.b].map((id) => ({ lane: id, files: p.files.filter((f) => outOfScope[id]?.includes(f)) })).filter((x) => x.files.length);
    if (cause.length) p.outOfScope = cause;
  }
  return { pairs: dropInherited(found, lanes), merged, checked: pairs.length, changes, outsideLinks: links, outOfScope };
}

/** What the live radar needs from a run (the engine's Orchestrator fits). */
export interface RadarSource {
  readonly state: { lanes: { id: string; base?: string; head?: string }[] };
  onEvent(listener: (e: { type: string; lane?: string }) => void): () => void;
}

/**
 * The radar while lanes are still working: after every lane commit, trial-merge that lane
 * against every other lane that has work, and report collisions as they appear (each pair once
 * per kind, again if its files change). Checks never overlap; a burst of commits costs one check.
 */
export function watchRadar(repo: string, source: RadarSource, onFinding: (p: PairResult) => void): { stop(): void; idle(): Promise<void> } {
  const reported = new Map<string, string>();
  const cache = new RadarCache();
  let pending = false;
  let running: Promise<void> = Promise.resolve();
  const check = async () => {
    pending = false;
    const lanes = source.state.lanes.filter((l) => l.head && l.base && l.head !== l.base).map((l) => ({ id: l.id, base: l.base!, head: l.head! }));
    if (lanes.length < 2) return;
    const r = await conflictRadar(repo, lanes, { cache });
    for (const p of r.pairs) {
      const key = `${p.a}|${p.b}|${p.kind}`;
      const files = p.files.join(',');
      if (reported.get(key) === files) continue;
      reported.set(key, files);
      onFinding(p);
    }
  };
  const off = source.onEvent((e) => {
    if (e.type !== 'lane-commit' || pending) return;
    pending = true;
    running = running.then(check).catch(() => undefined);
  });
  return { stop: off, idle: () => running };
}
