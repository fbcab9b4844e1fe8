/**
 * Tasks from their sources: failing tests of a command (one task per failing test), a list in a
 * file, a glob of files. And the checks: a task's own check command, or its test in the test
 * command's output. Ids are stable (the same failing test is the same task in every clone) and
 * safe as file names (they name lock files).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { commandArgv, describeCommand } from '../agents/resolve';
import { gitPaths } from '../git/git';
import { matchesAny } from '../plan/glob';
import type { CommandLine } from '../plan/schema';
import { cleanEnv, describeExit, run, RunResult } from '../util/proc';
import { parseResults, ResultFormat, TestResult } from './results';
import type { QueueConfig, TaskSource } from './schema';
import type { Task } from './store';
import { QueueError } from './store';

/** A file-name-safe, stable id: a readable slug and a hash of the whole key. */
export function taskId(prefix: string, key: string): string {
  const slug = key
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .toLowerCase();
  return `${prefix}-${slug || 'task'}-${createHash('sha1').update(key).digest('hex').slice(0, 8)}`;
}

function fill(template: string, values: Record<string, string | undefined>): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in values ? (values[k] ?? '') : m));
}

function fillCommand(cmd: CommandLine, values: Record<string, string | undefined>): string | string[] {
  // A string command is the user's own shell line: values are not substituted into it (no shell
  // string is ever built from task text); an argv gets them as whole arguments.
  return typeof cmd === 'string' ? cmd : cmd.map((a) => fill(a, values));
}

const DEFAULT_BRIEF =
  'Make this failing test pass: {name}{file_at}.\n\nWhat it reports:\n\n{message}\n\nFix the cause in the code under test; change the test only if the test itself is wrong, and say why in your notes.';

export interface RunnedCommand {
  result: RunResult;
  output: string;
}

