/**
 * What a lane did, from git itself: files added/modified/deleted/renamed (with rename
 * detection), line counts (binary files marked), and hunks.
 */
import { gitOut, gitPaths } from '../git/git';

export type ChangeKind = 'added' | 'modified' | 'deleted' | 'renamed' | 'copied' | 'typechange';

export interface FileChange {
  path: string;
  /** The path before a rename or copy. */
  oldPath?: string;
  kind: ChangeKind;
  /** Lines added/removed; undefined for binary files. */
  added?: number;
  removed?: number;
  binary: boolean;
}

export interface Hunk {
  path: string;
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  header: string;
  lines: string[];
}

const KIND: Record<string, ChangeKind> = { A: 'added', M: 'modified', D: 'deleted', R: 'renamed', C: 'copied', T: 'typechange' };

export async function changedFiles(repo: string, base: string, head: string): Promise<FileChange[]> {
  // Names byte-exact (util/bytePath): a name that is not UTF-8 is still the same file.
  const [sf, nf] = await Promise.all([
    gitPaths(['diff', '--name-status', '-z', '-M', '--no-ext-diff', base, head], { cwd: repo, readOnly: true }),
    gitPaths(['diff', '--numstat', '-z', '-M', '--no-ext-diff', base, head], { cwd: repo, readOnly: true }),
  ]);
  const out: FileChange[] = [];
  for (let i = 0; i < sf.length; ) {
    const code = sf[i++]!;
    const k = KIND[code[0]!] ?? 'modified';
    if (k === 'renamed' || k === 'copied') {
      const oldPath = sf[i++]!;
      const path = sf[i++]!;
      out.push({ path, oldPath, kind: k, binary: false });
    } else {
      out.push({ path: sf[i++]!, kind: k, binary: false });
    }
  }
  // numstat -z: "added\tremoved\tpath\0" or, for renames, "added\tremoved\t\0old\0new\0".
  for (let i = 0; i < nf.length; ) {
    const entry = nf[i++]!;
    const t1 = entry.indexOf('\t');
    const t2 = entry.indexOf('\t', t1 + 1);
    const a = entry.slice(0, t1);
    const r = entry.slice(t1 + 1, t2);
    let path = entry.slice(t2 + 1);
    if (path === '') {
      i++; // old path
      path = nf[i++]!;
    }
    const f = out.find((x) => x.path === path);
    if (!f) continue;
    if (a === '-' || r === '-') f.binary = true;
    else {
      f.added = Number(a);
      f.removed = Number(r);
    }
  }
  return out;
}

/** Every path a change touches (both sides of a rename), for overlap checks. */
export function touchedPaths(changes: readonly FileChange[]): string[] {
  return changes.flatMap((c) => (c.oldPath ? [c.oldPath, c.path] : [c.path]));
}

/** git C-quotes unusual paths ("a/t\303\251st"); undo it. */
function unquote(p: string): string {
  if (!p.startsWith('"')) return p;
  const bytes: number[] = [];
  const map: Record<string, number> = { n: 10, t: 9, '"': 34, '\\': 92, a: 7, b: 8, f: 12, r: 13, v: 11 };
  for (let i = 1; i < p.length - 1; i++) {
    const c = p[i]!;
    if (c === '\\') {
      const n = p[i + 1]!;
      if (/[0-7]/.test(n)) {
        bytes.push(parseInt(p.slice(i + 1, i + 4), 8));
        i += 3;
      } else {
        bytes.push(map[n] ?? n.charCodeAt(0));
        i += 1;
      }
    } else bytes.push(...Buffer.from(c));
  }
  return Buffer.from(bytes).toString('utf8');
}

export function parseHunks(patch: string): Hunk[] {
  const hunks: Hunk[] = [];
  let path = '';
  let cur: Hunk | undefined;
  for (const line of patch.split('\n')) {
    if (line.startsWith('diff --git ')) {
      cur = undefined;
      continue;
    }
    if (line.startsWith('+++ ')) {
      const p = unquote(line.slice(4));
      path = p === '/dev/null' ? path : p.replace(/^b\//, '');
      continue;
    }
    if (line.startsWith('--- ')) {
      const p = unquote(line.slice(4));
      if (p !== '/dev/null') path = p.replace(/^a\//, '');
      continue;
    }
    const m = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$/.exec(line);
    if (m) {
      cur = { path, oldStart: +m[1]!, oldLines: m[2] === undefined ? 1 : +m[2], newStart: +m[3]!, newLines: m[4] === undefined ? 1 : +m[4], header: m[5]!.trim(), lines: [] };
      hunks.push(cur);
      continue;
    }
    if (cur && (line.startsWith('+') || line.startsWith('-') || line.startsWith(' ') || line.startsWith('\\'))) cur.lines.push(line);
  }
  return hunks;
}

export async function hunks(repo: string, base: string, head: string, paths: string[] = [], context = 3): Promise<Hunk[]> {
  const patch = await gitOut(['diff', `-U${context}`, '-M', '--no-color', '--no-ext-diff', base, head, '--', ...paths], { cwd: repo, readOnly: true });
  return parseHunks(patch);
}
