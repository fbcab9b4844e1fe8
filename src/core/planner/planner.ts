/**
 * The planner: the orchestrator's "decompose" step. It runs a CLI agent non-interactively with a
 * prompt asking for plan JSON, validates the answer with the plan schema, and asks again with the
 * validation errors when the answer is wrong, a bounded number of times.
 *
 * The command is an argv array. `{prompt}` becomes the whole prompt as one argument and
 * `{promptFile}` the path of a file holding it; with neither, the prompt arrives on stdin.
 */
import { LanesError } from '../errors';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isPresetName, PRESETS, substituteArgv } from '../agents/presets';
import { gitOut } from '../git/git';
import { planJsonSchema, Plan } from '../plan/schema';
import { findTemplate } from '../plan/templates';
import { formatDiagnostic, PlanDiagnostic, validatePlanValue } from '../plan/validate';
import { cleanEnv, describeExit, run } from '../util/proc';

export interface PlannerAttempt {
  attempt: number;
  exit: string;
  /** What went wrong with this attempt's answer, if anything. */
  problems: string[];
  outputTail: string;
  durationMs: number;
  /** The planner is asked again after this attempt (its answer had problems, tries are left). */
  askingAgain?: boolean;
}

export class PlannerError extends LanesError {
  constructor(
    message: string,
    readonly attempts: PlannerAttempt[],
    readonly reason: 'notInstalled' | 'agentFailed' | 'invalidAnswer' | 'cancelled',
  ) {
    super(message);
    this.name = 'PlannerError';
  }
}

export interface PlannerOptions {
  task: string;
  /** argv of the planner agent (see file comment), or a preset name. */
  command: readonly string[] | string;
  /** Repository root: the planner runs here and sees its file list. */
  cwd: string;
  maxAttempts?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  onAttempt?: (a: PlannerAttempt) => void;
  onOutput?: (chunk: string) => void;
}

export interface PlannerResult {
  plan: Plan;
  warnings: PlanDiagnostic[];
  attempts: PlannerAttempt[];
}

export function plannerArgv(command: readonly string[] | string): string[] {
  if (typeof command === 'string') {
    if (!isPresetName(command)) throw new Error(`unknown planner preset "${command}"`);
    return [...PRESETS[command].plannerCommand];
  }
  if (command.length === 0) throw new Error('planner command is empty');
  return [...command];
}

