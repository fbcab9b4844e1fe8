import { mkdtempSync, realpathSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeUsage, sumUsage } from '../../core/agents/streams';

import { createSampleRepo } from '../../core/demo/sample';

import { gitOut } from '../../core/git/git';
import { Orchestrator, speedup } from '../../core/run/orchestrator';
import { describeIsolation, IsolationSetting } from '../../core/run/sandbox';
import { isOutstanding, possessive } from '../../core/run/findings';
import type { RunTruth } from '../../core/run/inspect';
import { FINAL_STATUSES, LaneState, laneTimes, LaneStatus, RunState, runWallMs, StateError } from '../../core/run/state';
import type { LanesSession } from '../../core/session/session';
import { describeOwner } from '../../core/util/ownerLock';
import { intOption, ParsedArgs, UsageError } from '../args';
import { Command, EXIT_FAILED, EXIT_OK, Io, JSON_OPTION, openSession, PLAN_OPTION, printJson, style } from '../context';
import { CliFailure } from './plan';

const ICON: Record<LaneStatus, string> = {
  queued: '·',
  blocked: '⧗',
  running: '▶',
  verifying: '✓?',
  passed: '✓',
  failed: '✗',
  'timed-out': '⏱',
  cancelled: '■',
  skipped: '↷',
};

/** The lane's time over all its attempts (the one under way counted so far). */
function elapsed(l: LaneState, now = Date.now()): string {
  if (!l.attempts.length) return '';
  return `${(laneTimes(l, now).totalMs / 1000).toFixed(1)}s`;
}

function colourFor(io: Io, status: LaneStatus) {
  const s = style(io);
  if (status === 'passed') return s.green;
  if (status === 'failed' || status === 'timed-out') return s.red;
  if (status === 'running' || status === 'verifying') return s.cyan;
  if (status === 'cancelled' || status === 'skipped') return s.yellow;
  return s.dim;
}

/**
 * The lanes as a table. With `interrupted` (the orchestrator is gone), a lane recorded as
 * running or verifying is shown as what it is: interrupted, not running.
 */
function table(io: Io, state: RunState, now = Date.now(), interrupted = false): string[] {
  const w = Math.max(4, ...state.lanes.map((l) => l.id.length));
  const rows = [`  ${'lane'.padEnd(w)}  ${'state'.padEnd(11)}  ${'elapsed'.padStart(8)}  try  note`];
  for (const l of state.lanes) {
    if (interrupted && (l.status === 'running' || l.status === 'verifying')) {
      rows.push(`  ${l.id.padEnd(w)}  ${style(io).yellow('⚠ interrupted')}  ${''.padStart(8)}  ${String(l.attempts.length || '').padStart(3)}  was ${l.status} when the orchestrator stopped; "lanes run --resume" runs it again`);
      continue;
    }
    const st = `${ICON[l.status]} ${l.status}`.padEnd(11);
    const note = (l.reason ?? '').split('\n')[0]!.slice(0, 70);
    rows.push(`  ${l.id.padEnd(w)}  ${colourFor(io, l.status)(st)}  ${elapsed(l, now).padStart(8)}  ${String(l.attempts.length || '').padStart(3)}  ${note}`);
  }
  return rows;
}

export function laneJson(l: LaneState) {
  const last = l.attempts[l.attempts.length - 1];
  return {
    id: l.id,
    status: l.status,
    reason: l.reason,
    branch: l.branch,
    worktree: l.worktree,
    base: l.base,
    head: l.head,
    startedAt: l.startedAt,
    endedAt: l.endedAt,
    busyMs: l.busyMs,
    attempts: l.attempts.length,
    exitCode: last?.exitCode ?? null,
    verify: last?.verify ?? null,
    warnings: l.warnings,
    /** What the lane's programs ran in: "bwrap", "sandbox-exec" or "none". */
    isolation: l.isolation ?? 'none',
    network: l.network !== false,
    /** Summed over attempts; a field is absent when the agent did not report it (unknown, not 0). */
    usage: l.attempts.some((a) => a.usage) ? sumUsage(l.attempts.map((a) => a.usage)) : null,
  };
}

