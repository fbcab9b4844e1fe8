import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { Node } from '../../../src/extension/tree';
import { alive, api, folder, screenshot, waitFor, workspaceDir } from './util';

function endOf(execution: vscode.TaskExecution): Promise<number | undefined> {
  return new Promise((resolve) => {
    // onDidEndTaskProcess can fire twice when a terminal is reused: settle on the first.
    const sub = vscode.tasks.onDidEndTaskProcess((e) => {
      if (e.execution === execution || e.execution.task.definition.lane === execution.task.definition.lane) {
        sub.dispose();
        resolve(e.exitCode);
      }
    });
  });
}

describe('lanes as tasks', () => {
  it('provides one agentLane task per lane', async () => {
    const tasks = await vscode.tasks.fetchTasks({ type: 'agentLane' });
    assert.deepStrictEqual(tasks.map((t) => t.definition.lane).sort(), ['clash', 'impl', 'stuck', 'tests']);
    assert.ok(tasks.every((t) => t.execution instanceof vscode.CustomExecution));
    assert.strictEqual(tasks[0]!.source, 'Agent Lanes');
  });

  it('runs a two-lane plan through the task provider and watches the statuses change to passed', async () => {
    const f = await folder();
    const task = (await vscode.tasks.fetchTasks({ type: 'agentLane' })).find((t) => t.definition.lane === 'tests')!;
    const seen = new Set<string>();
    const a = await api();
    const sub = a.model.onDidChange(() => {
      for (const l of f.run?.lanes ?? []) seen.add(`${l.id}:${l.status}`);
    });
    const execution = await vscode.tasks.executeTask(task);
    const code = await endOf(execution);
    sub.dispose();
    assert.strictEqual(code, 0);
    await waitFor('the run to finish', () => !f.live && f.run?.lanes.every((l) => l.status === 'passed'));
    assert.deepStrictEqual(f.run!.lanes.map((l) => [l.id, l.status]), [
      ['impl', 'passed'],
      ['tests', 'passed'],
    ]);
    for (const s of ['impl:running', 'impl:passed', 'tests:blocked', 'tests:running', 'tests:passed']) assert.ok(seen.has(s), `saw ${s}: ${[...seen].join(', ')}`);
    // The lanes ran in their own worktrees: the user's folder is untouched.
    assert.strictEqual(fs.existsSync(path.join(workspaceDir(), 'src/b.txt')), false);
    assert.ok(fs.existsSync(path.join(f.run!.lanes[0]!.worktree, 'src/b.txt')));
    // The tree shows the result and the files each lane changed.
    const roots = (await a.tree.getChildren()) as Node[];
    const impl = roots.find((n) => n.kind === 'lane' && n.lane.id === 'impl')!;
    assert.match(String(a.tree.getTreeItem(impl).contextValue), /^lane:passed:changed$/);
    const files = ((await a.tree.getChildren(impl)) as Node[]).filter((n) => n.kind === 'file');
    assert.deepStrictEqual(files.map((n) => (n.kind === 'file' ? n.change.path : '')), ['src/a.txt', 'src/b.txt']);
    // Clicking a file opens a diff against the base through the read-only lane scheme.
    const item = a.tree.getTreeItem(files[1]!);
    await vscode.commands.executeCommand(item.command!.command, ...(item.command!.arguments ?? []));
    await waitFor('the diff editor', () => vscode.window.tabGroups.activeTabGroup.activeTab?.input instanceof vscode.TabInputTextDiff);
    const input = vscode.window.tabGroups.activeTabGroup.activeTab!.input as vscode.TabInputTextDiff;
    assert.strictEqual((await vscode.workspace.openTextDocument(input.modified)).getText(), 'b\n');
    await vscode.commands.executeCommand('agentLanes.plan.focus');
    await screenshot('sidebar-finished-run');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('cancels the lane, with its whole process tree, when its task is stopped', async () => {
    const f = await folder();
    const pids = path.join(workspaceDir(), '..', 'stuck.pids');
    const task = (await vscode.tasks.fetchTasks({ type: 'agentLane' })).find((t) => t.definition.lane === 'stuck')!;
    const execution = await vscode.tasks.executeTask(task);
    await waitFor('the stuck agent to start', () => fs.existsSync(pids));
    const [agentPid, childPid] = fs.readFileSync(pids, 'utf8').split(' ').map(Number);
    const ended = endOf(execution);
    execution.terminate();
    await ended;
    await waitFor('the lane to be cancelled', () => f.run?.lanes.find((l) => l.id === 'stuck')?.status === 'cancelled');
    await waitFor('the agent and its child to die', () => !alive(agentPid!) && !alive(childPid!), 10000);
  });

  it('Run Plan starts every lane as a task, following the graph, and Stop Run stops them all', async () => {
    const f = await folder();
    const lanesSeen = new Set<string>();
    const sub = vscode.tasks.onDidStartTask((e) => e.execution.task.definition.type === 'agentLane' && lanesSeen.add(e.execution.task.definition.lane));
    const runId = await vscode.commands.executeCommand<string>('agentLanes.runPlan', f.folder.uri);
    assert.ok(runId, `a run started (live: ${JSON.stringify(f.live?.state.lanes.map((l) => [l.id, l.status, l.reason]))}; plan ok: ${f.plan?.ok})`);
    await waitFor('impl, tests and clash to pass while stuck runs', () => {
      const st = Object.fromEntries((f.run?.lanes ?? []).map((l) => [l.id, l.status]));
      return st.impl === 'passed' && st.tests === 'passed' && st.clash === 'passed' && st.stuck === 'running';
    }, 45000);
    assert.deepStrictEqual([...lanesSeen].sort(), ['clash', 'impl', 'stuck', 'tests']);
    await vscode.commands.executeCommand('agentLanes.stopRun', f.folder.uri);
    await waitFor('the run to end', () => !f.live, 20000);
    assert.strictEqual(f.run!.lanes.find((l) => l.id === 'stuck')!.status, 'cancelled');
    sub.dispose();
  });

  it('a lane run or retried while a run works joins that run (no refusal), and runs to its end', async () => {
    const a = await api();
    const f = await folder();
    const pids = path.join(workspaceDir(), '..', 'stuck.pids');
    fs.rmSync(pids, { force: true });
    const o = (await a.runs.start(f, { lanes: ['stuck'] }))!;
    await waitFor('the stuck agent to start', () => fs.existsSync(pids), 30000);
    // clash is not in this run: Run Lane makes it join; then Retry runs it again in the same run.
    await vscode.commands.executeCommand('agentLanes.runLane', { folder: f.root, lane: 'clash' });
    await waitFor('clash to join and pass', () => o.state.lanes.find((l) => l.id === 'clash')?.status === 'passed', 30000);
    await vscode.commands.executeCommand('agentLanes.retryLane', { folder: f.root, lane: 'clash' });
    await waitFor('clash to pass again in the same run', () => {
      const l = o.state.lanes.find((x) => x.id === 'clash')!;
      return l.status === 'passed' && l.attempts.length === 2;
    }, 30000);
    assert.strictEqual(f.live?.runId, o.runId, 'still the one run');
    await vscode.commands.executeCommand('agentLanes.stopRun', f.folder.uri);
    await waitFor('the run to end', () => !f.live, 20000);
  });

  it('the tree lists every run under Runs (goal, time, how it ended); a row opens that run in the reconcile panel', async () => {
    const a = await api();
    const f = await folder();
    const roots = (await a.tree.getChildren()) as Node[];
    const runsNode = roots.find((n) => n.kind === 'runs')!;
    assert.ok(runsNode, roots.map((n) => n.kind).join(', '));
    const runs = (await a.tree.getChildren(runsNode)) as Node[];
    const ids = (await f.session.store.list());
    assert.deepStrictEqual(runs.map((n) => (n.kind === 'run' ? n.runId : '')), ids, 'every run, newest first');
    const oldest = runs[runs.length - 1]!;
    await vscode.commands.executeCommand('agentLanes.plan.focus');
    await a.view.reveal(oldest, { expand: true, select: true });
    await screenshot('run-history');
    const item = a.tree.getTreeItem(oldest);
    assert.strictEqual(item.label, 'Add b, with tests');
    assert.match(String(item.description), /passed|failed|cancelled/);
    const panel = await vscode.commands.executeCommand<{ state: { runId: string }; panel: vscode.WebviewPanel }>(item.command!.command, ...(item.command!.arguments ?? []));
    assert.strictEqual(panel.state.runId, ids[ids.length - 1], 'the panel shows that run, not the latest');
    panel.panel.dispose();
  });
});
