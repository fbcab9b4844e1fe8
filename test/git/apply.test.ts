import * as assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { commonDir } from '../../src/core/git/git';
import { ApplyRefused, applyToCheckout, readJournal, recoverApply, selectionTarget, undoApply } from '../../src/core/reconcile/apply';
import { createTempRepo, tempDir, TempRepo } from '../helpers/repo';

/** Every file under the checkout (not .git) with its bytes and mode, plus git's view. */
function picture(repo: TempRepo): { files: Record<string, string>; status: string; index: string } {
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name === '.git') continue;
      const abs = path.join(dir, name);
      const st = lstatSync(abs);
      const rel = path.relative(repo.dir, abs);
      if (st.isDirectory()) walk(abs);
      else files[rel] = `${(st.mode & 0o777).toString(8)}:${readFileSync(abs).toString('base64')}`;
    }
  };
  walk(repo.dir);
  return { files, status: repo.git('status', '--porcelain=v1', '--untracked-files=all'), index: repo.git('ls-files', '-s') };
}

interface Fixture {
  repo: TempRepo;
  base: string;
  target: string;
  common: string;
}

/** A base commit and a "lanes' result" commit on a side branch, with every kind of change. */
async function fixture(): Promise<Fixture> {
  const repo = createTempRepo({
    'README.md': '# sample\n',
    'src/app.ts': 'line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\n',
    'src/old-name.ts': 'export const renamed = true;\n',
    'remove-me.txt': 'going away\n',
    'script.sh': '#!/bin/sh\necho hi\n',
    'thing/inside.txt': 'a folder that becomes a file\n',
    'notes.txt': 'user notes\n',
  });
  const base = repo.git('rev-parse', 'HEAD');
  repo.git('checkout', '-q', '-b', 'lanes-result');
  repo.write('src/app.ts', 'line 1 (lane)\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10 (lane)\n');
  repo.git('mv', 'src/old-name.ts', 'src/new-name.ts');
  repo.git('rm', '-q', 'remove-me.txt');
  writeFileSync(path.join(repo.dir, 'logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 255, 254]));
  chmodSync(path.join(repo.dir, 'script.sh'), 0o755);
  repo.git('rm', '-q', '-r', 'thing');
  repo.write('thing', 'now a file\n');
  repo.write('src/added.ts', 'export const added = 1;\n');
  const target = repo.commitAll('lanes result');
  repo.git('checkout', '-q', 'main');
  return { repo, base, target, common: await commonDir(repo.dir) };
}

function expectRefused(reason: ApplyRefused['reason'], files: string[]) {
  return (e: unknown) => {
    assert.ok(e instanceof ApplyRefused, String(e));
    assert.equal(e.reason, reason);
    assert.deepEqual(e.files, files);
    return true;
  };
}

describe('apply into the user\'s checkout', function () {
  this.timeout(60000);

  it('runs no repository hook in the user\'s checkout, not even one an agent pointed core.hooksPath at', async () => {
    const f = await fixture();
    const marker = path.join(tempDir(), 'hook-ran');
    const hook = `#!/bin/sh\necho "$0 $*" >> ${JSON.stringify(marker)}\n`;
    for (const dir of [path.join(f.common, 'hooks'), path.join(tempDir(), 'evil-hooks')]) {
      mkdirSync(dir, { recursive: true });
      for (const name of ['post-checkout', 'post-index-change', 'pre-commit', 'reference-transaction']) writeFileSync(path.join(dir, name), hook, { mode: 0o755 });
      if (dir.endsWith('evil-hooks')) f.repo.git('config', 'core.hooksPath', dir);
      await applyToCheckout({ repo: f.repo.dir, commonDir: f.common, base: f.base, target: f.target });
      await undoApply(f.repo.dir, f.common);
      assert.equal(existsSync(marker), false, `a hook in ${dir} ran: ${existsSync(marker) ? readFileSync(marker, 'utf8') : ''}`);
    }
    // The same hooks do run for the user's own git (the check above can fail).
    f.repo.git('checkout', '-q', 'lanes-result');
    assert.ok(existsSync(marker));
  });

  it("runs the repository's own hooks only when the user opts in (LANES_GIT_HOOKS=1)", async () => {
    const f = await fixture();
    const marker = path.join(tempDir(), 'hook-ran');
    writeFileSync(path.join(f.common, 'hooks', 'reference-transaction'), `#!/bin/sh\necho "$0 $*" >> ${JSON.stringify(marker)}\n`, { mode: 0o755 });
    process.env.LANES_GIT_HOOKS = '1';
    try {
      await applyToCheckout({ repo: f.repo.dir, commonDir: f.common, base: f.base, target: f.target });
    } finally {
      delete process.env.LANES_GIT_HOOKS;
    }
    assert.ok(existsSync(marker), 'the opted-in hook ran');
  });

  it('a stale index.lock is said as such (the file, no git running, what to do), not as merge conflicts; nothing changes', async () => {
    const f = await fixture();
    const before = picture(f.repo);
    writeFileSync(path.join(f.repo.dir, '.git', 'index.lock'), '');
    try {
      await assert.rejects(applyToCheckout({ repo: f.repo.dir, commonDir: f.common, base: f.base, target: f.target }), (e: unknown) => {
        assert.doesNotMatch(String((e as Error).message), /merge conflicts/);
        assert.match((e as Error).message, /could not take a lock \(.*\.git\/index\.lock\): no git process is running in this repository, so the lock is stale \(left by a crash\); remove .*\.git\/index\.lock and try again$/);
        return true;
      });
    } finally {
      rmSync(path.join(f.repo.dir, '.git', 'index.lock'));
    }
    assert.deepEqual(picture(f.repo), before);
  });

  it('refuses while the index has unresolved merge conflicts, changing nothing', async () => {
    const f = await fixture();
    f.repo.git('checkout', '-q', '-b', 'side');
    f.repo.write('notes.txt', 'side notes\n');
    f.repo.commitAll('side');
    f.repo.git('checkout', '-q', 'main');
    f.repo.write('notes.txt', 'main notes\n');
    f.repo.commitAll('main');
    try {
      f.repo.git('merge', 'side');
    } catch {
      /* the conflict is the point */
    }
    const before = picture(f.repo);
    await assert.rejects(applyToCheckout({ repo: f.repo.dir, commonDir: f.common, base: f.base, target: f.target }), expectRefused('unmergedIndex', []));
    assert.deepEqual(picture(f.repo), before);
  });

  it('updates a clean checkout in place: renames, deletions, binary files, file/folder swaps and the executable bit', async () => {



    const f = await fixture();
    const r = await applyToCheckout({ repo: f.repo.dir, commonDir: f.common, base: f.base, target: f.target });
    assert.equal(r.mode, 'clean-update');
    const dir = f.repo.dir;
    assert.equal(readFileSync(path.join(dir, 'src/app.ts'), 'utf8').split('\n')[0], 'line 1 (lane)');
    assert.ok(existsSync(path.join(dir, 'src/new-name.ts')) && !existsSync(path.join(dir, 'src/old-name.ts')));
    assert.ok(!existsSync(path.join(dir, 'remove-me.txt')));
    assert.deepEqual([...readFileSync(path.join(dir, 'logo.png'))], [0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 255, 254]);
    assert.equal(lstatSync(path.join(dir, 'script.sh')).mode & 0o111, 0o111);
    assert.equal(readFileSync(path.join(dir, 'thing'), 'utf8'), 'now a file\n');
    assert.equal(f.repo.git('rev-parse', 'HEAD'), f.base, 'HEAD does not move: the result is staged for the user to review');
    assert.equal(f.repo.git('diff', '--cached', '--stat', f.target, '--', '.').trim(), '', 'the index now matches the lanes\' result');
  });

  it('keeps unrelated uncommitted edits (staged, unstaged, untracked) byte for byte, and undo restores everything exactly', async () => {
    const f = await fixture();
    f.repo.write('notes.txt', 'user notes\nmore, unsaved to git\r\n');
    f.repo.write('README.md', '# sample, staged edit\n');
    f.repo.git('add', 'README.md');
    f.repo.write('scratch/untracked.bin', '\u0000binary scratch');
    const before = picture(f.repo);
    const r = await applyToCheckout({ repo: f.repo.dir, commonDir: f.common, base: f.base, target: f.target });
    assert.equal(r.mode, 'three-way');
    const after = picture(f.repo);
    for (const p of ['notes.txt', 'README.md', 'scratch/untracked.bin']) assert.equal(after.files[p], before.files[p], p);
    assert.match(f.repo.git('diff', '--cached', '--name-only'), /README\.md/, 'the user\'s staged edit is still staged');
    const u = await undoApply(f.repo.dir, f.common);
    assert.ok(u.restored.includes('src/app.ts'));
    assert.deepEqual(picture(f.repo), before);
  });

  it('refuses, changing nothing, when the user changed a file the lanes also change', async () => {
    const f = await fixture();
    f.repo.write('src/app.ts', 'my own edit\n');
    const before = picture(f.repo);
    await assert.rejects(applyToCheckout({ repo: f.repo.dir, commonDir: f.common, base: f.base, target: f.target }), expectRefused('dirtyOverlap', ['src/app.ts']));
    assert.deepEqual(picture(f.repo), before);
  });

  it('refuses when an untracked file would be overwritten by a file a lane adds', async () => {
    const f = await fixture();
    f.repo.write('src/added.ts', 'mine, not tracked\n');
    const before = picture(f.repo);
    await assert.rejects(applyToCheckout({ repo: f.repo.dir, commonDir: f.common, base: f.base, target: f.target }), expectRefused('untrackedCollision', ['src/added.ts']));
    assert.deepEqual(picture(f.repo), before);
  });

  it('refuses files open with unsaved changes in an editor', async () => {
    const f = await fixture();
    const before = picture(f.repo);
    await assert.rejects(
      applyToCheckout({ repo: f.repo.dir, commonDir: f.common, base: f.base, target: f.target, unsavedPaths: ['src/app.ts'] }),
      expectRefused('dirtyEditors', ['src/app.ts']),
    );
    assert.deepEqual(picture(f.repo), before);
  });

  it('merges three-way when HEAD moved since the run, and refuses real conflicts with the files', async () => {
    const f = await fixture();
    // The user committed an edit in the middle of a file the lanes changed at both ends.
    f.repo.write('src/app.ts', 'line 1\nline 2\nline 3\nline 4\nline 5 (user)\nline 6\nline 7\nline 8\nline 9\nline 10\n');
    f.repo.commitAll('user work');
    const r = await applyToCheckout({ repo: f.repo.dir, commonDir: f.common, base: f.base, target: f.target });
    assert.equal(r.mode, 'three-way');
    assert.deepEqual(readFileSync(path.join(f.repo.dir, 'src/app.ts'), 'utf8').split('\n').filter((l) => /\(/.test(l)), ['line 1 (lane)', 'line 5 (user)', 'line 10 (lane)']);

    const g = await fixture();
    g.repo.write('src/app.ts', 'line 1 (user)\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\n');
    g.repo.commitAll('user work that collides');
    const before = picture(g.repo);
    await assert.rejects(applyToCheckout({ repo: g.repo.dir, commonDir: g.common, base: g.base, target: g.target }), expectRefused('conflict', ['src/app.ts']));
    assert.deepEqual(picture(g.repo), before);
    // With conflict markers, when asked.
    const m = await applyToCheckout({ repo: g.repo.dir, commonDir: g.common, base: g.base, target: g.target, conflictMarkers: true });
    assert.deepEqual(m.conflicted, ['src/app.ts']);
    assert.match(readFileSync(path.join(g.repo.dir, 'src/app.ts'), 'utf8'), /^<<<<<<< /m);
  });

  for (const step of ['snapshotted', 'writing', 'deleted'] as const) {
    it(`rolls back an apply that crashed after "${step}" the next time anything runs`, async () => {
      const f = await fixture();
      f.repo.write('notes.txt', 'dirty and unrelated\n');
      const before = picture(f.repo);
      await assert.rejects(applyToCheckout({ repo: f.repo.dir, commonDir: f.common, base: f.base, target: f.target, crashAfter: step }), /injected crash/);
      assert.equal((await readJournal(f.common, f.repo.dir))!.step, step === 'deleted' ? 'writing' : step);
      assert.equal(await recoverApply(f.repo.dir, f.common), 'rolled-back');
      assert.deepEqual(picture(f.repo), before);
      assert.equal((await readJournal(f.common, f.repo.dir))!.step, 'rolled-back');
      // The snapshot refs stay, so the pre-apply state is recoverable from git too.
      assert.match(f.repo.git('for-each-ref', 'refs/lanes/apply/'), /\/worktree$/m);
    });
  }

  it('undo refuses files edited since the apply unless forced, and saves them first', async () => {
    const f = await fixture();
    const before = picture(f.repo);
    await applyToCheckout({ repo: f.repo.dir, commonDir: f.common, base: f.base, target: f.target });
    f.repo.write('src/added.ts', 'edited after apply\n');
    await assert.rejects(undoApply(f.repo.dir, f.common), /changed since the apply: src\/added\.ts/);
    const u = await undoApply(f.repo.dir, f.common, { force: true });
    assert.deepEqual(picture(f.repo), before);
    assert.equal(f.repo.git('show', `${u.saved}:src/added.ts`), 'edited after apply');
  });

  it('applies chosen files and chosen hunks only', async () => {
    const f = await fixture();
    const sel = await selectionTarget(f.repo.dir, f.base, f.target, { files: ['src/added.ts'], hunks: { 'src/app.ts': [1] } });
    await applyToCheckout({ repo: f.repo.dir, commonDir: f.common, base: f.base, target: sel });
    assert.equal(readFileSync(path.join(f.repo.dir, 'src/added.ts'), 'utf8'), 'export const added = 1;\n');
    const app = readFileSync(path.join(f.repo.dir, 'src/app.ts'), 'utf8').split('\n');
    assert.equal(app[0], 'line 1', 'the first hunk was not chosen');
    assert.equal(app[9], 'line 10 (lane)', 'the second hunk was');
    assert.ok(existsSync(path.join(f.repo.dir, 'remove-me.txt')), 'files not chosen are untouched');
    rmSync(path.join(f.repo.dir, 'never'), { force: true });
    mkdirSync(path.join(f.repo.dir, 'x'), { recursive: true });
  });
});
