#!/usr/bin/env node
// The agent compatibility suite: every preset in src/core/agents/presets.ts, run by the real
// `lanes` CLI (dist/cli.js) against the real agent CLI it names, with a scripted model server
// (test/agents/server.mjs) standing in for the model. No network beyond the npm registry (for the
// first install), no accounts, no keys.
//
//   node test/agents/run.mjs [--only claude,codex,...] [--keep]
//
// 1. Installs the agent CLIs at pinned versions into a cache outside the repository
//    ($LANES_AGENT_CACHE, else ~/.cache/agent-lanes/agent-clis), one folder per <name>@<version>,
//    skipped when already there, and puts each one's bin folder on the PATH of `lanes`.
//    Aider (a Python program) is not installed: it is used when `aider` is on PATH, else SKIPPED.
// 2. For each preset: a fresh git repository with a two-lane plan:
//      work   "agent": "<preset>" (the preset's real argv): the scripted model makes the CLI write
//             hello.txt with its own edit tool, then run with its own shell tool
//               echo "note from <cli>" >> "${LANES_MEMORY_FILE:-.lanes/memory/work.md}" && echo shell-ran > shell.txt;
//               { command -v lanes || echo none; echo "PATH=$PATH" …; } > lanes-diag.txt;
//               lanes finding add --to after --title "finding from <cli>" --no-blocking --command "echo evidence"
//             (the `lanes` there is the run's finding command, first on the lane's PATH)
//      after  dependsOn work; test/fixtures/agents/agent.js copies its brief to brief-after.md
//    then `lanes run --json`, and `lanes plan --planner <preset> --print` (+ `lanes validate`).
//    Each CLI is pointed at the server through a throwaway HOME (with a TMPDIR beside it, not
//    above it: Codex makes no helper links in a CODEX_HOME under TMPDIR) and its own config variables.
//    Checks per preset: run (exit 0, both lanes passed: the non-blocking finding for a dependent
//    changes nothing), sandbox, edit, edit-result, shell, memory, brief (the note reaches the after
//    lane's brief), finding (the run's state.json has the finding work → after with that title,
//    not blocking, with its evidence command; no loop-back; the after lane's brief lists it),
//    trailers, usage, planner.
// 3. One more Claude case with a brief over 128 KiB: `lanes run` must end (lane failed with a
//    reason, or passed) within a timeout.
// Lanes run in the lane sandbox (bubblewrap) wherever it can run, and the suite checks that they
// did; LANES_SANDBOX_PROBE=none (passed on to `lanes`) runs every case unsandboxed instead.
// Prints a PASS/FAIL line per check and a summary table; exit 0 only if every non-skipped check
// passed. Everything each CLI printed, the server logs and the runs' logs go to
// /tmp/lanes-agents-<stamp>/. Every process started here is stopped at the end.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, createWriteStream, existsSync, mkdirSync, promises as fs, readFileSync, readdirSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FINDING_DIAG_FILE, FINDING_EVIDENCE, FINDING_TO, findingTitle } from './server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const FIXTURE_AGENT = path.join(ROOT, 'test', 'fixtures', 'agents', 'agent.js');
const SERVER = path.join(HERE, 'server.mjs');

/** The agent CLIs, pinned. `preset` is the name in presets.ts and the executable it runs. */
const CLIS = [
  { preset: 'claude', pkg: '@anthropic-ai/claude-code', version: '2.1.331', exe: 'claude' },
  { preset: 'codex', pkg: '@openai/codex', version: '0.169.0', exe: 'codex' },
  { preset: 'gemini', pkg: '@google/gemini-cli', version: '0.61.0', exe: 'gemini' },
  { preset: 'copilot', pkg: '@github/copilot', version: '1.0.102', exe: 'copilot' },
];
const ALL_PRESETS = ['claude', 'codex', 'gemini', 'copilot', 'aider'];

/** Time limits (ms). A healthy full run takes well under a minute after the first install. */
const LIMIT = { install: 15 * 60_000, version: 120_000, run: 180_000, plan: 150_000, validate: 30_000, bigBrief: 120_000 };
/** The lanes' own timeout in the plans (minutes): a stuck agent is stopped by lanes itself first. */
const LANE_TIMEOUT_MINUTES = 2;

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1).filter((l, i, all) => all.slice(0, i + 1).every((x) => x.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
  process.exit(0);
}
const onlyArg = argv.find((a) => a.startsWith('--only='))?.slice(7) ?? (argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined);
const ONLY = onlyArg ? onlyArg.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
for (const name of ONLY ?? []) {
  if (!ALL_PRESETS.includes(name) && name !== 'big-brief') {
    console.error(`unknown case "${name}"; choose from ${[...ALL_PRESETS, 'big-brief'].join(', ')}`);
    process.exit(2);
  }
}
const KEEP = argv.includes('--keep');
const wanted = (name) => !ONLY || ONLY.includes(name);

const STAMP = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-') + `-${process.pid}`;
/** Set in the environment of everything we start: the final sweep stops exactly those processes. */
const MARKER = `LANES_AGENTS_SUITE=${STAMP}`;
const CACHE_ROOT = path.resolve(process.env.LANES_AGENT_CACHE || path.join(os.homedir(), '.cache', 'agent-lanes', 'agent-clis'));
const OUT = path.join(realpathSync(os.tmpdir()), `lanes-agents-${STAMP}`);

/**
 * What lanes must run in here: bubblewrap wherever it can run (the README names it as an OS
 * package), none only where it cannot or LANES_SANDBOX_PROBE=none turns it off.
 */
const EXPECTED_ISOLATION = (() => {
  if (process.platform !== 'linux' || process.env.LANES_SANDBOX_PROBE === 'none') return 'none';
  try {
    execFileSync('bwrap', ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--unshare-pid', '--die-with-parent', 'true'], { stdio: 'ignore', timeout: 10_000 });
    return 'bwrap';
  } catch {
    return 'none';
  }
})();

// ---------------------------------------------------------------------------------------------
// Processes: every child is its own process group, tracked until it exits
// ---------------------------------------------------------------------------------------------

const live = new Set();

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Run a program (argv, no shell) in its own process group with its output captured (and written
 * to files when given). Stopped (whole group) after timeoutMs. Resolves, never rejects.
 */
function runProgram(cmd, args, { cwd, env, timeoutMs, stdoutFile, stderrFile, input } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let child;
    try {
      child = spawn(cmd, args, { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      resolve({ code: null, signal: null, stdout, stderr: String(e), timedOut, ms: 0, error: e });
      return;
    }
    live.add(child.pid);
    const outFile = stdoutFile ? createWriteStream(stdoutFile) : undefined;
    const errFile = stderrFile ? createWriteStream(stderrFile) : undefined;
    child.stdout.on('data', (c) => {
      stdout += c;
      outFile?.write(c);
    });
    child.stderr.on('data', (c) => {
      stderr += c;
      errFile?.write(c);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
    let killTimer;
    const timer = timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          killGroup(child.pid, 'SIGTERM');
          killTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), 5000);
        }, timeoutMs)
      : undefined;
    const finish = (code, signal, error) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      live.delete(child.pid);
      outFile?.end();
      errFile?.end();
      resolve({ code, signal, stdout, stderr, timedOut, ms: Date.now() - t0, error });
    };
    child.on('error', (e) => finish(null, null, e));
    child.on('close', (code, signal) => finish(code, signal));
  });
}

