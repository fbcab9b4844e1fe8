/**
 * Sandboxed lanes. A lane's agent, verify and setup commands run with write access to their own
 * worktree, the lane's git metadata, their own temp folder and the agent CLI's config and cache
 * folders only; the user's checkout, the shared `.git/config` and hooks and the rest of the file
 * system are read-only.
 *
 * - Linux: bubblewrap (`bwrap`, the distribution's package). Every process of the lane lives in
 *   its own PID namespace, so nothing (not a double-forked daemon either) outlives the lane, and
 *   a timeout always ends it. The network stays on unless the lane turns it off.
 * - macOS: `sandbox-exec` with a profile that denies writes outside the same paths. (No PID
 *   namespace there: the lane's process group is stopped as without a sandbox.)
 * - Elsewhere: none; `lanes doctor` and the run say so.
 *
 * Everything here builds argv arrays: no shell ever parses a path or a brief.
 */
import { execFile } from 'node:child_process';
import { promises as fs, realpathSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LanesError } from '../errors';
import { findProgram } from '../util/proc';

export type IsolationSetting = 'sandbox' | 'none';
export type SandboxKind = 'bwrap' | 'sandbox-exec';
/** What a lane actually runs with. */
export type Isolation = SandboxKind | 'none';

export interface SandboxPolicy {
  kind: SandboxKind;
  /** Absolute paths (existing files or folders) the lane may write. */
  writable: string[];
  /** Paths inside writable ones that stay read-only (bound last). */
  readOnly?: string[];
  /** Allow network access (default true). */
  network: boolean;
  /** The lane's own temp folder (TMPDIR inside the sandbox). */
  tmpDir: string;
  /** The sandbox program (default: bwrap on PATH). */
  tool?: string;
}

export interface SandboxAvailability {
  kind?: SandboxKind;
  /** The sandbox program found, if any. */
  tool?: string;
  /** Why there is none, and what to do. */
  reason?: string;
}

export class SandboxError extends LanesError {
  readonly reason = 'isolation' as const;
  constructor(message: string) {
    super(message);
    this.name = 'SandboxError';
  }
}

const BWRAP_INSTALL = 'install it with "apt-get install bubblewrap" (Debian, Ubuntu), "dnf install bubblewrap" (Fedora) or your distribution\'s package';

function execOk(file: string, args: string[], timeoutMs = 10_000): Promise<{ ok: boolean; error?: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, _out, stderr) => {
      if (!err) resolve({ ok: true });
      else resolve({ ok: false, error: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'ENOENT' : (stderr || err.message).trim().split('\n')[0] });
    });
  });
}

const probes = new Map<string, Promise<SandboxAvailability>>();

async function probe(env: NodeJS.ProcessEnv): Promise<SandboxAvailability> {
  if (process.platform === 'linux') {
    const bwrap = await findProgram(env.LANES_BWRAP || 'bwrap', env.PATH, process.cwd());
    if (!bwrap) return { reason: `bubblewrap (bwrap) is not installed; ${BWRAP_INSTALL}` };
    const key = `bwrap:${bwrap}`;
    if (!probes.has(key)) {
      probes.set(
        key,
        execOk(bwrap, ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--unshare-pid', '--die-with-parent', 'true']).then((r) =>
          r.ok ? { kind: 'bwrap' as const, tool: bwrap } : { tool: bwrap, reason: `bubblewrap cannot create a sandbox here (${r.error}); user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1, or a container without them)` },
        ),
      );
    }
    return probes.get(key)!;
  }
  if (process.platform === 'darwin') {
    if (!probes.has('darwin')) {
      probes.set(
        'darwin',
        execOk('/usr/bin/sandbox-exec', ['-p', '(version 1)(allow default)', '/usr/bin/true']).then((r) =>
          r.ok ? { kind: 'sandbox-exec' as const, tool: '/usr/bin/sandbox-exec' } : { reason: `sandbox-exec cannot run (${r.error})` },
        ),
      );
    }
    return probes.get('darwin')!;
  }
  return { reason: `there is no lane sandbox for ${process.platform}` };
}

/**
 * Which sandbox this machine can run, probed by running one (a sandbox that is installed but not
 * permitted, e.g. no user namespaces in a container, counts as none). Cached per tool.
 */
