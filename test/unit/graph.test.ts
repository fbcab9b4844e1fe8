import * as assert from 'node:assert/strict';
import { LaneGraph } from '../../src/core/plan/graph';
import { globsOverlap, globToRegExp, matchesAny, scopeOverlap } from '../../src/core/plan/glob';

// a -> c, b -> c, c -> e, d (alone)
const g = new LaneGraph([
  { id: 'a' },
  { id: 'b' },
  { id: 'c', dependsOn: ['a', 'b'] },
  { id: 'd' },
  { id: 'e', dependsOn: ['c'] },
]);

describe('lane graph', () => {
  it('orders dependencies first and keeps plan order among equals', () => {
    assert.deepEqual(g.topologicalOrder(), ['a', 'b', 'c', 'd', 'e']);
    const h = new LaneGraph([{ id: 'z', dependsOn: ['y'] }, { id: 'y' }, { id: 'x' }]);
    assert.deepEqual(h.topologicalOrder(), ['y', 'z', 'x']);
  });

  it('gives the ready set for a set of finished lanes', () => {
    assert.deepEqual(g.ready(new Set()), ['a', 'b', 'd']);
    assert.deepEqual(g.ready(new Set(['a'])), ['b', 'd']);
    assert.deepEqual(g.ready(new Set(['a', 'b'])), ['c', 'd']);
    assert.deepEqual(g.ready(new Set(['a', 'b']), new Set(['c'])), ['d'], 'excluded (running) lanes are not ready');
    assert.deepEqual(g.ready(new Set(['a', 'b', 'c', 'd'])), ['e']);
  });

  it('finds the critical path, weighted', () => {
    assert.deepEqual(g.criticalPath(), { path: ['a', 'c', 'e'], length: 3 });
    const w: Record<string, number> = { a: 1, b: 5, c: 1, d: 2, e: 1 };
    assert.deepEqual(g.criticalPath((id) => w[id]!), { path: ['b', 'c', 'e'], length: 7 });
    const w2: Record<string, number> = { a: 1, b: 1, c: 1, d: 10, e: 1 };
    assert.deepEqual(g.criticalPath((id) => w2[id]!), { path: ['d'], length: 10 });
  });

  it('knows which lanes are independent', () => {
    assert.equal(g.independent('a', 'b'), true);
    assert.equal(g.independent('a', 'e'), false, 'transitive dependency');
    assert.equal(g.independent('d', 'e'), true);
    assert.deepEqual(g.independentPairs(), [
      ['a', 'b'],
      ['a', 'd'],
      ['b', 'd'],
      ['c', 'd'],
      ['d', 'e'],
    ]);
  });

  it('groups lanes into waves and walks ancestors and descendants', () => {
    assert.deepEqual(g.waves(), [['a', 'b', 'd'], ['c'], ['e']]);
    assert.deepEqual([...g.ancestors('e')].sort(), ['a', 'b', 'c']);
    assert.deepEqual([...g.descendants('a')].sort(), ['c', 'e']);
  });

  it('finds cycles and refuses to order them', () => {
    const c = new LaneGraph([{ id: 'x', dependsOn: ['z'] }, { id: 'y', dependsOn: ['x'] }, { id: 'z', dependsOn: ['y'] }]);
    assert.deepEqual(c.findCycle(), ['x', 'y', 'z']);
    assert.throws(() => c.topologicalOrder(), /dependency cycle: x -> y -> z/);
    assert.equal(g.findCycle(), undefined);
  });
});

describe('scope globs', () => {
  it('matches paths', () => {
    assert.ok(matchesAny('src/a/b.ts', ['src/**']));
    assert.ok(matchesAny('src/a.ts', ['src/*.ts']));
    assert.ok(!matchesAny('src/a/b.ts', ['src/*.ts']));
    assert.ok(matchesAny('src/a/b.ts', ['src']), 'a bare folder name covers the folder');
    assert.ok(matchesAny('README.md', ['{README,CHANGELOG}.md']));
    assert.ok(matchesAny('x/y/z.test.ts', ['**/*.test.ts']));
    assert.ok(matchesAny('z.test.ts', ['**/*.test.ts']));
    assert.ok(!globToRegExp('docs/*.md').test('docs/a/b.md'));
  });

  it('decides whether two globs can match a common path', () => {
    const yes: [string, string][] = [
      ['src/**', 'src/api/*.ts'],
      ['**/*.ts', 'test/x.ts'],
      ['src/*.ts', 'src/a*'],
      ['src', 'src/x/y'],
      ['docs/', 'docs/guide.md'],
      ['{lib,src}/**', 'src/a.ts'],
      ['src/**/*.test.ts', '**/api/*.ts'],
      ['a?c', 'abc'],
      ['src/[ab].ts', 'src/a.ts'],
    ];
    const no: [string, string][] = [
      ['src/**', 'test/**'],
      ['src/*.ts', 'src/*.md'],
      ['src/*.ts', 'src/a/b.ts'],
      ['docs/**', 'README.md'],
      ['a?c', 'abcd'],
    ];
    for (const [a, b] of yes) assert.equal(globsOverlap(a, b), true, `${a} ∩ ${b}`);
    for (const [a, b] of no) assert.equal(globsOverlap(a, b), false, `${a} ∩ ${b}`);
    assert.deepEqual(scopeOverlap(['docs/**', 'src/x.ts'], ['test/**', 'src/*.ts']), ['src/x.ts', 'src/*.ts']);
  });
});
