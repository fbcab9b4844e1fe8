/**
 * Built-in agent presets: the non-interactive invocation of each supported CLI agent.
 *
 * Every command is an argv array run without a shell in the lane's worktree. Placeholders are
 * replaced element by element (never spliced into a string that a shell parses):
 *   {brief}     the lane's whole brief text, as one argument
 *   {briefFile} the path of the brief's markdown file
 *   {lane}      the lane id
 *   {worktree}  the lane's worktree path
 */

export const PRESET_NAMES = ['claude', 'codex', 'aider', 'gemini', 'copilot'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export interface AgentPreset {
  name: PresetName;
  label: string;
  /** The executable users must have on PATH. */
  executable: string;
  /** How a lane runs: the agent edits files in its worktree and exits. */
  command: string[];
  /** How the planner runs: the agent answers a prompt with plan JSON on stdout, editing nothing. */
  plannerCommand: string[];
  docs: string;
  /** How to install it (said when a lane's agent is not on PATH). */
  install: string;
}

export const PRESETS: Record<PresetName, AgentPreset> = {
  claude: {
    name: 'claude',
    label: 'Claude Code',
    executable: 'claude',
    // -p: print mode (non-interactive); acceptEdits lets it write files in its own worktree.
    // stream-json (which needs --verbose) gives tokens, cost, turns and permission denials.
    // Without --allowedTools Bash every shell command is refused in -p mode ("requires approval"),
    // so the agent could not run tests or builds (seen with Claude Code 2.1 against a scripted
    // model server); bypassPermissions is refused outright as root.
    command: ['claude', '-p', '{brief}', '--permission-mode', 'acceptEdits', '--allowedTools', 'Bash', '--output-format', 'stream-json', '--verbose'],
    plannerCommand: ['claude', '-p', '{prompt}', '--output-format', 'text'],
    docs: 'https://docs.anthropic.com/en/docs/claude-code/cli-reference',
    install: 'npm install -g @anthropic-ai/claude-code',
  },
  codex: {
    name: 'codex',
    label: 'Codex CLI',
    executable: 'codex',
    // exec: non-interactive, with the workspace-write sandbox. (Codex CLI 0.169 removed
    // --full-auto: `exec --full-auto` exits 2 with "unexpected argument".) allow_login_shell=false:
    // its shell tool otherwise runs `bash -lc`, whose /etc/profile (Debian's) replaces PATH, and
    // the lane's `lanes finding` command (first on PATH) is gone; a model that asks for a login
    // shell is told it is disabled.
    command: ['codex', 'exec', '--json', '--sandbox', 'workspace-write', '-c', 'sandbox_workspace_write.exclude_slash_tmp=true', '-c', 'allow_login_shell=false', '{brief}'],
    plannerCommand: ['codex', 'exec', '--sandbox', 'read-only', '{prompt}'],
    docs: 'https://github.com/openai/codex/blob/main/docs/exec.md',
    install: 'npm install -g @openai/codex',
  },
  aider: {
    name: 'aider',
    label: 'Aider',
    executable: 'aider',
    // --message-file runs one instruction and exits; --yes-always answers every confirmation;
    // --no-gitignore: otherwise --yes-always adds .aider* to .gitignore and every lane commits it.
    command: ['aider', '--message-file', '{briefFile}', '--yes-always', '--no-gitignore', '--no-check-update', '--no-show-model-warnings'],
    plannerCommand: ['aider', '--message-file', '{promptFile}', '--yes-always', '--no-gitignore', '--no-auto-commits', '--dry-run', '--no-check-update'],
    docs: 'https://aider.chat/docs/scripting.html',
    install: 'python -m pip install aider-install && aider-install',
  },
  gemini: {
    name: 'gemini',
    label: 'Gemini CLI',
    executable: 'gemini',
    // -p: non-interactive prompt; --yolo: accept tool calls without asking; --skip-trust: a lane
    // worktree is a folder Gemini CLI has never seen (0.61 exits 55, "not running in a trusted
    // directory", without it).
    command: ['gemini', '-p', '{brief}', '--yolo', '--skip-trust', '--output-format', 'stream-json'],
    plannerCommand: ['gemini', '-p', '{prompt}', '--skip-trust'],
    docs: 'https://github.com/google-gemini/gemini-cli/blob/main/docs/cli/headless.md',
    install: 'npm install -g @google/gemini-cli',
  },
  copilot: {
    name: 'copilot',
    label: 'GitHub Copilot CLI',
    executable: 'copilot',
    // -p: programmatic mode; --allow-all-tools: no per-tool approval prompts.
    command: ['copilot', '-p', '{brief}', '--allow-all-tools', '--output-format', 'json'],
    plannerCommand: ['copilot', '-p', '{prompt}'],
    docs: 'https://docs.github.com/en/copilot/how-tos/use-copilot-agents/use-copilot-cli',
    install: 'npm install -g @github/copilot',

  },
};

export function isPresetName(name: string): name is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(name);
}

/** Placeholders allowed in a lane's agent command. */
export const LANE_PLACEHOLDERS = ['{brief}', '{briefFile}', '{lane}', '{worktree}'] as const;

/**
 * Replace placeholders in each argv element. Only whole, known placeholders are replaced; the
 * replacement text is never re-scanned, so a brief containing "{lane}" arrives unchanged.
 */
export function substituteArgv(argv: readonly string[], values: Readonly<Record<string, string>>): string[] {
  return argv.map((arg) =>
    arg.replace(/\{(brief|briefFile|lane|worktree|prompt|promptFile)\}/g, (whole, name: string) =>
      Object.prototype.hasOwnProperty.call(values, name) ? values[name]! : whole,
    ),
  );
}