export function sandboxAvailability(env: NodeJS.ProcessEnv = process.env): Promise<SandboxAvailability> {
  if (env.LANES_SANDBOX_PROBE === 'none') return Promise.resolve({ reason: 'the sandbox was turned off for this process (LANES_SANDBOX_PROBE=none)' });
  return probe(env);
}

/** Forget the probe (tests that change the machine). */
export function resetSandboxProbe(): void {
  probes.clear();
}

/**
 * What a lane runs with: the lane's own setting, else the plan's, else the face's (CLI flag,
 * VS Code setting), else a sandbox where one is available. An explicit "sandbox" (or a lane
 * without network) on a machine without one is an error, never a silent downgrade.
 */
export function decideIsolation(requested: IsolationSetting | undefined, network: boolean, available: SandboxAvailability, lane: string): { isolation: Isolation; warning?: string } {
  if (requested === 'none') {
    if (!network) throw new SandboxError(`lane "${lane}" sets "network": false, which needs the sandbox, but its isolation is "none"`);
    return { isolation: 'none' };
  }
  if (available.kind) return { isolation: available.kind };
  if (requested === 'sandbox') throw new SandboxError(`lane "${lane}" needs isolation "sandbox", but ${available.reason}; or set "isolation": "none" to run it unsandboxed`);
  if (!network) throw new SandboxError(`lane "${lane}" sets "network": false, which needs the sandbox, but ${available.reason}`);
  return { isolation: 'none', warning: `lanes run without a sandbox: ${available.reason}` };
}

const real = (p: string): string => {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
};

/**
 * Folders and files each agent CLI writes for itself (config, sessions, caches), from the lane's
 * environment: HOME and the CLIs' own variables. The lane's own CLI's folders are created (its
 * first run writes them); the other CLIs' are writable only if they already exist (a custom
 * agent may wrap one). npm's cache is shared by everything that runs `npm`.
 */
export function agentStatePaths(env: NodeJS.ProcessEnv, program?: string): { create: string[]; existing: string[]; settings: string[] } {
  const home = env.HOME || os.homedir();
  const claude = env.CLAUDE_CONFIG_DIR || path.join(home, '.claude');
  const codex = env.CODEX_HOME || path.join(home, '.codex');
  const gemini = path.join(env.GEMINI_CLI_HOME || home, '.gemini');
  const copilot = env.COPILOT_HOME || path.join(env.XDG_CONFIG_HOME || home, '.copilot');
  const byCli: Record<string, { dirs: string[]; files?: string[]; settings: string[] }> = {
    claude: { dirs: [claude], files: [path.join(home, '.claude.json')], settings: [path.join(claude, 'settings.json'), path.join(claude, 'settings.local.json')] },
    codex: { dirs: [codex], settings: [path.join(codex, 'config.toml')] },
    gemini: { dirs: [gemini], settings: [path.join(gemini, 'settings.json')] },
    copilot: { dirs: [copilot, ...(env.COPILOT_PKG_CACHE_HOME ? [env.COPILOT_PKG_CACHE_HOME] : [])], settings: [path.join(copilot, 'config.json'), path.join(copilot, 'mcp-config.json')] },
    aider: { dirs: [path.join(home, '.aider')], files: [path.join(home, '.aider.chat.history.md'), path.join(home, '.aider.input.history')], settings: [path.join(home, '.aider.conf.yml')] },
  };
  // Only the lane's own CLI: a sandboxed agent must not plant settings in another CLI's folder
  // (MCP servers, hooks) that would run unsandboxed the next time the user starts that CLI.
  const mine = program ? byCli[program] : undefined;
  return { create: [...(mine?.dirs ?? []), path.join(home, '.npm')], existing: [...(mine?.dirs ?? []), ...(mine?.files ?? [])], settings: mine?.settings ?? [] };
}

/**
 * Whether a path may be made writable for a lane: never the root, the home folder itself, the
 * repository, its git folder or the worktree root, nor anything containing or inside them.
 */
export function writableAllowed(p: string, protectedPaths: readonly string[], home?: string): boolean {
  const r = real(p);
  if (r === '/' || (home && r === real(home))) return false;
  return !protectedPaths.some((q) => {
    const x = real(q);
    return r === x || x.startsWith(r + path.sep) || r.startsWith(x + path.sep);
  });
}

