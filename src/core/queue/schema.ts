/**
 * Queue mode's file: `.lanes/queue.json` (or `queue` inside the plan), validated like the plan,
 * with its own JSON Schema for IntelliSense. It says where tasks come from (failing tests of a
 * command, a list in a file, a glob of files), how each is briefed and checked, the gate every
 * integration passes, and how workers claim through git.
 */
import { z } from 'zod';
import { AgentRefSchema, BudgetSchema, CommandLineSchema, CustomAgentSchema } from '../plan/schema';

export const DEFAULT_QUEUE_PATH = '.lanes/queue.json';
export const RESULT_FORMATS = ['tap', 'junit', 'mocha-json'] as const;

const FormatSchema = z
  .enum([...RESULT_FORMATS, 'auto'], { error: `expected one of ${[...RESULT_FORMATS, 'auto'].join(', ')}` })
  .describe('How to read the command\'s output: "tap" (node --test --test-reporter=tap, mocha --reporter tap), "junit" (node --test-reporter=junit, pytest --junitxml, jest-junit), "mocha-json" (mocha --reporter json), or "auto" (default).');

const TestsSource = z
  .strictObject({
    tests: CommandLineSchema.describe('A test command: each failing test in its output becomes one task.'),
    format: FormatSchema.optional(),
    check: CommandLineSchema.optional().describe('A task\'s own check. Placeholders: {name} (the test\'s name), {file} (its file), {id}. Default: the test command, and the task passes when its test passes there.'),
    brief: z.string().optional().describe('A brief template for these tasks: {id}, {name}, {file}, {message} (the failure), {details}.'),
  })
  .describe('Failing tests of a command, one task each.');

const ListSource = z
  .strictObject({
    list: z.string({ error: 'expected a repository-relative path to a JSON file' }).describe('A JSON file: an array of {"id", "brief", "check"?, "scope"?}.'),
  })
  .describe('A list of tasks in a file.');

const GlobSource = z
  .strictObject({
    files: z.string({ error: 'expected a glob, e.g. "src/**/*.js"' }).describe('A glob of repository files: one task per file.'),
    brief: z.string({ error: 'expected a brief template with {file}' }).describe('The brief for each file: {file}, {id}.'),
    check: CommandLineSchema.optional().describe('Each task\'s check; {file} and {id} are replaced.'),
  })
  .describe('A glob of files, one task each.');

export const TaskSourceSchema = z.union([TestsSource, ListSource, GlobSource], {
  error: 'expected a task source: {"tests": command}, {"list": "file.json"} or {"files": "glob", "brief": "…"}',
});

export const QueueSchema = z
  .strictObject({
    $schema: z.string().optional(),
    version: z.literal(1, { error: 'expected "version": 1' }),
    goal: z.string({ error: 'expected the goal (a string)' }).min(1, { message: 'must not be empty' }).describe('What the queue is for, in the words every worker reads.'),
    sources: z.array(TaskSourceSchema, { error: 'expected an array of task sources' }).min(1, { message: 'a queue needs at least one source' }),
    agent: AgentRefSchema.optional(),
    agents: z.record(z.string(), CustomAgentSchema).optional().describe('Named custom agents.'),
    brief: z.string().optional().describe('The brief template for every task: {id}, {name}, {file}, {message}, {details}. Each source may have its own.'),
    gate: z
      .strictObject({
        command: CommandLineSchema.describe('The full test suite, run on every integration. Its reporter output says which tests pass.'),
        format: FormatSchema.optional(),
      })
      .describe('The gate: an integration is accepted only if no test that passed at the last accepted state now fails.'),
    sample: z
      .strictObject({
        files: z.string().describe('A glob of test files to sample from.'),
        command: CommandLineSchema.describe('Runs the sampled files: {files} is replaced by them (as separate arguments).'),
        size: z.number().int().min(0).optional().describe('How many files a worker runs after its task\'s check (default 3).'),
      })
      .optional()
      .describe('A fast random sample of the suite each worker runs before it asks for integration (the full suite is the gate\'s).'),
    split: CommandLineSchema.optional().describe('Turns a failing task into sub-tasks: run with the task as JSON on stdin, prints a JSON array of {"id", "brief", "check"?}.'),
    roles: z
      .array(
        z.strictObject({
          id: z.string().min(1),
          brief: z.string().min(1).describe('What this specialist does each round (deduplicate, optimise, criticise, document).'),
          agent: AgentRefSchema.optional(),
          every: z.number().int().min(1).optional().describe('A task of this role after every N accepted integrations (default 5; with sources: none unless set).'),
          sources: z.array(TaskSourceSchema).optional().describe('Tasks of this role\'s own (a linter\'s findings, files to document): each gets the role\'s brief and agent.'),
        }),
      )
      .optional()
      .describe('Specialist workers beside the task workers.'),
    claimTtlSeconds: z.number().int().min(2).optional().describe('A claim not renewed for this long is stale and may be reclaimed (default 900).'),
    retries: z.number().int().min(0).optional().describe('Attempts a worker makes on a task after the first (default 1).'),
    rounds: z.number().int().min(1).optional().describe('How many workers may try a task before it is marked failed (default 3).'),
    timeoutMinutes: z.number().positive().optional(),
    budget: BudgetSchema.optional(),
    branch: z.string().optional().describe('The integration branch on the remote (default "lanes-queue/integration").'),
    setup: z.array(CommandLineSchema).optional().describe('Commands run in each worker\'s worktree before its agent (e.g. "npm ci").'),
  })
  .describe('Agent Lanes queue: many tasks, workers that claim them through git, a gate on every integration.');

export type QueueConfig = z.infer<typeof QueueSchema>;
export type TaskSource = z.infer<typeof TaskSourceSchema>;

export const DEFAULT_CLAIM_TTL = 900;
export const DEFAULT_INTEGRATION_BRANCH = 'lanes-queue/integration';

export function queueJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(QueueSchema, { target: 'draft-7', unrepresentable: 'any', io: 'input' }) as Record<string, unknown>;
  return { ...schema, $id: 'https://agent-lanes.dev/schemas/queue-v1.json', title: 'Agent Lanes queue' };
}
