/**
 * `lanes doctor`: what this machine can run. For every preset: is its CLI on PATH, which
 * version, does that version accept the flags the preset passes (read from its own --help), and
 * what it needs to authenticate (which variables are set or which login file exists; never a
 * value). Also git, and whether a lane sandbox tool is present.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sandboxAvailability } from '../run/sandbox';
import { cleanEnv, findProgram, run } from '../util/proc';
import { PRESET_NAMES, PRESETS, PresetName } from './presets';

export interface FlagCheck {
  flag: string;
  /** true/false from the CLI's own help text; undefined when the help could not be read. */
  accepted?: boolean;
}

export interface AuthCheck {
  /** Variables that authenticate this CLI, and whether each is set (values are never read out). */
  vars: { name: string; set: boolean }[];
  /** Login files the CLI writes when you sign in, and whether they exist. */
  files: { path: string; exists: boolean }[];
  ready: boolean;
  howTo: string;
}

export interface AgentCheck {
  preset: PresetName;
  label: string;
  executable: string;
  path?: string;
  version?: string;
  flags: FlagCheck[];
  auth: AuthCheck;
  install: string;
  problems: string[];
}

export interface DoctorReport {
  git?: string;
  agents: AgentCheck[];
  sandbox: { tool?: string; available: boolean; note: string };
}

