import { promises as fs } from 'node:fs';
import { commonDir } from '../../core/git/git';
import { MergeQueue, QueueResult } from '../../core/reconcile/queue';
import { conflictRadar } from '../../core/reconcile/radar';
import { runReport } from '../../core/reconcile/report';
import { Orchestrator } from '../../core/run/engine';
import { listRuns, readState, runPaths, StateError } from '../../core/run/state';
import { validatePlanText } from '../../core/plan/validate';
import { UsageError } from '../args';
import { Command, EXIT_FAILED, EXIT_OK, JSON_OPTION, printJson, style } from '../context';
import { CliFailure, requireRepo } from './plan';

export const reconcileCommand: Command = {
  name: 'reconcile',
  summary: 'check lanes for collisions, then merge them through the gated queue onto an integration branch',
  usage: 'lanes reconcile [RUN] [--lanes A,B] [--no-send-back] [--json]',
  description:
    'First the conflict radar trial-merges every pair of lanes (nothing is checked out). Then passed lanes are merged one by one, in dependency ' +
    'then plan order, onto lanes-integration/<run>; a lane that conflicts is held back. The plan\'s verify runs on the result; when it fails, ' +
    'the lane whose merge broke it is found by bisecting, taken out, and sent back to its agent with the failure (up to its retries). ' +
    'The report is printed and written to the run\'s folder. Your checkout is not touched.',
  options: [
    { name: 'lanes', type: 'list', valueName: 'A,B', description: 'reconcile only these lanes' },
    { name: 'no-send-back', type: 'flag', description: 'hold back a breaking lane instead of re-running it' },
    JSON_OPTION,
  ],
  examples: ['lanes reconcile', 'lanes reconcile --lanes impl,tests', 'lanes reconcile --json > reconcile.json'],
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
    const radar = await conflictRadar(root, lanesWithWork.map((l) => ({ id: l.id, base: l.base!, head: l.head! })));
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
    if (json) {
      printJson(io, { runId, radar: { checked: radar.checked, trialMerged: radar.merged, pairs: radar.pairs }, queue: result, report: runPaths(common, runId).report });
    } else {
      io.out(report + '\n');
      io.out(s.dim(`report written to ${runPaths(common, runId).report}\n`));
      if (result.passed) io.out(`${s.green('✓')} integrated ${result.merged.join(', ')} on ${result.branch}\n`);
    }
    return result.passed && result.held.length === 0 ? EXIT_OK : EXIT_FAILED;
  },
};
