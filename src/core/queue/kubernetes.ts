/**
 * A Kubernetes Job that runs queue workers (`lanes queue kubernetes`): N pods, each running
 * `lanes worker` against the queue's remote. Workers coordinate only through git (claims on
 * `refs/lanes/queue/claims`, see store.ts), so the pods need nothing from the cluster but
 * compute, the Secret with their credentials and an outbound network.
 *
 * Restart semantics follow the claim TTL rather than Kubernetes' defaults:
 * - `restartPolicy: Never`. A crashed worker is never restarted in place: the Job controller
 *   replaces its pod with a new one, which has a new name and so a new worker identity
 *   (LANES_WORKER_ID is the pod name). The lock the dead worker held stops being renewed, goes
 *   stale after its TTL and is reclaimed by whichever worker sees it first, which starts the task
 *   over in a fresh session. `OnFailure` would restart the container in the same pod under the
 *   same identity, with the half-done work dir still on the emptyDir, and the restarted worker
 *   could take the lock for its own and carry on blind.
 * - `podFailurePolicy` (which requires `Never`): disruptions (node drain, preemption, eviction:
 *   the DisruptionTarget condition) are ignored, so they neither count against `backoffLimit`
 *   nor fail the Job; the replacement pod simply joins the queue. Exit code 2 (a usage error,
 *   i.e. the Job itself is misconfigured) fails the whole Job at once instead of crash-looping
 *   N pods through the backoff.
 * - `podReplacementPolicy: Failed`: a replacement starts only once the old pod has fully
 *   stopped, i.e. after its worker has released its claim (or given up trying), so there are
 *   never more than N workers. (It is the only value allowed with a podFailurePolicy; we say it.)
 * - `backoffLimit: max(6, 2N)`: every other failure (exit 1: remote unreachable, agent CLI
 *   missing, OOM kill) counts, across all pods. Sized so each worker may fail about twice
 *   before the Job gives up; a Job-wide limit of 6 would let three bad nodes stop 50 workers.
 * - `terminationGracePeriodSeconds: 60`: on SIGTERM a worker stops its agent and releases its
 *   claim (one compare-and-swap push), so the task is free at once instead of after the TTL.
 *
 * Everything is validated here, with errors that name the option: a bad manifest is caught
 * before kubectl sees it.
 */
import { LanesError } from '../errors';

export interface KubernetesJobOptions {
  /** The Job's name (default "lanes-queue"): a DNS-1123 label. */
  name?: string;
  /** The namespace (default: the one kubectl applies to). */
  namespace?: string;
  /** Worker pods at once (the Job's parallelism): 1..1000. */
  workers: number;
  /**
   * A fixed number of tasks (the Job's completions), each pod doing one task. Leave it out for
   * the usual work-queue Job: pods work until the queue is empty and then exit 0.
   */
  tasks?: number;
  /** An image with git, Node 20, the lanes CLI and the agent CLIs (and a user with uid 1000). */
  image: string;
  /** The queue's git remote: https://… or ssh (ssh://… or user@host:path). No credentials in it. */
  remote: string;
  /**
   * The Secret with the credentials (default "lanes-queue-credentials"). Every key that is an
   * environment variable name becomes one (GIT_TOKEN, ANTHROPIC_API_KEY, OPENAI_API_KEY, …);
   * for an ssh remote the keys `ssh-privatekey` and `known_hosts` are mounted as files.
   */
  secret?: string;
  /** The claim TTL the workers use (`lanes worker --claim-ttl`). */
  claimTtlSeconds: number;
  /** CPU request (default "1"). No CPU limit: agents' bursts are throttled, never killed. */
  cpu?: string;
  /** Memory request and limit (default "2Gi"). */
  memory?: string;
  /** How long the finished Job (and its pods' logs) stays before Kubernetes deletes it (default 3600). */
  ttlSecondsAfterFinished?: number;
  /** A deadline for the whole Job, in seconds; its pods are stopped when it passes. */
  activeDeadlineSeconds?: number;
  /** `lanes worker --agent`. */
  agent?: string;
  /** More arguments for `lanes worker`, after ours. */
  extraArgs?: string[];
}

