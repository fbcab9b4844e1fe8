/**
 * Test reporter output, parsed into one result per test with an id that stays the same across
 * runs. Queue mode turns each failing test into a task, and its gate compares the passing sets of
 * two runs: a change is accepted only if no test that passed before now fails or is gone. So the
 * ids matter more than anything else here: no durations, counters or TAP test numbers in them,
 * no absolute paths (pass `root`), and nothing that is known only when a test fails.
 *
 * The formats, as the tools print them (fixtures in test/fixtures/results are their real output):
 *   tap         node --test --test-reporter=tap (TAP 13, subtests indented 4 spaces under
 *               "# Subtest:" lines, YAML blocks), mocha --reporter tap (flat, failure details
 *               as indented lines, or YAML with tapVersion=13), and other TAP 13/14 producers
 *   junit       node --test --test-reporter=junit, jest-junit, pytest --junitxml, mocha xunit
 *   mocha-json  mocha --reporter json, possibly after what the tests printed
 *
 * What goes into an id (segments joined with " > "):
 *   tap         the names of the test and of the tests it is nested in. Never the file: node
 *               writes a test's location only when it fails, so a file in the id would change
 *               the id of a test that starts failing (and the gate would see a pass go missing
 *               rather than a failure). `file`/`line` are still filled in when the output has them.
 *   junit       the testcase's `file` attribute when it has one, the testsuite names, the
 *               classname (left out when empty, equal to the name, or node's placeholder
 *               "test"), the name.
 *   mocha-json  the file, the parent suites' full title, the test's title.
 *
 * Only leaves are tests: a TAP test point with subtests is a suite. A suite that failed while
 * none of its tests did (an `after` hook that threw) is reported as one failing test under the
 * suite's own name, so the failure is not lost. TAP's TODO counts as skipped (it may fail).
 *
 * Two tests with one id (same name in one suite) are told apart by order: " #2", " #3"…; so are
 * same-named tests of two files in TAP. jest-junit's default suite name is the title of a file's
 * first describe block, so reordering a file renames its ids (JEST_JUNIT_SUITE_NAME="{filepath}"
 * avoids that). `line` is where the output places the test: its definition (node TAP, pytest
 * xunit1) or, failing only, the first frame of the test's own code in the stack.
 */
import { fileURLToPath } from 'node:url';

export type ResultFormat = 'tap' | 'junit' | 'mocha-json';

export interface TestResult {
  /** Stable id: file (when known) + the full name path (suite > … > test), e.g. "test/range.test.js > range > has 3 items". */
  id: string;
  /** The test's own name; `path` is its parents' names (suites / describe blocks / TAP subtest nesting) then its own. */
  name: string;
  path: string[];
  /** Repository-relative when the output gives an absolute path under `root`. */
  file?: string;
  line?: number;
  status: 'passed' | 'failed' | 'skipped';
  /** First lines of the failure (message, expected/actual), for a task's brief; at most ~2000 chars. */
  message?: string;
  durationMs?: number;
}

export interface ParsedResults {
  format: ResultFormat;
  tests: TestResult[];
  /** Lines or elements not understood, counted. */
  skipped: number;
}

export interface ParseOptions {
  /** The folder the tests ran in: absolute paths under it are made relative (ids never hold absolute paths). */
  root?: string;
}

const MESSAGE_MAX = 2000;
const ID_SEPARATOR = ' > ';

/** Parse one reporter's output. Never throws: what is not understood is counted in `skipped`. */
export function parseResults(output: string, format: ResultFormat | 'auto', opts: ParseOptions = {}): ParsedResults {
  const text = output.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  const f = format === 'auto' ? (detectFormat(text) ?? 'tap') : format;
  const raw = f === 'tap' ? parseTap(text, opts) : f === 'junit' ? parseJunit(text, opts) : parseMochaJson(text, opts);
  return { format: f, tests: uniqueIds(raw.tests), skipped: raw.skipped };
}

