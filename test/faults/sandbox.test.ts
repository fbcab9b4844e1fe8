/**
 * Sandboxed lanes (bubblewrap): what an agent may and may not write, processes that end with
 * their lane, the network switch, and refusing rather than silently running unsandboxed. Each
 * test runs real agents (scripts) in a real bwrap; skipped, saying so, where bwrap cannot run.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Orchestrator, RunError } from '../../src/core/run/orchestrator';
import { resetSandboxProbe, sandboxAvailability } from '../../src/core/run/sandbox';
import { newRepo, processesMentioning, runPlan, waitFor, writePlan } from '../helpers/engine';
import { sh, tempDir } from '../helpers/repo';

const ROOT = path.resolve(__dirname, '../..');

/** A node agent from a script text (no shell): the script is one argv element. */
const nodeAgent = (script: string) => ({ command: ['node', '-e', script] });

describe('sandboxed lanes (bubblewrap)', function () {
  before(async function () {
    resetSandboxProbe();
    const a = await sandboxAvailability();
    if (a.kind !== 'bwrap') {
      console.log(`      (skipped: ${a.reason})`);
      this.skip();
    }
  });

  it('an agent writes its worktree, memory, temp folder and commits; the checkout, .git/config, hooks and files elsewhere are read-only', async () => {
    const repo = newRepo();
    const outside = path.join(tempDir('lanes-outside-'), 'secret.txt');
    writeFileSync(outside, 'secret\n');
    const script = `
      const fs = require('fs'), path = require('path'), os = require('os'), { execFileSync } = require('child_process');
      const r = {};
      const tryWrite = (k, f) => { try { fs.writeFileSync(f, 'x'); r[k] = 'written'; } catch (e) { r[k] = e.code; } };
      tryWrite('checkout', path.join(process.env.LANES_REPO, 'stray.txt'));
      tryWrite('outside', ${JSON.stringify(outside)});
      tryWrite('gitConfig', path.join(process.env.LANES_REPO, '.git', 'config'));
      tryWrite('hook', path.join(process.env.LANES_REPO, '.git', 'hooks', 'pre-commit'));
      tryWrite('tmp', path.join(os.tmpdir(), 'scratch.txt'));
      tryWrite('memory', process.env.LANES_MEMORY_FILE);
      // What points our own git at the repository stays read-only (else our git, outside the sandbox, could read a config of the agent's).
      tryWrite('dotGit', '.git');
      const adminDir = execFileSync('git', ['rev-parse', '--absolute-git-dir'], { encoding: 'utf8' }).trim();
      tryWrite('commondir', path.join(adminDir, 'commondir'));
      tryWrite('plantedHome', '/planted.txt');
      try { execFileSync('git', ['-C', process.env.LANES_REPO, 'config', 'core.hooksPath', '/tmp/evil'], { stdio: 'pipe' }); r.gitConfigCmd = 'written'; } catch (e) { r.gitConfigCmd = 'refused'; }
      r.tmpdir = os.tmpdir();
      r.sandbox = process.env.LANES_SANDBOX;
      fs.writeFileSync('result.json', JSON.stringify(r));
      execFileSync('git', ['add', 'result.json']);
      execFileSync('git', ['commit', '-qm', 'the agent commits itself']);
      fs.writeFileSync('left.txt', 'left for lanes to commit');
    `;
    writePlan(repo, [{ id: 'a', agent: nodeAgent(script), env: { CODEX_HOME: '/', CLAUDE_CONFIG_DIR: path.join(repo.dir, '.git') } } as never]);
    const configBefore = readFileSync(path.join(repo.dir, '.git', 'config'));
    const { state } = await runPlan(repo);
    const l = state.lanes[0]!;
    assert.equal(l.isolation, 'bwrap');
    assert.equal(l.status, 'passed', l.reason);
    const r = JSON.parse(sh(repo.dir, ['show', `${l.branch}:result.json`]));
    assert.equal(r.checkout, 'EROFS');
    assert.equal(r.outside, 'EROFS');
    assert.equal(r.gitConfig, 'EROFS');
    assert.equal(r.hook, 'EROFS');
    assert.equal(r.gitConfigCmd, 'refused');
    assert.equal(r.tmp, 'written');
    assert.equal(r.memory, 'written');
    assert.equal(r.dotGit, 'EROFS');
    assert.equal(r.commondir, 'EROFS');
    assert.equal(r.plantedHome, 'EROFS', 'a plan\'s CODEX_HOME of "/" makes nothing writable');
    assert.equal(r.sandbox, 'bwrap');
    assert.ok(r.tmpdir.startsWith(path.join(repo.dir, '.git', 'lanes', 'runs', state.runId, 'tmp')), r.tmpdir);
    assert.equal(sh(repo.dir, ['log', '-1', '--format=%s', `${l.branch}~1`]), 'the agent commits itself');
    assert.ok(sh(repo.dir, ['show', '--stat', l.branch]).includes('left.txt'));
    assert.equal(existsSync(path.join(repo.dir, 'stray.txt')), false);
    assert.equal(readFileSync(outside, 'utf8'), 'secret\n');
    assert.deepEqual(readFileSync(path.join(repo.dir, '.git', 'config')), configBefore);
    assert.equal(l.warnings.filter((w) => /WARNING/.test(w)).length, 0, l.warnings.join('\n'));
  });

  it('a double-forked daemon that keeps the output pipe open ends with its lane: the lane finishes, nothing is left', async () => {
    const repo = newRepo();
    const marker = `lanes-daemon-${process.pid}-${Date.now()}`;
    // setsid + background + the agent's stdout inherited: the classic way to outlive a process group.
    writePlan(repo, [{ id: 'd', agent: { command: ['sh', '-c', `setsid sh -c 'sleep 1000; echo ${marker}' & echo ok > d.txt; exit 0`] }, timeoutMinutes: 2 }]);
    const t0 = Date.now();
    const { state } = await runPlan(repo);
    assert.equal(state.lanes[0]!.status, 'passed', state.lanes[0]!.reason);
    assert.ok(Date.now() - t0 < 60_000, 'the lane did not wait for the daemon');
    await waitFor(() => processesMentioning(marker).length === 0, 5000, 'the daemon to be gone');
  });

  it('a timeout ends a lane whose agent hangs with a daemon holding its output; no process is left', async () => {
    const repo = newRepo();
    const marker = `lanes-hang-${process.pid}-${Date.now()}`;
    writePlan(repo, [{ id: 'h', timeoutMinutes: 0.03, agent: { command: ['sh', '-c', `setsid sh -c 'sleep 1000; echo ${marker}' & sh -c 'sleep 1000; echo ${marker}'`] } }]);
    const { state } = await runPlan(repo);
    assert.equal(state.lanes[0]!.status, 'timed-out');
    await waitFor(() => processesMentioning(marker).length === 0, 5000, 'every process of the lane to be gone');
  });

  it('"network": false cuts a lane off the network (a local server is unreachable); the default keeps it', async () => {
    const server = net.createServer((s) => s.end('hello\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const probe = `require('net').connect(${port}, '127.0.0.1').on('connect', function () { require('fs').writeFileSync('net.txt', 'reached'); this.end(); }).on('error', (e) => require('fs').writeFileSync('net.txt', e.code))`;
      const repo = newRepo();
      writePlan(repo, [
        { id: 'off', agent: nodeAgent(probe), network: false } as never,
        { id: 'on', agent: nodeAgent(probe) },
      ]);
      const { state } = await runPlan(repo);
      const show = (id: string) => sh(repo.dir, ['show', `${state.lanes.find((l) => l.id === id)!.branch}:net.txt`]);
      assert.equal(show('on'), 'reached');
      assert.match(show('off'), /^E(CONNREFUSED|NETUNREACH)$/);
      assert.equal(state.lanes.find((l) => l.id === 'off')!.network, false);
    } finally {
      server.close();
    }
  });

  it('the verify command runs in the sandbox too', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'v', agent: nodeAgent("require('fs').writeFileSync('x.txt', 'x')"), verify: ['sh', '-c', 'echo bad > "$LANES_REPO/from-verify.txt"'] }]);
    const { state } = await runPlan(repo);
    assert.equal(state.lanes[0]!.status, 'failed');
    assert.match(state.lanes[0]!.attempts[0]!.verify!.outputTail, /Read-only file system/);
    assert.equal(existsSync(path.join(repo.dir, 'from-verify.txt')), false);
  });

  it('kill -9 of `lanes run`: the sandboxed agent and everything it started die with it', async () => {
    const repo = newRepo();
    const marker = `lanes-orphan-${process.pid}-${Date.now()}`;
    writePlan(repo, [{ id: 'o', agent: { command: ['sh', '-c', `setsid sh -c 'sleep 1000; echo ${marker}' & sleep 1000; echo ${marker}`] } }]);
    const child = spawn(process.execPath, ['--import', require.resolve('tsx'), path.join(ROOT, 'src/cli/index.ts'), 'run', '--worktree-root', tempDir('lanes-wt-')], { cwd: repo.dir, stdio: 'ignore' });
    try {
      // Both bwrap processes, the agent's shell and its daemon: the sandbox has started. (Killed
      // while bubblewrap itself starts, between its inner fork and its PR_SET_PDEATHSIG, the inner
      // one can miss its parent's death: a window of bubblewrap's own, not this guarantee's.)
      await waitFor(() => processesMentioning(marker).length >= 4, 30000, 'the agent and its daemon to start');
      child.kill('SIGKILL');
      await waitFor(() => processesMentioning(marker).length === 0, 10000, 'the lane\'s processes to die with the orchestrator');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('isolation "sandbox" where no sandbox can run, or "network": false without one, is refused before anything is written', async () => {
    const repo = newRepo();
    writePlan(repo, [{ id: 'a', agent: nodeAgent('0') }], { isolation: 'sandbox' });
    const env = { ...process.env, LANES_SANDBOX_PROBE: 'none' };
    await assert.rejects(Orchestrator.prepare({ cwd: repo.dir, env, worktreeRoot: tempDir('lanes-wt-') }), (e: unknown) => e instanceof RunError && e.reason === 'isolation' && /needs isolation "sandbox"/.test(e.message));
    writePlan(repo, [{ id: 'a', agent: nodeAgent('0'), network: false } as never], { isolation: 'none' });
    await assert.rejects(Orchestrator.prepare({ cwd: repo.dir, worktreeRoot: tempDir('lanes-wt-') }), (e: unknown) => e instanceof RunError && e.reason === 'isolation' && /"network": false/.test(e.message));
    assert.equal(existsSync(path.join(repo.dir, '.git', 'lanes', 'runs')), false, 'no run folder');
    // Unset (the default) on a machine without a sandbox: runs, and says so.
    writePlan(repo, [{ id: 'a', agent: nodeAgent("require('fs').writeFileSync('x', 'x')") }]);
    const { state } = await runPlan(repo, { env });
    assert.equal(state.lanes[0]!.isolation, 'none');
    assert.ok(state.warnings.some((w) => /without a sandbox/.test(w)), state.warnings.join('\n'));
  });
});
