import * as assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { COMMANDS } from '../../src/cli/main';
import { lanes, lanesProcess } from '../helpers/cli';
import { createTempRepo, sh, tempDir } from '../helpers/repo';

const PLANNER = path.join(__dirname, '../fixtures/planners/scripted-planner.js');

describe('lanes CLI', () => {
  it('prints help with examples; exit 0 for --help, 2 without a command', async () => {
    const h = await lanes(process.cwd(), ['--help']);
    assert.equal(h.code, 0);
    for (const c of COMMANDS) assert.match(h.out, new RegExp(`^  ${c.name} `, 'm'));
    assert.match(h.out, /Examples:\n  lanes init/);
    assert.equal((await lanes(process.cwd(), [])).code, 2);
    for (const c of COMMANDS) {
      const r = await lanes(process.cwd(), [c.name, '--help']);
      assert.equal(r.code, 0, c.name);
      assert.match(r.out, /^Usage: lanes /);
      assert.match(r.out, /Examples:\n  lanes /);
    }
  });

  it('exits 2 on usage errors and names the problem', async () => {
    const repo = createTempRepo();
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /unknown command "frobnicate"/],
      [['validate', '--bogus'], /unknown option --bogus/],
      [['init', '--template'], /option --template needs a value/],
      [['init', '--template', 'nope'], /unknown template "nope"; choose one of: trio, pipeline, review, fullstack, solo/],
      [['plan'], /plan needs a task description/],
      [['plan', 'x', '--attempts', '0'], /--attempts must be a whole number of at least 1/],
      [['validate', 'a.json', 'b.json'], /at most one file/],
    ];
    for (const [args, re] of cases) {
      const r = await lanes(repo.dir, args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, re);
    }
  });

  it('init writes a valid trio plan and refuses to overwrite without --force', async () => {
    const repo = createTempRepo({ 'src/a.ts': '', 'tests/a.test.ts': '', 'package.json': '{"scripts":{"test":"mocha"}}' });
    const r = await lanes(repo.dir, ['init', '--template', 'trio', '--goal', 'Add rate limiting', '--agent', 'codex']);
    assert.equal(r.code, 0, r.err);
    const file = path.join(repo.dir, '.lanes/plan.json');
    const plan = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(plan.goal, 'Add rate limiting');
    assert.deepEqual(plan.defaults, { agent: 'codex' });
    assert.equal(plan.verify, 'npm test');
    assert.deepEqual(plan.lanes.map((l: { id: string }) => l.id), ['implement', 'test', 'document']);
    assert.deepEqual(plan.lanes[1].scope, ['tests/**'], 'scopes follow the repository layout');
    const again = await lanes(repo.dir, ['init']);
    assert.equal(again.code, 1);
    assert.match(again.err, /already exists; use --force/);
    assert.equal((await lanes(repo.dir, ['init', '--force', '-t', 'solo'])).code, 0);
    assert.ok(existsSync(`${file}.bak`), 'the replaced plan is kept');
    assert.equal((await lanes(repo.dir, ['validate'])).code, 0);
  });

  it('init outside a git repository fails with advice', async () => {
    const r = await lanes(tempDir(), ['init']);
    assert.equal(r.code, 1);
    assert.match(r.err, /not inside a git repository.*git init/);
  });

  it('validate exits 1 on errors, 0 on warnings (1 with --strict), and prints JSON', async () => {
    const repo = createTempRepo();
    const file = path.join(repo.dir, 'p.json');
    writeFileSync(file, JSON.stringify({ version: 1, goal: 'g', lanes: [{ id: 'a', brief: 'x', dependsOn: ['b'] }] }));
    const bad = await lanes(repo.dir, ['validate', 'p.json']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /p\.json:1:\d+: error lanes\[0\]\.dependsOn\[0\]: unknown lane "b"/);
    const json = await lanes(repo.dir, ['validate', 'p.json', '--json']);
    assert.equal(json.code, 1);
    const parsed = JSON.parse(json.out);
    assert.equal(parsed.ok, false);
    assert.equal(parsed.errors[0].path, 'lanes[0].dependsOn[0]');
    assert.equal(parsed.errors[0].code, 'unknown-dependency');

    writeFileSync(file, JSON.stringify({ version: 1, goal: 'g', lanes: [{ id: 'a', brief: 'x', scope: ['src/**'] }, { id: 'b', brief: 'y', scope: ['src/x.ts'] }] }));
    const warn = await lanes(repo.dir, ['validate', 'p.json']);
    assert.equal(warn.code, 0);
    assert.match(warn.err, /warning lanes\[1\]\.scope: lanes "a" and "b" may run in parallel/);
    assert.match(warn.out, /valid plan with 2 lanes, 1 warning/);
    assert.equal((await lanes(repo.dir, ['validate', 'p.json', '--strict'])).code, 1);

    const missing = await lanes(repo.dir, ['validate']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no plan at .*\.lanes\/plan\.json; create one with "lanes init --template trio"/);
  });

  it('validate reports context files that do not exist', async () => {
    const repo = createTempRepo();
    writeFileSync(path.join(repo.dir, 'p.json'), JSON.stringify({ version: 1, goal: 'g', context: ['README.md', 'ARCH.md', '../outside.md'], lanes: [{ id: 'a', brief: 'x' }] }));
    const r = await lanes(repo.dir, ['validate', 'p.json']);
    assert.equal(r.code, 1);
    assert.match(r.err, /error context\[1\]: file "ARCH.md" not found in the repository/);
    assert.match(r.err, /error context\[2\]: "..\/outside.md" is outside the repository/);
  });

  it('plan writes the planner\'s validated answer; exit 1 when the planner fails', async () => {
    const repo = createTempRepo();
    const ok = await lanes(repo.dir, ['plan', 'Add rate limiting', '--', 'node', PLANNER, '{promptFile}'], { SCRIPT_MODE: 'bad-then-good' });
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /wrote \.lanes\/plan\.json: 2 lanes \(impl, tests\) after 3 attempts/);
    assert.equal(JSON.parse(readFileSync(path.join(repo.dir, '.lanes/plan.json'), 'utf8')).goal, 'Add rate limiting');

    const bad = await lanes(repo.dir, ['plan', 'x', '--print', '--attempts', '1', '--', 'node', PLANNER], { SCRIPT_MODE: 'always-bad' });
    assert.equal(bad.code, 1);
    assert.match(bad.err, /no valid plan in 1 attempt/);

    // Asking again is said only when it happens, with the problems; a planner that fails is not
    // asked again, and its own reason (stderr) is shown in text mode.
    assert.match(ok.err, /attempt 1: 1 problem\(s\) in the answer; asking again\n  - /);
    assert.doesNotMatch(bad.err, /asking again/);
    const failed = await lanes(repo.dir, ['plan', 'x', '--print', '--', 'node', PLANNER], { SCRIPT_MODE: 'fail' });
    assert.equal(failed.code, 1);
    assert.equal(failed.err, 'planning with node…\n✗ the planner exit code 3: planner crashed: no credentials\n');

    const viaEnv = await lanes(repo.dir, ['plan', 'Env planner', '--print'], { LANES_PLANNER: JSON.stringify(['node', PLANNER]) });

    assert.equal(viaEnv.code, 0, viaEnv.err);
    assert.equal(JSON.parse(viaEnv.out).goal, 'Env planner');

    const none = await lanes(repo.dir, ['plan', 'x', '--print'], { PATH: '/nonexistent', LANES_PLANNER: '' });
    assert.equal(none.code, 1);
    assert.match(none.err, /no planner agent found on PATH.*lanes init --template trio/);
  });

  it('returns real process exit codes 0, 1 and 2', () => {
    const repo = createTempRepo();
    assert.equal(lanesProcess(repo.dir, ['--help']).code, 0);
    assert.equal(lanesProcess(repo.dir, ['validate']).code, 1);
    assert.equal(lanesProcess(repo.dir, ['validate', '--nope']).code, 2);
    const schema = lanesProcess(repo.dir, ['schema']);
    assert.equal(schema.code, 0);
    assert.equal(JSON.parse(schema.out).title, 'Agent Lanes plan');
  });
});