/** Start the scripted server for one case; resolves with its port once it listens. */
function startServer(tag, logFile, stderrFile) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER, '--tag', tag, '--log', logFile], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LANES_AGENTS_SUITE: STAMP },
    });
    live.add(child.pid);
    const err = createWriteStream(stderrFile);
    child.stderr.pipe(err);
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`the scripted server did not start in 10 s: ${buf}`)), 10_000);
    child.stdout.on('data', (c) => {
      buf += c;
      const line = buf.split('\n')[0];
      if (buf.includes('\n')) {
        clearTimeout(timer);
        try {
          resolve({ port: JSON.parse(line).port, pid: child.pid, stop: () => stopProcess(child) });
        } catch (e) {
          reject(e);
        }
      }
    });
    child.on('exit', (code) => {
      live.delete(child.pid);
      clearTimeout(timer);
      reject(new Error(`the scripted server exited (${code}) before listening`));
    });
    child.on('error', reject);
  });
}

function stopProcess(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => killGroup(child.pid, 'SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(t);
      live.delete(child.pid);
      resolve();
    });
    killGroup(child.pid, 'SIGTERM');
  });
}

/** Processes carrying our marker (the CLIs and watchdogs that `lanes` started for us), by pid. */
function markedPids() {
  if (process.platform !== 'linux') return [];
  const pids = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`, 'latin1');
      if (env.split('\0').includes(MARKER)) pids.push(Number(name));
    } catch {
      /* gone, or not ours */
    }
  }
  return pids;
}

/** Stop every process we started: tracked groups first, then anything still carrying the marker. */
async function stopEverything() {
  for (const pid of live) killGroup(pid, 'SIGTERM');
  const end = Date.now() + 3000;
  while (Date.now() < end && [...live].length + markedPids().length > 0) await sleep(200);
  for (const pid of live) killGroup(pid, 'SIGKILL');
  const left = markedPids();
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  return left.length;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// git, with no user or system configuration leaking in
// ---------------------------------------------------------------------------------------------

const GIT_CONFIG = path.join(OUT, 'gitconfig');

function gitEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^GIT_/.test(k)) delete env[k];
  return { ...env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: GIT_CONFIG, ...extra };
}

function git(cwd, args) {
  return new Promise((resolve) => {
    execFile('git', args, { cwd, env: gitEnv(), maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ ok: !error, stdout, stderr: String(stderr || (error ? error.message : '')) });
    });
  });
}

async function gitOk(cwd, args) {
  const r = await git(cwd, args);
  if (!r.ok) throw new Error(`git ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

// ---------------------------------------------------------------------------------------------
// 1. Installing the agent CLIs
// ---------------------------------------------------------------------------------------------

function cliDir(c) {
  return path.join(CACHE_ROOT, `${c.preset}@${c.version}`);
}
function cliBin(c) {
  return path.join(cliDir(c), 'bin');
}
const COPILOT_PKG_CACHE = path.join(CACHE_ROOT, 'copilot-pkg-cache');

/** A minimal environment for `<cli> --version`: a throwaway HOME, nothing of the user's. */
function versionEnv(c, home) {
  return {
    PATH: `${cliBin(c)}${path.delimiter}${process.env.PATH}`,
    HOME: home,
    TMPDIR: process.env.TMPDIR || os.tmpdir(),
    LANG: process.env.LANG || 'C.UTF-8',
    NO_COLOR: '1',
    LANES_AGENTS_SUITE: STAMP,
    CLAUDE_CONFIG_DIR: path.join(home, '.claude'),
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    CODEX_HOME: path.join(home, '.codex'),
    GEMINI_CLI_HOME: home,
    COPILOT_HOME: path.join(home, '.copilot'),
    COPILOT_PKG_CACHE_HOME: COPILOT_PKG_CACHE,
    COPILOT_AUTO_UPDATE: 'false',
  };
}

/**
 * The program `bin/<exe>` runs: npm's bin link. If Claude Code's postinstall did not run (its
 * bin/claude.exe is then only a stub), its platform package's native binary instead.
 */
function fallbackTarget(c) {
  if (c.preset !== 'claude') return undefined;
  const scope = path.join(cliDir(c), 'node_modules', '@anthropic-ai');
  const prefix = `claude-code-${process.platform}-${process.arch}`;
  const dirs = existsSync(scope) ? readdirSync(scope).filter((d) => d.startsWith(prefix)) : [];
  for (const d of dirs.sort((a, b) => a.length - b.length)) {
    const f = path.join(scope, d, 'claude');
    if (existsSync(f)) return f;
  }
  return undefined;
}

async function linkBin(c, target) {
  await fs.mkdir(cliBin(c), { recursive: true });
  const link = path.join(cliBin(c), c.exe);
  await fs.rm(link, { force: true });
  await fs.symlink(path.relative(cliBin(c), target), link);
}

async function checkVersion(c) {
  const home = path.join(OUT, 'version-home', c.preset);
  await fs.mkdir(path.join(home, '.codex'), { recursive: true });
  const r = await runProgram(path.join(cliBin(c), c.exe), ['--version'], { cwd: home, env: versionEnv(c, home), timeoutMs: LIMIT.version });
  const text = (r.stdout + r.stderr).trim();
  const line = text.split('\n').find((l) => l.includes(c.version));
  return { ok: r.code === 0 && Boolean(line), text: (line ?? text.split('\n').slice(-3).join(' / ')).trim() || `exit ${r.code ?? r.signal}` };
}

async function installCli(c) {
  const dir = cliDir(c);
  const marker = path.join(dir, '.lanes-installed.json');
  if (existsSync(marker) && existsSync(path.join(cliBin(c), c.exe))) {
    const v = await checkVersion(c);
    if (v.ok) return { ok: true, note: `cached in ${dir}`, version: v.text };
  }
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  const log = path.join(OUT, `install-${c.preset}.log`);
  process.stdout.write(`  installing ${c.pkg}@${c.version} into ${dir} …\n`);
  // --prefer-offline: npm's own cache answers when it can (the ordinary client, nothing else).
  const r = await runProgram(
    'npm',
    ['install', '--prefix', dir, '--save-exact', '--no-audit', '--no-fund', '--no-update-notifier', '--prefer-offline', '--loglevel=warn', `${c.pkg}@${c.version}`],
    { cwd: dir, env: { ...process.env, LANES_AGENTS_SUITE: STAMP }, timeoutMs: LIMIT.install, stdoutFile: log, stderrFile: `${log}.err` },
  );
  if (r.code !== 0) return { ok: false, note: `npm install failed (${r.timedOut ? 'timed out' : `exit ${r.code}`}); see ${log}.err: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}` };
  await linkBin(c, path.join(dir, 'node_modules', '.bin', c.exe));
  let v = await checkVersion(c);
  if (!v.ok && fallbackTarget(c)) {
    await linkBin(c, fallbackTarget(c));
    v = await checkVersion(c);
  }
  if (!v.ok) return { ok: false, note: `installed, but "${c.exe} --version" did not report ${c.version}: ${v.text}` };
  writeFileSync(marker, JSON.stringify({ package: c.pkg, version: c.version, installedAt: new Date().toISOString() }, null, 2) + '\n');
  return { ok: true, note: `installed into ${dir}`, version: v.text };
}

/** The first executable `exe` on the caller's PATH (what `lanes` looks for too). */
function findOnPath(exe) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const f = path.join(dir, exe);
    try {
      accessSync(f, fsConstants.X_OK);
      return f;
    } catch {
      /* next */
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// 2. One preset against its CLI
// ---------------------------------------------------------------------------------------------

/**
 * The environment of `lanes` (and so of the agent CLI it starts): a whitelist of the caller's
 * variables (no real API keys or tokens leak in), a throwaway HOME, every CLI's bin folder on PATH,
 * and the variables that point this CLI at the scripted server.
 */
function laneEnv(preset, home, port, binDirs) {
  // A temp folder of the case's own, beside HOME rather than above it: Codex refuses to create its
  // helper links (codex-linux-sandbox, apply_patch) in a CODEX_HOME under TMPDIR, and unsandboxed
  // (LANES_SANDBOX_PROBE=none) every sandboxed tool call then fails with "bwrap: execvp
  // codex-linux-sandbox: No such file or directory". (In the lane sandbox lanes sets its own TMPDIR.)
  const tmp = path.join(path.dirname(home), 'tmp');
  mkdirSync(tmp, { recursive: true });
  const env = {};
  // LANES_SANDBOX_PROBE=none (and LANES_BWRAP) must reach `lanes`: it decides the isolation.
  for (const k of ['PATH', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'USER', 'LOGNAME', 'SHELL', 'TERM', 'LANES_SANDBOX_PROBE', 'LANES_BWRAP']) {
    if (process.env[k] !== undefined) env[k] = process.env[k];
  }
  Object.assign(env, {
    PATH: [...binDirs, process.env.PATH].join(path.delimiter),
    HOME: home,
    TMPDIR: tmp,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
    XDG_DATA_HOME: path.join(home, '.local', 'share'),
    XDG_STATE_HOME: path.join(home, '.local', 'state'),
    SHELL: env.SHELL || '/bin/bash',
    NO_COLOR: '1',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: GIT_CONFIG,
    LANES_AGENTS_SUITE: STAMP,
  });
  const base = `http://127.0.0.1:${port}`;
  switch (preset) {
    case 'claude':
      Object.assign(env, {
        ANTHROPIC_BASE_URL: base, // the CLI appends /v1/messages
        ANTHROPIC_API_KEY: 'sk-ant-scripted',
        CLAUDE_CONFIG_DIR: path.join(home, '.claude'),
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        DISABLE_AUTOUPDATER: '1',
      });
      break;
    case 'codex':
      // The preset takes no -c flags: model and provider come from $CODEX_HOME/config.toml.
      Object.assign(env, { CODEX_HOME: path.join(home, '.codex'), SCRIPTED_API_KEY: 'sk-scripted' });
      break;
    case 'gemini':
      Object.assign(env, { GEMINI_CLI_HOME: home, GOOGLE_GEMINI_BASE_URL: base, GEMINI_API_KEY: 'scripted-key' });
      break;
    case 'copilot':
      Object.assign(env, {
        COPILOT_HOME: path.join(home, '.copilot'),
        COPILOT_PROVIDER_BASE_URL: `${base}/v1`, // the CLI appends /chat/completions
        COPILOT_PROVIDER_API_KEY: 'sk-scripted',
        COPILOT_MODEL: 'scripted-model', // a name it does not know: plain function tools (create, bash)
        COPILOT_OFFLINE: 'true',
        COPILOT_AUTO_UPDATE: 'false',
        COPILOT_PKG_CACHE_HOME: COPILOT_PKG_CACHE,
      });
      break;
    case 'aider':
      Object.assign(env, {
        OPENAI_API_BASE: `${base}/v1`,
        AIDER_OPENAI_API_BASE: `${base}/v1`,
        OPENAI_API_KEY: 'sk-scripted',
        AIDER_MODEL: 'openai/scripted-model',
        AIDER_EDIT_FORMAT: 'diff',
        AIDER_ANALYTICS_DISABLE: 'true',
        AIDER_CHECK_UPDATE: 'false',
        AIDER_SHOW_RELEASE_NOTES: 'false',
        LITELLM_LOCAL_MODEL_COST_MAP: 'True',
      });
      break;
  }
  return env;
}

/** The config files each CLI reads from its throwaway HOME. */
async function writeHomeConfig(preset, home, port) {
  await fs.mkdir(home, { recursive: true });
  await fs.writeFile(path.join(home, '.gitconfig'), '');
  if (preset === 'codex') {
    await fs.mkdir(path.join(home, '.codex'), { recursive: true }); // must exist
    await fs.writeFile(
      path.join(home, '.codex', 'config.toml'),
      [
        '# A model slug from the bundled catalog (gets apply_patch) and a provider on the scripted server.',
        'model = "gpt-5.5"',
        'model_provider = "scripted"',
        'check_for_update_on_startup = false',
        '',
        '[model_providers.scripted]',
        'name = "Scripted"',
        `base_url = "http://127.0.0.1:${port}/v1"`,
        'env_key = "SCRIPTED_API_KEY"',
        'wire_api = "responses"',
        'request_max_retries = 1',
        'stream_max_retries = 1',
        '',
      ].join('\n'),
    );
  }
  if (preset === 'gemini') {
    await fs.mkdir(path.join(home, '.gemini'), { recursive: true });
    const settings = {
      // An API key with a custom base URL; without this, headless mode exits 41 ("Invalid auth method").
      security: { auth: { selectedType: 'gemini-api-key' } },
      // A fixed model: no routing call first.
      model: { name: 'gemini-2.5-pro' },
      privacy: { usageStatisticsEnabled: false },
      telemetry: { enabled: false },
      general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
    };
    await fs.writeFile(path.join(home, '.gemini', 'settings.json'), JSON.stringify(settings, null, 2) + '\n');
  }
}

/** A fresh repository: main branch, an identity, the files and one commit. */
async function makeRepo(dir, files) {
  await fs.mkdir(dir, { recursive: true });
  await gitOk(dir, ['init', '-q', '-b', 'main']);
  await gitOk(dir, ['config', 'user.name', 'Lanes Agents Suite']);
  await gitOk(dir, ['config', 'user.email', 'agents-suite@lanes.invalid']);
  await gitOk(dir, ['config', 'commit.gpgsign', 'false']);
  for (const [rel, text] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await fs.writeFile(path.join(dir, rel), text);
  }
  await gitOk(dir, ['add', '-A']);
  await gitOk(dir, ['commit', '-q', '-m', 'initial commit']);
}

function twoLanePlan(preset) {
  return {
    version: 1,
    goal: `Prove the ${preset} preset against its real CLI`,
    maxParallel: 2,
    defaults: { timeoutMinutes: LANE_TIMEOUT_MINUTES },
    lanes: [
      { id: 'work', role: 'implement', brief: 'create hello.txt, then run a shell command', agent: preset },
      {
        // Also the lane the work lane's finding is for (FINDING_TO): a dependent, so a
        // non-blocking finding for it sends nothing back.
        id: 'after',
        role: 'review',
        brief: 'Copy your brief to brief-after.md.',
        dependsOn: ['work'],
        agent: { command: ['node', FIXTURE_AGENT, 'copy-brief=brief-after.md', 'write=after.txt:x'] },
      },
    ],
  };
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    const start = text.indexOf('{');
    const end = text.lastIndexOf('}');
    if (start < 0 || end < start) return undefined;
    try {
      return JSON.parse(text.slice(start, end + 1));
    } catch {
      return undefined;
    }
  }
}

function readJsonl(file) {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => parseJson(l))
    .filter(Boolean);
}

