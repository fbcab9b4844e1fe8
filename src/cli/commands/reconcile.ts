import { promises as fs } from 'node:fs';
import { PreconditionError } from '../../core/errors';
import { ApplyRefused, ApplyResult } from '../../core/reconcile/apply';
import { UsageError } from '../args';
import { Command, EXIT_FAILED, EXIT_OK, JSON_OPTION, openSession, printJson, style } from '../context';

export const reconcileCommand: Command = {
  name: 'reconcile',
  summary: 'check lanes for collisions, then merge them through the gated queue onto an integration branch',
  usage: 'lanes reconcile [RUN] [--lanes A,B] [--no-send-back] [--apply [--conflict-markers] [--accept-outside-links]] [--json]',
  description:
    'First the conflict radar trial-merges every pair of lanes (nothing is checked out). Then passed lanes are merged one by one, in dependency ' +
    'then plan order, onto lanes-integration/<run>; a lane that conflicts is held back. The plan\'s verify runs on the result; when it fails, ' +
    'the lane whose merge broke it is found by bisecting, taken out, and sent back to its agent with the failure (up to its retries). ' +
    'The report is printed and written to the run\'s folder. Your checkout is not touched unless --apply: then the integrated result is ' +
    'brought into it (staged, HEAD unchanged) after a snapshot of your state; files you changed that the lanes also change, and untracked files ' +
    'a lane would overwrite, are refused with the list. "lanes undo" restores the pre-apply state exactly.',
  options: [
    { name: 'lanes', type: 'list', valueName: 'A,B', description: 'reconcile only these lanes' },
    { name: 'no-send-back', type: 'flag', description: 'hold back a breaking lane instead of re-running it' },
    { name: 'apply', type: 'flag', description: 'bring the integrated result into your checkout (never losing your edits)' },
    { name: 'conflict-markers', type: 'flag', description: 'with --apply: merge files you also changed, leaving conflict markers, instead of refusing' },
    { name: 'accept-outside-links', type: 'flag', description: 'with --apply: also write symlinks that point outside the repository (refused otherwise)' },
    JSON_OPTION,
  ],
  examples: ['lanes reconcile', 'lanes reconcile --lanes impl,tests', 'lanes reconcile --apply', 'lanes reconcile --json > reconcile.json'],
  async run(args, io) {
    if (args.positionals.length > 1) throw new UsageError('reconcile takes at most one run id');
    const session = await openSession(io, args.options.apply ? 'reconcile --apply' : 'reconcile');
    const state = await session.requireRun(args.positionals[0]);
    const runId = state.runId;
    const wanted = args.options.lanes as string[] | undefined;
    const unknown = (wanted ?? []).filter((id) => !state.lanes.some((l) => l.id === id));
    if (unknown.length) throw new UsageError(`unknown lane(s) ${unknown.join(', ')} in run ${runId}`);
    const json = Boolean(args.options.json);
    const s = style(io);
    const progress = (m: string) => !json && io.err(s.dim(`${m}\n`));

    const radar = await session.radar(runId, { lanes: wanted, details: true });
    progress(`radar: ${radar.checked} pairs, ${radar.merged} trial-merged, ${radar.pairs.filter((p) => p.kind === 'conflict').length} conflicting`);
    const result = await session.mergeQueue(runId, { lanes: wanted, sendBack: !args.options['no-send-back'], signal: io.signal, onProgress: progress });
    const reportFile = session.store.paths(runId).report;
    const report = await fs.readFile(reportFile, 'utf8');
    let applied: ApplyResult | undefined;
    let refused: { reason: string; message: string; files: string[] } | undefined;
    if (args.options.apply) {
      try {
        applied = await session.apply(runId, { kind: 'integration' }, { conflictMarkers: Boolean(args.options['conflict-markers']), acceptOutsideLinks: Boolean(args.options['accept-outside-links']) });
      } catch (e) {
        if (e instanceof ApplyRefused) refused = { reason: e.reason, message: e.message, files: e.files };
        else if (e instanceof PreconditionError) refused = { reason: 'nothingToApply', message: e.message, files: [] };
        else throw e;
      }
    }
    if (json) {
      printJson(io, {
        runId,
        radar: { checked: radar.checked, trialMerged: radar.merged, pairs: radar.pairs, outsideLinks: radar.outsideLinks },
        queue: result,
        report: reportFile,
        apply: applied ? { id: applied.id, mode: applied.mode, applied: applied.applied, deleted: applied.deleted, conflicted: applied.conflicted } : undefined,
        applyRefused: refused,
      });
    } else {
      io.out(report + '\n');
      io.out(s.dim(`report written to ${reportFile}\n`));
      if (result.passed) io.out(`${s.green('✓')} integrated ${result.merged.join(', ')} on ${result.branch}\n`);
      if (applied) {
        io.out(`${s.green('✓')} applied to your checkout (${applied.mode}): ${applied.applied.length} file(s) written, ${applied.deleted.length} deleted${applied.conflicted.length ? `, conflict markers in ${applied.conflicted.join(', ')}` : ''}; the changes are staged. Undo with "lanes undo".\n`);
      }
      if (refused) io.err(s.red(`✗ not applied: ${refused.message}\n`));
    }
    return result.passed && result.held.length === 0 && !refused ? EXIT_OK : EXIT_FAILED;
  },
};

export const undoCommand: Command = {
  name: 'undo',
  summary: 'undo the last apply: your checkout exactly as it was before',
  usage: 'lanes undo [--force] [--json]',
  description: 'Puts every file the last "lanes reconcile --apply" touched back as the snapshot taken before it has it (working tree and index). Files edited since the apply are refused unless --force; their current state is saved to a ref first.',
  options: [{ name: 'force', short: 'f', type: 'flag', description: 'undo files edited since the apply too (saved first)' }, JSON_OPTION],
  examples: ['lanes undo'],
  async run(args, io) {
    const session = await openSession(io, 'undo');
    const r = await session.undo({ force: Boolean(args.options.force) });
    if (args.options.json) printJson(io, r);
    else io.out(`${style(io).green('✓')} undid apply ${r.id}: ${r.restored.length} file(s) restored (your state before the undo is saved at ${r.saved})\n`);
    return EXIT_OK;
  },
};

export const discardCommand: Command = {
  name: 'discard',
  summary: "throw away a lane's work (saved to a snapshot ref first)",
  usage: 'lanes discard LANE [--run RUN] [--json]',
  options: [{ name: 'run', type: 'string', valueName: 'RUN', description: 'the run (default: the latest)' }, JSON_OPTION],
  examples: ['lanes discard docs'],
  async run(args, io) {
    if (args.positionals.length !== 1) throw new UsageError('discard takes one lane id');
    const session = await openSession(io, 'discard');
    const state = await session.requireRun(args.options.run as string | undefined);
    const a = await session.discard(state.runId, args.positionals[0]!);
    if (args.options.json) printJson(io, a);
    else io.out(`discarded ${a.runId}/${a.lane}${a.snapshot ? `; saved to ${a.snapshot}` : ''}\n`);
    return EXIT_OK;
  },
};
