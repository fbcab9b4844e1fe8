/**
 * Blame from evidence. The merge queue's bisect finds the merge after which the integration
 * check fails; that is not always the lane at fault. When the failing tests are that lane's own
 * (the check's output names places in files it added or changed) and they exercise code another
 * integrated lane wrote (the output names lines attribution gives to that lane, or the failing
 * test files import files that lane changed), the author of that code is blamed instead: the
 * test lane found a bug, it did not make one.
 *
 * The output is read for `path:line` places (stack traces of node, mocha, jest and pytest; the
 * node test runner's "test at file:line"); imports are read from JavaScript and TypeScript test
 * files (`require`, `import … from`, `import()`), relative specifiers only.
 */
import * as path from 'node:path';
import { git, gitPaths } from '../git/git';
import type { RunState } from '../run/state';
import { attributeLines } from './attribution';

export interface Place {
  file: string;
  line?: number;
}

export interface BlameEvidence {
  /** The lane whose code the failing tests exercise: the one to send back. */
  lane: string;
  /** The culprit's failing tests: places in its own files the output names. */
  failing: Place[];
  /** What they exercise: places (and imported files) of the blamed lane. */
  exercised: (Place & { lane: string; how: 'output' | 'import' })[];
  /** The decision in words, with its evidence. */
  reason: string;
}

const PLACE = /(?:file:\/\/)?((?:[A-Za-z]:)?[\w@~.+\-/\\]*[\w-]\.[A-Za-z0-9]{1,6}):(\d+)(?::\d+)?/g;

