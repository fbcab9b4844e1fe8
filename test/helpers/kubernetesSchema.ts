/**
 * Offline validation of a batch/v1 Job against the Kubernetes schema, in three layers:
 *
 * 1. kubernetes-models@4.5.1 (pinned: its schemas are Kubernetes v1.33's OpenAPI): the generated
 *    ajv validator checks types, required fields, enums and the int32/int64/quantity formats.
 * 2. Unknown fields. The OpenAPI schemas are open (no additionalProperties: false), so a typo
 *    like `paralelism` passes layer 1. The generated validator reads exactly the properties a
 *    schema declares (and enumerates maps such as labels whole), so we hand it a proxy that
 *    records the keys it reads: a key it never read is not a field of the schema.
 * 3. What the API server checks in code rather than in the OpenAPI (the Job rules we rely on).
 *
 * The reads are kept per object (one proxy per object), not per path: if a validator ever reads
 * the same object twice, a second proxy with a fresh read set would hide what the first one saw
 * and report declared fields as unknown. (4.5.1's Job validator happens not to; this keeps the
 * check right if a future pin does.)
 */
import Ajv from 'ajv';
import { Job } from 'kubernetes-models/batch/v1/Job';

interface Reads {
  path: string;
  read: Set<string>;
}

function recorder() {
  const reads = new Map<object, Reads>();
  const proxies = new Map<object, object>();
  const wrap = (value: unknown, path: string): unknown => {
    if (value === null || typeof value !== 'object') return value;
    const known = proxies.get(value);
    if (known) return known;
    const entry: Reads = { path, read: new Set() };
    reads.set(value, entry);
    const proxy = new Proxy(value, {
      get(target, key, receiver) {
        const v: unknown = Reflect.get(target, key, receiver);
        if (typeof key !== 'string' || !Object.prototype.hasOwnProperty.call(target, key)) return v;
        entry.read.add(key);
        return wrap(v, `${path}/${key}`);
      },
    });
    proxies.set(value, proxy);
    return proxy;
  };
  const unread = (): string[] => {
    const out: string[] = [];
    for (const [target, { path, read }] of reads) {
      if (Array.isArray(target)) continue;
      for (const key of Object.keys(target)) if (!read.has(key)) out.push(`${path}/${key}`);
    }
    return out;
  };
  return { wrap, unread };
}

const ajv = new Ajv({ allErrors: true });
const wholeFrom = (minimum: number) => ({ type: 'integer', minimum });
/** Job rules from the API server's validation (pkg/apis/batch/validation) that the OpenAPI lacks. */
const jobRules = ajv.compile({
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'batch/v1' },
    kind: { const: 'Job' },
    metadata: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } },
    spec: {
      type: 'object',
      required: ['template'],
      properties: {
        parallelism: wholeFrom(0),
        completions: wholeFrom(0),
        backoffLimit: wholeFrom(0),
        ttlSecondsAfterFinished: wholeFrom(0),
        activeDeadlineSeconds: wholeFrom(1),
        template: {
          type: 'object',
          required: ['spec'],
          properties: {
            spec: {
              type: 'object',
              required: ['restartPolicy', 'containers'],
              properties: {
                // Job pods may not use Always (and a podFailurePolicy needs Never).
                restartPolicy: { enum: ['Never', 'OnFailure'] },
                containers: { type: 'array', minItems: 1 },
                terminationGracePeriodSeconds: wholeFrom(0),
              },
            },
          },
        },
      },
      if: { required: ['podFailurePolicy'] },
      then: { properties: { template: { properties: { spec: { properties: { restartPolicy: { const: 'Never' } } } } } } },
    },
  },
});

/** Every way `manifest` is not a valid batch/v1 Job (empty: valid), as "path message" lines. */
export function validateJob(manifest: unknown): string[] {
  const errors: string[] = [];
  const rec = recorder();
  try {
    // The generated validator, called on the plain object (new Job(x) would copy it first).
    Job.prototype.validate.call(rec.wrap(manifest, '') as Job);
  } catch (e) {
    const errs = (e as { errors?: { instancePath: string; message?: string }[] }).errors;
    if (!errs) throw e;
    for (const x of errs) errors.push(`${x.instancePath || '/'} ${x.message ?? 'is invalid'}`);
  }
  // Only meaningful when layer 1 passed: a validator that stopped early read less.
  if (!errors.length) for (const p of rec.unread()) errors.push(`${p} is not a field of the Kubernetes schema`);
  if (!jobRules(manifest)) for (const x of jobRules.errors ?? []) errors.push(`${x.instancePath || '/'} ${x.message ?? 'is invalid'}`);
  return errors;
}
