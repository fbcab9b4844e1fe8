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