/** The paths that exist, resolved. */
export async function existingReal(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) if (await fs.lstat(p).then(() => true, () => false)) out.push(real(p));
  return [...new Set(out)];
}

/** The lane's writable paths, made to exist (folders we own) and resolved. */
export async function prepareWritable(policy: { writable: string[]; createDirs: string[] }): Promise<string[]> {
  for (const d of policy.createDirs) await fs.mkdir(d, { recursive: true }).catch(() => undefined);
  const out = new Set<string>();
  for (const p of [...policy.createDirs, ...policy.writable]) {
    if (await fs.lstat(p).then(() => true, () => false)) out.add(real(p));
  }
  return [...out];
}

/** bwrap's argv for one command. */
export function bwrapArgv(policy: SandboxPolicy, argv: readonly string[], cwd: string, bwrap = 'bwrap'): string[] {
  const out = [bwrap, '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--unshare-pid', '--die-with-parent', '--new-session'];
  if (!policy.network) out.push('--unshare-net');
  // Longest paths last: a folder inside another writable one stays writable either way, and a
  // read-only remount never lands on top of a writable one.
  for (const w of [...new Set(policy.writable)].sort((a, b) => a.length - b.length)) out.push('--bind', w, w);
  for (const r of policy.readOnly ?? []) out.push('--ro-bind', r, r);
  out.push('--chdir', real(cwd), '--', ...argv);
  return out;
}

/** A sandbox-exec profile string literal. */
const sbString = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** The macOS profile: everything allowed but writes outside the lane's paths (and the network, when off). */
export function seatbeltProfile(policy: SandboxPolicy): string {
  const allow = [...new Set(policy.writable)].map((w) => `(subpath ${sbString(w)})`);
  return [
    '(version 1)',
    '(allow default)',
    '(deny file-write*)',
    `(allow file-write* ${allow.join(' ')} (literal "/dev/null") (literal "/dev/zero") (literal "/dev/dtracehelper") (regex #"^/dev/tty") (regex #"^/dev/fd/") (regex #"^/private/var/folders/[^/]+/[^/]+/T/"))`,
    ...(policy.readOnly?.length ? [`(deny file-write* ${policy.readOnly.map((r) => `(literal ${sbString(r)})`).join(' ')})`] : []),
    ...(policy.network ? [] : ['(deny network*)', '(allow network* (local unix))']),
  ].join('\n');
}

export function sandboxExecArgv(policy: SandboxPolicy, argv: readonly string[]): string[] {
  return ['/usr/bin/sandbox-exec', '-p', seatbeltProfile(policy), ...argv];
}

/** The argv that runs `argv` inside the policy's sandbox. */
export function sandboxedArgv(policy: SandboxPolicy, argv: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string[] {
  return policy.kind === 'bwrap' ? bwrapArgv(policy, argv, cwd, policy.tool ?? env.LANES_BWRAP ?? 'bwrap') : sandboxExecArgv(policy, argv);
}

const KIND_LABEL: Record<Isolation, string> = { bwrap: 'bubblewrap', 'sandbox-exec': 'sandbox-exec', none: 'none' };

/** One phrase for a run's isolation: "lanes sandboxed (bubblewrap)", "lanes not sandboxed", a mix. */
export function describeIsolation(state: { lanes: { id: string; isolation?: Isolation; network?: boolean }[] }): string {
  const kinds = new Set(state.lanes.map((l) => l.isolation ?? 'none'));
  const sandboxed = state.lanes.filter((l) => (l.isolation ?? 'none') !== 'none');
  const offline = state.lanes.filter((l) => l.network === false).map((l) => l.id);
  let text: string;
  if (!sandboxed.length) text = 'lanes not sandboxed';
  else if (sandboxed.length === state.lanes.length && kinds.size === 1) text = `lanes sandboxed (${KIND_LABEL[[...kinds][0]!]})`;
  else text = `${sandboxed.length} of ${state.lanes.length} lanes sandboxed (${sandboxed.map((l) => `${l.id}: ${KIND_LABEL[l.isolation!]}`).join(', ')})`;
  return offline.length ? `${text}; no network for ${offline.join(', ')}` : text;
}
