/**
 * Queue mode, end to end, exactly as pods would run it: a bare remote, workers as separate
 * `lanes worker` processes, each in its own clone, coordinating only through git. The sample
 * repository has 13 failing tests: 10 each with a bug of its own, and 3 that fail for one shared
 * root cause (src/shared.js). The scripted agent fixes what its task's test exercises.
 */
import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { seedQueue } from '../../src/core/queue/queue';
import { collectTasks } from '../../src/core/queue/tasks';
import { QueueSchema } from '../../src/core/queue/schema';
import { QueueStore } from '../../src/core/queue/store';
import { killTree } from '../../src/core/util/proc';
import { createTempRepo, sh, tempDir, TempRepo } from '../helpers/repo';
import { waitFor } from '../helpers/engine';
import { lanesProcess } from '../helpers/cli';

const ROOT = path.resolve(__dirname, '../..');
const N_OWN = 10;

/** The scripted worker agent: fixes the module its task's test file names; can misbehave on cue. */
const AGENT = String.raw`
const fs = require('fs');
const path = require('path');
const brief = fs.readFileSync(process.env.LANES_BRIEF_FILE, 'utf8');
const task = process.env.LANES_TASK;
const attempt = Number(process.env.LANES_ATTEMPT || 1);
if (process.env.QUEUE_AGENT_LOG) fs.appendFileSync(process.env.QUEUE_AGENT_LOG, task + ' ' + process.env.LANES_WORKER + ' ' + attempt + '\n');
const m = /test\/(m\d+|shared-[abc])\.test\.js/.exec(brief);
if (!m) { console.error('no test file in my brief'); process.exit(3); }
const name = m[1];
const hang = process.env.QUEUE_AGENT_HANG;
if (hang && (hang === '*' || name === hang)) { fs.writeFileSync(process.env.QUEUE_AGENT_HANG_FILE, String(process.pid)); setInterval(() => {}, 1000); return; }
const delay = Number(process.env.QUEUE_AGENT_DELAY_MS || 0);
setTimeout(() => {
  if (name.startsWith('shared')) {
    fs.writeFileSync('src/shared.js', "module.exports.add = (a, b) => a + b;\n");
    fs.mkdirSync(path.dirname(process.env.LANES_MEMORY_FILE), { recursive: true });
    fs.writeFileSync(process.env.LANES_MEMORY_FILE, 'root cause: add() in src/shared.js subtracted; fixed\n');
  } else {
    // Asked to, it breaks a passing test the sample does not run on its first try (the gate must
    // refuse it), and puts it right when told why.
    if (process.env.QUEUE_AGENT_REGRESS === name) fs.writeFileSync('src/extra.js', attempt === 1 ? "module.exports.two = () => 3;\n" : "module.exports.two = () => 2;\n");
    fs.writeFileSync('src/lib/' + name + '.js', "module.exports.f = (x) => x * 2;\n");
  }
  console.log('fixed ' + name);
}, delay);
`;

/** The sample: N_OWN failing tests of their own and 3 of one root cause; `small` keeps 3 own and no shared one. */
function sampleRepo(small = false): TempRepo {
  const files: Record<string, string> = {
    'package.json': '{"name":"q","private":true}\n',
    'src/shared.js': small ? 'module.exports.add = (a, b) => a + b;\n' : 'module.exports.add = (a, b) => a - b;\n',
    'src/ok.js': 'module.exports.one = () => 1;\n',
    'src/extra.js': 'module.exports.two = () => 2;\n',
    'test/extra.test.js': "const test = require('node:test'); const assert = require('node:assert'); const { two } = require('../src/extra');\ntest('two is 2', () => assert.strictEqual(two(), 2));\n",
    'test/ok.test.js': "const test = require('node:test'); const assert = require('node:assert'); const { one } = require('../src/ok');\ntest('one is 1', () => assert.strictEqual(one(), 1));\ntest('truth', () => assert.ok(true));\n",
    '.queue-agent.js': AGENT,
  };
  for (let i = 1; i <= N_OWN; i++) {
    files[`src/lib/m${i}.js`] = small && i > 3 ? 'module.exports.f = (x) => x * 2;\n' : 'module.exports.f = (x) => x * 3;\n';
    files[`test/m${i}.test.js`] = `const test = require('node:test'); const assert = require('node:assert'); const { f } = require('../src/lib/m${i}');\ntest('m${i} doubles', () => assert.strictEqual(f(${i}), ${2 * i}));\n`;
  }
  for (const [k, n] of [['a', 2], ['b', 3], ['c', 4]] as const) {
    files[`test/shared-${k}.test.js`] = `const test = require('node:test'); const assert = require('node:assert'); const { add } = require('../src/shared');\ntest('shared ${k} adds', () => assert.strictEqual(add(${n}, 1), ${n + 1}));\n`;
  }
  const queue = {
    version: 1,
    goal: 'Make every test pass',
    sources: [{ tests: ['node', '--test', '--test-reporter=tap', 'test/'], format: 'tap' }],
    agent: { command: ['node', '.queue-agent.js'] },
    gate: { command: ['node', '--test', '--test-reporter=tap', 'test/'], format: 'tap' },
    sample: { files: 'test/ok.test.js', command: ['node', '--test', '{files}'], size: 1 },
    retries: 1,
    claimTtlSeconds: 30,
  };
  files['.lanes/queue.json'] = JSON.stringify(queue, null, 2) + '\n';
  return createTempRepo(files);
}