describe('lanes demo', function () {
  this.timeout(60000);
  it('runs the sample plan offline, then reconciles it: exit 0, every lane passed and integrated', async () => {
    const dir = tempDir();
    const r = await lanes(dir, ['demo', '--dir', dir], { DEMO_AGENT_DELAY_MS: '100' });
    assert.equal(r.code, 0, r.err + r.out);
    assert.match(r.out, /✓ run \S+: 3 passed/);
    assert.match(r.out, /parallel speedup \d+\.\d\d×/);
    assert.match(r.out, /✓ integrated impl, docs, tests on lanes-integration\//);
    assert.match(r.out, /Integration check `node --test test\/`: passed/);
  });
});

describe('lanes run / status / clean (CLI)', function () {
  this.timeout(60000);
  const AGENT = path.join(__dirname, '../fixtures/agents/agent.js');
  const planWith = (repo: ReturnType<typeof createTempRepo>, lanesDef: object[]) => {
    repo.write('.lanes/plan.json', JSON.stringify({ version: 1, goal: 'g', lanes: lanesDef }));
    repo.commitAll('plan');
  };

  it('--lane runs that lane and what it depends on; --json gives every field; exit 0 only when all passed', async () => {
    const repo = createTempRepo();
    planWith(repo, [
      { id: 'impl', brief: 'x', agent: { command: ['node', AGENT, 'write=a.txt:a'] } },
      { id: 'tests', brief: 'y', dependsOn: ['impl'], agent: { command: ['node', AGENT, 'write=t.txt:t'] }, verify: 'test -f a.txt' },
      { id: 'other', brief: 'z', agent: { command: ['node', AGENT, 'exit=3'] } },
    ]);
    const r = await lanes(repo.dir, ['run', '--lane', 'tests', '--json', '--worktree-root', tempDir()]);
    assert.equal(r.code, 0, r.err);
    const out = JSON.parse(r.out);
    assert.deepEqual(out.lanes.map((l: { id: string; status: string }) => [l.id, l.status]), [
      ['impl', 'passed'],
      ['tests', 'passed'],
    ]);
    for (const k of ['id', 'status', 'branch', 'worktree', 'base', 'head', 'startedAt', 'endedAt', 'attempts', 'exitCode', 'verify']) assert.ok(k in out.lanes[1], k);
    assert.equal(out.lanes[1].verify.passed, true);
    assert.equal(typeof out.speedup, 'number');

    const failing = await lanes(repo.dir, ['run', '--lane', 'other', '--worktree-root', tempDir()]);
    assert.equal(failing.code, 1);
    assert.match(failing.out, /other\s+✗ failed/);
    assert.match(failing.out, /the custom agent failed: exit code 3/);

    const st = await lanes(repo.dir, ['status', '--json']);
    assert.equal(st.code, 0);
    assert.equal(JSON.parse(st.out).run.lanes[0].id, 'other');
    const all = await lanes(repo.dir, ['status', '--all']);
    assert.equal(all.out.trim().split('\n').length, 2);

    const unknown = await lanes(repo.dir, ['run', '--lane', 'nope']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /unknown lane "nope"; the plan has impl, tests, other/);

    const cleaned = await lanes(repo.dir, ['clean', '--json']);
    assert.equal(cleaned.code, 0);
    assert.ok(JSON.parse(cleaned.out).actions.some((a: { action: string }) => a.action === 'kept'), 'unmerged lane branches are kept');
  });

  it('a plan naming an agent that is not installed fails that lane with a clear reason', async () => {
    const repo = createTempRepo();
    planWith(repo, [{ id: 'a', brief: 'x', agent: 'claude' }]);
    // A PATH with git and node only, so the test means the same wherever it runs.
    const bin = tempDir();
    const { execFileSync } = await import('node:child_process');
    const { symlinkSync } = await import('node:fs');
    symlinkSync(execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim(), path.join(bin, 'git'));
    symlinkSync(process.execPath, path.join(bin, 'node'));
    const r = await lanes(repo.dir, ['run', '--worktree-root', tempDir()], { PATH: bin });
    assert.equal(r.code, 1);
    assert.match(r.out, /could not start the claude agent \(claude\): program not found on PATH; install it with: npm install -g @anthropic-ai\/claude-code/);
    assert.equal(sh(repo.dir, ['worktree', 'list']).split('\n').length, 1, 'no worktree was made for it');

  });
});
