import * as assert from 'node:assert/strict';
import Ajv from 'ajv';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { QueueSchema, queueJsonSchema } from '../../src/core/queue/schema';

const ROOT = path.resolve(__dirname, '../..');

/** The queue file: its zod schema and the JSON Schema generated from it (IntelliSense) agree. */
describe('the queue file schema', () => {
  const validate = new Ajv({ allErrors: true, strict: false }).compile(queueJsonSchema());
  const base = { version: 1, goal: 'Make the failing tests pass', sources: [{ tests: 'npm test -- --reporter tap', format: 'tap' }], gate: { command: ['npm', 'test'] } };
  const valid: unknown[] = [
    base,
    {
      ...base,
      sources: [{ tests: ['node', '--test', '--test-reporter=tap', 'test/'], check: ['node', '--test', '--test-name-pattern', '{name}', '{file}'], brief: 'Fix {name} in {file}: {message}' }, { list: '.lanes/tasks.json' }, { files: 'src/**/*.js', brief: 'Convert {file} to TypeScript', check: ['npx', 'tsc', '--noEmit'] }],
      agent: 'claude',
      sample: { files: 'test/**/*.test.js', command: ['node', '--test', '{files}'], size: 5 },
      split: ['node', 'scripts/oracle-split.js'],
      roles: [{ id: 'dedup', brief: 'Remove code the last integrations duplicated', every: 5 }],
      claimTtlSeconds: 600,
      retries: 2,
      rounds: 3,
      budget: { usd: 20 },
      setup: ['npm ci'],
    },
  ];
  const invalid: [string, unknown][] = [
    ['no sources', { ...base, sources: [] }],
    ['unknown source', { ...base, sources: [{ cmd: 'npm test' }] }],
    ['bad format', { ...base, sources: [{ tests: 'npm test', format: 'xml' }] }],
    ['no gate', { version: 1, goal: 'g', sources: base.sources }],
    ['ttl too short', { ...base, claimTtlSeconds: 1 }],
    ['unknown field', { ...base, workers: 4 }],
  ];

  it('accepts what zod accepts', () => {
    for (const v of valid) {
      assert.ok(QueueSchema.safeParse(v).success, JSON.stringify(QueueSchema.safeParse(v).error?.issues));
      assert.ok(validate(v), JSON.stringify(validate.errors));
    }
  });

  it('rejects what zod rejects, naming the field', () => {
    for (const [name, v] of invalid) {
      const r = QueueSchema.safeParse(v);
      assert.equal(r.success, false, `zod: ${name}`);
      assert.equal(validate(v), false, `JSON Schema: ${name}`);
    }
    const r = QueueSchema.safeParse({ ...base, sources: [{ tests: 'npm test', format: 'xml' }] });
    assert.match(JSON.stringify(r.error?.issues), /sources/);
  });

  it('ships with the extension: the build writes it, package.json contributes it', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const jv = pkg.contributes.jsonValidation.find((x: { url: string }) => x.url === './dist/queue.schema.json');
    assert.ok(jv?.fileMatch.includes('.lanes/queue.json'));
    assert.match(readFileSync(path.join(ROOT, 'esbuild.config.mjs'), 'utf8'), /dist\/queue\.schema\.json[\s\S]*queueJsonSchema\(\)/);
    assert.match(readFileSync(path.join(ROOT, '.vscodeignore'), 'utf8'), /^!dist\/queue\.schema\.json$/m);
  });
});
