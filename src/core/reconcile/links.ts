/**
 * Symlinks in a lane's result that point outside the repository (`leak.txt -> ~/secret.txt`,
 * `docs -> /etc`): an apply would stage them in the user's checkout, where anything that follows
 * them reads or writes outside it. They are found from git's own record (mode 120000 and the
 * link text), flagged by the radar, the report and the panel, and applied only when accepted.
 */
import * as path from 'node:path';
import { git, gitPaths } from '../git/git';
import { displayPath } from '../util/bytePath';

export interface OutsideLink {
  /** The link's path in the repository. */
  path: string;
  /** What it points to, as the link says. */
  target: string;
}

/** Whether a link at `linkPath` (repository-relative) with this text leaves the repository. */
export function pointsOutside(linkPath: string, target: string): boolean {
  if (path.posix.isAbsolute(target) || /^[A-Za-z]:[\\/]/.test(target) || target.startsWith('~')) return true;
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(linkPath), target));
  return resolved === '..' || resolved.startsWith('../');
}

/**
 * Whether a relative link leaves the repository once the other links on its way are followed
 * (`d -> .` and `up -> d/..` look harmless one by one; together `up` is the parent folder).
 */
export function escapesThroughLinks(linkPath: string, target: string, links: ReadonlyMap<string, string>): boolean {
  const parts = [...path.posix.dirname(linkPath).split('/').filter((x) => x && x !== '.'), ...target.split('/')];
  const at: string[] = [];
  for (let i = 0, hops = 0; i < parts.length; i++) {
    const c = parts[i]!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (!at.length) return true;
      at.pop();
      continue;
    }
    at.push(c);
    const t = links.get(at.join('/'));
    if (t !== undefined) {
      if (++hops > 40 || path.posix.isAbsolute(t) || t.startsWith('~')) return true;
      at.pop();
      parts.splice(i + 1, 0, ...t.split('/'));
    }
  }
  return false;
}

/** Links that `head` adds or changes relative to `base` and that point outside the repository. */
export async function outsideLinks(repo: string, base: string, head: string, only?: ReadonlySet<string>): Promise<OutsideLink[]> {
  if (base === head) return [];
  // --raw -z: ":<old mode> <new mode> <old sha> <new sha> <status>\0<path>\0" (no renames).
  const raw = await gitPaths(['diff', '--raw', '-z', '--no-renames', '--no-abbrev', base, head], { cwd: repo, readOnly: true });
  const links: { path: string; sha: string }[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const [, newMode, , newSha] = raw[i]!.slice(1).split(' ');
    const p = raw[i + 1]!;
    if (newMode === '120000') links.push({ path: p, sha: newSha! });
  }
  if (!links.length) return [];
  const out = (await git(['cat-file', '--batch'], { cwd: repo, readOnly: true, input: links.map((l) => l.sha).join('\n') + '\n', binaryStdout: true })).stdoutBytes!;
  // "<sha> blob <size>\n<bytes>\n" per link.
  const found: OutsideLink[] = [];
  const targets = new Map<string, string>();
  let at = 0;
  for (const l of links) {
    const nl = out.indexOf(10, at);
    const size = Number(out.subarray(at, nl).toString().split(' ')[2]);
    const target = out.subarray(nl + 1, nl + 1 + size).toString('utf8');
    at = nl + 1 + size + 1;
    targets.set(l.path, target);
  }
  for (const l of links) {
    if (only && !only.has(l.path)) continue;
    const target = targets.get(l.path)!;
    if (pointsOutside(l.path, target) || escapesThroughLinks(l.path, target, targets)) found.push({ path: l.path, target });
  }
  return found;
}

export function describeOutsideLinks(links: readonly OutsideLink[]): string {
  return links.map((l) => `${displayPath(l.path)} -> ${l.target}`).join(', ');
}