/** `path:line` places an output names, as repository paths (absolute ones under `root` made relative). */
export function placesIn(output: string, roots: readonly string[]): Place[] {
  const out: Place[] = [];
  const seen = new Set<string>();
  for (const m of output.matchAll(PLACE)) {
    let file = m[1]!.replace(/\\/g, '/');
    if (path.isAbsolute(file)) {
      const root = roots.find((r) => file.startsWith(r.replace(/\\/g, '/').replace(/\/?$/, '/')));
      if (!root) continue; // node internals, other folders
      file = file.slice(root.replace(/\/?$/, '/').length);
    }
    file = path.posix.normalize(file).replace(/^\.\//, '');
    if (file.startsWith('../') || file.includes('node_modules/')) continue;
    const line = Number(m[2]);
    const key = `${file}:${line}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ file, line });
  }
  return out;
}

const IMPORT = /(?:require\s*\(\s*|import\s*\(\s*|\bfrom\s+|^\s*import\s+)(['"])(\.{1,2}\/[^'"]+)\1/gm;
const EXTENSIONS = ['', '.js', '.ts', '.mjs', '.cjs', '.jsx', '.tsx', '/index.js', '/index.ts'];

/** Relative modules a JavaScript or TypeScript file imports, as candidate repository paths. */
export function importsOf(file: string, text: string): string[][] {
  const dir = path.posix.dirname(file);
  const out: string[][] = [];
  for (const m of text.matchAll(IMPORT)) {
    const base = path.posix.normalize(path.posix.join(dir, m[2]!));
    if (base.startsWith('../')) continue;
    const stem = base.replace(/\.(js|mjs|cjs|jsx)$/, '');
    out.push([...EXTENSIONS.map((e) => base + e), ...(stem !== base ? ['.ts', '.tsx'].map((e) => stem + e) : [])]);
  }
  return out;
}

export interface BlameInput {
  repo: string;
  state: RunState;
  dependsOn: (id: string) => readonly string[];
  /** The failing integration commit (the culprit merged last). */
  commit: string;
  output: string;
  /** Folders the check ran in (its absolute paths are read relative to these). */
  roots: string[];
  culprit: string;
  /** Lanes merged before the culprit in that commit. */
  integrated: readonly string[];
}

async function existing(repo: string, commit: string, candidates: readonly string[]): Promise<Set<string>> {
  if (!candidates.length) return new Set();
  const out = await gitPaths(['ls-tree', '-z', '--name-only', commit, '--', ...candidates], { cwd: repo, readOnly: true, env: { GIT_LITERAL_PATHSPECS: '1' } });
  return new Set(out);
}

async function changedBy(repo: string, base: string, head: string): Promise<Set<string>> {
  return new Set(await gitPaths(['diff', '--name-only', '-z', '--no-renames', base, head], { cwd: repo, readOnly: true }));
}

export async function blameFromEvidence(i: BlameInput): Promise<BlameEvidence | undefined> {
  const laneOf = (id: string) => i.state.lanes.find((l) => l.id === id);
  const c = laneOf(i.culprit);
  if (!c?.base || !c.head) return undefined;
  const mine = await changedBy(i.repo, c.base, c.head);
  const places = placesIn(i.output, i.roots);
  const present = await existing(i.repo, i.commit, [...new Set(places.map((p) => p.file))]);
  const named = places.filter((p) => present.has(p.file));
  const failing = named.filter((p) => mine.has(p.file));
  if (!failing.length) return undefined; // the failing tests are not the culprit's own: as before
  const exercised: BlameEvidence['exercised'] = [];

  // 1. Lines of other lanes' code the output names (a stack through their code).
  for (const file of [...new Set(named.filter((p) => !mine.has(p.file)).map((p) => p.file))]) {
    const ranges = await attributeLines(i.repo, i.state, i.commit, file, i.dependsOn).catch(() => []);
    for (const p of named.filter((x) => x.file === file)) {
      const r = ranges.find((x) => p.line! >= x.startLine && p.line! <= x.endLine);
      if (r?.lane && r.lane !== i.culprit && i.integrated.includes(r.lane)) exercised.push({ ...p, lane: r.lane, how: 'output' });
    }
  }

  // 2. Files the failing test files import, changed by another integrated lane.
  if (!exercised.length) {
    const changes = new Map<string, Set<string>>();
    for (const id of i.integrated) {
      const l = laneOf(id);
      if (id !== i.culprit && l?.base && l.head) changes.set(id, await changedBy(i.repo, l.base, l.head));
    }
    for (const file of [...new Set(failing.map((p) => p.file))]) {
      const text = (await git(['show', `${i.commit}:${file}`], { cwd: i.repo, readOnly: true, okCodes: [128] })).stdout;
      for (const candidates of importsOf(file, text)) {
        const there = await existing(i.repo, i.commit, candidates);
        const target = candidates.find((x) => there.has(x));
        if (!target) continue;
        for (const [id, files] of changes) if (files.has(target)) exercised.push({ file: target, lane: id, how: 'import' });
      }
    }
  }
  if (!exercised.length) return undefined;

  // The lane most of the evidence points at; first named wins a tie.
  const count = new Map<string, number>();
  for (const e of exercised) count.set(e.lane, (count.get(e.lane) ?? 0) + 1);
  const lane = [...count].sort((a, b) => b[1] - a[1])[0]![0];
  const fmt = (p: Place) => (p.line ? `${p.file}:${p.line}` : p.file);
  const theirs = exercised.filter((e) => e.lane === lane);
  const how = theirs.some((e) => e.how === 'output')
    ? `the failure runs through ${[...new Set(theirs.map(fmt))].join(', ')}, written by ${lane}`
    : `${[...new Set(failing.map((p) => p.file))].join(', ')} import${failing.length === 1 ? 's' : ''} ${[...new Set(theirs.map((e) => e.file))].join(', ')}, written by ${lane}`;
  return {
    lane,
    failing,
    exercised,
    reason: `the failing test${failing.length === 1 ? '' : 's'} ${failing.map(fmt).join(', ')} ${failing.length === 1 ? 'was' : 'were'} added by ${i.culprit}, and ${how}: ${lane} is sent back with the failing test, ${i.culprit} is kept as it is`,
  };
}