export function runJson(state: RunState, truth?: RunTruth) {
  return {
    runId: state.runId,
    status: truth?.status ?? state.status,
    repoRoot: state.repoRoot,
    planFile: state.planFile,
    baseCommit: state.baseCommit,
    startedAt: state.startedAt,
    endedAt: state.endedAt,
    wallMs: runWallMs(state),
    speedup: speedup(state),
    usage: state.lanes.some((l) => l.attempts.some((a) => a.usage)) ? sumUsage(state.lanes.flatMap((l) => l.attempts.map((a) => a.usage))) : null,
    maxParallel: state.maxParallel,
    warnings: state.warnings,
    lanes: state.lanes.map((l) => ({ ...laneJson(l), process: truth?.lanes.find((t) => t.id === l.id)?.process })),
    /** As recorded by the run (a person's dismissals: "lanes finding list --json"). */
    findings: state.findings,
    loopBacks: state.loopBacks,
  };
}

function summary(io: Io, state: RunState): string {
  const s = style(io);
  const counts = new Map<LaneStatus, number>();
  for (const l of state.lanes) counts.set(l.status, (counts.get(l.status) ?? 0) + 1);
  const parts = [...counts].map(([k, v]) => `${v} ${k}`).join(', ');
  const sp = speedup(state);
  const busy = state.lanes.reduce((a, l) => a + l.busyMs, 0);
  const lines = [
    '',
    ...table(io, state),
    '',
    `${state.lanes.every((l) => l.status === 'passed') ? s.green('✓') : s.red('✗')} run ${state.runId}: ${parts}`,
  ];
  if (sp !== undefined) {
    lines.push(`  wall time ${(runWallMs(state)! / 1000).toFixed(1)} s; lane time ${(busy / 1000).toFixed(1)} s; parallel speedup ${sp.toFixed(2)}× (sum of lane times ÷ wall time)`);
  }
  const used = state.lanes.flatMap((l) => l.attempts.map((a) => a.usage));
  if (used.some(Boolean)) lines.push(`  agents used ${describeUsage(sumUsage(used))}${used.some((u) => !u) ? ' (some agents did not report theirs)' : ''}`);
  for (const l of state.lanes) {
    for (const w of l.warnings) lines.push(s.yellow(`  ! ${l.id}: ${w.split('\n')[0]}`));
  }
  if (state.findings.length) {
    const open = state.findings.filter(isOutstanding);
    const loops = state.loopBacks.filter((x) => x.sent).length;
    lines.push(
      `  ⚑ ${state.findings.length} finding${state.findings.length === 1 ? '' : 's'}${open.length ? `, ${s.red(`${open.length} blocking and open (${open.map((f) => f.id).join(', ')})`)}` : ''}${loops ? `; ${loops} loop-back${loops === 1 ? '' : 's'}` : ''}: lanes finding list`,
    );
  }
  return lines.join('\n') + '\n';
}

