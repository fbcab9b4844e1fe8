/**
 * The plan: the one file every lane reads. This zod schema is the single source of truth; the
 * JSON Schema in schemas/plan.schema.json (IntelliSense in VS Code) is generated from it.
 *
 * Public contract (users' plans depend on these shapes; change them only with a new version):
 * - a lane's `agent` is a preset name, a name from the plan's `agents`, or `{ "command": [...] }`;
 * - `verify` is a string run by `sh -c`, or an argv array;
 * - `timeoutMinutes` is a number (may be fractional), `retries` an integer >= 0, `maxParallel`
 *   an integer >= 1.
 */
import { z } from 'zod';
import { PRESET_NAMES } from '../agents/presets';

// No code generation: plans are validated a few times, not millions (zod's JIT costs more than it
// saves here), and the webview's Content-Security-Policy forbids eval anyway.
z.config({ jitless: true });

export const PLAN_VERSION = 1;
export const DEFAULT_PLAN_PATH = '.lanes/plan.json';
export const KNOWN_ROLES = ['implement', 'test', 'document', 'review'] as const;

const nonEmptyString = (what: string) =>
  z.string({ error: `expected ${what} (a string)` }).refine((s) => s.trim().length > 0, { message: `must not be empty` });

const argv = z
  .array(z.string({ error: 'expected a string argument' }), { error: 'expected an argv array of strings, e.g. ["npm", "test"]' })
  .min(1, { message: 'must name a program: the array needs at least one element' })
  .refine((a) => a.length === 0 || a[0]!.trim().length > 0, { message: 'the program (first element) must not be empty' });

export const CommandLineSchema = z
  .union([nonEmptyString('a command line'), argv], {
    error: 'expected a command line string (run with sh -c) or an argv array such as ["npm", "test"]',
  })
  .describe('A command: a string is the user\'s own command line, run with `sh -c` in the worktree; an array is an argv run without a shell.');

export const CustomAgentSchema = z
  .strictObject({
    command: argv.describe(
      'Program and arguments, run without a shell in the lane\'s worktree. Placeholders replaced in each element: {brief} (the whole brief text as one argument), {briefFile} (its path), {lane} (the lane id), {worktree} (the worktree path).',
    ),
    env: z.record(z.string(), z.string()).optional().describe('Extra environment variables for the agent process.'),
    description: z.string().optional().describe('What this agent is, for people reading the plan.'),
  })
  .describe('A custom agent: any CLI or script.');

export const AgentRefSchema = z
  .union([z.string().min(1), CustomAgentSchema], {
    error: `expected a preset name (${PRESET_NAMES.join(', ')}, or a name defined in "agents") or an object {"command": ["program", "arg", ...]}`,
  })
  .describe(`The agent that does this lane's work: a preset (${PRESET_NAMES.join(', ')}), a name defined in the plan's "agents", or {"command": [...]}.`);

export const BudgetSchema = z
  .strictObject({
    usd: z.number({ error: 'expected an amount in US dollars' }).positive({ message: 'must be greater than 0' }).optional().describe('Most money the agents may spend (as the CLI reports its cost; Claude Code does).'),
    tokens: z
      .number({ error: 'expected a whole number of tokens' })
      .int({ message: 'expected a whole number of tokens' })
      .positive({ message: 'must be greater than 0' })
      .optional()
      .describe('Most tokens (input + output) the agents may use, as their CLIs report them.'),
    minutes: z.number({ error: 'expected a number of minutes' }).positive({ message: 'must be greater than 0' }).optional().describe('Most agent minutes (summed over attempts).'),
  })
  .describe('A cap on what agents may spend. A lane that goes over is stopped with the reason "budget"; once the run\'s budget is spent, no new lane starts.');

const IsolationSchema = z
  .enum(['sandbox', 'none'], { error: 'expected "sandbox" or "none"' })
  .describe(
    'Where the lane\'s agent, verify and setup commands run. "sandbox": they may write only their worktree, the lane\'s git metadata, temp space and the agent CLI\'s own folders (bubblewrap on Linux, sandbox-exec on macOS); an error where no sandbox is available. "none": as your own processes. Default: the sandbox where available.',
  );
const NetworkSchema = z.boolean({ error: 'expected true or false' }).describe('Network access for the lane (default true: agents need their model APIs). false needs the sandbox.');

export const LaneSchema = z
  .strictObject({
    id: z
      .string({ error: 'expected a lane id (a string)' })
      .describe('Lane id: also the branch and folder name, so letters, digits, ".", "_" and "-" only, starting with a letter or digit.'),
    role: z
      .union([z.enum(KNOWN_ROLES), z.string().min(1)], { error: 'expected a role: implement, test, document, review, or your own word' })
      .optional()
      .describe('What kind of work: implement, test, document, review, or free text. Default: implement.'),
    brief: nonEmptyString('a brief').describe('What this lane must do. Every lane also sees the goal and the whole plan.'),
    dependsOn: z
      .array(z.string({ error: 'expected a lane id (a string)' }), { error: 'expected an array of lane ids' })
      .optional()
      .describe('Lanes whose verified work this lane builds on. It starts from their merged heads once they pass.'),
    scope: z
      .array(nonEmptyString('a glob'), { error: 'expected an array of globs, e.g. ["src/**"]' })
      .optional()
      .describe('Globs of the files this lane is expected to touch. Lanes that may run in parallel should not overlap.'),
    agent: AgentRefSchema.optional(),
    verify: CommandLineSchema.optional().describe("This lane's own check, run in its worktree after the agent; the lane passes only if it exits 0."),
    timeoutMinutes: z
      .number({ error: 'expected a number of minutes' })
      .positive({ message: 'must be greater than 0' })
      .optional()
      .describe('Stop the agent after this many minutes (fractions allowed).'),
    retries: z
      .number({ error: 'expected a whole number' })
      .int({ message: 'expected a whole number' })
      .min(0, { message: 'must be 0 or more' })
      .optional()
      .describe('How many more attempts after a failure; each retry sees the failure in its brief.'),
    env: z.record(z.string(), z.string()).optional().describe('Extra environment variables for this lane.'),
    budget: BudgetSchema.optional(),
    isolation: IsolationSchema.optional(),
    network: NetworkSchema.optional(),
  })
  .describe('One lane: one agent, one worktree, one branch.');