/** Which format the output is in, from its shape (undefined: none of them). */
export function detectFormat(output: string): ResultFormat | undefined {
  const text = output.replace(/^\uFEFF/, '');
  if (/^\s*<(\?xml\b|testsuites\b|testsuite\b)/m.test(text) || /<testcase\b/.test(text)) return 'junit';
  if (findMochaJson(text) || /^\{\s*\n\s*"stats"\s*:\s*\{/m.test(text) || /^\{"stats":\{/m.test(text)) return 'mocha-json';
  if (/^\s*TAP version \d+\s*$/m.test(text) || /^\s*(not )?ok\b/m.test(text) || /^\s*1\.\.\d+/m.test(text)) return 'tap';
  return undefined;
}

/**
 * The gate's comparison: tests that passed in `before` and now fail or are missing in `after`.
 * A test that passed and is now skipped counts as missing: it no longer runs, and skipping a test
 * is not a way through the gate. A test that failed or was skipped before is never a regression.
 */
export function regressions(before: readonly TestResult[], after: readonly TestResult[]): { id: string; now: 'failed' | 'missing'; message?: string }[] {
  const now = new Map<string, TestResult>();
  for (const t of after) {
    const seen = now.get(t.id);
    if (!seen || rank(t.status) > rank(seen.status)) now.set(t.id, t);
  }
  const passed = new Set(passingIds(before));
  const out: { id: string; now: 'failed' | 'missing'; message?: string }[] = [];
  for (const id of new Set(before.map((b) => b.id))) {
    if (!passed.has(id)) continue;
    const t = now.get(id);
    if (!t) out.push({ id, now: 'missing' });
    else if (t.status === 'failed') out.push(t.message === undefined ? { id, now: 'failed' } : { id, now: 'failed', message: t.message });
    else if (t.status === 'skipped') out.push({ id, now: 'missing', message: 'skipped now' });
  }
  return out;
}

/** Ids of passing tests (the set the gate keeps between integrations), sorted, each once. */
export function passingIds(tests: readonly TestResult[]): string[] {
  const failing = new Set(tests.filter((t) => t.status !== 'passed').map((t) => t.id));
  const ids = new Set(tests.filter((t) => t.status === 'passed' && !failing.has(t.id)).map((t) => t.id));
  return [...ids].sort();
}

const rank = (s: TestResult['status']) => (s === 'failed' ? 2 : s === 'skipped' ? 1 : 0);

// ——— shared helpers ———

interface Raw {
  tests: TestResult[];
  skipped: number;
}

/** Two leaves with one id (two tests of the same name in one suite): the later ones get " #2", " #3"… */
function uniqueIds(tests: TestResult[]): TestResult[] {
  const taken = new Set<string>();
  const count = new Map<string, number>();
  for (const t of tests) taken.add(t.id);
  const seen = new Set<string>();
  return tests.map((t) => {
    if (!seen.has(t.id)) {
      seen.add(t.id);
      return t;
    }
    let n = count.get(t.id) ?? 1;
    let id: string;
    do id = `${t.id} #${++n}`;
    while (taken.has(id));
    count.set(t.id, n);
    taken.add(id);
    return { ...t, id };
  });
}

function makeResult(path: string[], status: TestResult['status'], extra: { idFile?: string; file?: string; line?: number; message?: string; durationMs?: number }): TestResult {
  const segments = path.map((s) => s.trim()).filter((s, i, all) => s !== '' || i === all.length - 1);
  const r: TestResult = {
    id: [...(extra.idFile ? [extra.idFile] : []), ...segments].join(ID_SEPARATOR),
    name: segments[segments.length - 1] ?? '',
    path: segments,
    status,
  };
  const file = extra.file ?? extra.idFile;
  if (file) r.file = file;
  if (extra.line !== undefined && Number.isFinite(extra.line) && extra.line > 0) r.line = extra.line;
  if (status === 'failed' && extra.message) r.message = extra.message;
  if (extra.durationMs !== undefined && Number.isFinite(extra.durationMs)) r.durationMs = extra.durationMs;
  return r;
}

/** A path as the output gives it, made relative to `root` (forward slashes, no leading "./"). */
export function relativePath(p: string, root?: string): string {
  let s = p.trim();
  if (s.startsWith('file://')) {
    try {
      s = fileURLToPath(s);
    } catch {}
  }
  s = s.replace(/\\/g, '/');
  if (root) {
    let r = root.replace(/\\/g, '/');
    while (r.length > 1 && r.endsWith('/')) r = r.slice(0, -1);
    const windows = /^[A-Za-z]:\//.test(r);
    const under = (a: string, b: string) => (windows ? a.toLowerCase().startsWith(b.toLowerCase()) : a.startsWith(b));
    if (s === r) return '.';
    if (under(s, r === '/' ? '/' : `${r}/`)) s = s.slice(r === '/' ? 1 : r.length + 1);
  }
  while (s.startsWith('./')) s = s.slice(2);
  return s;
}

const isAbsolutePath = (s: string) => /^(\/|[A-Za-z]:[\\/]|file:\/\/)/.test(s.trim());
/** A name that is itself a file path (node names a file that failed to load by its path). */
const looksLikeFile = (s: string) => isAbsolutePath(s) && !/\s/.test(s.trim()) && /\.[A-Za-z0-9]+$/.test(s.trim());

/** "path:line:col" (a TAP location, a stack frame's inside) → file and line. */
function splitLocation(loc: string, root?: string): { file?: string; line?: number } {
  const m = /^(.*?):(\d+)(?::\d+)?$/.exec(loc.trim());
  if (!m) return loc.trim() ? { file: relativePath(loc, root) } : {};
  return { file: relativePath(m[1]!, root), line: Number(m[2]) };
}

/** Where a stack frame points (the text after "at "): node itself, a dependency, or nowhere. */
const isInternalFrame = (where: string) => /(^|\()(node:|internal\/)|[\\/]node_modules[\\/]|(^|\()(<anonymous>|native)\)?$/.test(where.trim());

/** The first stack frame (or "file:line: Error" line, as pytest writes) in the test's own code. */
function locateIn(text: string, root?: string, file?: string): { file?: string; line?: number } {
  for (const line of text.split('\n')) {
    const frame = /^\s*at (?:.*? \()?(.+?):(\d+):(\d+)\)?\s*$/.exec(line) ?? /^([^\s:][^\s:]*?):(\d+): \w/.exec(line);
    if (!frame || isInternalFrame(frame[1]!)) continue;
    const f = relativePath(frame[1]!, root);
    if (file && f !== file) continue;
    return { file: f, line: Number(frame[2]) };
  }
  return {};
}

/** The brief's text: internal stack frames dropped, blank runs squeezed, capped. */
function brief(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const lines: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '');
    if (/^\s*at /.test(line) && isInternalFrame(line.replace(/^\s*at /, ''))) continue;
    if (line === '' && (lines.length === 0 || lines[lines.length - 1] === '')) continue;
    lines.push(line);
  }
  const s = lines.join('\n').trim();
  if (!s) return undefined;
  return s.length > MESSAGE_MAX ? `${s.slice(0, MESSAGE_MAX - 1)}…` : s;
}

const countLines = (s: string) => s.split('\n').filter((l) => l.trim() !== '').length;

// ——— TAP ———

interface TapPoint {
  indent: number;
  name: string;
  ok: boolean;
  directive?: 'skip' | 'todo';
  /** Names of the "# Subtest:" frames open around it (its parents when their own lines never came). */
  frames: string[];
  yaml?: Record<string, string>;
  details: string[];
  /** Comment lines just before it at its level (node prints a failed file's stderr there). */
  comments: string[];
  children: TapPoint[];
  parent?: TapPoint;
}

const TAP_POINT = /^(not ok|ok)\b(?:\s+(\d+))?(?:\s*-)?(?:\s+(.*))?$/;
const TAP_DIRECTIVE = /\s+#\s*(skip|todo)\b[^]*$|\s+#\s*time=\S+\s*$/i;

/** TAP escapes "\\" and "#" in names (node also \n and friends). */
function tapUnescape(s: string): string {
  return s.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c === 'r' ? '\r' : c));
}

function parseTap(text: string, opts: ParseOptions): Raw {
  const lines = text.split('\n');
  // A last line without its newline may have been cut mid-way: not a test.
  const partialLast = !text.endsWith('\n') ? lines.length - 1 : -1;
  if (text.endsWith('\n')) lines.pop();
  let skipped = 0;
  const frames: { indent: number; name: string }[] = [];
  const points: TapPoint[] = [];
  const unclaimed: TapPoint[] = [];
  let last: TapPoint | undefined;
  let comments: { indent: number; text: string }[] = [];

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const body = line.trimStart();
    const indent = line.length - body.length;
    if (body === '') {
      if (last?.details.length) last.details.push('');
      continue;
    }

    // A YAML block right after a test point, deeper than it.
    if (last && /^---\s*$/.test(body) && indent > last.indent && !last.yaml) {
      const block: string[] = [];
      let j = i + 1;
      let closed = false;
      for (; j < lines.length; j++) {
        const l = lines[j]!;
        const at = l.length - l.trimStart().length;
        if (l.trim() && at < indent) break; // the block ended without its "..."
        if (at === indent && /^\.\.\.\s*$/.test(l.trimStart())) {
          closed = true;
          break;
        }
        block.push(l);
      }
      last.yaml = parseYaml(block);
      i = closed ? j : j - 1;
      continue;
    }

    const point = TAP_POINT.exec(body);
    if (point && i === partialLast) {
      skipped++;
      continue;
    }
    if (point) {
      let desc = point[3] ?? '';
      let directive: TapPoint['directive'];
      const d = TAP_DIRECTIVE.exec(desc);
      if (d) {
        desc = desc.slice(0, d.index);
        if (d[1]) directive = d[1].toLowerCase() === 'skip' ? 'skip' : 'todo';
      }
      // Its own "# Subtest:" frame and any deeper ones end here; what is left are its parents.
      while (frames.length && frames[frames.length - 1]!.indent >= indent) frames.pop();
      const p: TapPoint = {
        indent,
        name: tapUnescape(desc.trim()),
        ok: point[1] === 'ok',
        directive,
        frames: frames.map((f) => f.name),
        details: [],
        comments: comments.filter((c) => c.indent === indent).map((c) => c.text),
        children: [],
      };
      comments = [];
      const children: TapPoint[] = [];
      while (unclaimed.length && unclaimed[unclaimed.length - 1]!.indent > indent) children.push(unclaimed.pop()!);
      children.reverse();
      for (const c of children) c.parent = p;
      p.children = children;
      unclaimed.push(p);
      points.push(p);
      last = p;
      continue;
    }

    const subtest = /^# Subtest:\s?(.*)$/.exec(body);
    if (subtest) {
      if (i === partialLast) {
        skipped++;
        continue;
      }
      while (frames.length && frames[frames.length - 1]!.indent >= indent) frames.pop();
      frames.push({ indent, name: tapUnescape(subtest[1]!.trim()) });
      last = undefined;
      continue;
    }
    if (body.startsWith('#')) {
      if (!/^#\s*(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms)\b/.test(body)) comments.push({ indent, text: body.replace(/^#\s?/, '') });
      continue;
    }
    if (/^TAP version \d+\s*$/i.test(body) || /^1\.\.\d+/.test(body) || /^Bail out!/i.test(body) || /^pragma [+-]/.test(body)) continue;
    // mocha's TAP 12: a failure's message and stack, indented under its "not ok".
    if (last && !last.ok && !last.yaml && indent > last.indent) {
      last.details.push(line);
      continue;
    }
    skipped++;
  }

  const tests: TestResult[] = [];
  const pathOf = (p: TapPoint): string[] => (p.parent ? [...pathOf(p.parent), p.name] : [...p.frames, p.name]);
  const hasFailedLeaf = (p: TapPoint): boolean => p.children.some((c) => (c.children.length ? hasFailedLeaf(c) : !c.ok && !c.directive));
  for (const p of points) {
    const y = p.yaml ?? {};
    const status: TestResult['status'] = p.directive ? 'skipped' : p.ok ? 'passed' : 'failed';
    if (p.children.length) {
      // A suite: only its own failure that no test of it carries is reported.
      if (status !== 'failed' || hasFailedLeaf(p)) continue;
    } else if (y.type === 'suite' && status !== 'failed') continue; // an empty describe
    let path = pathOf(p);
    const loc = y.location ? splitLocation(y.location, opts.root) : {};
    let file = loc.file;
    let line = loc.line;
    // node names a test file that failed to load by its absolute path.
    if (path.length === 1 && looksLikeFile(p.name)) {
      file = relativePath(p.name, opts.root);
      path = [file];
      if (line === 1) line = undefined;
    }
    let message: string | undefined;
    if (status === 'failed') {
      const parts: string[] = [];
      if (path.length === 1 && file === path[0] && p.comments.length) parts.push(p.comments.join('\n'));
      const err = y.error ?? y.message;
      if (err && !(parts.length && err === 'test failed')) parts.push(err);
      // node cancels the tests of a suite whose `before` hook threw: the hook's error is the cause.
      const cause = p.parent?.yaml?.error;
      if (y.failureType === 'cancelledByParent' && cause) parts.push(`${p.parent!.name}: ${cause}`);
      if (y.expected !== undefined && y.actual !== undefined && !y.expected.includes('\n') && !y.actual.includes('\n')) parts.push(`expected: ${y.expected}\nactual: ${y.actual}`);
      if (p.details.length) {
        const d = dedent(p.details);
        parts.push(d);
        if (!file) ({ file, line } = locateIn(d, opts.root));
      }
      if (!file && y.stack) ({ file, line } = locateIn(y.stack, opts.root));
      message = brief(parts.join('\n'));
    }
    const duration = y.duration_ms !== undefined ? Number(y.duration_ms) : undefined;
    tests.push(makeResult(path, status, { file, line, message, durationMs: duration }));
  }
  return { tests, skipped };
}

function dedent(lines: string[]): string {
  const min = Math.min(...lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(Number.isFinite(min) ? min : 0)).join('\n');
}

/**
 * The YAML that TAP producers write in a test's diagnostic block, as much of it as is needed:
 * top-level keys with plain or quoted scalars, block scalars (|-), and nested blocks kept as text.
 */
function parseYaml(block: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const indents = block.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length);
  if (!indents.length) return out;
  const base = Math.min(...indents);
  for (let i = 0; i < block.length; i++) {
    const l = block[i]!;
    if (!l.trim() || l.length - l.trimStart().length !== base) continue;
    const m = /^([^:\s][^:]*):(?:\s+(.*))?$/.exec(l.trim());
    if (!m) continue;
    const key = m[1]!;
    const rest = (m[2] ?? '').trim();
    if (rest === '' || /^[|>][-+]?\d*$/.test(rest)) {
      const inner: string[] = [];
      while (i + 1 < block.length && (!block[i + 1]!.trim() || block[i + 1]!.length - block[i + 1]!.trimStart().length > base)) inner.push(block[++i]!);
      while (inner.length && !inner[inner.length - 1]!.trim()) inner.pop();
      const text = dedent(inner);
      out[key] = rest.startsWith('>') ? text.replace(/\n(?!\n)/g, ' ') : text;
    } else out[key] = yamlScalar(rest);
  }
  return out;
}