/** Drive an orchestrator with a live table (TTY) or plain lines, then print the summary. */
export async function driveRun(io: Io, session: LanesSession, o: Orchestrator, json: boolean, radarFindings: string[] = []): Promise<RunState> {
  const s = style(io);
  const onAbort = () => o.cancel();
  io.signal?.addEventListener('abort', onAbort, { once: true });
  let drawn = 0;
  const draw = () => {
    const rows = table(io, o.state);
    io.out((drawn ? `\x1b[${drawn}F` : '') + rows.map((r) => `\x1b[2K${r}`).join('\n') + '\n');
    drawn = rows.length;
  };
  const live = io.isTTY && !json;
  const timer = live ? setInterval(draw, 250) : undefined;
  if (!json) io.err(s.dim(`run ${o.runId}: ${o.state.lanes.length} lanes, at most ${o.state.maxParallel} at a time, from ${o.state.baseCommit.slice(0, 10)}; ${describeIsolation(o.state)}\n`));

  for (const w of o.state.warnings) if (!json) io.err(s.yellow(`! ${w}\n`));
  const off = o.onEvent((e) => {
    if (json) return;
    if (e.type === 'warning') {
      const line = s.yellow(`! ${e.lane ? `${e.lane}: ` : ''}${e.message}\n`);
      if (live) {
        io.out((drawn ? `\x1b[${drawn}F\x1b[0J` : '') + line);
        drawn = 0;
        draw();
      } else io.err(line);
    } else if (e.type === 'finding' || e.type === 'loop-back') {
      const text =
        e.type === 'finding'
          ? `⚑ ${e.finding.from} raised ${e.finding.id} for ${e.finding.to} (${e.finding.kind}${e.finding.blocking ? ', blocking' : ''}): ${e.finding.title}\n`
          : e.loopBack.sent
            ? `↺ loop back: ${e.loopBack.to} is sent back to its agent with ${e.loopBack.finding} (${e.loopBack.by === 'person' ? 'by you' : e.loopBack.by === 'merge-queue' ? 'by the merge queue' : `${possessive(e.loopBack.from)} finding`})${e.loopBack.by === 'run' ? `; ${e.loopBack.from} runs again on the fix` : ''}\n`
            : `⊘ ${e.loopBack.to} is not sent back with ${e.loopBack.finding}: ${e.loopBack.reason ?? ''}\n`;
      if (live) {
        io.out((drawn ? `\x1b[${drawn}F\x1b[0J` : '') + s.cyan(text));
        drawn = 0;
        draw();
      } else io.err(s.cyan(text));
    } else if (e.type === 'lane-status' && !live) {
      const t = new Date().toISOString().slice(11, 19);
      io.out(`[${t}] ${e.lane.padEnd(12)} ${e.status.padEnd(10)} ${e.reason ? (e.reason.split('\n')[0] ?? '') : ''}\n`);
    }
  });
  // The conflict radar runs while lanes work: collisions are reported as soon as they appear.
  const radar = session.watchRadar(o, (p) => {
    const msg = p.kind === 'conflict' ? `radar: lanes ${p.a} and ${p.b} conflict in ${p.files.join(', ')}` : `radar: lanes ${p.a} and ${p.b} both change ${p.files.join(', ')} (merges cleanly)`;
    radarFindings.push(msg);
    if (json) return;
    if (live) {
      io.out((drawn ? `\x1b[${drawn}F\x1b[0J` : '') + s.yellow(`! ${msg}\n`));
      drawn = 0;
      draw();
    } else io.err(s.yellow(`! ${msg}\n`));
  });
  if (live) draw();
  try {
    const state = await o.run();
    await radar.idle();
    return state;
  } finally {
    radar.stop();
    off();
    if (timer) clearInterval(timer);
    if (live && drawn) io.out(`\x1b[${drawn}F\x1b[0J`);
    io.signal?.removeEventListener('abort', onAbort);
  }
}

function isolationOption(v: unknown): IsolationSetting | undefined {
  if (v === undefined) return undefined;
  if (v === 'sandbox' || v === 'none') return v;
  throw new UsageError(`--isolation takes "sandbox" or "none", not "${String(v)}"`);
}

async function runOrResume(args: ParsedArgs, io: Io, cwd: string, extra: { worktreeRoot?: string } = {}): Promise<number> {
  const json = Boolean(args.options.json);
  const session = await openSession({ ...io, cwd }, args.options.resume ? 'run --resume' : 'run');
  const o = await session.run({
    planFile: args.options.plan as string | undefined,
    maxParallel: intOption(args.options['max-parallel'], 'max-parallel'),
    lanes: args.options.lane as string[] | undefined,
    worktreeRoot: (args.options['worktree-root'] as string | undefined) ?? extra.worktreeRoot,
    resume: args.options.resume ? (args.positionals[0] ?? 'latest') : undefined,
    isolation: isolationOption(args.options.isolation),
  });
  const state = await driveRun(io, session, o, json);
  if (json) printJson(io, runJson(state));
  else {
    io.out(summary(io, state));
    io.out(style(io).dim(`  state, logs and briefs: ${session.runDir(state.runId)}\n`));
  }
  return state.lanes.every((l) => l.status === 'passed') ? EXIT_OK : EXIT_FAILED;
}