/** An option the Job cannot be made with. `option` is the KubernetesJobOptions key. */
export class KubernetesOptionError extends LanesError {
  readonly reason = 'invalidOption' as const;
  constructor(
    readonly option: keyof KubernetesJobOptions,
    message: string,
    hint?: string,
  ) {
    super(message);
    this.name = 'KubernetesOptionError';
    this.hint = hint;
  }
}

export const DEFAULT_JOB_NAME = 'lanes-queue';
export const DEFAULT_CREDENTIALS_SECRET = 'lanes-queue-credentials';
export const MAX_WORKERS = 1000;
/** The lanes CLI's exit code for a usage error (see src/cli/main.ts). */
const USAGE_EXIT_CODE = 2;
const CONTAINER = 'worker';
/** The node images' `node` user. ssh refuses to run as a uid without a passwd entry. */
const UID = 1000;
const HOME = '/home/lanes';
const SSH_DIR = '/etc/lanes/ssh';
const GRACE_SECONDS = 60;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// Kubernetes' resource.Quantity (apimachinery), without a sign: requests are never negative.
const QUANTITY = /^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;

function fail(option: keyof KubernetesJobOptions, message: string, hint?: string): never {
  throw new KubernetesOptionError(option, `Kubernetes Job option "${option}" ${message}`, hint);
}

