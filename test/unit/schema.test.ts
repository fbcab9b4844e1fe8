import * as assert from 'node:assert/strict';
import Ajv from 'ajv';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { PlanSchema, planJsonSchema } from '../../src/core/plan/schema';
import { TEMPLATES } from '../../src/core/plan/templates';

const ROOT = path.resolve(__dirname, '../..');

/**
 * The JSON Schema (IntelliSense in VS Code) is generated from the zod schema. These tests check
 * that the two agree on what a well-formed plan is: every sample either passes both or fails
 * both. (Cross-field rules such as unknown dependencies are beyond JSON Schema and are checked
 * only by `validatePlan`.)
 */
describe('JSON Schema generated from the zod schema', () => {
  const schema = planJsonSchema();
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(schema);

  const valid: unknown[] = [
    ...readdirSync(path.join(ROOT, 'test/fixtures/plans')).map((f) => JSON.parse(readFileSync(path.join(ROOT, 'test/fixtures/plans', f), 'utf8'))),
    ...TEMPLATES.map((t) => t.build({ goal: 'g', layout: { code: ['src'], tests: ['test'], docs: ['docs'], verify: 'npm test' } })),
    { version: 1, goal: 'g', lanes: [{ id: 'a', brief: 'b', timeoutMinutes: 0.25, retries: 0, verify: ['make', 'check'] }] },
  ];
  const base = { version: 1, goal: 'g', lanes: [{ id: 'a', brief: 'b' }] };
  const lane = (extra: object) => ({ ...base, lanes: [{ id: 'a', brief: 'b', ...extra }] });
  const invalid: [string, unknown][] = [
    ['no version', { goal: 'g', lanes: [{ id: 'a', brief: 'b' }] }],
    ['version 2', { ...base, version: 2 }],
    ['no lanes', { ...base, lanes: [] }],
    ['unknown top-level field', { ...base, extra: 1 }],
    ['unknown lane field', lane({ owner: 'x' })],
    ['timeoutMinutes 0', lane({ timeoutMinutes: 0 })],
    ['timeoutMinutes string', lane({ timeoutMinutes: '5' })],
    ['retries fractional', lane({ retries: 0.5 })],
    ['retries negative', lane({ retries: -1 })],
    ['maxParallel 0', { ...base, maxParallel: 0 }],
    ['maxParallel fractional', { ...base, maxParallel: 1.5 }],
    ['agent number', lane({ agent: 3 })],
    ['agent empty command', lane({ agent: { command: [] } })],
    ['agent command not strings', lane({ agent: { command: [1] } })],
    ['agent unknown key', lane({ agent: { command: ['x'], shell: true } })],
    ['verify empty argv', lane({ verify: [] })],
    ['verify number', { ...base, verify: 1 }],
    ['dependsOn string', lane({ dependsOn: 'x' })],
    ['brief missing', { ...base, lanes: [{ id: 'a' }] }],
  ];

  it('is the committed contract: draft-07, described fields, strict objects', () => {
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
    const props = schema.properties as Record<string, { description?: string }>;
    for (const k of ['version', 'goal', 'maxParallel', 'verify', 'context', 'agents', 'worktree', 'lanes']) {
      assert.ok(props[k]?.description, `"${k}" has hover documentation`);
    }
    assert.equal(schema.additionalProperties, false);
  });

  it('accepts every plan zod accepts', () => {
    for (const v of valid) {
      assert.equal(PlanSchema.safeParse(v).success, true, JSON.stringify(v));
      assert.equal(validate(v), true, `${JSON.stringify(v)}\n${ajv.errorsText(validate.errors)}`);
    }
  });

  it('rejects every plan zod rejects', () => {
    for (const [name, v] of invalid) {
      assert.equal(PlanSchema.safeParse(v).success, false, `zod: ${name}`);
      assert.equal(validate(v), false, `JSON Schema: ${name}`);
    }
  });

  it('is what the build ships and package.json contributes', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const jv = pkg.contributes.jsonValidation[0];
    assert.equal(jv.url, './dist/plan.schema.json');
    assert.ok(jv.fileMatch.includes('.lanes/plan.json'));
    assert.match(readFileSync(path.join(ROOT, 'esbuild.config.mjs'), 'utf8'), /dist\/plan\.schema\.json[\s\S]*planJsonSchema\(\)/);
  });
});