function tail(text, lines = 12) {
  return String(text || '').trimEnd().split('\n').slice(-lines).join('\n');
}

/** A case's results: one line per check, in order. */
class Checks {
  constructor(name) {
    this.name = name;
    this.list = [];
    this.evidence = [];
  }
  add(id, ok, title, detail = '') {
    this.list.push({ id, status: ok ? 'PASS' : 'FAIL', title, detail });
    return ok;
  }
  skip(id, title, detail) {
    this.list.push({ id, status: 'SKIP', title, detail });
  }
  /** Text shown under the case when something failed (what the CLI printed, what lanes said). */
  note(label, text) {
    if (text && String(text).trim()) this.evidence.push({ label, text: String(text).trimEnd() });
  }
  get failed() {
    return this.list.filter((c) => c.status === 'FAIL');
  }
}

async function copyRunDir(repo, runId, dest) {
  if (!runId) return;
  const dir = path.join(repo, '.git', 'lanes', 'runs', runId);
  if (existsSync(dir)) await fs.cp(dir, dest, { recursive: true }).catch(() => undefined);
}

async function showFile(repo, ref, file) {
  const r = await git(repo, ['show', `${ref}:${file}`]);
  return r.ok ? r.stdout : undefined;
}

async function presetCase(preset, binDirs) {
  const checks = new Checks(preset);
  const dir = path.join(OUT, preset);
  const work = path.join(dir, 'work');
  const repo = path.join(work, 'repo');
  const home = path.join(work, 'home');
  const worktrees = path.join(work, 'worktrees');
  await fs.mkdir(dir, { recursive: true });
  const serverLog = path.join(dir, 'server.jsonl');
  const server = await startServer(preset, serverLog, path.join(dir, 'server.stderr'));
  try {
    await writeHomeConfig(preset, home, server.port);
    const plan = twoLanePlan(preset);
    await makeRepo(repo, { 'README.md': `# ${preset} compatibility\n`, '.lanes/plan.json': JSON.stringify(plan, null, 2) + '\n' });
    const env = laneEnv(preset, home, server.port, binDirs);
    const note = `note from ${preset}`;

    // --- lanes run ------------------------------------------------------------------------
    const run = await runProgram(process.execPath, [CLI, 'run', '--worktree-root', worktrees, '--json'], {
      cwd: repo,
      env,
      timeoutMs: LIMIT.run,
      stdoutFile: path.join(dir, 'lanes-run.json'),
      stderrFile: path.join(dir, 'lanes-run.stderr'),
    });
    const result = parseJson(run.stdout);
    const runId = result?.runId;
    await copyRunDir(repo, runId, path.join(dir, 'run-dir'));
    const lane = (id) => result?.lanes?.find((l) => l.id === id);
    const work_ = lane('work');
    const after = lane('after');
    const laneLog = runId ? path.join(repo, '.git', 'lanes', 'runs', runId, 'logs') : undefined;
    const logText = laneLog && existsSync(laneLog) ? readdirSync(laneLog).filter((f) => f.startsWith('work')).map((f) => readFileSync(path.join(laneLog, f), 'utf8')).join('\n') : '';
    const states = result ? result.lanes.map((l) => `${l.id}=${l.status}${l.reason ? ` (${l.reason.split('\n')[0]})` : ''}`).join(', ') : 'no JSON result';
    const runOk = checks.add(
      'run',
      run.code === 0 && work_?.status === 'passed' && after?.status === 'passed',
      'lanes run exits 0 and both lanes passed',
      `exit ${run.timedOut ? 'TIMED OUT' : (run.code ?? run.signal)} in ${(run.ms / 1000).toFixed(1)} s; ${states}`,
    );
    if (!runOk) checks.note('lanes run stderr', tail(run.stderr, 15));
    // Where bubblewrap can run, every preset must pass inside the lane sandbox.
    const isolations = result ? result.lanes.map((l) => `${l.id}=${l.isolation}`).join(', ') : 'no JSON result';
    checks.add(
      'sandbox',
      Boolean(result) && result.lanes.every((l) => l.isolation === EXPECTED_ISOLATION),
      `the lanes ran ${EXPECTED_ISOLATION === 'none' ? 'unsandboxed (no sandbox can run here)' : `in the lane sandbox (${EXPECTED_ISOLATION})`}`,
      isolations,
    );

    // --- the CLI's own edit tool ------------------------------------------------------------
    const branch = work_?.branch ?? (runId ? `lanes/${runId}/work` : undefined);
    const hello = branch ? await showFile(repo, branch, 'hello.txt') : undefined;
    checks.add('edit', hello !== undefined && hello.includes(`hello from ${preset}`), 'edit tool: hello.txt is in the work branch', hello !== undefined ? `${branch}:hello.txt = ${JSON.stringify(hello)}` : `no hello.txt in ${branch ?? '(no branch)'}`);
    const log = readJsonl(serverLog);
    const laneRequests = log.filter((e) => e.kind === 'lane');
    const editResult = laneRequests.flatMap((e) => e.results || []).find((r) => r.role === 'edit');
    // The CLI ran the tool and sent its result back: not refused or failed, and about hello.txt.
    const editAnswered = checks.add(
      'edit-result',
      Boolean(editResult) && !editResult.error && editResult.text.includes('hello.txt'),
      'edit tool: the server got the tool\'s result back',
      editResult ? `${editResult.error ? 'REFUSED/FAILED: ' : ''}${JSON.stringify(editResult.text.slice(0, 160))}` : `no result for the edit call in ${laneRequests.length} lane request(s) (${log.length} request(s) in all)`,
    );
    if (!editAnswered) checks.note('tool results the server got', laneRequests.map((e) => JSON.stringify({ step: e.step, answer: e.answer?.type, results: e.results })).join('\n'));

    // --- its shell tool ---------------------------------------------------------------------
    const shell = branch ? await showFile(repo, branch, 'shell.txt') : undefined;
    const shellResult = laneRequests.flatMap((e) => e.results || []).find((r) => r.role === 'shell');
    checks.add(
      'shell',
      shell !== undefined && shell.includes('shell-ran'),
      'shell tool: shell.txt is in the work branch',
      `${shell !== undefined ? `${branch}:shell.txt = ${JSON.stringify(shell)}` : `no shell.txt in ${branch ?? '(no branch)'}`}; tool result: ${shellResult ? JSON.stringify(shellResult.text.slice(0, 160)) : 'none'}`,
    );

    // --- the shared memory ------------------------------------------------------------------
    const storeFile = runId ? path.join(repo, '.git', 'lanes', 'runs', runId, 'memory', 'work.md') : undefined;
    const stored = storeFile && existsSync(storeFile) ? readFileSync(storeFile, 'utf8') : undefined;
    checks.add('memory', stored !== undefined && stored.includes(note), `memory: .git/lanes/runs/<run>/memory/work.md has "${note}"`, stored !== undefined ? JSON.stringify(stored.slice(0, 200)) : `${storeFile ?? 'memory/work.md'} does not exist`);
    const briefAfter = after?.branch ? await showFile(repo, after.branch, 'brief-after.md') : undefined;
    checks.add(
      'brief',
      briefAfter !== undefined && briefAfter.includes(note),
      `memory: the after lane's brief has "${note}"`,
      briefAfter === undefined ? `no brief-after.md in ${after?.branch ?? '(after lane has no branch)'}` : briefAfter.includes(note) ? 'found in brief-after.md' : `not in brief-after.md; its memory section: ${JSON.stringify((briefAfter.split('## Shared memory')[1] || '').slice(0, 300))}`,
    );

    // --- a finding through `lanes finding add`, run by the CLI's shell tool --------------------
    // The orchestrator collects the JSON file the command wrote into the run's state.json.
    const runDir = runId ? path.join(repo, '.git', 'lanes', 'runs', runId) : undefined;
    const stateFile = runDir ? path.join(runDir, 'state.json') : undefined;
    const state = stateFile && existsSync(stateFile) ? parseJson(readFileSync(stateFile, 'utf8')) : undefined;
    const title = findingTitle(preset);
    const findings = state?.findings ?? [];
    const finding = findings.find((f) => f.from === 'work' && f.to === FINDING_TO && f.title === title);
    const loopBacks = state?.loopBacks ?? [];
    const findingInBrief = briefAfter !== undefined && briefAfter.includes('## Findings for you') && briefAfter.includes(title);
    const findingOk = Boolean(finding) && finding.blocking === false && finding.evidence?.command === FINDING_EVIDENCE && loopBacks.length === 0 && findingInBrief;
    let findingDetail;
    if (!state) findingDetail = `no state.json (${stateFile ?? 'no run id'})`;
    else if (!finding) findingDetail = `no finding work → ${FINDING_TO} "${title}" in state.json; findings there: ${findings.length ? findings.map((f) => `${f.id} ${f.from} → ${f.to}: ${f.title}`).join('; ') : 'none'}`;
    else findingDetail = `${finding.id} ${finding.from} → ${finding.to} (${finding.kind}, blocking ${finding.blocking}, ${finding.status}) evidence ${JSON.stringify(finding.evidence ?? null)}; loop-backs ${loopBacks.length}; in the after lane's brief: ${findingInBrief ? 'yes' : 'NO'}`;
    if (!findingOk) {
      // Where it went wrong: what the shell tool answered, and which `lanes` its shell found.
      const diag = branch ? await showFile(repo, branch, FINDING_DIAG_FILE) : undefined;
      const wantBin = runDir ? path.join(runDir, 'bin', 'lanes') : '<run>/bin/lanes';
      const found = (diag ?? '').split('\n')[0].trim() || undefined;
      const shellPath = /^PATH=(.*)$/m.exec(diag ?? '')?.[1];
      const onPath = shellPath !== undefined && shellPath.split(path.delimiter).includes(path.dirname(wantBin));
      const pathHad = diag === undefined ? `unknown (no ${FINDING_DIAG_FILE} in ${branch ?? '(no branch)'})` : `${onPath ? 'yes' : 'NO'} (command -v lanes = ${found ?? '?'}${found === wantBin ? '' : `; want ${wantBin}`})`;
      const rejected = `${logText}\n${run.stderr}`.split('\n').filter((l) => /finding .* was not recorded|raised F\d/.test(l)).slice(0, 3);
      findingDetail += `; shell PATH had the run's lanes bin dir: ${pathHad}; ${FINDING_DIAG_FILE}: ${JSON.stringify((diag ?? '').trim())}; shell tool result: ${shellResult ? JSON.stringify(shellResult.text.slice(-400)) : 'none'}${rejected.length ? `; lanes said: ${rejected.join(' / ')}` : ''}`;
    }
    checks.add('finding', findingOk, `finding: "lanes finding add" in the shell tool reaches state.json (work → ${FINDING_TO}, non-blocking, no loop-back) and the after lane's brief`, findingDetail);

    // --- trailers ---------------------------------------------------------------------------
    const message = branch ? (await git(repo, ['show', '-s', '--format=%B', branch])).stdout : '';
    const ownCommit = branch && result?.baseCommit ? (await git(repo, ['rev-parse', branch])).stdout.trim() !== result.baseCommit : Boolean(branch);
    const want = [`Lanes-Lane: work`, `Lanes-Agent: ${preset}`, `Lanes-Run: ${runId}`];
    const missing = want.filter((t) => !message.split('\n').some((l) => l.trim() === t));
    checks.add(
      'trailers',
      ownCommit && missing.length === 0,
      'the work commit carries Lanes-Lane, Lanes-Agent, Lanes-Run',
      !ownCommit ? `the work branch has no commit of its own (${branch ?? 'no branch'})` : missing.length ? `missing ${missing.join(', ')} in ${JSON.stringify(message.trim().slice(-300))}` : want.join(', '),
    );

    // --- usage -----------------------------------------------------------------------------
    // Each preset runs its CLI in a machine-readable mode: what it used reaches `lanes status`.
    const usage = lane('work')?.usage;
    const usageOk = preset === 'copilot' ? usage?.turns !== undefined && usage?.premiumRequests !== undefined : usage?.inputTokens !== undefined && usage?.outputTokens !== undefined && (preset !== 'claude' || usage?.costUsd !== undefined);
    checks.add('usage', Boolean(usageOk), 'the lane records what the agent used (tokens; cost for Claude; turns and premium requests for Copilot)', JSON.stringify(usage ?? null));

    // --- the planner ------------------------------------------------------------------------
    const planOut = path.join(dir, 'planned.json');
    const planned = await runProgram(process.execPath, [CLI, 'plan', '--planner', preset, '--print', '--timeout', '2', 'add a greeting'], {
      cwd: repo,
      env,
      timeoutMs: LIMIT.plan,
      stdoutFile: planOut,
      stderrFile: path.join(dir, 'plan.stderr'),
    });
    let planOk = planned.code === 0 && parseJson(planned.stdout) !== undefined;
    let planDetail = `plan exit ${planned.timedOut ? 'TIMED OUT' : (planned.code ?? planned.signal)} in ${(planned.ms / 1000).toFixed(1)} s`;
    if (planOk) {
      const v = await runProgram(process.execPath, [CLI, 'validate', planOut], { cwd: repo, env, timeoutMs: LIMIT.validate, stdoutFile: path.join(dir, 'validate.out'), stderrFile: path.join(dir, 'validate.err') });
      planOk = v.code === 0;
      const p = parseJson(planned.stdout);
      planDetail += `; validate exit ${v.code}: ${(v.stdout + v.stderr).trim().split('\n').slice(-2).join(' / ')}; lanes ${p.lanes?.map((l) => l.id).join(', ')}`;
    }
    if (!planOk) checks.note('lanes plan output', tail(planned.stdout + planned.stderr, 20));
    checks.add('planner', planOk, `lanes plan --planner ${preset} --print, accepted by lanes validate`, planDetail);

    if (checks.failed.length) {
      checks.note(`work lane log (what the ${preset} CLI printed, from ${path.join(dir, 'run-dir', 'logs')})`, tail(logText, 40));
      checks.note('server requests', log.map((e) => `${e.kind} step ${e.step} ${e.url} → ${e.answer?.type ?? ''}`).join('\n'));
    }
  } finally {
    await server.stop();
  }
  return checks;
}