export const runCommand: Command = {
  name: 'run',
  summary: 'run the plan: every lane in its own worktree, in parallel by the dependency graph',
  usage: 'lanes run [--plan FILE] [--max-parallel N] [--lane ID…] [--worktree-root DIR] [--isolation sandbox|none] [--json]\n       lanes run --resume [RUN]',
  description:
    'Lanes without dependencies start from HEAD; a lane with dependencies starts from their verified heads. ' +
    'Each lane passes only if its agent changed something and its verify command exits 0. Exit code 0 only when every lane passed. ' +
    'Ctrl-C stops every agent (whole process trees). Worktrees go to $LANES_WORKTREE_ROOT or a per-user cache folder. ' +
    'One run is active per repository at a time: while another is, this refuses and names it (and its process).',
  options: [
    PLAN_OPTION,
    { name: 'max-parallel', short: 'j', type: 'string', valueName: 'N', description: 'run at most N lanes at once (default: the plan\'s maxParallel, else 4)' },
    { name: 'lane', short: 'l', type: 'list', valueName: 'ID', description: 'run only these lanes and what they depend on (repeat or comma-separate)' },
    { name: 'worktree-root', type: 'string', valueName: 'DIR', description: 'where lane worktrees go' },
    { name: 'resume', type: 'flag', description: 'continue an interrupted run (the latest, or RUN) without redoing passed lanes' },
    { name: 'isolation', type: 'string', valueName: 'sandbox|none', description: 'for lanes whose plan does not say: "sandbox" (required) or "none" (default: the sandbox where available)' },
    JSON_OPTION,
  ],
  examples: ['lanes run', 'lanes run --max-parallel 2 --lane tests', 'lanes run --resume', 'lanes run --json > run.json'],
  run: async (args, io) => {
    if (args.positionals.length && !args.options.resume) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    if (args.options.resume && (args.options.lane || args.options.plan)) throw new UsageError('--resume continues a run as it was planned; it takes no --lane or --plan');
    return runOrResume(args, io, io.cwd);
  },
};