interface Setup {
  repo: TempRepo;
  remote: string;
  queueFile: string;
  scratch: string;
}

async function setup(small = false): Promise<Setup> {
  const repo = sampleRepo(small);
  const remote = path.join(tempDir('lanes-remote-'), 'app.git');
  sh(repo.dir, ['clone', '--quiet', '--bare', repo.dir, remote]);
  const queueFile = path.join(repo.dir, '.lanes/queue.json');
  const config = QueueSchema.parse(JSON.parse(readFileSync(queueFile, 'utf8')));
  await seedQueue({ repo: repo.dir, remote, queue: config });
  return { repo, remote, queueFile, scratch: tempDir() };
}

interface WorkerProc {
  id: string;
  out: () => string;
  exited: Promise<number | null>;
  pid: number;
}

function worker(s: Setup, id: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): WorkerProc {
  let out = '';
  const child = spawn(process.execPath, ['--import', require.resolve('tsx'), path.join(ROOT, 'src/cli/index.ts'), 'worker', '--remote', s.remote, '--dir', path.join(s.scratch, id), '--queue', s.queueFile, '--id', id, ...extra], {
    cwd: s.scratch,
    env: { ...process.env, QUEUE_AGENT_LOG: path.join(s.scratch, 'agent.log'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { id, out: () => out, pid: child.pid!, exited: new Promise((r) => child.on('exit', (c) => r(c))) };
}

function agentRuns(s: Setup): string[][] {
  const f = path.join(s.scratch, 'agent.log');
  return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split(' ')) : [];
}

/** Run the gate at the remote's integration head, in a fresh clone. */
function gateAtHead(s: Setup): string {
  const dir = path.join(tempDir(), 'check');
  sh(s.scratch, ['clone', '--quiet', '--branch', 'lanes-queue/integration', s.remote, dir]);
  return execFileSync('node', ['--test', '--test-reporter=tap', 'test/'], { cwd: dir, encoding: 'utf8' });
}

describe('queue mode', function () {
  this.timeout(240000);

  it('three workers in their own clones finish every task against a bare remote; the integration passes the whole suite; no task is worked twice', async () => {
    const s = await setup();
    const snap0 = await new QueueStore(s.repo.dir, s.remote).read();
    assert.equal(snap0.tasks.length, 13, snap0.tasks.map((t) => t.name).join(', '));
    assert.equal(snap0.gate?.passing.length, 3, 'the first accepted state: the three passing tests');
    const ws = ['w1', 'w2', 'w3'].map((id) => worker(s, id));
    const codes = await Promise.all(ws.map((w) => w.exited));
    assert.deepEqual(codes, [0, 0, 0], ws.map((w) => w.out()).join('\n----\n'));
    const snap = await new QueueStore(s.repo.dir, s.remote).read();
    assert.equal(snap.done.size, 13, JSON.stringify([...snap.failed.values()]));
    assert.equal(snap.failed.size, 0);
    assert.equal(snap.locks.size, 0, 'every claim released');
    const runs = agentRuns(s);
    const perTask = new Map<string, number>();
    for (const [task] of runs) perTask.set(task!, (perTask.get(task!) ?? 0) + 1);
    assert.ok([...perTask.values()].every((n) => n === 1), `no task worked twice: ${JSON.stringify([...perTask])}`);
    // The shared root cause: once one of its three tests is fixed, the others close without an agent.
    assert.ok(runs.length < 13, `fewer agent sessions than tasks (${runs.length})`);
    const tap = gateAtHead(s);
    assert.match(tap, /# fail 0/);
    assert.match(tap, /# pass 16/);
    const progress = sh(s.scratch, ['--git-dir', s.remote, 'show', 'lanes-queue/integration:.lanes/progress.md']);
    assert.match(progress, /13 done, 0 open/);
  });

  it('one worker: the shared root cause closes its siblings by re-check, without an agent', async () => {
    const s = await setup();
    const w = worker(s, 'solo');
    assert.equal(await w.exited, 0, w.out());
    const snap = await new QueueStore(s.repo.dir, s.remote).read();
    const shared = snap.tasks.filter((t) => /shared/.test(t.name));
    assert.equal(shared.length, 3);
    const hows = shared.map((t) => snap.done.get(t.id)!.how).sort();
    assert.deepEqual(hows, ['integrated', 'recheck', 'recheck']);
    assert.equal(agentRuns(s).filter(([task]) => shared.some((t) => t.id === task)).length, 1);
    assert.match(w.out(), /recheck/);
    // The shared memory: the note of the agent that found the root cause reaches later briefs.
    const noted = [...(snap.memory ?? new Map())].find(([, v]) => /root cause: add\(\)/.test(v));
    assert.ok(noted, 'the note is in the queue\'s shared memory');
    const briefs = readdirSync(path.join(s.scratch, 'solo', '.lanes-briefs')).map((f) => readFileSync(path.join(s.scratch, 'solo', '.lanes-briefs', f), 'utf8'));
    assert.ok(briefs.some((b) => /## Shared memory[\s\S]*root cause: add\(\) in src\/shared\.js subtracted/.test(b)), 'a later brief shows it');
    assert.ok(briefs.every((b) => /## Progress of the whole queue/.test(b) && /## Recent history of the integration branch/.test(b)));
    assert.equal(sh(s.scratch, ['--git-dir', s.remote, 'log', '--format=%H', 'lanes-queue/integration', '--', '.lanes/memory']), '', 'notes are never committed');
  });

  it('a worker killed mid-task leaves a stale lock that another worker reclaims after the TTL', async () => {
    const s = await setup(true);
    const q = JSON.parse(readFileSync(s.queueFile, 'utf8'));
    q.claimTtlSeconds = 3;
    writeFileSync(s.queueFile, JSON.stringify(q));
    const hangFile = path.join(s.scratch, 'hang.pid');
    // The doomed worker's agent hangs on whatever task it claims; it is killed (its whole process
    // group, kill -9) while it works on it.
    const a = worker(s, 'doomed', ['--max-tasks', '1'], { QUEUE_AGENT_HANG: '*', QUEUE_AGENT_HANG_FILE: hangFile });
    await waitFor(() => existsSync(hangFile), 60000, 'the doomed worker\'s agent to start');
    const claimed = (await new QueueStore(s.repo.dir, s.remote).read()).locks;
    const m1 = [...claimed.values()].find((l) => l.worker === 'doomed');
    assert.ok(m1, 'the doomed worker holds a claim');
    // Its agent dies with it (the sandbox's, or the runner's watchdog): the pid in hangFile may be
    // a pid inside the sandbox's namespace, so it is only read, never signalled.
    killTree(a.pid, 'SIGKILL');
    await a.exited;
    const b = worker(s, 'rescuer');
    assert.equal(await b.exited, 0, b.out());
    assert.match(b.out(), new RegExp(`reclaimed ${m1.task}: the lock of doomed was last renewed at .*, more than its TTL \\(3 s\\) ago`));
    const snap = await new QueueStore(s.repo.dir, s.remote).read();
    assert.equal(snap.done.get(m1.task)?.worker, 'rescuer');
    assert.equal(snap.done.size, 3);
  });

  it('a change that breaks a passing test is rejected by the gate; the worker fixes it; nothing regresses on the integration branch', async () => {
    const s = await setup(true);
    const w = worker(s, 'w', [], { QUEUE_AGENT_REGRESS: 'm1' });
    assert.equal(await w.exited, 0, w.out());
    assert.match(w.out(), /rejected \(the gate .* rejected your change: 1 test\(s\) that passed before now fail/);
    assert.equal(agentRuns(s).filter(([, , attempt]) => attempt === '2').length, 1, 'the same worker took it again, with the regression');
    const snap = await new QueueStore(s.repo.dir, s.remote).read();
    assert.equal(snap.done.size, 3);
    assert.ok(snap.gate!.passing.some((id) => /two is 2/.test(id)), 'the test m1 broke still passes at the head');
    // Every integration commit on the branch passes the tests that passed before it.
    const tap = gateAtHead(s);
    assert.match(tap, /# fail 0/);
  });

  it('lanes queue start runs local workers (each its own clone) with a table, then status, stop and kubernetes', async () => {
    const repo = sampleRepo(true);
    const env = { QUEUE_AGENT_LOG: path.join(tempDir(), 'agent.log') };
    const started = lanesProcess(repo.dir, ['queue', 'start', '--workers', '2'], env);
    assert.equal(started.code, 0, started.out + started.err);
    assert.match(started.err, /queue: 3 tasks \(3 new\); the gate passes 13 tests and fails 3/);
    assert.match(started.out, /tasks: 3 · 0 open · 0 claimed · 3 done · 0 failed/);
    assert.match(started.out, /-w1 +stopped/);
    const status = lanesProcess(repo.dir, ['queue', 'status', '--json']);
    const v = JSON.parse(status.out);
    assert.deepEqual([v.total, v.done, v.open, v.failed], [3, 3, 0, 0]);
    assert.equal(v.workers.length, 2);
    // The integration branch is in the repository itself (the default remote); the checkout is untouched.
    assert.equal(sh(repo.dir, ['status', '--porcelain']), '');
    assert.match(sh(repo.dir, ['show', 'lanes-queue/integration:.lanes/progress.md']), /3 done, 0 open/);
    const stop = lanesProcess(repo.dir, ['queue', 'stop']);
    assert.equal(stop.code, 0, stop.err);
    assert.equal((await new QueueStore(repo.dir, repo.dir).read()).stop, true);
    const job = lanesProcess(repo.dir, ['queue', 'kubernetes', '--workers', '50', '--image', 'ghcr.io/acme/lanes-worker:1', '--remote', 'https://git.example.com/acme/app.git']);
    assert.equal(job.code, 0, job.err);
    assert.match(job.out, /kind: Job/);
    assert.match(job.out, /parallelism: 50/);
    const bad = lanesProcess(repo.dir, ['queue', 'kubernetes', '--workers', '50', '--image', 'x']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /needs --workers N, --image IMAGE and --remote URL/);
  });

  it("the queue's budget, summed over every worker, stops new claims once spent", async () => {
    const s = await setup(true);
    const q = JSON.parse(readFileSync(s.queueFile, 'utf8'));
    q.budget = { minutes: 0.005 }; // 0.3 s of agent time
    writeFileSync(s.queueFile, JSON.stringify(q));
    const w = worker(s, 'thrifty', [], { QUEUE_AGENT_DELAY_MS: '500' });
    assert.equal(await w.exited, 0, w.out());
    assert.match(w.out(), /the queue's budget.*; no new task is claimed/);
    const snap = await new QueueStore(s.repo.dir, s.remote).read();
    assert.equal(snap.done.size, 1, 'one task, then the budget was spent');
    assert.ok((snap.workers.get('thrifty')?.agentMs ?? 0) >= 500);
  });

  it('a task whose check fails in several units is split into one task per unit, with its lineage, and each is done', async () => {
    const repo = sampleRepo(true);
    // One list task whose check (the three m tests) fails in three units.
    writeFileSync(path.join(repo.dir, '.lanes/tasks.json'), JSON.stringify([{ id: 'triple', brief: 'Fix m1, m2 and m3', check: ['node', '--test', '--test-reporter=tap', 'test/m1.test.js', 'test/m2.test.js', 'test/m3.test.js'] }]));
    const q = JSON.parse(readFileSync(path.join(repo.dir, '.lanes/queue.json'), 'utf8'));
    q.sources = [{ list: '.lanes/tasks.json' }];
    writeFileSync(path.join(repo.dir, '.lanes/queue.json'), JSON.stringify(q));
    repo.commitAll('a list task');
    const remote = path.join(tempDir('lanes-remote-'), 'app.git');
    sh(repo.dir, ['clone', '--quiet', '--bare', repo.dir, remote]);
    const queueFile = path.join(repo.dir, '.lanes/queue.json');
    await seedQueue({ repo: repo.dir, remote, queue: QueueSchema.parse(q) });
    const s: Setup = { repo, remote, queueFile, scratch: tempDir() };
    const w = worker(s, 'splitter');
    assert.equal(await w.exited, 0, w.out());
    assert.match(w.out(), /split task-triple-\w+ into 3 tasks \(its check reports several failing units\)/);
    const snap = await new QueueStore(repo.dir, remote).read();
    const parent = snap.tasks.find((t) => t.source === 'list')!;
    const children = snap.tasks.filter((t) => t.parent === parent.id);
    assert.equal(children.length, 3);
    assert.equal(snap.done.get(parent.id)?.how, 'split');
    assert.ok(children.every((c) => snap.done.get(c.id)?.how === 'integrated'), JSON.stringify(children.map((c) => snap.done.get(c.id))));
    const status = lanesProcess(repo.dir, ['queue', 'status', '--remote', remote]);
    assert.match(status.out, new RegExp(`split ${parent.id} → `));
  });

  it("specialist roles bring tasks of their own sources, with the role's brief and agent, beside the others", async () => {
    const repo = createTempRepo({ 'src/a.js': '1\n', 'src/b.js': '2\n', 'docs/x.md': '#\n', '.lanes/critic.json': JSON.stringify([{ id: 'naming', brief: 'Names in src/a.js are unclear' }]) });
    const q = QueueSchema.parse({
      version: 1,
      goal: 'g',
      sources: [{ files: 'src/*.js', brief: 'Convert {file}' }],
      gate: { command: 'true' },
      roles: [{ id: 'critic', brief: 'You criticise; change only what the finding names.', agent: 'codex', sources: [{ list: '.lanes/critic.json' }] }, { id: 'dedup', brief: 'Deduplicate.' }],
    });
    const tasks = await collectTasks(q, repo.dir, process.env);
    assert.deepEqual(tasks.map((t) => t.name), ['src/a.js', 'src/b.js', 'naming']);
    const critic = tasks[2]!;
    assert.match(critic.id, /^role-critic-task-naming-/);
    assert.equal(critic.role, 'critic');
    assert.equal(critic.agent, 'codex');
    assert.match(critic.brief, /^You criticise[\s\S]*Names in src\/a\.js are unclear/);
  });

  it('a claim race between 8 workers on 1 task has exactly one winner', async () => {
    const repo = sampleRepo();
    // One failing test only: m1 (the others fixed in the base).
    for (let i = 2; i <= N_OWN; i++) writeFileSync(path.join(repo.dir, `src/lib/m${i}.js`), 'module.exports.f = (x) => x * 2;\n');
    writeFileSync(path.join(repo.dir, 'src/shared.js'), 'module.exports.add = (a, b) => a + b;\n');
    repo.commitAll('only m1 fails');
    const remote = path.join(tempDir('lanes-remote-'), 'app.git');
    sh(repo.dir, ['clone', '--quiet', '--bare', repo.dir, remote]);
    const queueFile = path.join(repo.dir, '.lanes/queue.json');
    await seedQueue({ repo: repo.dir, remote, queue: QueueSchema.parse(JSON.parse(readFileSync(queueFile, 'utf8'))) });
    const s: Setup = { repo, remote, queueFile, scratch: tempDir() };
    mkdirSync(s.scratch, { recursive: true });
    const ws = Array.from({ length: 8 }, (_, i) => worker(s, `r${i + 1}`, [], { QUEUE_AGENT_DELAY_MS: '1500' }));
    const codes = await Promise.all(ws.map((w) => w.exited));
    assert.deepEqual(codes, Array(8).fill(0), ws.map((w) => w.out()).join('\n----\n'));
    const claims = ws.flatMap((w) => w.out().split('\n').filter((l) => / claimed$/.test(l)));
    assert.equal(claims.length, 1, claims.join('\n'));
    assert.equal(agentRuns(s).length, 1);
    const snap = await new QueueStore(repo.dir, remote).read();
    assert.equal(snap.done.size, 1);
  });
});