export async function runCommand(cmd: CommandLine, cwd: string, env: NodeJS.ProcessEnv, signal?: AbortSignal, timeoutMs?: number): Promise<RunnedCommand> {
  const result = await run(commandArgv(cmd), { cwd, env: cleanEnv(env), signal, timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  return { result, output: result.stdout + (result.stderr ? `\n${result.stderr}` : '') };
}

/** The tests of a command's output (its own reporter output). */
export async function testsOf(cmd: CommandLine, format: ResultFormat | 'auto' | undefined, cwd: string, env: NodeJS.ProcessEnv, signal?: AbortSignal, timeoutMs?: number): Promise<{ tests: TestResult[]; run: RunnedCommand }> {
  const r = await runCommand(cmd, cwd, env, signal, timeoutMs);
  // The reporter writes to stdout; stderr is the tests' own noise.
  const parsed = parseResults(r.result.stdout, format ?? 'auto', { root: cwd });
  if (!parsed.tests.length && r.result.code !== 0) {
    throw new QueueError(`\`${describeCommand(cmd)}\` ${describeExit(r.result)} and its output has no test results (is its reporter TAP, JUnit XML or mocha JSON?): ${r.output.trim().split('\n').slice(-3).join(' / ')}`, 'noQueue');
  }
  return { tests: parsed.tests, run: r };
}

async function fromSource(src: TaskSource, q: QueueConfig, cwd: string, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<Task[]> {
  if ('tests' in src) {
    const { tests } = await testsOf(src.tests, src.format, cwd, env, signal);
    return tests
      .filter((t) => t.status === 'failed')
      .map((t) => {
        const values = { id: taskId('test', t.id), name: t.name, file: t.file, message: t.message ?? '', details: t.path.join(' > '), file_at: t.file ? ` (in ${t.file}${t.line ? `:${t.line}` : ''})` : '' };
        return {
          id: values.id,
          name: t.path.join(' > ') || t.name,
          brief: fill(src.brief ?? q.brief ?? DEFAULT_BRIEF, values),
          check: src.check ? fillCommand(src.check, values) : undefined,
          file: t.file,
          source: 'tests' as const,
          testId: t.id,
          message: t.message?.slice(0, 2000),
        };
      });
  }
  if ('list' in src) {
    const file = path.resolve(cwd, src.list);
    if (!file.startsWith(cwd + path.sep)) throw new QueueError(`sources: "${src.list}" is outside the repository`, 'noQueue');
    let raw: unknown;
    try {
      raw = JSON.parse(await fs.readFile(file, 'utf8'));
    } catch (e) {
      throw new QueueError(`sources: cannot read the task list ${src.list}: ${(e as Error).message}`, 'noQueue');
    }
    if (!Array.isArray(raw)) throw new QueueError(`sources: ${src.list} must hold a JSON array of {"id", "brief", "check"?, "scope"?}`, 'noQueue');
    return raw.map((x: { id?: unknown; brief?: unknown; check?: unknown; scope?: unknown; name?: unknown }, i) => {
      if (typeof x?.brief !== 'string' || !x.brief.trim()) throw new QueueError(`sources: ${src.list}[${i}].brief: expected the task's brief (a string)`, 'noQueue');
      const key = typeof x.id === 'string' && x.id.trim() ? x.id.trim() : `${i}`;
      return {
        id: taskId('task', key),
        name: typeof x.name === 'string' ? x.name : key,
        brief: x.brief,
        check: typeof x.check === 'string' || Array.isArray(x.check) ? (x.check as string | string[]) : undefined,
        scope: Array.isArray(x.scope) ? (x.scope as string[]) : undefined,
        source: 'list' as const,
      };
    });
  }
  const files = (await gitPaths(['ls-files', '-z'], { cwd, readOnly: true })).filter((f) => matchesAny(f, [src.files]));
  return files.map((file) => {
    const id = taskId('file', file);
    return { id, name: file, brief: fill(src.brief, { file, id }), check: src.check ? fillCommand(src.check, { file, id }) : undefined, file, scope: [file], source: 'files' as const };
  });
}

/**
 * Every task of the queue's sources, and of its specialist roles' own sources (each with the
 * role's brief and agent), run in `cwd` (a checkout of the integration head).
 */
export async function collectTasks(q: QueueConfig, cwd: string, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<Task[]> {
  const out: Task[] = [];
  const seen = new Set<string>();
  const add = (t: Task) => {
    if (seen.has(t.id)) return;
    seen.add(t.id);
    out.push(t);
  };
  for (const src of q.sources) for (const t of await fromSource(src, q, cwd, env, signal)) add(t);
  for (const role of q.roles ?? []) {
    for (const src of role.sources ?? []) {
      for (const t of await fromSource(src, q, cwd, env, signal)) {
        add({ ...t, id: `role-${role.id.replace(/[^A-Za-z0-9-]/g, '-')}-${t.id}`, brief: `${role.brief.trim()}\n\n${t.brief}`, role: role.id, agent: role.agent });
      }
    }
  }
  return out;
}

/** The test source a task came from (its test command and format). */
function sourceOf(q: QueueConfig, t: Task): Extract<TaskSource, { tests: unknown }> | undefined {
  if (t.source !== 'tests' && !(t.source === 'split' && t.testId)) return undefined;
  return q.sources.find((s): s is Extract<TaskSource, { tests: unknown }> => 'tests' in s);
}

export interface CheckResult {
  passed: boolean;
  output: string;
  /** Units the check reports failing (a task whose check fails in several is split). */
  failing: TestResult[];
  command: string;
}

/** Run a task's check in `cwd`: its own command, or its test in the test command's output. */
export async function checkTask(q: QueueConfig, t: Task, cwd: string, env: NodeJS.ProcessEnv, signal?: AbortSignal, timeoutMs?: number): Promise<CheckResult> {
  if (t.check) {
    const r = await runCommand(t.check, cwd, env, signal, timeoutMs);
    const parsed = parseResults(r.result.stdout, 'auto', { root: cwd });
    // A unit split off a bigger check passes when its own unit passes there.
    if (t.testId && t.source === 'split') {
      const mine = parsed.tests.find((x) => x.id === t.testId);
      return { passed: mine?.status === 'passed', output: r.output, failing: mine && mine.status !== 'passed' ? [mine] : [], command: describeCommand(t.check) };
    }
    return { passed: r.result.code === 0 && !r.result.timedOut, output: r.output, failing: parsed.tests.filter((x) => x.status === 'failed'), command: describeCommand(t.check) };
  }
  const src = sourceOf(q, t);
  if (src && t.testId) {
    const { tests, run: r } = await testsOf(src.tests, src.format, cwd, env, signal, timeoutMs);
    const mine = tests.find((x) => x.id === t.testId);
    return { passed: mine?.status === 'passed', output: r.output, failing: mine && mine.status === 'failed' ? [mine] : [], command: describeCommand(src.tests) };
  }
  // No check at all (a list entry without one): the gate is its only check.
  return { passed: false, output: '', failing: [] as TestResult[], command: '' };
}

/** Tasks a task splits into: one per failing unit its check reports (when there are several). */
export function splitByUnits(t: Task, failing: readonly TestResult[]): Task[] {
  // One level: a unit is not split again.
  if (failing.length < 2 || t.source === 'split') return [];
  return failing.map((u) => ({
    id: taskId('split', `${t.id}:${u.id}`),
    name: u.path.join(' > ') || u.name,
    brief: `${t.brief}\n\nThis is one part of task ${t.id}: make this unit pass: ${u.path.join(' > ') || u.name}${u.file ? ` (in ${u.file}${u.line ? `:${u.line}` : ''})` : ''}.\n\n${u.message ?? ''}`,
    check: t.check,
    file: u.file ?? t.file,
    scope: t.scope,
    source: 'split' as const,
    testId: u.id,
    message: u.message,
    parent: t.id,
  }));
}

/** Tasks a plan's split command makes of a failing task (JSON array on its stdout). */
export async function splitByCommand(cmd: CommandLine, t: Task, cwd: string, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<Task[]> {
  const r = await run(commandArgv(cmd), { cwd, env: cleanEnv(env), signal, input: JSON.stringify(t) });
  if (r.code !== 0) throw new QueueError(`split command \`${describeCommand(cmd)}\` ${describeExit(r)}: ${r.stderr.trim().split('\n').pop() ?? ''}`, 'noQueue');
  let raw: unknown;
  try {
    raw = JSON.parse(r.stdout);
  } catch {
    throw new QueueError(`split command \`${describeCommand(cmd)}\` must print a JSON array of {"id", "brief", "check"?}`, 'noQueue');
  }
  if (!Array.isArray(raw)) throw new QueueError(`split command \`${describeCommand(cmd)}\` must print a JSON array`, 'noQueue');
  return raw
    .filter((x: { brief?: unknown }) => typeof x?.brief === 'string')
    .map((x: { id?: unknown; brief: string; check?: unknown }, i) => ({
      id: taskId('split', `${t.id}:${typeof x.id === 'string' ? x.id : i}`),
      name: typeof x.id === 'string' ? x.id : `${t.name} part ${i + 1}`,
      brief: x.brief,
      check: typeof x.check === 'string' || Array.isArray(x.check) ? (x.check as string | string[]) : t.check,
      scope: t.scope,
      file: t.file,
      source: 'split' as const,
      parent: t.id,
    }));
}

/** A random sample of `size` files matching `glob` (the fast part of a worker's checks). */
export async function sampleFiles(cwd: string, glob: string, size: number, rnd: () => number = Math.random): Promise<string[]> {
  const all = (await gitPaths(['ls-files', '-z'], { cwd, readOnly: true })).filter((f) => matchesAny(f, [glob]));
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, size);
}

export { fillCommand };

/**
 * A change's signature for finding duplicate work: a short hash of each line it adds or removes
 * with the file it is in (whitespace-trimmed: the same fix in the same file, however indented),
 * at most 2000. The same line in two files is two different changes.
 */
export function diffSignature(diff: string): string[] {
  const out = new Set<string>();
  let file = '';
  for (const line of diff.split('\n')) {
    const header = /^\+\+\+ (?:b\/)?(.*)$/.exec(line);
    if (header) {
      file = header[1]!;
      continue;
    }
    if (!/^[+-]/.test(line) || /^--- /.test(line)) continue;
    const body = line.slice(1).trim();
    if (!body) continue;
    out.add(line[0] + createHash('sha1').update(`${file}\0${body}`).digest('hex').slice(0, 12));
    if (out.size >= 2000) break;
  }
  return [...out];
}

/** How alike two changes are: shared lines over all lines (Jaccard), 0 to 1. */
export function similarity(a: readonly string[], b: readonly string[]): number {
  if (!a.length || !b.length) return 0;
  const sb = new Set(b);
  const shared = a.filter((x) => sb.has(x)).length;
  return shared / (a.length + b.length - shared);
}

/** Changes this alike are near-identical: the second is not integrated blind. */
export const NEAR_IDENTICAL = 0.8;
