import { promises as fs } from 'node:fs';
import { commonDir } from '../../core/git/git';
import { ApplyRefused, applyToCheckout, ApplyResult, undoApply, UndoRefused } from '../../core/reconcile/apply';
import { MergeQueue, QueueResult } from '../../core/reconcile/queue';
import { discardLane } from '../../core/run/clean';
import { conflictRadar } from '../../core/reconcile/radar';
import { runReport } from '../../core/reconcile/report';
import { Orchestrator } from '../../core/run/orchestrator';
import { listRuns, readState, runPaths, StateError } from '../../core/run/state';
import { validatePlanText } from '../../core/plan/validate';
import { UsageError } from '../args';
import { Command, EXIT_FAILED, EXIT_OK, JSON_OPTION, printJson, style } from '../context';
import { CliFailure, requireRepo } from './plan';

export const reconcileCommand: Command = {
  name: 'reconcile',
  summary: 'check lanes for collisions, then merge them through the gated queue onto an integration branch',
  usage: 'lanes reconcile [RUN] [--lanes A,B] [--no-send-back] [--apply [--conflict-markers]] [--json]',
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
    JSON_OPTION,
  ],
  examples: ['lanes reconcile', 'lanes reconcile --lanes impl,tests', 'lanes reconcile --apply', 'lanes reconcile --json > reconcile.json'],
  async run(args, io) {
    if (args.positionals.length > 1) throw new UsageError('reconcile takes at most one run id');
    const root = await requireRepo(io);
    const common = await commonDir(root);
    const runId = args.positionals[0] ?? (await listRuns(common))[0];
    if (!runId) throw new CliFailure('there is no run to reconcile; start one with "lanes run"');
    let state;
    try {
      state = await readState(common, runId);
    } catch (e) {
      if (e instanceof StateError) throw new CliFailure(e.message);
      throw e;
    }
    const plan = validatePlanText(state.planText).plan;
    if (!plan) throw new CliFailure(`run ${runId}: its recorded plan no longer validates`);
    const wanted = args.options.lanes as string[] | undefined;
    const unknown = (wanted ?? []).filter((id) => !state.lanes.some((l) => l.id === id));
    if (unknown.length) throw new UsageError(`unknown lane(s) ${unknown.join(', ')} in run ${runId}`);
    const json = Boolean(args.options.json);
    const s = style(io);
    const progress = (m: string) => !json && io.err(s.dim(`${m}\n`));

    const lanesWithWork = state.lanes.filter((l) => l.head && l.base && (!wanted || wanted.includes(l.id)));
    const radar = await conflictRadar(root, lanesWithWork.map((l) => ({ id: l.id, base: l.base!, head: l.head! })), { details: true });
    progress(`radar: ${radar.checked} pairs, ${radar.merged} trial-merged, ${radar.pairs.filter((p) => p.kind === 'conflict').length} conflicting`);

    const queue = new MergeQueue({
      repo: root,
      commonDir: common,
      state,
      plan,
      lanes: wanted,
      signal: io.signal,
      onProgress: progress,
      sendBack: args.options['no-send-back']
        ? undefined
        : async (lane, feedback) => {
            const o = await Orchestrator.prepare({ cwd: root, resume: runId, lanes: [lane], feedback: { [lane]: feedback }, env: io.env });
            const after = await o.run();
            return after.lanes.find((l) => l.id === lane)!;
          },
    });
    let result: QueueResult;
    try {
      result = await queue.run();
    } catch (e) {
      throw new CliFailure(`the merge queue stopped: ${(e as Error).message}`);
    }
    const finalState = await readState(common, runId);
    const report = runReport(finalState, plan.goal, radar, result);
    await fs.writeFile(runPaths(common, runId).report, report);
    let applied: ApplyResult | undefined;
    let refused: ApplyRefused | undefined;
    if (args.options.apply) {
      if (!result.merged.length) refused = new ApplyRefused('nothing was integrated, so there is nothing to apply', 'nothingToApply', []);
      else {
        try {
          applied = await applyToCheckout({ repo: root, commonDir: common, base: state.baseCommit, target: result.head, runId, conflictMarkers: Boolean(args.options['conflict-markers']) });
        } catch (e) {
          if (e instanceof ApplyRefused) refused = e;
          else throw e;
        }
      }
    }
    if (json) {
      printJson(io, {
        runId,
        radar: { checked: radar.checked, trialMerged: radar.merged, pairs: radar.pairs },
        queue: result,
        report: runPaths(common, runId).report,
        apply: applied ? { id: applied.id, mode: applied.mode, applied: applied.applied, deleted: applied.deleted, conflicted: applied.conflicted } : undefined,
        applyRefused: refused ? { reason: refused.reason, message: refused.message, files: refused.files } : undefined,
      });
    } else {
      io.out(report + '\n');
      io.out(s.dim(`report written to ${runPaths(common, runId).report}\n`));
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
    const root = await requireRepo(io);
    try {
      const r = await undoApply(root, await commonDir(root), { force: Boolean(args.options.force) });
      if (args.options.json) printJson(io, r);
      else io.out(`${style(io).green('✓')} undid apply ${r.id}: ${r.restored.length} file(s) restored (your state before the undo is saved at ${r.saved})\n`);
      return EXIT_OK;
    } catch (e) {
      if (e instanceof UndoRefused) throw new CliFailure(e.message);
      throw e;
    }
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
    const root = await requireRepo(io);
    const common = await commonDir(root);
    const runId = (args.options.run as string | undefined) ?? (await listRuns(common))[0];
    if (!runId) throw new CliFailure('there is no run');
    try {
      const a = await discardLane({ repo: root, commonDir: common, runId, lane: args.positionals[0]! });
      if (args.options.json) printJson(io, a);
      else io.out(`discarded ${a.runId}/${a.lane}${a.snapshot ? `; saved to ${a.snapshot}` : ''}\n`);
      return EXIT_OK;
    } catch (e) {
      throw new CliFailure((e as Error).message);
    }
  },
};
