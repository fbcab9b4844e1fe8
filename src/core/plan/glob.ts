/**
 * Scope globs: matching a path, and deciding whether two globs can match a common path (the
 * coherence check warns when lanes that may run in parallel have overlapping scopes).
 *
 * Supported syntax: `*` (within a segment), `?`, `**` (any number of segments), `{a,b}`,
 * `[...]` classes (treated as "any one character" for overlap, exact for matching). A pattern
 * without wildcards names a file or a whole folder: "src" means "src" and "src/**".
 */

export function expandBraces(pattern: string): string[] {
  const open = pattern.indexOf('{');
  if (open < 0) return [pattern];
  let depth = 0;
  for (let i = open; i < pattern.length; i++) {
    if (pattern[i] === '{') depth++;
    else if (pattern[i] === '}' && --depth === 0) {
      const inner = pattern.slice(open + 1, i);
      const parts: string[] = [];
      let d = 0;
      let last = 0;
      for (let j = 0; j < inner.length; j++) {
        if (inner[j] === '{') d++;
        else if (inner[j] === '}') d--;
        else if (inner[j] === ',' && d === 0) {
          parts.push(inner.slice(last, j));
          last = j + 1;
        }
      }
      parts.push(inner.slice(last));
      const rest = pattern.slice(i + 1);
      return parts.flatMap((p) => expandBraces(pattern.slice(0, open) + p + rest));
    }
  }
  return [pattern]; // unbalanced: literal
}

const normalized = new Map<string, string[]>();

function normalize(pattern: string): string[] {
  const hit = normalized.get(pattern);
  if (hit) return hit;
  const out = normalizeUncached(pattern);
  if (normalized.size > 10_000) normalized.clear();
  normalized.set(pattern, out);
  return out;
}

function normalizeUncached(pattern: string): string[] {
  let p = pattern.trim().replace(/\\/g, '/').replace(/^\.\//, '').replace(/\/+/g, '/');
  if (p.startsWith('/')) p = p.slice(1);
  if (p.endsWith('/')) p += '**';
  if (p === '') p = '**';
  return expandBraces(p).flatMap((e) => (/[*?[]/.test(e) ? [e] : [e, `${e}/**`]));
}

function segmentRegex(seg: string): string {
  let out = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const close = seg.indexOf(']', i + 2);
      if (close < 0) out += '\\[';
      else {
        let body = seg.slice(i + 1, close);
        if (body.startsWith('!')) body = '^' + body.slice(1);
        out += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else out += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return out;
}

export function globToRegExp(pattern: string): RegExp {
  const alternatives = normalize(pattern).map((p) => {
    const segs = p.split('/');
    let re = '';
    segs.forEach((seg, idx) => {
      const last = idx === segs.length - 1;
      if (seg === '**') re += last ? '.*' : '(?:[^/]+/)*';
      else re += segmentRegex(seg) + (last ? '' : '/');
    });
    return re;
  });
  return new RegExp(`^(?:${alternatives.join('|')})$`);
}

export function matchesAny(path: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => globToRegExp(p).test(path));
}

type Token = { kind: 'star' } | { kind: 'any' } | { kind: 'char'; c: string };

function tokens(seg: string): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') {
      if (out[out.length - 1]?.kind !== 'star') out.push({ kind: 'star' });
    } else if (c === '?') out.push({ kind: 'any' });
    else if (c === '[' && seg.indexOf(']', i + 2) > 0) {
      out.push({ kind: 'any' });
      i = seg.indexOf(']', i + 2);
    } else out.push({ kind: 'char', c });
  }
  return out;
}

/** Whether two wildcard sequences can match a common string (memoised two-pointer search). */
function sequencesIntersect<T>(a: T[], b: T[], isStar: (t: T) => boolean, compatible: (x: T, y: T) => boolean): boolean {
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * (b.length + 1) + j;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let r: boolean;
    if (i === a.length && j === b.length) r = true;
    else if (i < a.length && isStar(a[i]!)) r = go(i + 1, j) || (j < b.length && go(i, j + 1));
    else if (j < b.length && isStar(b[j]!)) r = go(i, j + 1) || (i < a.length && go(i + 1, j));
    else if (i < a.length && j < b.length) r = compatible(a[i]!, b[j]!) && go(i + 1, j + 1);
    else r = false;
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

function segmentsIntersect(x: string, y: string): boolean {
  return sequencesIntersect(
    tokens(x),
    tokens(y),
    (t) => t.kind === 'star',
    (p, q) => p.kind === 'any' || q.kind === 'any' || (p.kind === 'char' && q.kind === 'char' && p.c === q.c),
  );
}

const WILD = /[*?[]/;

/** Cheap exit: both start with plain folder names and those differ ("src/**" vs "docs/**"). */
function literalPrefixesDiffer(x: string, y: string): boolean {
  const xs = x.split('/');
  const ys = y.split('/');
  for (let i = 0; i < Math.min(xs.length, ys.length) - 1; i++) {
    const p = xs[i]!;
    const q = ys[i]!;
    if (WILD.test(p) || WILD.test(q)) return false;
    if (p !== q) return true;
  }
  return false;
}

/** Whether some path could match both globs. Conservative: `[...]` counts as any character. */
export function globsOverlap(a: string, b: string): boolean {
  for (const x of normalize(a)) {
    for (const y of normalize(b)) {
      if (literalPrefixesDiffer(x, y)) continue;
      const ok = sequencesIntersect(
        x.split('/'),
        y.split('/'),
        (s) => s === '**',
        (s, t) => segmentsIntersect(s, t),
      );
      if (ok) return true;
    }
  }
  return false;
}

/** The first overlapping pair of patterns between two scopes, if any. */
export function scopeOverlap(a: readonly string[], b: readonly string[]): [string, string] | undefined {
  for (const x of a) for (const y of b) if (globsOverlap(x, y)) return [x, y];
  return undefined;
}