export const statusCommand: Command = {
  name: 'status',
  summary: 'show the latest run (or RUN), checking which agents really still run',
  usage: 'lanes status [RUN] [--all] [--json]',
  options: [{ name: 'all', short: 'a', type: 'flag', description: 'list every run' }, JSON_OPTION],
  examples: ['lanes status', 'lanes status --all', 'lanes status 20261124-101500-ab12 --json'],
  async run(args, io) {
    const session = await openSession(io, 'status');
    const s = style(io);
    const snapshots = await session.snapshots();
    const applying = await session.applyInProgress();
    if (applying && !args.options.json) io.err(s.yellow(`! an apply into this checkout is under way (${describeOwner({ ...applying.owner, acquiredAt: applying.startedAt, token: '' })}); it is left alone\n`));
    if (args.options.all) {
      const all = await session.inspectAll();
      if (args.options.json) {
        printJson(io, { runs: all.runs.map((t) => runJson(t.state, t)), unreadable: all.unreadable, snapshots });
        return EXIT_OK;
      }
      if (!all.runs.length && !all.unreadable.length) io.out('no runs yet; start one with "lanes run"\n');
      for (const t of all.runs) {
        const counts = t.state.lanes.filter((l) => l.status === 'passed').length;
        io.out(`${t.state.runId}  ${t.status.padEnd(11)}  ${counts}/${t.state.lanes.length} passed${t.state.cleaned ? '  (cleaned)' : ''}\n`);
      }
      for (const u of all.unreadable) io.err(s.red(`${u.runId}  unreadable: ${u.error}\n`));
    } else {
      const id = args.positionals[0] ?? (await session.latestRunId());
      if (!id) {
        if (args.options.json) printJson(io, { run: null, snapshots });
        else io.out('no runs yet; start one with "lanes run"\n');
        return EXIT_OK;
      }
      let t: RunTruth;
      try {
        t = await session.inspect(id);
      } catch (e) {
        if (e instanceof StateError) throw new CliFailure(`${e.message}${e.reason === 'corrupt' ? ' (left in place; "lanes run --resume" will set it aside)' : ''}`);
        throw e;
      }
      if (args.options.json) {
        printJson(io, { run: runJson(t.state, t), snapshots });
        return EXIT_OK;
      }
      io.out(`run ${t.state.runId}: ${t.status}${t.state.cleaned ? ' (cleaned)' : ''}, started ${t.state.startedAt}, base ${t.state.baseCommit.slice(0, 10)}\n`);
      io.out(table(io, t.state, Date.now(), t.status === 'interrupted').join('\n') + '\n');
      for (const lt of t.lanes) {
        if (!lt.process) continue;
        const l = t.state.lanes.find((x) => x.id === lt.id)!;
        const what =
          lt.process === 'ours'
            ? `its agent is still running (pid ${l.process!.pid}) without an orchestrator`
            : lt.process === 'orphans'
              ? `its agent died but left processes in its group (pgid ${l.process!.pid})`
              : lt.process === 'reused'
                ? `its agent is gone (pid ${l.process!.pid} now belongs to another program)`
                : 'its agent is dead';
        io.out(s.yellow(`  ! ${lt.id}: ${what}\n`));
      }
      if (t.status === 'interrupted') io.out(s.yellow(`  the orchestrator is gone; continue with: lanes run --resume ${t.state.runId}\n`));
      const sp = speedup(t.state);
      if (sp !== undefined) io.out(`  parallel speedup ${sp.toFixed(2)}×\n`);
    }
    if (snapshots.length && !args.options.json) {
      io.out(`\nsnapshot refs (work saved by forced cleanups; restore with git branch <name> <ref>):\n`);
      for (const r of snapshots) io.out(`  ${r.ref}  ${r.commit.slice(0, 10)}  ${r.date}\n`);
    }
    return EXIT_OK;
  },
};