/** What authenticates each CLI: its key variables, and the files its login leaves behind. */
const AUTH: Record<PresetName, { vars: string[]; files: string[]; howTo: string }> = {
  claude: { vars: ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN'], files: ['.claude/.credentials.json'], howTo: 'set ANTHROPIC_API_KEY, or run "claude" once and log in' },
  codex: { vars: ['OPENAI_API_KEY', 'CODEX_API_KEY'], files: ['.codex/auth.json'], howTo: 'set OPENAI_API_KEY, or run "codex login"' },
  gemini: { vars: ['GEMINI_API_KEY', 'GOOGLE_API_KEY', 'GOOGLE_APPLICATION_CREDENTIALS'], files: ['.gemini/oauth_creds.json'], howTo: 'set GEMINI_API_KEY, or run "gemini" once and log in' },
  copilot: { vars: ['COPILOT_GITHUB_TOKEN', 'GH_TOKEN', 'GITHUB_TOKEN'], files: ['.copilot/config.json'], howTo: 'set COPILOT_GITHUB_TOKEN (or GH_TOKEN), or run "copilot" once and /login' },
  aider: { vars: ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY', 'GEMINI_API_KEY', 'OPENROUTER_API_KEY', 'DEEPSEEK_API_KEY'], files: ['.aider.conf.yml'], howTo: 'set the API key of your model provider (e.g. ANTHROPIC_API_KEY)' },
};

/** The subcommand whose help lists the preset's flags (codex's flags belong to `exec`). */
function helpArgv(p: PresetName): string[] {
  const c = PRESETS[p].command;
  return p === 'codex' ? [c[0]!, c[1]!, '--help'] : [c[0]!, '--help'];
}

function flagsOf(p: PresetName): string[] {
  // Each flag once (codex passes -c twice).
  return [...new Set(PRESETS[p].command.filter((a) => /^--?[A-Za-z]/.test(a)))];
}

const firstLine = (s: string) => s.split('\n').map((l) => l.trim()).find(Boolean) ?? '';

async function checkAgent(p: PresetName, env: NodeJS.ProcessEnv, home: string): Promise<AgentCheck> {
  const preset = PRESETS[p];
  const found = await findProgram(preset.executable, env.PATH, process.cwd());
  const a = AUTH[p];
  const vars = a.vars.map((name) => ({ name, set: !!env[name] }));
  const files = await Promise.all(a.files.map(async (f) => ({ path: path.join(home, f), exists: await fs.stat(path.join(home, f)).then(() => true, () => false) })));
  const auth: AuthCheck = { vars, files, ready: vars.some((v) => v.set) || files.some((f) => f.exists), howTo: a.howTo };
  const out: AgentCheck = { preset: p, label: preset.label, executable: preset.executable, path: found, flags: flagsOf(p).map((flag) => ({ flag })), auth, install: preset.install, problems: [] };
  if (!found) {
    out.problems.push(`${preset.executable} is not on PATH; install it with: ${preset.install}`);
    return out;
  }
  const quiet = cleanEnv({ ...env, NO_COLOR: '1', CI: '1' });
  const [v, h] = await Promise.all([
    run([found, '--version'], { env: quiet, timeoutMs: 20_000 }),
    run([found, ...helpArgv(p).slice(1)], { env: quiet, timeoutMs: 20_000 }),
  ]);
  if (v.code === 0) out.version = firstLine(v.stdout || v.stderr);
  else out.problems.push(`"${preset.executable} --version" failed (${v.timedOut ? 'timed out' : `exit ${v.code}`})`);
  const help = h.stdout + h.stderr;
  if (h.code === 0 && help.trim()) {
    for (const f of out.flags) {
      f.accepted = new RegExp(`(^|[\\s,\\[])${f.flag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`, 'm').test(help);
      if (!f.accepted) out.problems.push(`this version of ${preset.executable} does not list ${f.flag} in its help: the preset may fail (override it in agentLanes.agents or the plan's agents)`);
    }
  }
  if (!auth.ready) out.problems.push(`not authenticated: ${a.howTo}`);
  return out;
}

async function sandbox(env: NodeJS.ProcessEnv): Promise<DoctorReport['sandbox']> {
  const a = await sandboxAvailability(env);
  if (a.kind) {
    return { tool: a.tool, available: true, note: `lanes run sandboxed (${a.kind === 'bwrap' ? 'bubblewrap' : 'sandbox-exec'}, ${a.tool}): they may write only their worktree, their git metadata, temp space and the agent CLIs' own folders${a.kind === 'bwrap' ? '; every process of a lane ends with it' : ''}` };
  }
  return { tool: a.tool, available: false, note: `lanes run WITHOUT a sandbox: ${a.reason}` };
}

export async function doctor(env: NodeJS.ProcessEnv = process.env, presets: readonly PresetName[] = PRESET_NAMES): Promise<DoctorReport> {
  const home = env.HOME || os.homedir();
  const [git, agents, sb] = await Promise.all([
    run(['git', '--version'], { env: cleanEnv(env), timeoutMs: 10_000 }).then((r) => (r.code === 0 ? r.stdout.trim() : undefined)),
    Promise.all(presets.map((p) => checkAgent(p, env, home))),
    sandbox(env),
  ]);
  return { git, agents, sandbox: sb };
}

/** The report as markdown (the VS Code command shows it; the CLI prints its own table). */
export function doctorMarkdown(r: DoctorReport): string {
  const lines = ['# Agent CLIs on this machine', '', `- git: ${r.git ?? '**not installed**'}`, `- sandbox: ${r.sandbox.note}`, ''];
  lines.push('| agent | installed | version | preset flags | authentication |', '|---|---|---|---|---|');
  for (const a of r.agents) {
    const flags = a.path ? a.flags.map((f) => `\`${f.flag}\` ${f.accepted === false ? '✗' : f.accepted ? '✓' : '?'}`).join(' ') : '—';
    const set = a.auth.vars.filter((v) => v.set).map((v) => `\`${v.name}\` set`);
    const files = a.auth.files.filter((f) => f.exists).map(() => 'logged in');
    lines.push(`| ${a.label} | ${a.path ? `\`${a.path}\`` : `no: \`${a.install}\``} | ${a.version ?? '—'} | ${flags} | ${a.auth.ready ? [...set, ...files].join(', ') : a.auth.howTo} |`);
  }
  const problems = r.agents.flatMap((a) => a.problems.map((p) => `- **${a.label}**: ${p}`));
  if (problems.length) lines.push('', '## To look at', '', ...problems);
  return lines.join('\n') + '\n';
}
