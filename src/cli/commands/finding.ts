import { promises as fs } from 'node:fs';
import { describeFinding, type FindingRecord } from '../../core/run/findings';
import { LanesSession } from '../../core/session/session';
import { describeOwner } from '../../core/util/ownerLock';
import { UsageError } from '../args';
import { Command, EXIT_FAILED, EXIT_OK, Io, JSON_OPTION, printJson, style } from '../context';

const ICON: Record<FindingRecord['status'], string> = { open: '●', sent: '↺', addressed: '✓', dismissed: '⊘' };

function findingLines(io: Io, findings: readonly FindingRecord[]): string {
  const s = style(io);
  if (!findings.length) return 'No findings in this run.\n';
  const out: string[] = [];
  for (const f of findings) {
    const colour = f.status === 'addressed' ? s.green : f.status === 'dismissed' ? s.dim : f.blocking ? s.red : s.yellow;
    out.push(`${colour(`${ICON[f.status]} ${f.id}`)} ${f.from} → ${f.to}  ${f.kind}${f.blocking ? ', blocking' : ''}${f.source === 'merge-queue' ? ' (merge queue)' : ''}  ${colour(f.status)}`);
    out.push(`    ${f.title}`);
    if (f.details) out.push(...f.details.split('\n').slice(0, 6).map((l) => `    ${s.dim(l)}`));
    if (f.evidence?.command) out.push(`    ${s.dim(`reproduce: ${f.evidence.command}`)}`);
    if (f.evidence?.files?.length) out.push(`    ${s.dim(`where: ${f.evidence.files.join(', ')}`)}`);
    if (f.note) out.push(`    ${s.dim(f.note)}`);
  }
  return out.join('\n') + '\n';
}

/** A session whose runs (a finding sent back resumes the run) print their lanes' progress. */
function sessionFor(io: Io, command: string): Promise<LanesSession> {
  let told = false;
  return LanesSession.open({
    cwd: io.cwd,
    face: `lanes finding ${command}`,
    runDefaults: () => ({ env: io.env }),
    onWait: (what, owner) => {
      if (told) return;
      told = true;
      io.err(style(io).dim(`lanes: waiting for ${describeOwner(owner)} to finish before the ${what}…\n`));
    },
    onRunStarted: (o) => {
      const onAbort = () => o.cancel();
      io.signal?.addEventListener('abort', onAbort, { once: true });
      o.onEvent((e) => {
        if (e.type === 'lane-status') io.err(style(io).dim(`[${new Date().toISOString().slice(11, 19)}] ${e.lane.padEnd(12)} ${e.status.padEnd(10)} ${(e.reason ?? '').split('\n')[0]}\n`));
        if (e.type === 'run-finished') io.signal?.removeEventListener('abort', onAbort);
      });
    },
  });
}

export const findingCommand: Command = {
  name: 'finding',
  summary: "list the findings lanes raised about each other; send one back to its lane's agent, or dismiss it",
  usage: 'lanes finding list [--run RUN] [--json]\n       lanes finding send ID [--run RUN] [--message TEXT | --message-file FILE]\n       lanes finding dismiss ID [--run RUN] [--reason TEXT]',
  description:
    'A finding is what one lane found wrong in another lane\'s work (a test lane\'s failing test, a review\'s requested change), with its evidence. ' +
    'A blocking finding for a lane it builds on sends that lane back automatically during the run (within its retries and the plan\'s loopBack limits); ' +
    'one left open holds its lane in the merge queue. "send" re-runs the lane it is for with it as feedback (your own text with --message), and the ' +
    'finder on top when it builds on that lane; "dismiss" sets it aside (the merge queue then integrates the lane). Inside a lane, agents raise ' +
    'findings with "lanes finding add --to LANE --title TEXT …" (see the brief).',
  options: [
    { name: 'run', type: 'string', valueName: 'RUN', description: 'the run (default: the latest)' },
    { name: 'message', short: 'm', type: 'string', valueName: 'TEXT', description: 'send: the feedback to send instead of the finding\'s own details (edit it first)' },
    { name: 'message-file', type: 'string', valueName: 'FILE', description: 'send: read that feedback from FILE' },
    { name: 'reason', type: 'string', valueName: 'TEXT', description: 'dismiss: why (kept with the decision)' },
    JSON_OPTION,
  ],
  examples: ['lanes finding list', 'lanes finding send F2', 'lanes finding send F2 --message "range(0) must return []; keep the signature"', 'lanes finding dismiss F3 --reason "tracked in #41"'],
  async run(args, io) {
    const [sub, id, ...extra] = args.positionals;
    if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
    if (sub === 'add' || sub === 'approve' || sub === 'request-changes') {
      throw new UsageError(`"finding ${sub}" is for agents inside a lane (the lane's own "lanes" command, first on its PATH, records it); from outside a lane, use list, send or dismiss`);
    }
    if (sub !== 'list' && sub !== 'send' && sub !== 'dismiss') throw new UsageError(sub ? `unknown subcommand "${sub}": use list, send or dismiss` : 'say what to do: list, send or dismiss');
    if (sub === 'list' && id) throw new UsageError('list takes no finding id');
    if (sub !== 'list' && !id) throw new UsageError(`say which finding to ${sub}: lanes finding ${sub} F1`);
    const json = Boolean(args.options.json);
    const session = await sessionFor(io, sub);
    const state = await session.requireRun(args.options.run as string | undefined);
    if (sub === 'list') {
      const findings = await session.findings(state.runId);
      if (json) printJson(io, { runId: state.runId, findings, loopBacks: state.loopBacks });
      else io.out(`run ${state.runId}\n${findingLines(io, findings)}`);
      return EXIT_OK;
    }
    if (sub === 'dismiss') {
      const f = await session.dismissFinding(state.runId, id!, args.options.reason as string | undefined);
      if (json) printJson(io, f);
      else io.out(`${describeFinding(f)}\n`);
      return EXIT_OK;
    }
    let text = args.options.message as string | undefined;
    if (args.options['message-file']) {
      if (text) throw new UsageError('give --message or --message-file, not both');
      text = await fs.readFile(args.options['message-file'] as string, 'utf8');
    }
    const { finding, state: after } = await session.sendFinding(state.runId, id!, text);
    if (json) printJson(io, { finding, lanes: after.lanes.map((l) => ({ id: l.id, status: l.status, reason: l.reason })) });
    else {
      io.out(`${describeFinding(finding)}\n`);
      for (const l of after.lanes.filter((x) => x.id === finding.to || x.id === finding.from)) io.out(`  ${l.id}: ${l.status}${l.reason ? ` (${l.reason.split('\n')[0]})` : ''}\n`);
    }
    return after.lanes.find((l) => l.id === finding.to)?.status === 'passed' ? EXIT_OK : EXIT_FAILED;
  },
};
