import { LanesError } from '../../core/errors';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isPresetName, PRESET_NAMES, PresetName, PRESETS } from '../../core/agents/presets';
import { GitError, repoRoot } from '../../core/git/git';
import { loadPlan, PlanFileError, resolvePlanPath, writePlan } from '../../core/plan/load';
import { planJsonSchema } from '../../core/plan/schema';
import { queueJsonSchema } from '../../core/queue/schema';
import { planFromTemplate, TEMPLATES } from '../../core/plan/templates';
import { formatDiagnostic, formatPath } from '../../core/plan/validate';
import { PlannerError, runPlanner } from '../../core/planner/planner';
import { exists } from '../../core/util/fsx';
import { intOption, UsageError } from '../args';
import { Command, EXIT_FAILED, EXIT_OK, Io, JSON_OPTION, PLAN_OPTION, printJson, style } from '../context';

/** The repository root for cwd, or a failure the user can act on. */
export async function requireRepo(io: Io): Promise<string> {
  try {
    return await repoRoot(io.cwd);
  } catch (e) {
    if (GitError.is(e, 'notARepository')) {
      throw new CliFailure(`${io.cwd} is not inside a git repository. Agent Lanes runs every lane in its own git worktree: run "git init" first.`);
    }
    if (GitError.is(e, 'notInstalled')) throw new CliFailure('git is not installed or not on PATH.');
    throw e;
  }
}

/** A failure of the work (exit 1) with a message for the user. */
export class CliFailure extends LanesError {
  readonly reason = 'failed' as const;
  constructor(message: string) {
    super(message);
    this.name = 'CliFailure';
  }
}

function relative(io: Io, file: string): string {
  const rel = path.relative(io.cwd, file);
  return rel && !rel.startsWith('..') ? rel : file;
}

async function onPath(executable: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      await fs.access(path.join(dir, executable), fs.constants.X_OK);
      return true;
    } catch {
      /* keep looking */
    }
  }
  return false;
}

export const initCommand: Command = {
  name: 'init',
  summary: 'create a plan from a template',
  usage: 'lanes init [--template NAME] [--goal TEXT] [--agent NAME] [--plan FILE] [--force]',
  description: 'Writes .lanes/plan.json (or --plan FILE) from a template, with scopes and a verify command that fit this repository.',
  options: [
    { name: 'template', short: 't', type: 'string', valueName: 'NAME', description: `template: ${TEMPLATES.map((t) => t.name).join(', ')} (default trio)` },
    { name: 'goal', short: 'g', type: 'string', valueName: 'TEXT', description: 'the task every lane works towards' },
    { name: 'agent', short: 'a', type: 'string', valueName: 'NAME', description: `default agent preset: ${PRESET_NAMES.join(', ')} (default claude)` },
    PLAN_OPTION,
    { name: 'force', short: 'f', type: 'flag', description: 'replace an existing plan (the old one is kept as <file>.bak)' },
    JSON_OPTION,
  ],
  examples: ['lanes init --template trio --goal "Add rate limiting to the API"', 'lanes init -t pipeline -a codex --plan plans/rate-limit.json'],
  async run(args, io) {
    const root = await requireRepo(io);
    const template = (args.options.template as string | undefined) ?? 'trio';
    if (!TEMPLATES.some((t) => t.name === template)) {
      throw new UsageError(`unknown template "${template}"; choose one of: ${TEMPLATES.map((t) => t.name).join(', ')}`);
    }
    const agent = (args.options.agent as string | undefined) ?? 'claude';
    if (!isPresetName(agent)) throw new UsageError(`unknown agent preset "${agent}"; choose one of: ${PRESET_NAMES.join(', ')}`);
    const file = resolvePlanPath(root, args.options.plan as string | undefined);
    if ((await exists(file)) && !args.options.force) {
      throw new CliFailure(`${relative(io, file)} already exists; use --force to replace it (the old plan is kept as ${path.basename(file)}.bak)`);
    }
    const goal = (args.options.goal as string | undefined) ?? args.positionals.join(' ') ?? '';
    const plan = await planFromTemplate(template, root, { goal: goal.trim() || 'Describe the task here: every lane reads this goal.', agent });
    if (await exists(file)) await fs.copyFile(file, `${file}.bak`);
    await writePlan(file, plan);
    const loaded = await loadPlan(file, root);
    if (args.options.json) {
      printJson(io, { file, template, plan, warnings: loaded.warnings });
    } else {
      const s = style(io);
      io.out(`${s.green('✓')} wrote ${relative(io, file)} from the ${s.bold(template)} template: ${plan.lanes.map((l) => l.id).join(', ')}\n`);
      if (!args.options.goal && !args.positionals.length) io.out(`  Next: put your task in "goal", then check it with ${s.bold('lanes validate')}\n`);
    }
    return EXIT_OK;
  },
};

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check a plan and report every problem with its place',
  usage: 'lanes validate [FILE] [--strict] [--json]',
  description: 'Errors (exit 1) break the plan; warnings (exit 0, or 1 with --strict) point at lanes that may collide.',
  options: [{ name: 'strict', type: 'flag', description: 'treat warnings as errors' }, JSON_OPTION],
  examples: ['lanes validate', 'lanes validate plans/rate-limit.json --json'],
  async run(args, io) {
    if (args.positionals.length > 1) throw new UsageError('validate takes at most one file');
    let file: string;
    let root: string | undefined;
    if (args.positionals[0]) {
      file = path.resolve(io.cwd, args.positionals[0]);
      root = await repoRoot(path.dirname(file)).catch(() => undefined);
    } else {
      root = await requireRepo(io);
      file = resolvePlanPath(root);
    }
    let loaded;
    try {
      loaded = await loadPlan(file, root);
    } catch (e) {
      if (e instanceof PlanFileError) throw new CliFailure(e.message);
      throw e;
    }
    const failed = !loaded.ok || (Boolean(args.options.strict) && loaded.warnings.length > 0);
    if (args.options.json) {
      const shape = (d: (typeof loaded.errors)[number]) => ({ ...d, path: formatPath(d.path), jsonPath: d.path });
      printJson(io, { file, ok: !failed, hash: loaded.hash, errors: loaded.errors.map(shape), warnings: loaded.warnings.map(shape), lanes: loaded.plan?.lanes.map((l) => l.id) });
    } else {
      const s = style(io);
      const shown = relative(io, file);
      for (const d of [...loaded.errors, ...loaded.warnings]) {
        const line = formatDiagnostic(d, shown);
        io.err((d.severity === 'error' ? s.red(line) : s.yellow(line)) + '\n');
      }
      if (loaded.ok) {
        const plan = loaded.plan!;
        io.out(`${s.green('✓')} ${shown}: valid plan with ${plan.lanes.length} lane${plan.lanes.length === 1 ? '' : 's'}${loaded.warnings.length ? `, ${loaded.warnings.length} warning${loaded.warnings.length === 1 ? '' : 's'}` : ''}\n`);
      } else {
        io.err(`${s.red('✗')} ${shown}: ${loaded.errors.length} error${loaded.errors.length === 1 ? '' : 's'}\n`);
      }
    }
    return failed ? EXIT_FAILED : EXIT_OK;
  },
};

