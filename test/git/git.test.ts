import { spawn } from 'node:child_process';
import * as assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { git, GitError } from '../../src/core/git/git';
import { createTempRepo } from '../helpers/repo';

describe('git runner', () => {
  it('retries with backoff while another git holds index.lock, then succeeds', async () => {
    const repo = createTempRepo();
    repo.write('new.txt', 'x\n');
    const lock = path.join(repo.dir, '.git/index.lock');
    writeFileSync(lock, '');
    setTimeout(() => rmSync(lock, { force: true }), 400);
    await git(['add', 'new.txt'], { cwd: repo.dir, lockRetries: 8 });
    assert.match(repo.git('status', '--porcelain'), /^A  new\.txt$/m);
  });

  it('reports a lock that never goes away as a lock error, and leaves the lock alone', async () => {
    const repo = createTempRepo();
    repo.write('new.txt', 'x\n');
    const lock = path.join(repo.dir, '.git/index.lock');
    writeFileSync(lock, '');
    await assert.rejects(git(['add', 'new.txt'], { cwd: repo.dir, lockRetries: 2 }), (e: unknown) => GitError.is(e, 'lock'));
    assert.ok(existsSync(lock), 'a lock that may belong to another git is never deleted');
  });

  it('a lock held by a running git names that process and says to wait; the lock is left alone', async () => {
    const repo = createTempRepo();
    repo.write('new.txt', 'x\n');
    // git commit -a holds index.lock while its editor runs.
    repo.write('README.md', 'changed\n');
    const holder = spawn('git', ['commit', '-a'], { cwd: repo.dir, env: { ...process.env, GIT_EDITOR: 'sleep 30; true' }, stdio: 'ignore' });
    try {
      const lock = path.join(repo.dir, '.git/index.lock');
      for (let i = 0; i < 200 && !existsSync(lock); i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(existsSync(lock), 'git commit took the lock');
      await assert.rejects(git(['add', 'new.txt'], { cwd: repo.dir }), (e: unknown) => {
        assert.ok(GitError.is(e, 'lock'));
        assert.match((e as Error).message, new RegExp(`could not take a lock \\(.*index\\.lock\\): a git process is running in this repository \\(pid ${holder.pid}: git commit -a\\); wait for it to finish and try again`));
        return true;
      });
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('never lets GIT_DIR or GIT_WORK_TREE from the environment redirect it', async () => {
    const repo = createTempRepo();
    const other = createTempRepo({ 'other.txt': 'o\n' });
    process.env.GIT_DIR = path.join(other.dir, '.git');
    try {
      const out = await git(['ls-files'], { cwd: repo.dir, readOnly: true });
      assert.equal(out.stdout.trim(), 'README.md');
    } finally {
      delete process.env.GIT_DIR;
    }
  });
});