function yamlScalar(s: string): string {
  if (s.length >= 2 && s.startsWith("'") && s.endsWith("'")) return s.slice(1, -1).replace(/''/g, "'");
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) {
    try {
      return JSON.parse(s) as string;
    } catch {
      return s.slice(1, -1);
    }
  }
  return s === '~' ? '' : s;
}

// ——— JUnit XML ———

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
  /** Its end tag (or "/>") was seen: an element cut off by the end of the output is not. */
  closed: boolean;
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z]+);/g, (whole, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(code) && code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[e] ?? whole;
  });
}

/**
 * A small tolerant XML reader: elements, attributes (either quote, or none), entities, CDATA,
 * comments and processing instructions. Mismatched end tags close up to their element; what is
 * left open at the end stays open (closed: false). Counts what it cannot read.
 */
function readXml(text: string): { roots: XmlElement[]; outside: string; skipped: number } {
  const doc: XmlElement = { name: '#document', attrs: {}, children: [], text: '', closed: true };
  const stack: XmlElement[] = [doc];
  let outside = '';
  let skipped = 0;
  let i = 0;
  const addText = (s: string) => {
    const top = stack[stack.length - 1]!;
    if (top === doc) outside += s;
    else top.text += s;
  };
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    if (lt < 0) {
      addText(decodeEntities(text.slice(i)));
      break;
    }
    if (lt > i) addText(decodeEntities(text.slice(i, lt)));
    i = lt;
    if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i + 4);
      i = end < 0 ? text.length : end + 3;
    } else if (text.startsWith('<![CDATA[', i)) {
      const end = text.indexOf(']]>', i + 9);
      addText(text.slice(i + 9, end < 0 ? text.length : end));
      i = end < 0 ? text.length : end + 3;
    } else if (text.startsWith('<?', i) || text.startsWith('<!', i)) {
      const end = text.indexOf('>', i);
      i = end < 0 ? text.length : end + 1;
    } else if (text.startsWith('</', i)) {
      const m = /^<\/([A-Za-z_][\w:.-]*)\s*>/.exec(text.slice(i, i + 300));
      if (!m) {
        skipped++;
        addText('<');
        i++;
        continue;
      }
      i += m[0].length;
      const at = stack.map((e) => e.name).lastIndexOf(m[1]!);
      if (at <= 0) {
        skipped++;
        continue;
      }
      stack[at]!.closed = true;
      stack.length = at;
    } else {
      const tag = readStartTag(text, i);
      if (!tag) {
        // A "<" that starts no tag (or a tag cut off by the end of the output).
        if (/^<[A-Za-z_]/.test(text.slice(i, i + 2))) skipped++;
        addText('<');
        i++;
        continue;
      }
      i = tag.end;
      const el: XmlElement = { name: tag.name, attrs: tag.attrs, children: [], text: '', closed: tag.selfClosing };
      stack[stack.length - 1]!.children.push(el);
      if (!tag.selfClosing) stack.push(el);
    }
  }
  return { roots: doc.children, outside, skipped };
}