export const planCommand: Command = {
  name: 'plan',
  summary: 'write a plan from a task description with a planner agent',
  usage: 'lanes plan "<task>" [--planner NAME] [--attempts N] [--plan FILE] [--force] [--print] [-- PROGRAM ARG…]',
  description:
    'Runs a CLI agent non-interactively with a prompt that asks for plan JSON, validates the answer and asks again with the errors (up to --attempts). ' +
    'The planner is --planner (a preset), or any program after "--" ({prompt} and {promptFile} are replaced; otherwise the prompt is on stdin), ' +
    'or $LANES_PLANNER (a preset name or a JSON argv array), or the first preset found on PATH.',
  options: [
    { name: 'planner', type: 'string', valueName: 'NAME', description: `planner preset: ${PRESET_NAMES.join(', ')}` },
    { name: 'attempts', type: 'string', valueName: 'N', description: 'ask at most N times (default 3)' },
    { name: 'timeout', type: 'string', valueName: 'MINUTES', description: 'stop a planner attempt after this long (default 10)' },
    PLAN_OPTION,
    { name: 'force', short: 'f', type: 'flag', description: 'replace an existing plan (kept as <file>.bak)' },
    { name: 'print', type: 'flag', description: 'print the plan instead of writing it' },
    JSON_OPTION,
  ],
  examples: [
    'lanes plan "Add rate limiting to the API, with tests and docs"',
    'lanes plan "Add a --verbose flag" --planner codex',
    'lanes plan "Add a --verbose flag" -- node scripts/my-planner.js {promptFile}',
  ],
  async run(args, io) {
    const task = args.positionals.join(' ').trim();
    if (!task) throw new UsageError('plan needs a task description, e.g. lanes plan "Add rate limiting to the API"');
    const root = await requireRepo(io);
    const attempts = intOption(args.options.attempts, 'attempts') ?? 3;
    const timeoutMin = args.options.timeout === undefined ? 10 : Number(args.options.timeout);
    if (!(timeoutMin > 0)) throw new UsageError(`--timeout must be a positive number of minutes, got "${String(args.options.timeout)}"`);
    let command: string[] | PresetName;
    if (args.rest?.length) command = args.rest;
    else if (args.options.planner) {
      const name = args.options.planner as string;
      if (!isPresetName(name)) throw new UsageError(`unknown planner preset "${name}"; choose one of: ${PRESET_NAMES.join(', ')}, or give a program after "--"`);
      command = name;
    } else if (io.env.LANES_PLANNER) {
      const v = io.env.LANES_PLANNER.trim();
      if (v.startsWith('[')) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(v);
        } catch {
          throw new UsageError('LANES_PLANNER must be a preset name or a JSON array of strings');
        }
        if (!Array.isArray(parsed) || !parsed.length || !parsed.every((x) => typeof x === 'string')) {
          throw new UsageError('LANES_PLANNER must be a preset name or a JSON array of strings');
        }
        command = parsed as string[];
      } else if (isPresetName(v)) command = v;
      else throw new UsageError(`LANES_PLANNER names an unknown preset "${v}"`);
    } else {
      const found: PresetName[] = [];
      for (const name of ['claude', 'codex', 'gemini', 'copilot', 'aider'] as const) if (await onPath(PRESETS[name].executable, io.env)) found.push(name);
      if (!found.length) {
        throw new CliFailure(
          `no planner agent found on PATH (looked for ${PRESET_NAMES.map((n) => PRESETS[n].executable).join(', ')}). ` +
            'Install one, pass a program after "--", or start from a template: lanes init --template trio',
        );
      }
      command = found[0]!;
    }
    const file = resolvePlanPath(root, args.options.plan as string | undefined);
    if (!args.options.print && (await exists(file)) && !args.options.force) {
      throw new CliFailure(`${relative(io, file)} already exists; use --force to replace it, or --print to see the new plan without writing it`);
    }
    const s = style(io);
    const who = typeof command === 'string' ? (isPresetName(command) ? PRESETS[command].label : command) : command[0]!;
    if (!args.options.json) io.err(s.dim(`planning with ${who}…\n`));
    let result;
    try {
      result = await runPlanner({
        task,
        command,
        cwd: root,
        maxAttempts: attempts,
        timeoutMs: timeoutMin * 60_000,
        signal: io.signal,
        env: io.env,
        onAttempt: (a) => {
          if (args.options.json || !a.problems.length || !a.askingAgain) return; // a final failure is reported once, below
          io.err(s.yellow(`attempt ${a.attempt}: ${a.problems.length} problem(s) in the answer; asking again\n`));
          for (const p of a.problems.slice(0, 5)) io.err(s.dim(`  - ${p.split('\n')[0]}\n`));

        },
      });
    } catch (e) {
      if (e instanceof PlannerError) {
        if (args.options.json) printJson(io, { ok: false, reason: e.reason, message: e.message, attempts: e.attempts });
        else io.err(s.red(`✗ ${e.message}\n`));
        return EXIT_FAILED;
      }
      throw e;
    }
    if (args.options.print) {
      io.out(JSON.stringify(result.plan, null, 2) + '\n');
      return EXIT_OK;
    }
    if (await exists(file)) await fs.copyFile(file, `${file}.bak`);
    await writePlan(file, result.plan);
    if (args.options.json) {
      printJson(io, { ok: true, file, plan: result.plan, warnings: result.warnings.map((w) => ({ ...w, path: formatPath(w.path) })), attempts: result.attempts });
    } else {
      io.out(`${s.green('✓')} wrote ${relative(io, file)}: ${result.plan.lanes.length} lanes (${result.plan.lanes.map((l) => l.id).join(', ')}) after ${result.attempts.length} attempt${result.attempts.length === 1 ? '' : 's'}\n`);
      for (const w of result.warnings) io.err(s.yellow(formatDiagnostic(w, relative(io, file)) + '\n'));
    }
    return EXIT_OK;
  },
};

export const schemaCommand: Command = {
  name: 'schema',
  summary: 'print the plan\'s JSON Schema (or the queue file\'s, with --queue)',
  usage: 'lanes schema [--queue]',
  options: [{ name: 'queue', type: 'flag', description: 'the schema of .lanes/queue.json' }],
  examples: ['lanes schema > plan.schema.json', 'lanes schema --queue > queue.schema.json'],
  async run(args, io) {
    printJson(io, args.options.queue ? queueJsonSchema() : planJsonSchema());
    return EXIT_OK;
  },
};

export const templatesCommand: Command = {
  name: 'templates',
  summary: 'list the plan templates',
  usage: 'lanes templates [--json]',
  options: [JSON_OPTION],
  examples: ['lanes templates'],
  async run(args, io) {
    if (args.options.json) printJson(io, TEMPLATES.map((t) => ({ name: t.name, summary: t.summary })));
    else for (const t of TEMPLATES) io.out(`${t.name.padEnd(10)} ${t.summary}\n`);
    return EXIT_OK;
  },
};
