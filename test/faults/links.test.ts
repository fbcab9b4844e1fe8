/**
 * Symlinks in lane results that point outside the repository: flagged by the radar and the
 * report, refused by apply unless accepted; and apply never writes through a symlinked folder
 * that leads out of the checkout.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { ApplyRefused } from '../../src/core/reconcile/apply';
import { escapesThroughLinks, pointsOutside } from '../../src/core/reconcile/links';
import { LanesSession } from '../../src/core/session/session';
import { lanes } from '../helpers/cli';
import { newRepo, writePlan } from '../helpers/engine';
import { tempDir, TempRepo } from '../helpers/repo';

async function runWith(repo: TempRepo, script: string) {
  writePlan(repo, [{ id: 'l', agent: { command: ['node', '-e', script] } }]);
  const s = await LanesSession.open({ cwd: repo.dir, face: 'test', runDefaults: () => ({ worktreeRoot: tempDir('lanes-wt-') }) });
  const state = await (await s.run()).run();
  assert.equal(state.lanes[0]!.status, 'passed', state.lanes[0]!.reason);
  return { s, state };
}

describe('symlinks pointing outside the repository', () => {
  it('knows outside from inside', () => {
    assert.equal(pointsOutside('leak.txt', '/home/u/secret.txt'), true);
    assert.equal(pointsOutside('a/b', '../../x'), true);
    assert.equal(pointsOutside('a/b', '../x'), false);
    assert.equal(pointsOutside('a', '..'), true);
    assert.equal(pointsOutside('a', '~/x'), true);
    assert.equal(pointsOutside('docs/link', 'guide.md'), false);
    // Harmless one by one, outside together: d -> . and up -> d/..
    const links = new Map([['d', '.'], ['up', 'd/..']]);
    assert.equal(pointsOutside('up', 'd/..'), false);
    assert.equal(escapesThroughLinks('up', 'd/..', links), true);
    assert.equal(escapesThroughLinks('d', '.', links), false);
    assert.equal(escapesThroughLinks('loop', 'loop/x', new Map([['loop', 'loop/x']])), true, 'a cycle counts as outside');
  });

  it('are flagged by the radar and the report, and apply refuses them (nothing changes) unless accepted', async () => {
    const repo = newRepo();
    const secret = path.join(tempDir('lanes-secret-'), 'secret.txt');
    const script = `const fs = require('fs'); fs.symlinkSync(${JSON.stringify(secret)}, 'leak.txt'); fs.mkdirSync('deep'); fs.symlinkSync('../../up', 'deep/up'); fs.symlinkSync('src/a.ts', 'fine'); fs.writeFileSync('plain.txt', 'x');`;
    const { s, state } = await runWith(repo, script);
    const radar = await s.radar(state.runId, { details: true });
    assert.deepEqual(radar.outsideLinks, { l: [{ path: 'deep/up', target: '../../up' }, { path: 'leak.txt', target: secret }] });
    await s.mergeQueue(state.runId);
    const report = readFileSync(s.store.paths(state.runId).report, 'utf8');
    assert.match(report, /## Symlinks pointing outside the repository/);
    assert.ok(report.includes(`\`leak.txt\` → \`${secret}\``), report);

    const before = readdirSync(repo.dir).sort();
    await assert.rejects(s.apply(state.runId, { kind: 'integration' }), (e: unknown) => e instanceof ApplyRefused && e.reason === 'outsideLink' && /leak\.txt -> /.test(e.message) && e.files.length === 2);
    assert.deepEqual(readdirSync(repo.dir).sort(), before, 'nothing applied');
    assert.equal(repo.git('status', '--porcelain'), '');

    // The CLI says the same, and applies them only with --accept-outside-links.
    const refused = await lanes(repo.dir, ['reconcile', '--apply']);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /not applied: the lanes' result has symlinks pointing outside the repository: deep\/up -> \.\.\/\.\.\/up, leak\.txt -> /);
    const ok = await lanes(repo.dir, ['reconcile', '--apply', '--accept-outside-links']);
    assert.equal(ok.code, 0, ok.err);
    assert.equal(readlinkSync(path.join(repo.dir, 'leak.txt')), secret);
    assert.equal(existsSync(secret), false, 'nothing was written through the link');
  });

  it('apply never writes through a folder of the checkout that is a symlink leading outside it', async () => {
    const repo = newRepo();
    const elsewhere = tempDir('lanes-elsewhere-');
    const { s, state } = await runWith(repo, `const fs = require('fs'); fs.mkdirSync('out'); fs.writeFileSync('out/file.txt', 'lane'); fs.writeFileSync('ok.txt', 'ok');`);
    await s.mergeQueue(state.runId);
    // The user's checkout has "out" as a link to a folder elsewhere (untracked).
    symlinkSync(elsewhere, path.join(repo.dir, 'out'));
    await assert.rejects(s.apply(state.runId, { kind: 'integration' }), (e: unknown) => e instanceof ApplyRefused && e.reason === 'throughLink' && e.files.includes('out/file.txt'));
    assert.deepEqual(readdirSync(elsewhere), [], 'nothing written outside the checkout');
    assert.equal(existsSync(path.join(repo.dir, 'ok.txt')), false, 'nothing applied at all');
  });
});
