/**
 * Names git can store that are not UTF-8, or that a pathspec would misread (globs, tabs,
 * newlines, a leading dash): every one round-trips byte for byte through the radar, the merge
 * queue, apply and undo.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { decodePath, displayPath, encodePath, splitNul } from '../../src/core/util/bytePath';
import { LanesSession } from '../../src/core/session/session';
import { newRepo, writePlan } from '../helpers/engine';
import { tempDir } from '../helpers/repo';

/** The names, as bytes. */
const NAMES = [
  Buffer.concat([Buffer.from('bad'), Buffer.from([0xff, 0xfe]), Buffer.from('name.txt')]),
  Buffer.from('lat\xe9n1.txt', 'latin1'), // é as one Latin-1 byte: not UTF-8
  Buffer.from('glob*[x].txt'),
  Buffer.from('tab\there.txt'),
  Buffer.from('new\nline.txt'),
  Buffer.from('-dash.txt'),
  Buffer.from('ünïcødé.txt'),
];

describe('byte-exact file names', () => {
  it('decodePath/encodePath round-trip any bytes; valid UTF-8 reads as itself', () => {
    for (const b of [...NAMES, Buffer.from([0xc0, 0x80]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from('😀 \u{10ffff}')]) {
      assert.ok(encodePath(decodePath(b)).equals(b), b.toString('hex'));
    }
    assert.equal(decodePath(Buffer.from('ünïcødé')), 'ünïcødé');
    assert.equal(displayPath(decodePath(NAMES[0]!)), 'bad\\xff\\xfename.txt');
    assert.deepEqual(splitNul(Buffer.from('a\0b\0')), ['a', 'b']);
  });

  it('a lane that adds such files: radar lists them, the queue integrates them, apply writes the same bytes, undo removes them', async () => {
    const repo = newRepo();
    const script = `const fs = require('fs'); for (const h of ${JSON.stringify(NAMES.map((b) => b.toString('hex')))}) fs.writeFileSync(Buffer.from(h, 'hex'), 'content of ' + h + '\\n');`;
    writePlan(repo, [{ id: 'names', agent: { command: ['node', '-e', script] } }]);
    const s = await LanesSession.open({ cwd: repo.dir, face: 'test', runDefaults: () => ({ worktreeRoot: tempDir('lanes-wt-') }) });
    const state = await (await s.run()).run();
    assert.equal(state.lanes[0]!.status, 'passed', state.lanes[0]!.reason);

    const radar = await s.radar(state.runId, { details: true });
    const files = radar.changes.names!.map((f) => f.path);
    for (const b of NAMES) assert.ok(files.includes(decodePath(b)), `radar lists ${displayPath(decodePath(b))}: ${files.map(displayPath).join(', ')}`);

    const q = await s.mergeQueue(state.runId);
    assert.deepEqual(q.merged, ['names']);

    const before = readdirSync(repo.dir).sort();
    const r = await s.apply(state.runId, { kind: 'integration' });
    assert.equal(r.applied.length, NAMES.length, `applied ${r.applied.map(displayPath).join(', ')}; deleted ${r.deleted.map(displayPath).join(', ')}`);
    assert.deepEqual(r.deleted, []);
    for (const b of NAMES) {
      const abs = Buffer.concat([Buffer.from(repo.dir + path.sep), b]);
      assert.equal(readFileSync(abs, 'utf8'), `content of ${b.toString('hex')}\n`, displayPath(decodePath(b)));
    }
    // Staged as exactly those names (git's own -z listing, compared as bytes).
    const staged = splitNul(Buffer.from(repo.git('diff', '--cached', '--name-only', '-z'), 'latin1')).length;
    assert.equal(staged, NAMES.length);

    await s.undo();
    for (const b of NAMES) assert.equal(existsSync(Buffer.concat([Buffer.from(repo.dir + path.sep), b])), false);
    assert.deepEqual(readdirSync(repo.dir).sort(), before);
    assert.equal(repo.git('status', '--porcelain'), '');
  });
});