export const cleanCommand: Command = {
  name: 'clean',
  summary: 'remove the worktrees (and merged branches) of finished runs, never losing work',
  usage: 'lanes clean [--run RUN…] [--force] [--json]',
  description:
    'Worktrees with uncommitted changes and branches with commits merged nowhere else are kept. ' +
    'With --force they are removed too, after their work is saved to refs/lanes/snapshots/… (listed by "lanes status").',
  options: [
    { name: 'run', type: 'list', valueName: 'RUN', description: 'clean only these runs' },
    { name: 'force', short: 'f', type: 'flag', description: 'also remove unmerged branches and dirty worktrees (after saving them to snapshot refs)' },
    JSON_OPTION,
  ],
  examples: ['lanes clean', 'lanes clean --force', 'lanes clean --run 20261124-101500-ab12'],
  async run(args, io) {
    const session = await openSession(io, 'clean');
    const actions = await session.clean({ force: Boolean(args.options.force), runIds: args.options.run as string[] | undefined });
    if (args.options.json) {
      printJson(io, { actions });
      return EXIT_OK;
    }
    const s = style(io);
    if (!actions.length) io.out('nothing to clean\n');
    for (const a of actions) {
      const mark = a.action === 'removed' ? s.green('removed') : a.action === 'kept' ? s.yellow('kept   ') : s.dim('skipped');
      io.out(`${mark}  ${a.runId}${a.lane ? `/${a.lane}` : ''}: ${a.detail}${a.snapshot ? ` (saved to ${a.snapshot})` : ''}\n`);
    }
    return EXIT_OK;
  },
};

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run a three-lane plan of scripted agents on a throwaway sample repository (offline)',
  usage: 'lanes demo [--dir DIR] [--json]',
  description:
    'Builds a small Node project in a new git repository, runs a plan where "impl" and "docs" run in parallel and "tests" builds on "impl", ' +
    'shows what each lane did and the parallel speedup, then reconciles: the conflict radar, the gated merge queue with the integration check, and the run report.',
  options: [{ name: 'dir', type: 'string', valueName: 'DIR', description: 'where to create the sample (default: a new temp folder)' }, JSON_OPTION],
  examples: ['lanes demo', 'npm run demo'],
  async run(args, io) {
    const json = Boolean(args.options.json);
    const s = style(io);
    const base = args.options.dir ? path.resolve(io.cwd, args.options.dir as string) : realpathSync(mkdtempSync(path.join(os.tmpdir(), 'lanes-demo-')));
    const repo = createSampleRepo(path.join(base, 'sample'));
    if (!json) {
      io.out(`${s.bold('Agent Lanes demo')}: a sample repository at ${repo}\n`);
      io.out(`plan: impl and docs in parallel; tests starts from impl's verified commit and reads its note in the shared memory; when its test exposes a bug in impl, the run loops back\n\n`);
    }
    const code = await runOrResume({ positionals: [], options: { json } }, io, repo, { worktreeRoot: path.join(base, 'worktrees') });
    if (!json) {
      const session = await openSession({ ...io, cwd: repo }, 'demo');
      const state = await session.requireRun();
      for (const lb of state.loopBacks.filter((x) => x.sent && x.by === 'run')) {
        const f = state.findings.find((x) => x.id === lb.finding.split(',')[0]);
        const to = state.lanes.find((l) => l.id === lb.to);
        const from = state.lanes.find((l) => l.id === lb.from);
        io.out(`\n${s.bold('Loop back')}: the test lane found a bug and sent it to the implementer\n`);
        io.out(`  1. ${possessive(lb.from)} test exposed a bug in ${possessive(lb.to)} work; ${possessive(lb.from)} agent raised ${lb.finding} with the failing output (lanes finding add):\n     "${f?.title ?? ''}"\n`);
        io.out(`  2. the run sent ${lb.to} back to its agent with ${lb.finding} as feedback; it fixed its own code (attempt ${to?.attempts.length ?? '?'}: ${to?.status ?? '?'})\n`);
        io.out(`  3. ${lb.from} ran again on top of the fix: ${from?.status === 'passed' ? 'its test passes, unchanged' : from?.status ?? '?'}; ${lb.finding} is ${f?.status ?? '?'}\n`);
      }
      io.out(`\n${s.bold('What each lane did')} (git diff --stat base..head):\n`);
      for (const l of state.lanes) {
        if (!l.head || !l.base) continue;
        const stat = await gitOut(['diff', '--stat', '--stat-width=70', l.base, l.head], { cwd: repo, readOnly: true });
        io.out(`  ${s.bold(l.id)} on ${l.branch}${FINAL_STATUSES.has(l.status) ? ` (${l.status})` : ''}\n${stat.split('\n').map((x) => `    ${x}`).join('\n')}\n`);
      }
      // Then reconcile: radar, gated merge queue with the integration check, report.
      io.out(`\n${s.bold('Reconcile')}: conflict radar, then the gated merge queue onto an integration branch (your checkout is not touched)\n`);
      const { reconcileCommand } = await import('./reconcile');
      const rc = await reconcileCommand.run({ positionals: [], options: {} }, { ...io, cwd: repo });
      if (rc !== EXIT_OK) return rc;
      const self = process.argv[1] && /cli\.(js|ts)$/.test(process.argv[1]) ? `node ${process.argv[1]}` : 'lanes';
      io.out(`\nLook around: cd ${repo} && ${self} status   (worktrees in ${path.join(base, 'worktrees')}; remove the folder ${base} when done)\n`);
      io.out(`Bring the integrated result into the sample's checkout with: ${self} reconcile --apply   (and back with: ${self} undo)\n`);
    }
    return code;
  },
};
