// The integration tests' workspace: a git repository with a three-lane plan of scripted agents.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function makeFixture(base, repo, name = 'workspace') {
  const dir = path.join(base, name);
  mkdirSync(path.join(dir, '.lanes'), { recursive: true });
  mkdirSync(path.join(dir, 'src'), { recursive: true });
  writeFileSync(path.join(dir, 'README.md'), '# fixture\n');
  writeFileSync(path.join(dir, 'src/a.txt'), 'a\n');
  copyFileSync(path.join(repo, 'test/fixtures/agents/agent.js'), path.join(dir, '.lanes/agent.js'));
  const agent = (...steps) => ({ command: ['node', '.lanes/agent.js', ...steps] });
  const plan = {
    version: 1,
    goal: 'Add b, with tests',
    maxParallel: 2,
    lanes: [
      { id: 'impl', role: 'implement', brief: 'Add src/b.txt and change src/a.txt.', scope: ['src/**'], agent: agent('sleep=300', 'write=src/b.txt:b', 'write=src/a.txt:a changed'), verify: 'test -f src/b.txt' },
      { id: 'tests', role: 'test', brief: 'Test b.', dependsOn: ['impl'], scope: ['test/**'], agent: agent('write=test/b.test.txt:checks b'), verify: ['test', '-f', 'src/b.txt'] },
      { id: 'clash', role: 'implement', brief: 'Writes src/b.txt its own way (collides with impl).', scope: ['lib/**'], agent: agent('write=src/b.txt:clash'), verify: 'true' },
      // Unsandboxed: the tests follow its PIDs (a sandboxed lane's are its own namespace's), and it
      // writes them outside its worktree. The other lanes run in the sandbox where there is one.
      { id: 'stuck', role: 'review', brief: 'Hangs until stopped.', scope: ['docs/**'], timeoutMinutes: 2, isolation: 'none', agent: agent(`hang=${path.join(base, 'stuck.pids')}`) },
    ],
  };
  writeFileSync(path.join(dir, '.lanes/plan.json'), JSON.stringify(plan, null, 2) + '\n');
  writeQueue(dir, base);
  const git = (...a) => execFileSync('git', a, { cwd: dir, stdio: 'ignore' });
  git('init', '-q', '-b', 'main');
  git('config', 'user.name', 'Lanes Test');
  git('config', 'user.email', 'test@lanes.invalid');
  git('config', 'commit.gpgsign', 'false');
  git('add', '-A');
  git('commit', '-q', '-m', 'fixture');
  return dir;
}

/**
 * Queue mode (.lanes/queue.json): three failing node tests under q/ (two fail for one shared cause)
 * and one passing, and a scripted queue agent that fixes the module its task's test names. While
 * `<base>/queue-hang` exists the agent hangs instead (the tests stop a queue mid-task with it).
 */
function writeQueue(dir, base) {
  const test = (file, lib, name, expr) =>
    writeFileSync(path.join(dir, 'q/test', file), `const test = require('node:test');\nconst assert = require('node:assert');\nconst lib = require('../lib/${lib}');\ntest('${name}', () => assert.strictEqual(${expr}));\n`);
  mkdirSync(path.join(dir, 'q/lib'), { recursive: true });
  mkdirSync(path.join(dir, 'q/test'), { recursive: true });
  writeFileSync(path.join(dir, 'q/lib/double.js'), 'module.exports.double = (x) => x * 3;\n');
  writeFileSync(path.join(dir, 'q/lib/shared.js'), 'module.exports.add = (a, b) => a - b;\n');
  writeFileSync(path.join(dir, 'q/lib/one.js'), 'module.exports.one = () => 1;\n');
  test('double.test.js', 'double', 'double doubles', 'lib.double(2), 4');
  test('shared-a.test.js', 'shared', 'shared a adds', 'lib.add(2, 1), 3');
  test('shared-b.test.js', 'shared', 'shared b adds', 'lib.add(3, 1), 4');
  test('one.test.js', 'one', 'one is 1', 'lib.one(), 1');
  const agent = `const fs = require('fs');
const brief = fs.readFileSync(process.env.LANES_BRIEF_FILE, 'utf8');
if (fs.existsSync(${JSON.stringify(path.join(base, 'queue-hang'))})) {
  console.log('hanging on ' + process.env.LANES_TASK);
  setInterval(() => {}, 1000);
} else {
  // Only the task's own section: the progress log below it names the other tasks.
  const mine = (brief.split('## Your task')[1] || '').split('\\n## ')[0];
  const m = /(double doubles|shared [ab] adds)/.exec(mine);
  if (!m) { console.error('no task I know in my brief'); process.exit(3); }
  if (m[1].startsWith('shared')) fs.writeFileSync('q/lib/shared.js', 'module.exports.add = (a, b) => a + b;\\n');
  else fs.writeFileSync('q/lib/double.js', 'module.exports.double = (x) => x * 2;\\n');
  console.log('fixed ' + m[1]);
}
`;
  writeFileSync(path.join(dir, '.lanes/queue-agent.js'), agent);
  const tests = ['node', '--test', '--test-reporter=tap', 'q/test/double.test.js', 'q/test/shared-a.test.js', 'q/test/shared-b.test.js', 'q/test/one.test.js'];
  const queue = {
    version: 1,
    goal: 'Make every test under q/ pass',
    sources: [{ tests, format: 'tap' }],
    agent: { command: ['node', '.lanes/queue-agent.js'] },
    gate: { command: tests, format: 'tap' },
    retries: 0,
    claimTtlSeconds: 30,
  };
  writeFileSync(path.join(dir, '.lanes/queue.json'), JSON.stringify(queue, null, 2) + '\n');
}

/** Two repositories in one multi-root workspace, each with its own plan. */
export function makeMultiRootFixture(base, repo) {
  const a = makeFixture(base, repo, 'alpha');
  const b = makeFixture(base, repo, 'beta');
  const file = path.join(base, 'lanes.code-workspace');
  writeFileSync(file, JSON.stringify({ folders: [{ path: a }, { path: b }] }, null, 2));
  return file;
}