// ---------------------------------------------------------------------------------------------
// 3. A brief over 128 KiB (one argument longer than Linux allows) for the claude preset
// ---------------------------------------------------------------------------------------------

async function bigBriefCase(binDirs) {
  const checks = new Checks('big-brief');
  const dir = path.join(OUT, 'big-brief');
  const work = path.join(dir, 'work');
  const repo = path.join(work, 'repo');
  const home = path.join(work, 'home');
  await fs.mkdir(dir, { recursive: true });
  const server = await startServer('claude', path.join(dir, 'server.jsonl'), path.join(dir, 'server.stderr'));
  try {
    await writeHomeConfig('claude', home, server.port);
    const block = (label) => Array.from({ length: 1100 }, (_, i) => `${label} line ${String(i).padStart(4, '0')}: ${'x'.repeat(44)}\n`).join('');
    const a = block('context-a');
    const b = block('context-b');
    const plan = {
      version: 1,
      goal: 'A brief over 128 KiB must not hang the run',
      context: ['docs/context-a.txt', 'docs/context-b.txt'],
      defaults: { timeoutMinutes: LANE_TIMEOUT_MINUTES },
      lanes: [{ id: 'work', brief: 'create hello.txt, then run a shell command', agent: 'claude' }],
    };
    await makeRepo(repo, { 'README.md': '# big brief\n', 'docs/context-a.txt': a, 'docs/context-b.txt': b, '.lanes/plan.json': JSON.stringify(plan, null, 2) + '\n' });
    const env = laneEnv('claude', home, server.port, binDirs);
    const run = await runProgram(process.execPath, [CLI, 'run', '--worktree-root', path.join(work, 'worktrees'), '--json'], {
      cwd: repo,
      env,
      timeoutMs: LIMIT.bigBrief,
      stdoutFile: path.join(dir, 'lanes-run.json'),
      stderrFile: path.join(dir, 'lanes-run.stderr'),
    });
    const result = parseJson(run.stdout);
    await copyRunDir(repo, result?.runId, path.join(dir, 'run-dir'));
    const briefs = result?.runId ? path.join(repo, '.git', 'lanes', 'runs', result.runId, 'briefs') : undefined;
    const briefBytes = briefs && existsSync(briefs) ? readdirSync(briefs).map((f) => readFileSync(path.join(briefs, f)).length) : [];
    checks.add(
      'run',
      !run.timedOut && (run.code === 0 || run.code === 1) && result !== undefined,
      `lanes run ends within ${LIMIT.bigBrief / 1000} s with a result`,
      `${run.timedOut ? 'TIMED OUT (stopped by the suite)' : `exit ${run.code ?? run.signal}`} after ${(run.ms / 1000).toFixed(1)} s; brief ${briefBytes.length ? `${briefBytes.join(', ')} bytes` : 'not written'} (contexts ${a.length} + ${b.length} bytes)`,
    );
    const l = result?.lanes?.find((x) => x.id === 'work');
    const clear = l && (l.status === 'passed' || (l.status === 'failed' && Boolean(l.reason?.trim())));
    checks.add('outcome', Boolean(clear), 'the lane passed, or failed with a clear reason', l ? `${l.status}${l.reason ? `: ${l.reason.split('\n')[0]}` : ''}` : 'no lane in the result');
    if (checks.failed.length) checks.note('lanes run stderr', tail(run.stderr, 20));
  } finally {
    await server.stop();
  }
  return checks;
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

function printCase(c) {
  const lines = [`\n── ${c.name} ──`];
  for (const k of c.list) lines.push(`${k.status}  ${c.name}: ${k.title}${k.detail ? `\n        ${k.detail}` : ''}`);
  if (c.failed.length) {
    for (const e of c.evidence) lines.push(`  ┆ ${e.label}:`, ...e.text.split('\n').map((l) => `  ┆   ${l}`));
  }
  process.stdout.write(lines.join('\n') + '\n');
}

const COLUMNS = [
  ['run', 'lanes run'],
  ['sandbox', 'sandbox'],
  ['edit', 'edit'],
  ['edit-result', 'edit result'],
  ['shell', 'shell'],
  ['memory', 'memory'],
  ['brief', 'after brief'],
  ['finding', 'finding'],
  ['trailers', 'trailers'],
  ['usage', 'usage'],
  ['planner', 'planner'],
  ['outcome', 'outcome'],
];

function newestMtime(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const f = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(f) : statSync(f).mtimeMs);
  }
  return newest;
}