/** Pull the JSON object out of an agent's answer: a ```json fence, or the outermost {...}. */
export function extractJson(answer: string): unknown {
  const fences = [...answer.matchAll(/```(?:json|JSON)?\s*\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const candidates = [...fences.reverse(), answer];
  let lastError: Error | undefined;
  for (const c of candidates) {
    const start = c.indexOf('{');
    const end = c.lastIndexOf('}');
    if (start < 0 || end < start) continue;
    try {
      return JSON.parse(c.slice(start, end + 1));
    } catch (e) {
      lastError = e as Error;
    }
  }
  throw new Error(lastError ? `the answer is not valid JSON (${lastError.message})` : 'the answer contains no JSON object');
}

async function repoFiles(cwd: string): Promise<string> {
  try {
    const out = await gitOut(['ls-files', '-z'], { cwd, readOnly: true });
    const files = out.split('\0').filter(Boolean);
    const shown = files.slice(0, 400);
    return shown.join('\n') + (files.length > shown.length ? `\n… and ${files.length - shown.length} more files` : '');
  } catch {
    return '(not a git repository)';
  }
}

export async function buildPlannerPrompt(task: string, cwd: string, feedback?: { answer: string; problems: string[] }): Promise<string> {
  const example = findTemplate('pipeline')!.build({ goal: task, layout: { code: ['src'], tests: ['test'], docs: ['docs'], verify: 'npm test' } });
  const parts = [
    'You are the planner of Agent Lanes. Split the task below into lanes of work that separate coding agents will do at the same time, each in its own git worktree.',
    'Answer with ONE JSON object only: an Agent Lanes plan that matches the JSON Schema below. No prose before or after it.',
    '',
    'Rules for a good plan:',
    '- Lanes that touch the same files must not run in parallel: give each lane a "scope" (globs) and make a lane depend on another ("dependsOn") when it needs that lane\'s work.',
    '- Each brief says exactly what the lane must deliver; every lane also reads the goal and the whole plan.',
    '- Lane ids are short words made of letters, digits, "-", "_" or "." (they become branch names).',
    '- Use "verify" for a command that proves the lane or the whole change works (e.g. the test suite).',
    '',
    '## Task',
    task,
    '',
    '## Files in the repository',
    await repoFiles(cwd),
    '',
    '## Example plan (shape only)',
    JSON.stringify(example, null, 2),
    '',
    '## JSON Schema of the plan',
    JSON.stringify(planJsonSchema()),
  ];
  if (feedback) {
    parts.push(
      '',
      '## Your previous answer was rejected',
      'Fix these problems and answer again with the whole corrected plan JSON:',
      ...feedback.problems.map((p) => `- ${p}`),
      '',
      'Previous answer:',
      feedback.answer.length > 8000 ? feedback.answer.slice(0, 8000) + '\n…' : feedback.answer,
    );
  }
  return parts.join('\n');
}

export async function runPlanner(o: PlannerOptions): Promise<PlannerResult> {
  const argv = plannerArgv(o.command);
  const maxAttempts = Math.max(1, o.maxAttempts ?? 3);
  const attempts: PlannerAttempt[] = [];
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'lanes-planner-'));
  let feedback: { answer: string; problems: string[] } | undefined;
  try {
    for (let n = 1; n <= maxAttempts; n++) {
      const prompt = await buildPlannerPrompt(o.task, o.cwd, feedback);
      const promptFile = path.join(tmp, `prompt-${n}.md`);
      await fs.writeFile(promptFile, prompt);
      const usesPlaceholder = argv.some((a) => a.includes('{prompt}') || a.includes('{promptFile}'));
      const cmd = substituteArgv(argv, { prompt, promptFile });
      const r = await run(cmd, {
        cwd: o.cwd,
        signal: o.signal,
        timeoutMs: o.timeoutMs,
        input: usesPlaceholder ? '' : prompt,
        env: cleanEnv({ LANES_PLANNER_ATTEMPT: String(n), LANES_PROMPT_FILE: promptFile }, { ...process.env, ...o.env }),
        onOutput: (c, s) => s === 'stdout' && o.onOutput?.(c),
      });
      const attempt: PlannerAttempt = { attempt: n, exit: describeExit(r), problems: [], outputTail: (r.stdout + r.stderr).slice(-2000), durationMs: r.durationMs };
      attempts.push(attempt);
      if (r.spawnError) {
        throw new PlannerError(`the planner "${argv[0]}" could not be started: ${describeExit(r)}`, attempts, r.spawnError.code === 'ENOENT' ? 'notInstalled' : 'agentFailed');
      }
      if (r.cancelled) throw new PlannerError('planning was cancelled', attempts, 'cancelled');
      if (r.timedOut || r.code !== 0) {
        // A program that failed is not asked again: its own words say why.
        const said = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-5).join(' / ');
        attempt.problems.push(`the planner ${describeExit(r)}${said ? `: ${said}` : ''}`);
        o.onAttempt?.(attempt);
        throw new PlannerError(`the planner ${describeExit(r)}${said ? `: ${said}` : ' (it printed nothing)'}`, attempts, 'agentFailed');
      }
      let value: unknown;
      try {
        value = extractJson(r.stdout);
      } catch (e) {
        attempt.problems.push((e as Error).message);
      }
      if (value !== undefined) {
        const v = validatePlanValue(value);
        if (v.ok && v.plan) {
          o.onAttempt?.(attempt);
          return { plan: v.plan, warnings: v.warnings, attempts };
        }
        attempt.problems.push(...v.errors.map((d) => formatDiagnostic(d)));
      }
      attempt.askingAgain = n < maxAttempts;
      o.onAttempt?.(attempt);
      feedback = { answer: r.stdout, problems: attempt.problems };

    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
  throw new PlannerError(
    `the planner gave no valid plan in ${maxAttempts} attempt${maxAttempts === 1 ? '' : 's'}; last problems:\n${attempts[attempts.length - 1]!.problems.map((p) => `  - ${p}`).join('\n')}`,
    attempts,
    'invalidAnswer',
  );
}
