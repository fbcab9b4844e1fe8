import * as assert from 'node:assert/strict';
import { detectLayout, planFromTemplate, TEMPLATES } from '../../src/core/plan/templates';
import { validatePlanValue } from '../../src/core/plan/validate';
import { createTempRepo } from '../helpers/repo';

describe('plan templates', () => {
  it('every template is a valid plan without coherence warnings', async () => {
    const repo = createTempRepo({ 'lib/a.js': '', 'spec/a.spec.js': '', 'Cargo.toml': '' });
    for (const t of TEMPLATES) {
      const plan = await planFromTemplate(t.name, repo.dir, { goal: 'Add rate limiting', agent: 'claude' });
      const r = validatePlanValue(plan);
      assert.deepEqual([...r.errors, ...r.warnings], [], t.name);
      assert.equal(plan.goal, 'Add rate limiting');
    }
  });

  it('trio: implement, test and document run in parallel, scoped apart', async () => {
    const repo = createTempRepo({ 'src/a.ts': '', 'test/a.test.ts': '', 'docs/x.md': '' });
    const plan = await planFromTemplate('trio', repo.dir, { goal: 'g' });
    assert.deepEqual(plan.lanes.map((l) => [l.id, l.role, l.dependsOn ?? []]), [
      ['implement', 'implement', []],
      ['test', 'test', []],
      ['document', 'document', []],
    ]);
    assert.deepEqual(plan.lanes.map((l) => l.scope), [['src/**'], ['test/**'], ['docs/**', 'README.md', 'CHANGELOG.md']]);
  });

  it('reads the layout and verify command from the repository', async () => {
    const repo = createTempRepo({ 'lib/a.js': '', 'spec/a.spec.js': '', 'Cargo.toml': '' });
    assert.deepEqual(await detectLayout(repo.dir), { code: ['lib'], tests: ['spec'], docs: ['docs'], verify: 'cargo test' });
    const node = createTempRepo({ 'package.json': '{"scripts":{"test":"echo \\"Error: no test specified\\" && exit 1"}}' });
    assert.equal((await detectLayout(node.dir)).verify, undefined, 'npm init\'s placeholder test script is not a verify command');
  });
});
