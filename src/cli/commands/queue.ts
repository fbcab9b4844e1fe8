import { spawn } from 'node:child_process';
import { closeSync, openSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { commonDir, gitOut } from '../../core/git/git';
import { kubernetesJob, toYaml } from '../../core/queue/kubernetes';
import { loadQueue, seedQueue, stopQueue, viewOf, QueueView } from '../../core/queue/queue';
import { DEFAULT_CLAIM_TTL, QueueSchema } from '../../core/queue/schema';
import { QueueError, QueueStore, workerIdentity } from '../../core/queue/store';
import { Worker, WorkerEvent } from '../../core/queue/worker';
import { intOption, UsageError } from '../args';
import { Command, EXIT_FAILED, EXIT_OK, Io, JSON_OPTION, printJson, style } from '../context';

const REMOTE_OPTION = { name: 'remote', type: 'string' as const, valueName: 'URL', description: 'the queue\'s git remote: a URL, a remote name or a path (default: this repository itself)' };
const QUEUE_OPTION = { name: 'queue', short: 'q', type: 'string' as const, valueName: 'FILE', description: 'the queue file (default: .lanes/queue.json)' };

async function repoOf(io: Io): Promise<string> {
  try {
    return await gitOut(['rev-parse', '--show-toplevel'], { cwd: io.cwd, readOnly: true });
  } catch {
    throw new UsageError(`${io.cwd} is not inside a git repository`);
  }
}

function eventLine(e: WorkerEvent): string {
  const t = new Date().toISOString().slice(11, 19);
  if (e.type === 'log') return `[${t}] ${e.worker}: ${e.message}\n`;
  return `[${t}] ${e.worker}: ${e.task} ${e.outcome}${e.detail ? ` (${e.detail.split('\n')[0]!.slice(0, 120)})` : ''}\n`;
}

export const workerCommand: Command = {
  name: 'worker',
  summary: 'run one queue worker: claim a task through git, work it with an agent, integrate it through the gate; repeat',
  usage: 'lanes worker --remote URL [--dir DIR] [--queue FILE] [--id ID] [--claim-ttl SECONDS] [--agent NAME] [--max-tasks N] [--isolation sandbox|none]',
  description:
    'Coordinates only through git: claims are lock files committed to refs/lanes/queue/claims on the remote and pushed with compare-and-swap; ' +
    'integration happens under an integration lock, through the full gate, onto the remote\'s integration branch. Runs the same on this machine, ' +
    'another one, or in a Kubernetes pod (lanes queue kubernetes). Exits 0 when the queue is empty or stopped.',
  options: [
    REMOTE_OPTION,
    { name: 'dir', type: 'string', valueName: 'DIR', description: 'the worker\'s own clone (default: a per-user cache folder)' },
    QUEUE_OPTION,
    { name: 'id', type: 'string', valueName: 'ID', description: 'the worker\'s name in locks and the table (default: $LANES_WORKER_ID, else host-pid)' },
    { name: 'claim-ttl', type: 'string', valueName: 'SECONDS', description: `a claim not renewed for this long is stale (default: the queue's claimTtlSeconds, else ${DEFAULT_CLAIM_TTL})` },
    { name: 'agent', type: 'string', valueName: 'NAME', description: 'the agent preset (default: the queue\'s agent)' },
    { name: 'max-tasks', type: 'string', valueName: 'N', description: 'stop after N tasks' },
    { name: 'isolation', type: 'string', valueName: 'sandbox|none', description: 'where agents run (default: the sandbox where available)' },
  ],
  examples: ['lanes worker --remote https://git.example.com/team/app.git', 'lanes worker --remote /srv/app.git --max-tasks 1'],
  async run(args, io) {
    const remote = (args.options.remote as string | undefined) ?? io.env.LANES_QUEUE_REMOTE;
    if (!remote) throw new UsageError('say which remote the queue is on: --remote URL (or $LANES_QUEUE_REMOTE)');
    const id = (args.options.id as string | undefined) ?? workerIdentity(io.env);
    const dir = path.resolve(io.cwd, (args.options.dir as string | undefined) ?? path.join(io.env.XDG_CACHE_HOME || path.join(io.env.HOME || os.homedir(), '.cache'), 'agent-lanes', 'workers', id));
    let queue;
    if (args.options.queue) {
      const file = path.resolve(io.cwd, args.options.queue as string);
      const text = await fs.readFile(file, 'utf8').catch(() => {
        throw new UsageError(`cannot read the queue file ${file}`);
      });
      const parsed = QueueSchema.safeParse(JSON.parse(text));
      if (!parsed.success) throw new UsageError(`${file} is not a valid queue (lanes queue start says why)`);
      queue = parsed.data;
    }
    const isolation = args.options.isolation as string | undefined;
    if (isolation && isolation !== 'sandbox' && isolation !== 'none') throw new UsageError('--isolation takes "sandbox" or "none"');
    const ttl = intOption(args.options['claim-ttl'], 'claim-ttl');
    const w = new Worker({
      dir,
      remote,
      queue,
      id,
      env: io.env,
      claimTtlSeconds: ttl,
      agent: args.options.agent as string | undefined,
      maxTasks: intOption(args.options['max-tasks'], 'max-tasks'),
      signal: io.signal,
      isolation: isolation as 'sandbox' | 'none' | undefined,
      onEvent: (e) => io.err(eventLine(e)),
    });
    io.err(style(io).dim(`worker ${w.id}: queue on ${remote}, clone in ${dir}\n`));
    const summary = await w.run();
    io.out(`worker ${summary.worker}: ${summary.done} done, ${summary.failed} given back; stopped: ${summary.stoppedBecause === 'empty' ? 'the queue is empty' : summary.stoppedBecause === 'stop' ? 'the queue was stopped' : summary.stoppedBecause}\n`);
    return summary.stoppedBecause === 'cancelled' ? EXIT_FAILED : EXIT_OK;
  },
};

function table(io: Io, v: QueueView): string {
  const s = style(io);
  const rows = [
    `tasks: ${v.total} · ${s.cyan(`${v.open - v.claimed} open`)} · ${s.yellow(`${v.claimed} claimed`)} · ${s.green(`${v.done} done`)} · ${v.failed ? s.red(`${v.failed} failed`) : '0 failed'}` +
      `${v.perHour !== undefined ? ` · ${v.perHour.toFixed(1)} tasks/hour` : ''}${v.costUsd !== undefined ? ` · $${v.costUsd.toFixed(2)}` : ''}${v.tokens !== undefined ? ` · ${v.tokens} tokens` : ''}${v.stop ? s.yellow(' · stopping') : ''}`,
  ];
  const w = Math.max(6, ...v.workers.map((x) => x.id.length));
  if (v.workers.length) rows.push(`  ${'worker'.padEnd(w)}  ${'state'.padEnd(11)}  done  task`);
  for (const x of v.workers) rows.push(`  ${x.id.padEnd(w)}  ${x.state.padEnd(11)}  ${String(x.done).padStart(4)}  ${x.task ?? ''}`);
  // Split tasks: each parent with the tasks it became.
  const parents = [...new Set(v.lineage.map((l) => l.parent))];
  for (const p of parents) rows.push(s.dim(`  split ${p} → ${v.lineage.filter((l) => l.parent === p).map((l) => l.task).join(', ')}`));
  return rows.join('\n') + '\n';
}

interface LocalWorkers {
  pids: number[];
  startedAt: string;
}

async function localFile(repo: string): Promise<string> {
  return path.join(await commonDir(repo), 'lanes', 'queue', 'local.json');
}

export const queueCommand: Command = {
  name: 'queue',
  summary: 'queue mode: many tasks (say failing tests), workers that claim them through git, a gate on every integration',
  usage:
    'lanes queue start [--workers N] [--remote URL] [--queue FILE] [--reseed]\n       lanes queue status [--remote URL] [--json]\n       lanes queue stop [--remote URL] [--now] [--resume]\n' +
    '       lanes queue kubernetes --workers N --image IMAGE --remote URL [--secret NAME] [--claim-ttl SECONDS] [--out FILE]',
  description:
    'start: seeds the queue (its sources become tasks; the gate runs once for the first accepted state), then runs N local workers, each in its own clone, ' +
    'with a live table until the queue is empty. status: the table once. stop: every worker (on every machine) stops after its current task; --now also ends local workers at once. ' +
    'kubernetes: prints a Job manifest that runs the same workers as pods against the remote.',
  options: [
    { name: 'workers', short: 'n', type: 'string', valueName: 'N', description: 'how many workers (start: local processes; kubernetes: parallelism)' },
    REMOTE_OPTION,
    QUEUE_OPTION,
    { name: 'reseed', type: 'flag', description: 'start: add the tasks the sources find now to an existing queue' },
    { name: 'now', type: 'flag', description: 'stop: also end the local workers at once (their claims go stale and are reclaimed)' },
    { name: 'resume', type: 'flag', description: 'stop: take a stop back' },
    { name: 'image', type: 'string', valueName: 'IMAGE', description: 'kubernetes: the worker image (git, node 20, lanes and the agent CLIs)' },
    { name: 'secret', type: 'string', valueName: 'NAME', description: 'kubernetes: the Secret with git credentials and the agents\' API keys' },
    { name: 'claim-ttl', type: 'string', valueName: 'SECONDS', description: 'kubernetes: the claim TTL the workers use' },
    { name: 'out', short: 'o', type: 'string', valueName: 'FILE', description: 'kubernetes: write the manifest to FILE (default: stdout)' },
    JSON_OPTION,
  ],
  examples: ['lanes queue start --workers 4', 'lanes queue status', 'lanes queue stop', 'lanes queue kubernetes --workers 50 --image ghcr.io/acme/lanes-worker:1 --remote https://git.example.com/acme/app.git > job.yaml'],
  async run(args, io) {
    const [sub, ...rest] = args.positionals;
    if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
    const s = style(io);
    if (sub === 'kubernetes') {
      const workers = intOption(args.options.workers, 'workers');
      const image = args.options.image as string | undefined;
      const remote = args.options.remote as string | undefined;
      if (!workers || !image || !remote) throw new UsageError('kubernetes needs --workers N, --image IMAGE and --remote URL');
      const ttl = intOption(args.options['claim-ttl'], 'claim-ttl') ?? DEFAULT_CLAIM_TTL;
      const manifest = toYaml(kubernetesJob({ workers, image, remote, secret: args.options.secret as string | undefined, claimTtlSeconds: ttl }));
      if (args.options.out) {
        await fs.writeFile(path.resolve(io.cwd, args.options.out as string), manifest);
        io.err(`wrote ${args.options.out}: kubectl apply -f ${args.options.out}\n`);
      } else io.out(manifest);
      return EXIT_OK;
    }
    const repo = await repoOf(io);
    const remote = (args.options.remote as string | undefined) ?? repo;
    if (sub === 'status') {
      const snap = await new QueueStore(repo, remote).read();
      if (!snap.commit) throw new QueueError(`there is no queue on ${remote} yet; start one with "lanes queue start"`, 'noQueue');
      const v = viewOf(snap);
      if (args.options.json) printJson(io, { ...v, tasks: snap.tasks.map((t) => ({ id: t.id, name: t.name, parent: t.parent, done: snap.done.get(t.id), failed: snap.failed.get(t.id), claimedBy: snap.locks.get(t.id)?.worker })) });
      else io.out(table(io, v));
      return EXIT_OK;
    }
    if (sub === 'stop') {
      await stopQueue(repo, remote, Boolean(args.options.resume));
      if (args.options.now && !args.options.resume) {
        const local = JSON.parse(await fs.readFile(await localFile(repo), 'utf8').catch(() => '{"pids":[]}')) as LocalWorkers;
        for (const pid of local.pids) {
          try {
            process.kill(pid, 'SIGTERM');
          } catch {
            /* gone already */
          }
        }
      }
      io.out(args.options.resume ? 'the queue runs again: start workers with "lanes queue start"\n' : 'every worker stops after its current task\n');
      return EXIT_OK;
    }
    if (sub !== 'start') throw new UsageError(sub ? `unknown subcommand "${sub}": use start, status, stop or kubernetes` : 'say what to do: start, status, stop or kubernetes');

    const workers = intOption(args.options.workers, 'workers') ?? 2;
    if (workers < 1 || workers > 64) throw new UsageError('--workers takes 1 to 64 on one machine (more: lanes queue kubernetes)');
    const loaded = await loadQueue(repo, args.options.queue as string | undefined);
    const seeded = await seedQueue({ repo, remote, queue: loaded.config, reseed: Boolean(args.options.reseed), env: io.env, signal: io.signal, onProgress: (m) => io.err(s.dim(`${m}\n`)) });
    io.err(`queue: ${seeded.tasks} tasks${seeded.added ? ` (${seeded.added} new)` : ''}; the gate passes ${seeded.passing} test${seeded.passing === 1 ? '' : 's'} and fails ${seeded.failing} at ${seeded.head.slice(0, 10)}\n`);
    await stopQueue(repo, remote, true);
    const base = path.join(await commonDir(repo), 'lanes', 'queue');
    await fs.mkdir(path.join(base, 'logs'), { recursive: true });
    const host = os.hostname().replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 30);
    const children: ReturnType<typeof spawn>[] = [];
    for (let i = 1; i <= workers; i++) {
      const id = `${host}-w${i}`;
      const log = openSync(path.join(base, 'logs', `${id}.log`), 'a');
      const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'worker', '--remote', remote, '--dir', path.join(base, 'workers', id), '--queue', loaded.file, '--id', id], {
        cwd: repo,
        env: io.env,
        stdio: ['ignore', log, log],
      });
      closeSync(log);
      children.push(child);
    }
    await fs.writeFile(await localFile(repo), JSON.stringify({ pids: children.map((c) => c.pid).filter((p): p is number => p !== undefined), startedAt: new Date().toISOString() } satisfies LocalWorkers, null, 2));
    const onAbort = () => children.forEach((c) => c.kill('SIGTERM'));
    io.signal?.addEventListener('abort', onAbort, { once: true });
    const exited = Promise.all(children.map((c) => new Promise<number | null>((r) => c.on('exit', (code) => r(code)))));
    const store = new QueueStore(repo, remote);
    let drawn = 0;
    const draw = async () => {
      const text = table(io, viewOf(await store.read()));
      if (io.isTTY) {
        io.out((drawn ? `\x1b[${drawn}F\x1b[0J` : '') + text);
        drawn = text.split('\n').length - 1;
      }
      return text;
    };
    const timer = setInterval(() => void draw().catch(() => undefined), io.isTTY ? 1000 : 10_000);
    const codes = await exited;
    clearInterval(timer);
    io.signal?.removeEventListener('abort', onAbort);
    const final = await draw();
    if (!io.isTTY) io.out(final);
    io.err(s.dim(`worker logs: ${path.join(base, 'logs')}\n`));
    const v = viewOf(await store.read());
    return codes.every((c) => c === 0) && v.open === 0 && v.failed === 0 ? EXIT_OK : EXIT_FAILED;
  },
};
