/**
 * The radar's cache: each lane head diffed once, each distinct pair of heads trial-merged once.
 * Counted exactly, by the git commands the radar runs.
 */
import * as assert from 'node:assert/strict';
import { onGitCommand } from '../../src/core/git/git';
import { conflictRadar, RadarCache } from '../../src/core/reconcile/radar';
import { createTempRepo, sh } from '../helpers/repo';

describe('radar cache', () => {
  it('a second look costs no git at all; a new commit costs only its diff and its own pairs', async () => {
    const repo = createTempRepo({ 'shared.txt': 'a\nb\nc\n', 'x.txt': 'x\n' });
    const base = sh(repo.dir, ['rev-parse', 'HEAD']);
    const lane = (name: string, file: string, text: string) => {
      sh(repo.dir, ['checkout', '-q', '-b', name, base]);
      repo.write(file, text);
      repo.commitAll(name);
      return sh(repo.dir, ['rev-parse', 'HEAD']);
    };
    const a = lane('a', 'shared.txt', 'A\nb\nc\n');
    const b = lane('b', 'shared.txt', 'B\nb\nc\n');
    const c = lane('c', 'other.txt', 'c\n');
    const lanes = [
      { id: 'a', base, head: a },
      { id: 'b', base, head: b },
      { id: 'c', base, head: c },
    ];
    const calls: string[] = [];
    const off = onGitCommand((e) => calls.push(e.args[0]!));
    try {
      const cache = new RadarCache();
      const r1 = await conflictRadar(repo.dir, lanes, { cache });
      assert.deepEqual(r1.pairs.map((p) => [p.a, p.b, p.kind]), [['a', 'b', 'conflict']]);
      assert.deepEqual(calls.sort(), ['diff', 'diff', 'diff', 'merge-tree'], 'each head diffed once; one pair intersects, one merge');
      calls.length = 0;
      const r2 = await conflictRadar(repo.dir, lanes, { cache });
      assert.deepEqual(r2.pairs, r1.pairs);
      assert.deepEqual(calls, [], 'nothing new: no git at all');
      // c commits again: its diff, and c's pairs only where paths intersect (none here).
      sh(repo.dir, ['checkout', '-q', 'c']);
      repo.write('shared.txt', 'a\nb\nC\n');
      repo.commitAll('c again');
      const c2 = sh(repo.dir, ['rev-parse', 'HEAD']);
      const r3 = await conflictRadar(repo.dir, [lanes[0]!, lanes[1]!, { id: 'c', base, head: c2 }], { cache });
      assert.deepEqual(calls.sort(), ['diff', 'merge-tree', 'merge-tree'], 'c2 diffed; its two intersecting pairs merged; a/b from the cache');
      assert.deepEqual(r3.pairs.map((p) => [p.a, p.b, p.kind]).sort(), [['a', 'b', 'conflict'], ['a', 'c', 'hotspot'], ['b', 'c', 'hotspot']]);
    } finally {
      off();
    }
  });
});