function table(cases) {
  const head = ['case', ...COLUMNS.map(([, t]) => t)];
  const rows = cases.map((c) => [c.name, ...COLUMNS.map(([id]) => c.list.find((k) => k.id === id)?.status ?? '-')]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((x, i) => x.padEnd(w[i])).join('  ');
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
}

async function main() {
  await fs.mkdir(OUT, { recursive: true });
  writeFileSync(GIT_CONFIG, '[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n[gc]\n\tauto = 0\n');
  const t0 = Date.now();
  console.log(`agent compatibility suite: results in ${OUT}`);
  console.log(`agent CLIs cached in ${CACHE_ROOT}`);

  if (!existsSync(CLI)) {
    console.log('dist/cli.js is missing: npm run build');
    const b = await runProgram('npm', ['run', 'build'], { cwd: ROOT, env: { ...process.env, LANES_AGENTS_SUITE: STAMP }, timeoutMs: 300_000 });
    if (b.code !== 0 || !existsSync(CLI)) {
      console.error(`npm run build failed:\n${tail(b.stdout + b.stderr, 30)}`);
      return 1;
    }
  }

  // The suite tests dist/ as built; it does not rebuild it (only builds it when missing).
  const newest = newestMtime(path.join(ROOT, 'src'));
  if (newest > statSync(CLI).mtimeMs) console.log('! dist/cli.js is older than src/: run "npm run build" first to test your latest changes');

  const cases = [];
  const skipped = [];
  const binDirs = [];
  const toRun = [];

  // 1. install (one after another: npm's cache and the disk are shared)
  console.log('\n1. agent CLIs');
  const needed = CLIS.filter((c) => wanted(c.preset) || (c.preset === 'claude' && wanted('big-brief')));
  for (const c of needed) {
    const r = await installCli(c);
    console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${c.exe} ${c.version}: ${r.note}${r.version ? ` (--version: ${r.version})` : ''}`);
    if (r.ok) {
      binDirs.push(cliBin(c));
      if (wanted(c.preset)) toRun.push(c.preset);
    } else {
      const k = new Checks(c.preset);
      k.add('run', false, `install ${c.pkg}@${c.version}`, r.note);
      cases.push(k);
    }
  }
  if (wanted('aider')) {
    const aider = findOnPath('aider');
    if (aider) {
      console.log(`  ok   aider: found on PATH at ${aider} (not installed by the suite)`);
      binDirs.push(path.dirname(aider));
      toRun.push('aider');
    } else {
      const reason = 'aider is not on PATH; the suite does not install it (a Python package: python -m pip install aider-install && aider-install)';
      console.log(`  SKIP aider: ${reason}`);
      skipped.push({ name: 'aider', reason });
    }
  }
  const claudeReady = binDirs.includes(cliBin(CLIS[0]));

  // 2 + 3. the cases, in parallel (each has its own repository, HOME and server)
  console.log(`\n2. cases: ${[...toRun, ...(wanted('big-brief') && claudeReady ? ['big-brief'] : [])].join(', ')}`);
  const jobs = toRun.map((p) =>
    presetCase(p, binDirs).catch((e) => {
      const k = new Checks(p);
      k.add('run', false, 'the case ran', String(e?.stack || e));
      return k;
    }),
  );
  if (wanted('big-brief') && claudeReady) {
    jobs.push(
      bigBriefCase(binDirs).catch((e) => {
        const k = new Checks('big-brief');
        k.add('run', false, 'the case ran', String(e?.stack || e));
        return k;
      }),
    );
  }
  for (const c of await Promise.all(jobs)) cases.push(c);
  for (const c of cases) printCase(c);
  for (const s of skipped) process.stdout.write(`\n── ${s.name} ──\nSKIP  ${s.name}: ${s.reason}\n`);

  const all = cases.flatMap((c) => c.list);
  const failed = all.filter((k) => k.status === 'FAIL');
  const summaryRows = [...cases];
  for (const s of skipped) summaryRows.push(Object.assign(new Checks(s.name), { list: COLUMNS.map(([id]) => ({ id, status: 'SKIP' })) }));
  const summary = [
    '',
    'Summary',
    table(summaryRows),
    '',
    `${all.length - failed.length} of ${all.length} checks passed${failed.length ? `; FAILED: ${cases.flatMap((c) => c.failed.map((k) => `${c.name}/${k.id}`)).join(', ')}` : ''}${skipped.length ? `; skipped: ${skipped.map((s) => s.name).join(', ')}` : ''}`,
    `${((Date.now() - t0) / 1000).toFixed(1)} s; results, CLI output and server logs in ${OUT}`,
  ].join('\n');
  process.stdout.write(summary + '\n');
  if (!all.length) process.stdout.write('no checks ran: nothing was proved (exit 1)\n');
  writeFileSync(path.join(OUT, 'summary.txt'), summary.trimStart() + '\n');
  writeFileSync(path.join(OUT, 'results.json'), JSON.stringify({ stamp: STAMP, cases: cases.map((c) => ({ name: c.name, checks: c.list })), skipped }, null, 2) + '\n');
  return failed.length || !all.length ? 1 : 0;
}

let code = 1;
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${sig}: stopping every process the suite started…`);
    void stopEverything().then(() => process.exit(130));
  });
}
try {
  code = await main();
} catch (e) {
  console.error(e?.stack || e);
  code = 1;
} finally {
  const left = await stopEverything();
  if (left) console.log(`stopped ${left} leftover process(es) started for the suite`);
  // The throwaway repositories, HOMEs and worktrees: kept when a check failed (or with --keep).
  if (!KEEP && code === 0) {
    for (const name of readdirSync(OUT)) {
      const w = path.join(OUT, name, 'work');
      if (existsSync(w)) await fs.rm(w, { recursive: true, force: true });
    }
    await fs.rm(path.join(OUT, 'version-home'), { recursive: true, force: true });
  }
}
process.exit(code);
