import * as assert from 'node:assert/strict';
import * as YAML from 'yaml';
import { describeError } from '../../src/core/errors';
import { KubernetesJobOptions, KubernetesOptionError, kubernetesJob, toYaml } from '../../src/core/queue/kubernetes';
import { validateJob } from '../helpers/kubernetesSchema';

const rich = (): Record<string, unknown> => JSON.parse(JSON.stringify(require('../fixtures/kubernetes/rich-job.json'))) as Record<string, unknown>;

const base: KubernetesJobOptions = {
  workers: 1,
  image: 'ghcr.io/agent-lanes/worker:0.1.0',
  remote: 'https://github.com/agent-lanes/demo.git',
  claimTtlSeconds: 900,
};

/** kubectl reads YAML 1.1 (sigs.k8s.io/yaml); everything else here reads 1.2. Both must agree. */
function roundTrips(value: unknown): void {
  const text = toYaml(value);
  assert.deepEqual(YAML.parse(text, { version: '1.2' }), value, text);
  assert.deepEqual(YAML.parse(text, { version: '1.1' }), value, text);
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('Kubernetes Job schema validator (the test helper itself)', () => {
  it('accepts a rich valid Job (no false positives from the unknown-field check)', () => {
    assert.deepEqual(validateJob(rich()), []);
  });

  const bad: [string, (j: Json) => void, RegExp][] = [
    ['parallelism as a string', (j) => (j.spec.parallelism = '8'), /^\/spec\/parallelism must be integer/m],
    ['a misspelled spec field', (j) => (j.spec.paralelism = 8), /^\/spec\/paralelism is not a field of the Kubernetes schema$/m],
    ['a container without a name', (j) => delete j.spec.template.spec.containers[0].name, /^\/spec\/template\/spec\/containers\/0 must have required property '?name'?$/m],
    ['restartPolicy Always', (j) => (j.spec.template.spec.restartPolicy = 'Always'), /^\/spec\/template\/spec\/restartPolicy must be equal to one of the allowed values$/m],
    ['a negative ttlSecondsAfterFinished', (j) => (j.spec.ttlSecondsAfterFinished = -5), /^\/spec\/ttlSecondsAfterFinished must be >= 0$/m],
  ];
  for (const [what, spoil, why] of bad) {
    it(`rejects ${what}`, () => {
      const j = rich() as Json;
      spoil(j);
      assert.match(validateJob(j).join('\n'), why);
    });
  }

  it('finds unknown fields deep inside lists and maps', () => {
    const j = rich() as Json;
    j.spec.template.spec.containers[0].imagePullPolicyy = 'Always';
    j.spec.template.spec.volumes[0].emptyDir.sizeLimitt = '1Gi';
    assert.deepEqual(validateJob(j), [
      '/spec/template/spec/containers/0/imagePullPolicyy is not a field of the Kubernetes schema',
      '/spec/template/spec/volumes/0/emptyDir/sizeLimitt is not a field of the Kubernetes schema',
    ]);
  });
});

describe('kubernetesJob', () => {
  const combos: [string, KubernetesJobOptions][] = [
    ['one worker, defaults, https', base],
    [
      '50 workers, ssh remote, namespace, agent, extra args, deadline',
      { ...base, workers: 50, remote: 'git@github.com:agent-lanes/demo.git', namespace: 'agents', agent: 'claude', extraArgs: ['--budget', '5'], activeDeadlineSeconds: 86400 },
    ],
    ['a fixed number of tasks, own name, secret and resources', { ...base, workers: 8, tasks: 120, name: 'fix-tests', secret: 'queue.creds', cpu: '500m', memory: '4Gi', ttlSecondsAfterFinished: 0 }],
    ['the most workers, ssh:// remote', { ...base, workers: 1000, remote: 'ssh://git@git.example.com:2222/team/repo.git', claimTtlSeconds: 2 }],
  ];
  for (const [what, options] of combos) {
    it(`is a valid batch/v1 Job that survives YAML: ${what}`, () => {
      const job = kubernetesJob(options);
      assert.deepEqual(validateJob(job), []);
      roundTrips(job);
      assert.deepEqual(validateJob(YAML.parse(toYaml(job), { version: '1.1' })), [], 'what kubectl would read');
    });
  }

  it('restart semantics follow the claim TTL', () => {
    for (const [workers, backoffLimit] of [[1, 6], [3, 6], [50, 100]]) {
      const spec = (kubernetesJob({ ...base, workers }) as Json).spec;
      assert.equal(spec.parallelism, workers);
      assert.equal(spec.backoffLimit, backoffLimit);
      assert.equal(spec.completions, undefined, 'a work-queue Job: the workers say when the queue is empty');
      assert.equal(spec.podReplacementPolicy, 'Failed');
      assert.deepEqual(spec.podFailurePolicy.rules, [
        { action: 'FailJob', onExitCodes: { containerName: 'worker', operator: 'In', values: [2] } },
        { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      ]);
      assert.equal(spec.ttlSecondsAfterFinished, 3600);
      assert.equal(spec.template.spec.restartPolicy, 'Never');
      assert.equal(spec.template.spec.terminationGracePeriodSeconds, 60);
    }
  });

  it('runs lanes worker against the remote with the claim TTL, as the pod\'s own identity', () => {
    const job = kubernetesJob({ ...base, workers: 50, claimTtlSeconds: 600, agent: 'codex', extraArgs: ['--retries', '2'] }) as Json;
    assert.deepEqual(job.metadata, {
      name: 'lanes-queue',
      labels: { 'app.kubernetes.io/name': 'agent-lanes', 'app.kubernetes.io/component': 'queue-worker', 'app.kubernetes.io/instance': 'lanes-queue' },
    });
    const pod = job.spec.template.spec;
    assert.deepEqual(job.spec.template.metadata.labels, job.metadata.labels);
    const [c] = pod.containers;
    assert.deepEqual(c.command, ['lanes', 'worker', '--remote', base.remote, '--claim-ttl', '600', '--agent', 'codex', '--retries', '2']);
    assert.deepEqual(c.env[0], { name: 'LANES_WORKER_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
    assert.deepEqual(c.env[1], { name: 'HOME', value: '/home/lanes' });
    assert.equal(c.workingDir, '/home/lanes');
    assert.deepEqual(c.volumeMounts, [{ name: 'home', mountPath: '/home/lanes' }]);
    assert.deepEqual(pod.volumes, [{ name: 'home', emptyDir: {} }]);
    assert.deepEqual(c.envFrom, [{ secretRef: { name: 'lanes-queue-credentials' } }]);
    assert.deepEqual(c.resources, { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '2Gi' } });
    assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    assert.deepEqual(pod.securityContext, { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    assert.equal(pod.automountServiceAccountToken, false);
  });

  it('a fixed number of tasks: completions, one task per pod', () => {
    const job = kubernetesJob({ ...base, workers: 4, tasks: 30 }) as Json;
    assert.equal(job.spec.completions, 30);
    assert.deepEqual(job.spec.template.spec.containers[0].command.slice(-2), ['--max-tasks', '1']);
  });

  it('an ssh remote gets the key and known_hosts from the Secret, read-only, mode 0400', () => {
    const job = kubernetesJob({ ...base, remote: 'git@github.com:org/repo.git', secret: 'creds' }) as Json;
    const pod = job.spec.template.spec;
    const c = pod.containers[0];
    assert.deepEqual(pod.volumes[1], {
      name: 'ssh',
      secret: { secretName: 'creds', defaultMode: 0o400, items: [{ key: 'ssh-privatekey', path: 'id' }, { key: 'known_hosts', path: 'known_hosts' }] },
    });
    assert.deepEqual(c.volumeMounts[1], { name: 'ssh', mountPath: '/etc/lanes/ssh', readOnly: true });
    assert.match(c.env.find((e: Json) => e.name === 'GIT_SSH_COMMAND').value, /-i \/etc\/lanes\/ssh\/id .*UserKnownHostsFile=\/etc\/lanes\/ssh\/known_hosts .*StrictHostKeyChecking=yes/);
    assert.deepEqual(c.envFrom, [{ secretRef: { name: 'creds' } }]);
    const https = kubernetesJob(base) as Json;
    assert.equal(https.spec.template.spec.volumes.length, 1);
    assert.equal(https.spec.template.spec.containers[0].env.some((e: Json) => e.name === 'GIT_SSH_COMMAND'), false);
  });

  describe('option errors name the option', () => {
    const cases: [string, Partial<Record<keyof KubernetesJobOptions, unknown>>, keyof KubernetesJobOptions, RegExp][] = [
      ['a name that is not a DNS label', { name: 'Lanes_Queue' }, 'name', /^Kubernetes Job option "name" must be a Kubernetes name \(DNS-1123 label\), got "Lanes_Queue"; use lower-case letters/],
      ['a name too long', { name: 'a'.repeat(64) }, 'name', /"name" must be a Kubernetes name/],
      ['0 workers', { workers: 0 }, 'workers', /^Kubernetes Job option "workers" must be a whole number from 1 to 1000, got 0$/],
      ['1001 workers', { workers: 1001 }, 'workers', /"workers" must be a whole number from 1 to 1000, got 1001/],
      ['1.5 workers', { workers: 1.5 }, 'workers', /"workers" .* got 1\.5/],
      ['no image', { image: undefined }, 'image', /^Kubernetes Job option "image" is required/],
      ['an empty image', { image: ' ' }, 'image', /"image" is required/],
      ['no remote', { remote: undefined }, 'remote', /^Kubernetes Job option "remote" is required/],
      ['a local remote', { remote: '/srv/git/repo.git' }, 'remote', /"remote" must be an https:\/\/ or ssh remote/],
      ['a token in the remote', { remote: 'https://x-access-token:ghp_secret@github.com/o/r.git' }, 'remote', /"remote" must not contain credentials; put the token in the Secret/],
      ['a claim TTL of 1', { claimTtlSeconds: 1 }, 'claimTtlSeconds', /"claimTtlSeconds" must be a whole number of at least 2, got 1/],
      ['a cpu that is not a quantity', { cpu: 'lots' }, 'cpu', /"cpu" must be a positive Kubernetes quantity, got "lots"/],
      ['zero memory', { memory: '0Gi' }, 'memory', /"memory" must be a positive Kubernetes quantity/],
      ['a negative TTL after finishing', { ttlSecondsAfterFinished: -1 }, 'ttlSecondsAfterFinished', /"ttlSecondsAfterFinished" must be a whole number of at least 0, got -1/],
      ['0 tasks', { tasks: 0 }, 'tasks', /"tasks" must be a whole number of at least 1/],
      ['a secret name with capitals', { secret: 'Creds' }, 'secret', /"secret" must be a Kubernetes name \(DNS-1123 subdomain\)/],
      ['an empty extra argument', { extraArgs: [''] }, 'extraArgs', /"extraArgs" must be a non-empty string/],
    ];
    for (const [what, change, option, message] of cases) {
      it(what, () => {
        let caught: unknown;
        try {
          kubernetesJob({ ...base, ...change } as KubernetesJobOptions);
        } catch (e) {
          caught = e;
        }
        assert.ok(caught instanceof KubernetesOptionError, `${what}: ${String(caught)}`);
        assert.equal(caught.option, option);
        const d = describeError(caught);
        assert.equal(d.reason, 'invalidOption');
        assert.equal(d.expected, true);
        assert.match(d.message, message);
        assert.doesNotMatch(d.message, /\n/);
        assert.doesNotMatch(d.message, /ghp_secret/, 'never repeats a credential');
      });
    }
  });
});

describe('toYaml', () => {
  it('writes block style, quoting only what needs it', () => {
    assert.equal(
      toYaml({ a: 'plain', i: 1, t: true, z: null, e: {}, l: [], s: ['x', { k: 'v', w: [1, 2] }, [3]], q: '1', n: 'no', skip: undefined }),
      ['a: plain', 'i: 1', 't: true', 'z: null', 'e: {}', 'l: []', 's:', '  - x', '  - k: v', '    w:', '      - 1', '      - 2', '  - - 3', 'q: "1"', '"n": "no"', ''].join('\n'),
    );
  });

  it('round-trips strings that YAML 1.1 or 1.2 would read as something else', () => {
    const tricky = [
      '', ' ', ' lead', 'trail ', 'yes', 'No', 'on', 'OFF', 'y', 'N', 'true', 'False', 'null', 'Null', '~', '1', '-1', '1.0', '1e3', '.5', '0x1F', '0o17', '017', '1_000',
      '1:20', '.inf', '-.Inf', '.nan', '2001-12-14', '2001-12-14t21:59:43.10-05:00', '-', '- a', '--remote', '?', '? a', ':', 'a: b', 'a:b', 'a #b', '#c', '@x', '`x', '*a', '&a',
      '!tag', '%x', '{a}', '[a]', '|', '>', "'", '"', 'back\\slash', 'multi\nline', 'tab\tin', '\r\n', 'é ü 中文', '\u007f', '\u0085', '\u2028', '\ufeff', '\u0000', '=', '<<',
      'https://example.com/x?y=1#z', 'git@github.com:o/r.git', '2Gi', '500m', 'batch/v1', '/home/lanes', '_x', 'a-', 'a.', '\ud83d\ude00',
    ];
    roundTrips(tricky);
    roundTrips(Object.fromEntries(tricky.map((s, i) => [s, i])));
    roundTrips({ list: tricky.map((s) => ({ [s]: [s, { [s]: s }] })) });
  });

  it('round-trips numbers, nesting and keys longer than YAML\'s 1024-character implicit-key limit', () => {
    roundTrips({ n: [0, -7, 3.25, 1e21, 2 ** 53], deep: [[[{ a: [[]] }]], { b: { c: { d: {} } } }], ['k'.repeat(1100)]: { x: 1 }, ['q'.repeat(1100)]: 2 });
    roundTrips([{ ['k'.repeat(1100)]: 'v' }]);
    roundTrips('top-level string');
    roundTrips(42);
    roundTrips([]);
  });

  it('refuses what JSON cannot say', () => {
    assert.throws(() => toYaml({ x: Infinity }), TypeError);
    assert.throws(() => toYaml({ x: () => 1 }), TypeError);
  });
});
