import * as assert from 'node:assert/strict';
import { applyEdit, dependsOnCompletions, fixEdit } from '../../src/core/plan/editing';
import { validatePlanText } from '../../src/core/plan/validate';

const plan = (lanes: object[]) => JSON.stringify({ version: 1, goal: 'g', lanes }, null, 2);

describe('plan editing help', () => {
  it('completes lane ids in dependsOn (not the lane itself, not ones already listed), also while the file does not parse', () => {
    const text = '{"version":1,"goal":"g","lanes":[{"id":"impl","brief":"b"},{"id":"docs","brief":"b"},{"id":"tests","brief":"b","dependsOn":["impl", "';
    assert.deepEqual(dependsOnCompletions(text, text.length), { ids: ['docs'], inString: true });
    const open = '{"lanes":[{"id":"impl"},{"id":"tests","dependsOn":[';
    assert.deepEqual(dependsOnCompletions(open, open.length), { ids: ['impl'], inString: false });
    assert.equal(dependsOnCompletions('{"lanes":[{"id":"a","brief":"', 27), undefined, 'not in a dependsOn');
  });

  it('"did you mean" fixes replace the unknown name', () => {
    const text = plan([{ id: 'impl', brief: 'b' }, { id: 'tests', brief: 'b', dependsOn: ['impel'] }]);
    const d = validatePlanText(text).errors.find((e) => e.code === 'unknown-dependency')!;
    assert.deepEqual(d.fixes, [{ kind: 'replace', title: 'Change to "impl"', value: 'impl' }]);
    const fixed = applyEdit(text, fixEdit(text, d.fixes![0]!, d)!);
    assert.equal(validatePlanText(fixed).ok, true, fixed);
  });

  it('a scope overlap offers the dependency (added to dependsOn, or a new dependsOn) and narrowing the scope', () => {
    for (const tests of [{ id: 'tests', brief: 'b', scope: ['src/**', 'test/**'] }, { id: 'tests', brief: 'b', dependsOn: [], scope: ['src/**', 'test/**'] }]) {
      const text = plan([{ id: 'impl', brief: 'b', scope: ['src/**'] }, tests]);
      const w = validatePlanText(text).warnings.find((x) => x.code === 'scope-overlap')!;
      assert.deepEqual(w.fixes!.map((f) => f.title), ['Make "tests" depend on "impl"', 'Narrow "tests"\'s scope: remove "src/**"']);
      const dep = applyEdit(text, fixEdit(text, w.fixes![0]!)!);
      assert.deepEqual(JSON.parse(dep).lanes[1].dependsOn, ['impl']);
      assert.equal(validatePlanText(dep).warnings.length, 0);
      const narrow = applyEdit(text, fixEdit(text, w.fixes![1]!)!);
      assert.deepEqual(JSON.parse(narrow).lanes[1].scope, ['test/**']);
      assert.equal(validatePlanText(narrow).warnings.length, 0);
    }
  });
});