function readStartTag(text: string, from: number): { name: string; attrs: Record<string, string>; selfClosing: boolean; end: number } | undefined {
  const m = /^<([A-Za-z_][\w:.-]*)/.exec(text.slice(from, from + 200));
  if (!m) return undefined;
  const attrs: Record<string, string> = {};
  let i = from + m[0].length;
  for (;;) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (i >= text.length) return undefined;
    if (text[i] === '>') return { name: m[1]!, attrs, selfClosing: false, end: i + 1 };
    if (text.startsWith('/>', i)) return { name: m[1]!, attrs, selfClosing: true, end: i + 2 };
    const a = /^([^\s=/>]+)\s*(=\s*)?/.exec(text.slice(i, i + 300));
    if (!a) {
      i++;
      continue;
    }
    i += a[0].length;
    let value = '';
    if (a[2]) {
      const q = text[i];
      if (q === '"' || q === "'") {
        const end = text.indexOf(q, i + 1);
        if (end < 0) return undefined;
        value = text.slice(i + 1, end);
        i = end + 1;
      } else {
        let end = i;
        while (end < text.length && !/[\s>]/.test(text[end]!)) end++;
        if (text[end - 1] === '/' && text[end] === '>') end--;
        value = text.slice(i, end);
        i = end;
      }
    }
    attrs[a[1]!] = decodeEntities(value);
  }
}