export const PlanSchema = z
  .strictObject({
    $schema: z.string().optional().describe('The JSON Schema of this file (for editors).'),
    version: z.literal(PLAN_VERSION, { error: `expected "version": ${PLAN_VERSION}` }).describe('Plan format version. Always 1.'),
    goal: nonEmptyString('the goal').describe('The whole task, in the words every lane will read.'),
    maxParallel: z
      .number({ error: 'expected a whole number' })
      .int({ message: 'expected a whole number' })
      .min(1, { message: 'must be at least 1' })
      .optional()
      .describe('How many lanes may run at the same time. Default: 4.'),
    verify: CommandLineSchema.optional().describe('The integration check, run on the combined result of all lanes.'),
    context: z
      .array(nonEmptyString('a file path'), { error: 'expected an array of repository-relative file paths' })
      .optional()
      .describe('Repository files whose text every brief includes (conventions, architecture notes).'),
    agents: z
      .record(z.string(), CustomAgentSchema, { error: 'expected an object of named agents: {"name": {"command": [...]}}' })
      .optional()
      .describe('Named custom agents that lanes can refer to by name.'),
    defaults: z
      .strictObject({
        agent: AgentRefSchema.optional(),
        timeoutMinutes: z.number({ error: 'expected a number of minutes' }).positive({ message: 'must be greater than 0' }).optional(),
        retries: z.number({ error: 'expected a whole number' }).int({ message: 'expected a whole number' }).min(0, { message: 'must be 0 or more' }).optional(),
        budget: BudgetSchema.optional(),
        network: NetworkSchema.optional(),
      })
      .optional()
      .describe('Defaults for lanes that do not set agent, timeoutMinutes, retries, budget or network.'),
    isolation: IsolationSchema.optional(),

    loopBack: z
      .strictObject({
        max: z
          .number({ error: 'expected a whole number' })
          .int({ message: 'expected a whole number' })
          .min(0, { message: 'must be 0 or more (0 turns loop-backs off)' })
          .optional()
          .describe('Most loop-backs in one run (default 3; 0: findings are recorded, never acted on by the run).'),
        perPair: z
          .number({ error: 'expected a whole number' })
          .int({ message: 'expected a whole number' })
          .min(1, { message: 'must be at least 1' })
          .optional()
          .describe('Most loop-backs between the same two lanes (default 2): no ping-pong beyond it.'),
      })
      .optional()
      .describe("Loop-backs: a lane whose blocking finding (or failing verify with a finding) blames a lane it depends on sends that lane back to its agent with the finding (within that lane's retries), then runs again on the fixed work."),
    budget: BudgetSchema.optional().describe("The whole run's budget: once it is spent no new lane starts (lanes have their own with \"budget\" or defaults.budget)."),

    worktree: z
      .strictObject({
        copy: z
          .array(nonEmptyString('a path'), { error: 'expected an array of paths' })
          .optional()
          .describe('Untracked files to copy from your checkout into every lane worktree (e.g. ".env"). Nothing is copied unless listed.'),
        setup: z
          .array(CommandLineSchema, { error: 'expected an array of commands' })
          .optional()
          .describe('Commands run in each new worktree before its agent starts (e.g. "npm ci").'),
      })
      .optional()
      .describe('How lane worktrees are prepared.'),
    lanes: z
      .array(LaneSchema, { error: 'expected an array of lanes' })
      .min(1, { message: 'a plan needs at least one lane' })
      .describe('The lanes of work. Lanes without dependencies run in parallel.'),
  })
  .describe('Agent Lanes plan: one task split into lanes that agents work on in parallel.');

export type Plan = z.infer<typeof PlanSchema>;
export type Lane = z.infer<typeof LaneSchema>;
export type CustomAgent = z.infer<typeof CustomAgentSchema>;
export type AgentRef = z.infer<typeof AgentRefSchema>;
export type CommandLine = z.infer<typeof CommandLineSchema>;

export const DEFAULT_MAX_PARALLEL = 4;

/** The JSON Schema generated from the zod schema (the file in schemas/ must equal this). */
export function planJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(PlanSchema, { target: 'draft-7', unrepresentable: 'any', io: 'input' }) as Record<string, unknown>;
  return {
    ...schema,
    $id: 'https://agent-lanes.dev/schemas/plan-v1.json',
    title: 'Agent Lanes plan',
  };
}