function shown(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function wholeNumber(option: keyof KubernetesJobOptions, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(option, `must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`}, got ${shown(v)}`);
  }
  return v;
}

function dnsName(option: keyof KubernetesJobOptions, v: unknown, kind: 'label' | 'subdomain'): string {
  const max = kind === 'label' ? 63 : 253;
  if (typeof v !== 'string' || v.length > max || !(kind === 'label' ? DNS_LABEL : DNS_SUBDOMAIN).test(v)) {
    fail(
      option,
      `must be a Kubernetes name (DNS-1123 ${kind}), got ${shown(v)}`,
      `use lower-case letters, digits${kind === 'label' ? '' : ', dots'} and "-", starting and ending with a letter or digit, at most ${max} characters`,
    );
  }
  return v;
}

function quantity(option: keyof KubernetesJobOptions, v: unknown): string {
  if (typeof v !== 'string' || !QUANTITY.test(v) || !/[1-9]/.test(v.replace(/[eE].*$/, ''))) {
    fail(option, `must be a positive Kubernetes quantity, got ${shown(v)}`, option === 'cpu' ? 'e.g. "1", "500m", "2"' : 'e.g. "2Gi", "512Mi"');
  }
  return v;
}

function isSshRemote(remote: string): boolean {
  return remote.startsWith('ssh://') || /^[A-Za-z0-9._-]+@[^/:]+:/.test(remote);
}

function checkRemote(v: unknown): string {
  if (typeof v !== 'string' || !v.trim()) fail('remote', 'is required: the URL of the queue\'s git remote (https://… or ssh)');
  if (/\s/.test(v)) fail('remote', `must be a URL without spaces, got ${shown(v)}`);
  if (v.startsWith('https://')) {
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      return fail('remote', `is not a valid URL, got ${shown(v)}`);
    }
    // The manifest is applied, printed and committed: a token in it would leak.
    if (url.username || url.password) fail('remote', 'must not contain credentials', `put the token in the Secret (GIT_TOKEN) and give the URL without it`);
    return v;
  }
  if (isSshRemote(v)) return v;
  return fail('remote', `must be an https:// or ssh remote the pods can reach, got ${shown(v)}`, 'e.g. https://github.com/org/repo.git or git@github.com:org/repo.git');
}

function checkArg(option: keyof KubernetesJobOptions, v: unknown): string {
  if (typeof v !== 'string' || !v) fail(option, `must be a non-empty string, got ${shown(v)}`);
  return v;
}

/** The Job manifest (a plain object: give it to toYaml, or JSON.stringify it). */
export function kubernetesJob(o: KubernetesJobOptions): Record<string, unknown> {
  const name = o.name === undefined ? DEFAULT_JOB_NAME : dnsName('name', o.name, 'label');
  const namespace = o.namespace === undefined ? undefined : dnsName('namespace', o.namespace, 'label');
  const workers = wholeNumber('workers', o.workers, 1, MAX_WORKERS);
  const tasks = o.tasks === undefined ? undefined : wholeNumber('tasks', o.tasks, 1);
  if (typeof o.image !== 'string' || !o.image.trim()) fail('image', 'is required: an image with git, Node 20, the lanes CLI and the agent CLIs');
  if (/\s/.test(o.image)) fail('image', `must be an image reference without spaces, got ${shown(o.image)}`);
  const image = o.image;
  const remote = checkRemote(o.remote);
  const secret = o.secret === undefined ? DEFAULT_CREDENTIALS_SECRET : dnsName('secret', o.secret, 'subdomain');
  // The same minimum as the queue file's claimTtlSeconds (schema.ts).
  const ttl = wholeNumber('claimTtlSeconds', o.claimTtlSeconds, 2);
  const cpu = o.cpu === undefined ? '1' : quantity('cpu', o.cpu);
  const memory = o.memory === undefined ? '2Gi' : quantity('memory', o.memory);
  const ttlAfterFinished = o.ttlSecondsAfterFinished === undefined ? 3600 : wholeNumber('ttlSecondsAfterFinished', o.ttlSecondsAfterFinished, 0);
  const deadline = o.activeDeadlineSeconds === undefined ? undefined : wholeNumber('activeDeadlineSeconds', o.activeDeadlineSeconds, 1);
  const agent = o.agent === undefined ? undefined : checkArg('agent', o.agent);
  if (o.extraArgs !== undefined && !Array.isArray(o.extraArgs)) fail('extraArgs', 'must be a list of strings');
  const extraArgs = (o.extraArgs ?? []).map((a) => checkArg('extraArgs', a));

  const command = ['lanes', 'worker', '--remote', remote, '--claim-ttl', String(ttl)];
  if (agent !== undefined) command.push('--agent', agent);
  // With a fixed count each pod's success must mean one task: the worker stops after one.
  if (tasks !== undefined) command.push('--max-tasks', '1');
  command.push(...extraArgs);

  const ssh = isSshRemote(remote);
  const labels = {
    'app.kubernetes.io/name': 'agent-lanes',
    'app.kubernetes.io/component': 'queue-worker',
    'app.kubernetes.io/instance': name,
  };

  const env: Record<string, unknown>[] = [
    // The worker's identity in its locks: the pod name, new for every replacement pod.
    { name: 'LANES_WORKER_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'HOME', value: HOME },
    // Never wait for a password nobody can type: a bad credential fails the push at once.
    { name: 'GIT_TERMINAL_PROMPT', value: '0' },
  ];
  if (ssh) {
    env.push({
      name: 'GIT_SSH_COMMAND',
      value: `ssh -i ${SSH_DIR}/id -o IdentitiesOnly=yes -o UserKnownHostsFile=${SSH_DIR}/known_hosts -o StrictHostKeyChecking=yes`,
    });
  }

  const volumeMounts: Record<string, unknown>[] = [{ name: 'home', mountPath: HOME }];
  // HOME and the worker's clone and worktrees: scratch space that dies with the pod, so a
  // replacement pod never finds a half-done task on disk.
  const volumes: Record<string, unknown>[] = [{ name: 'home', emptyDir: {} }];
  if (ssh) {
    volumeMounts.push({ name: 'ssh', mountPath: SSH_DIR, readOnly: true });
    // Only the two ssh files, owner-read-only (0400). With fsGroup the kubelet adds group read;
    // the files stay owned by root, which ssh accepts for a key it did not create.
    volumes.push({
      name: 'ssh',
      secret: {
        secretName: secret,
        defaultMode: 0o400,
        items: [
          { key: 'ssh-privatekey', path: 'id' },
          { key: 'known_hosts', path: 'known_hosts' },
        ],
      },
    });
  }

  const container = {
    name: CONTAINER,
    image,
    command,
    workingDir: HOME,
    env,
    envFrom: [{ secretRef: { name: secret } }],
    // Memory limit = request: a worker is never the first to be OOM-killed for a neighbour's
    // burst, and the scheduler packs pods by what they really get. No CPU limit: throttling an
    // agent only makes its claim run longer.
    resources: { requests: { cpu, memory }, limits: { memory } },
    // The lane sandbox (bubblewrap) needs unprivileged user namespaces inside the pod, which
    // RuntimeDefault seccomp (and no_new_privs) usually forbid; lanes then runs the agent
    // unsandboxed and says so in its log. Here the pod is the boundary: non-root, no
    // privilege escalation, no capabilities, no service account token.
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    volumeMounts,
  };

  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, ...(namespace === undefined ? {} : { namespace }), labels },
    spec: {
      parallelism: workers,
      // Work-queue Job (no completions): the first pod to exit 0 tells the controller the queue
      // is done; it starts no new pods and the Job completes when the others have exited. The
      // workers decide when the queue is empty, which no count fixed here could know (tasks are
      // split, sent back, found duplicate). A worker must exit 0 only when no task is pending
      // and no claim is left, live or stale: after the first success no pod is replaced, so
      // the survivors have to wait out a dead worker's TTL and reclaim its task themselves.
      // With `tasks`, completions = tasks and each pod does one task.
      ...(tasks === undefined ? {} : { completions: tasks }),
      backoffLimit: Math.max(6, 2 * workers),
      podReplacementPolicy: 'Failed',
      podFailurePolicy: {
        rules: [
          { action: 'FailJob', onExitCodes: { containerName: CONTAINER, operator: 'In', values: [USAGE_EXIT_CODE] } },
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
        ],
      },
      ttlSecondsAfterFinished: ttlAfterFinished,
      ...(deadline === undefined ? {} : { activeDeadlineSeconds: deadline }),
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          terminationGracePeriodSeconds: GRACE_SECONDS,
          // Workers talk to git, never to the Kubernetes API.
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: UID,
            runAsGroup: UID,
            fsGroup: UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [container],
          volumes,
        },
      },
    },
  };
}

