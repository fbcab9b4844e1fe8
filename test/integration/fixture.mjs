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
  const git = (...a) => execFileSync('git', a, { cwd: dir, stdio: 'ignore' });
  git('init', '-q', '-b', 'main');
  git('config', 'user.name', 'Lanes Test');
  git('config', 'user.email', 'test@lanes.invalid');
  git('config', 'commit.gpgsign', 'false');
  git('add', '-A');
  git('commit', '-q', '-m', 'fixture');
  return dir;
}

/** Two repositories in one multi-root workspace, each with its own plan. */
export function makeMultiRootFixture(base, repo) {
  const a = makeFixture(base, repo, 'alpha');
  const b = makeFixture(base, repo, 'beta');
  const file = path.join(base, 'lanes.code-workspace');
  writeFileSync(file, JSON.stringify({ folders: [{ path: a }, { path: b }] }, null, 2));
  return file;
}