/**
 * node's junit reporter writes a failure as util.inspect of the runner's wrapper error:
 * "[Error [ERR_TEST_FAILURE]: message] { code: 'ERR_TEST_FAILURE', …, cause: AssertionError … }".
 * The message, and the assertion's actual/expected when they fit on a line, are what a brief needs.
 */
function nodeJunitError(body: string): string | undefined {
  const m = body.startsWith('[')
    ? /^\[Error(?: \[ERR_TEST_FAILURE\])?: ([^]*?)\] \{\s*code: 'ERR_TEST_FAILURE'/.exec(body)
    : /^Error(?: \[ERR_TEST_FAILURE\])?: ([^]*?)(?:\n\s+at [^\n]*)+ \{\s*code: 'ERR_TEST_FAILURE'/.exec(body);
  if (!m) return undefined;
  const diff = /\n\s*actual: ([^\n]*?),\n\s*expected: ([^\n]*?),?\n/.exec(body);
  return diff ? `${m[1]!.trim()}\nexpected: ${diff[2]}\nactual: ${diff[1]}` : m[1]!.trim();
}

/** node 20's junit reporter escapes a quote in an attribute twice ("&amp;quot;"); later versions do not. */
const attrText = (s: string | undefined) => (s === undefined ? undefined : s.replace(/&quot;/g, '"').trim());

const JUNIT_IGNORED = new Set(['properties', 'property', 'system-out', 'system-err']);
const CASE_IGNORED = new Set([...JUNIT_IGNORED, 'rerunFailure', 'rerunError', 'flakyFailure', 'flakyError']);

function parseJunit(text: string, opts: ParseOptions): Raw {
  const xml = readXml(text);
  let skipped = xml.skipped + countLines(xml.outside);
  const tests: TestResult[] = [];
  // pytest writes a test's line 0-based (its item.location).
  const pytest = xml.roots.some((r) => r.attrs.name === 'pytest tests' || r.attrs.name === 'pytest' || r.children.some((c) => c.name === 'testsuite' && c.attrs.name === 'pytest'));

  const walk = (el: XmlElement, suites: string[], suiteFile: string | undefined) => {
    for (const c of el.children) {
      if (c.name === 'testsuites') walk(c, suites, suiteFile);
      else if (c.name === 'testsuite') {
        const name = attrText(c.attrs.name);
        walk(c, name ? [...suites, name] : suites, c.attrs.file ?? suiteFile);
      } else if (c.name === 'testcase') testcase(c, suites, suiteFile);
      else if (!JUNIT_IGNORED.has(c.name)) skipped++;
    }
  };

  const testcase = (c: XmlElement, suites: string[], suiteFile: string | undefined) => {
    let name = attrText(c.attrs.name);
    if (name === undefined || !c.closed) {
      skipped++;
      return;
    }
    const classname = attrText(c.attrs.classname);
    const fileAttr = c.attrs.file ?? c.attrs.filepath ?? suiteFile;
    const idFile = fileAttr ? relativePath(fileAttr, opts.root) : undefined;
    // node names a test file that failed to load by its absolute path.
    const fileFailure = looksLikeFile(name);
    if (fileFailure) name = relativePath(name, opts.root);
    let file = idFile ?? (fileFailure ? name : undefined);
    let lineNo = c.attrs.line !== undefined && /^\d+$/.test(c.attrs.line.trim()) ? Number(c.attrs.line) + (pytest ? 1 : 0) : undefined;
    const path = [...suites, ...(classname && classname !== name && classname !== 'test' ? [classname] : []), name];

    let status: TestResult['status'] = 'passed';
    const failures: string[] = [];
    const stacks: string[] = [];
    for (const k of c.children) {
      if (k.name === 'failure' || k.name === 'error') {
        status = 'failed';
        const attr = attrText(k.attrs.message) ?? '';
        const raw = k.text.replace(/^\n+|\s+$/g, '');
        const body = nodeJunitError(raw) ?? raw;
        const squash = (s: string) => s.replace(/\s+/g, '');
        failures.push(!attr ? body : !body || squash(body).startsWith(squash(attr)) ? body || attr : `${attr}\n\n${body}`);
        stacks.push(raw);
      } else if (k.name === 'skipped') {
        if (status !== 'failed') status = 'skipped';
      } else if (!CASE_IGNORED.has(k.name)) skipped++;
    }
    const message = brief(failures.join('\n\n'));
    if (message && (lineNo === undefined || !file)) {
      const at = locateIn(stacks.join('\n'), opts.root, file);
      if (!file && at.file) file = at.file;
      if (lineNo === undefined) lineNo = at.line;
    }
    const time = c.attrs.time !== undefined ? Number(c.attrs.time) : undefined;
    const durationMs = time !== undefined && Number.isFinite(time) ? Math.round(time * 1e6) / 1e3 : undefined;
    tests.push(makeResult(path, status, { idFile, file, line: lineNo, message, durationMs }));
  };

  walk({ name: '#document', attrs: {}, children: xml.roots, text: '', closed: true }, [], undefined);
  return { tests, skipped };
}

// ——— mocha JSON ———

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The reporter's JSON object in the output, after (or between) whatever the tests printed. */
function findMochaJson(text: string): { value: Obj; start: number; end: number } | undefined {
  const starts: number[] = [];
  const re = /^\{/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) starts.push(m.index);
  for (const start of starts) {
    const end = matchBrace(text, start);
    if (end < 0) continue;
    try {
      const value = obj(JSON.parse(text.slice(start, end)));
      if (value && obj(value.stats) && (Array.isArray(value.tests) || Array.isArray(value.failures) || Array.isArray(value.passes))) return { value, start, end };
    } catch {}
  }
  return undefined;
}

/** Where the JSON value starting with "{" at `start` ends (strings respected), or -1. */
function matchBrace(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}

function parseMochaJson(text: string, opts: ParseOptions): Raw {
  const found = findMochaJson(text);
  if (!found) return { tests: [], skipped: countLines(text) };
  let skipped = countLines(text.slice(0, found.start)) + countLines(text.slice(found.end));
  const doc = found.value;
  const list = (k: string) => (Array.isArray(doc[k]) ? (doc[k] as unknown[]) : []);
  const keyOf = (t: Obj) => `${str(t.file) ?? ''}\0${str(t.fullTitle) ?? str(t.title) ?? ''}`;
  const take = (m: Map<string, number>, k: string) => {
    const n = m.get(k) ?? 0;
    if (n > 0) m.set(k, n - 1);
    return n > 0;
  };
  const bag = (items: unknown[]) => {
    const m = new Map<string, number>();
    for (const t of items) {
      const o = obj(t);
      if (o) m.set(keyOf(o), (m.get(keyOf(o)) ?? 0) + 1);
    }
    return m;
  };
  const failedErr = (t: Obj) => {
    const err = obj(t.err);
    return !!err && (str(err.message) !== undefined || str(err.stack) !== undefined);
  };

  const tests: TestResult[] = [];
  const emit = (t: Obj, status: TestResult['status']) => {
    const title = str(t.title);
    if (title === undefined) {
      skipped++;
      return;
    }
    const full = str(t.fullTitle) ?? title;
    const parent = full.endsWith(title) ? full.slice(0, full.length - title.length).trim() : '';
    const idFile = str(t.file) ? relativePath(str(t.file)!, opts.root) : undefined;
    let message: string | undefined;
    let line: number | undefined;
    if (status === 'failed') {
      const err = obj(t.err) ?? {};
      const parts = [str(err.message) ?? str(err.stack) ?? ''];
      const expected = str(err.expected);
      const actual = str(err.actual);
      if (expected !== undefined && actual !== undefined && !expected.includes('\n') && !actual.includes('\n') && err.showDiff !== false) parts.push(`expected: ${expected}\nactual: ${actual}`);
      message = brief(parts.join('\n'));
      line = locateIn(str(err.stack) ?? '', opts.root, idFile).line;
    }
    const duration = typeof t.duration === 'number' ? t.duration : undefined;
    tests.push(makeResult(parent ? [parent, title] : [title], status, { idFile, line, message, durationMs: duration }));
  };

  const hasTests = Array.isArray(doc.tests);
  const pending = bag(list('pending'));
  const failedKeys = new Map<string, number>();
  const all = hasTests ? list('tests') : [...list('passes'), ...list('pending')];
  for (const t of all) {
    const o = obj(t);
    if (!o) {
      skipped++;
      continue;
    }
    const failed = failedErr(o);
    if (failed) failedKeys.set(keyOf(o), (failedKeys.get(keyOf(o)) ?? 0) + 1);
    emit(o, failed ? 'failed' : take(pending, keyOf(o)) ? 'skipped' : 'passed');
  }
  // Failures that are not tests of the list: hooks ("before all" hook for "x"), and all of them
  // when the JSON has no `tests`.
  for (const t of list('failures')) {
    const o = obj(t);
    if (!o) skipped++;
    else if (!take(failedKeys, keyOf(o))) emit(o, 'failed');
  }
  return { tests, skipped };
}