// ---- YAML ----------------------------------------------------------------------------------

/**
 * Block-style YAML for JSON-like values. A string is written plain only when no YAML 1.1 or 1.2
 * parser can read it as anything else (kubectl's parser is YAML 1.1: `on`, `yes` and `1:20` are
 * not strings there); every other string is a JSON string, which is valid double-quoted YAML.
 * `undefined` members are left out, as JSON.stringify does.
 */
export function toYaml(value: unknown): string {
  return (isBlock(value) ? block(value).join('\n') : scalar(value)) + '\n';
}

const PLAIN = /^[A-Za-z_/][A-Za-z0-9_./-]*$/;
// YAML 1.1 booleans and nulls (1.2's are a subset); every other plain match is a string in both.
const RESERVED = new Set(['y', 'n', 'yes', 'no', 'on', 'off', 'true', 'false', 'null']);

function str(s: string): string {
  if (PLAIN.test(s) && !RESERVED.has(s.toLowerCase())) return s;
  // JSON leaves DEL, C1 controls, U+2028/9 and the BOM unescaped; YAML wants them escaped.
  return JSON.stringify(s).replace(/[\u007f-\u009f\u2028\u2029\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function entries(value: object): [string, unknown][] {
  return Object.entries(value).filter(([, v]) => v !== undefined);
}

function isBlock(value: unknown): value is object {
  if (value === null || typeof value !== 'object') return false;
  return Array.isArray(value) ? value.length > 0 : entries(value).length > 0;
}

function scalar(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return str(value);
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`toYaml: ${value} has no JSON form`);
    return String(value);
  }
  if (Array.isArray(value)) return '[]';
  if (typeof value === 'object') return '{}';
  throw new TypeError(`toYaml: cannot write a ${typeof value}`);
}

function block(value: object): string[] {
  const out: string[] = [];
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) {
      if (!isBlock(item)) {
        out.push(`- ${scalar(item)}`);
        continue;
      }
      const inner = block(item);
      out.push(`- ${inner[0]}`, ...inner.slice(1).map((l) => `  ${l}`));
    }
    return out;
  }
  for (const [k, v] of entries(value)) {
    const key = str(k);
    // An implicit key is at most 1024 characters; a longer one needs the explicit `? key` form.
    if (key.length > 1024) out.push(`? ${key}`);
    const head = key.length > 1024 ? ':' : `${key}:`;
    if (isBlock(v)) out.push(head, ...block(v).map((l) => `  ${l}`));
    else out.push(`${head} ${scalar(v)}`);
  }
  return out;
}
