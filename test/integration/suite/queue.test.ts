import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { QueueStore } from '../../../src/core/queue/store';
import { walkRows, type QueueRow } from '../../../src/extension/queueView';
import { api, folder, screenshot, waitFor, workspaceDir } from './util';

/**
 * The fixture's queue (fixture.mjs): three failing node tests under q/, two of them with one
 * shared cause, a scripted agent that fixes its task's module, and `<base>/queue-hang`, which
 * makes the agent hang instead. The queue lives in the workspace repository itself.
 */
const hangFile = () => path.join(path.dirname(workspaceDir()), 'queue-hang');

async function rows(): Promise<QueueRow[]> {
  return [...(await api()).queue.currentRows()];
}

async function row(suffix: string): Promise<QueueRow | undefined> {
  const f = await folder();
  return [...walkRows(await rows())].find((x) => x.row.id === `queue:${f.root}:${suffix}`)?.row;
}

function endOf(execution: vscode.TaskExecution): Promise<number | undefined> {
  return new Promise((resolve) => {
    const sub = vscode.tasks.onDidEndTaskProcess((e) => {
      if (e.execution === execution || e.execution.task.definition.type === 'agentLanesQueue') {
        sub.dispose();
        resolve(e.exitCode);
      }
    });
  });
}

const snapshotNow = async () => {
  const f = await folder();
  return new QueueStore(f.root, f.root).read();
};

/** A worker has written its brief: its agent is starting. */
function briefWritten(commonDir: string): boolean {
  const workers = path.join(commonDir, 'lanes', 'queue', 'workers');
  if (!fs.existsSync(workers)) return false;
  return fs.readdirSync(workers).some((w) => {
    const dir = path.join(workers, w, '.lanes-briefs');
    return fs.existsSync(dir) && fs.readdirSync(dir).some((x) => x.endsWith('.md'));
  });
}

describe('the Queue view', function () {
  this.timeout(180000);

  it('shows when the folder has a queue file, offers to start it, and reads git only while visible', async () => {
    const a = await api();
    const f = await folder();
    await a.queue.ready;
    assert.deepStrictEqual(a.queue.folders().map((x) => x.root), [f.root]);
    await vscode.commands.executeCommand('workbench.view.explorer');
    await waitFor('polling to stop while the view is hidden', () => !a.queue.polling);
    await vscode.commands.executeCommand('agentLanes.queue.focus');
    await waitFor('the view to show', () => a.queueView.visible);
    assert.ok(a.queue.polling);
    const start = await waitFor('the start row', async () => (await rows()).find((r) => r.id === `queue:${f.root}:notStarted`));
    assert.strictEqual(start.label, 'The queue has not started: Start Queue…');
    assert.strictEqual(start.command?.command, 'agentLanes.startQueue');
  });

  it('Stop Queue "Now" ends the queue started here: its worker ends its agent and hands the task back untouched (no try counted)', async () => {
    const a = await api();
    const f = await folder();
    fs.writeFileSync(hangFile(), '');
    try {
      const execution = await vscode.commands.executeCommand<vscode.TaskExecution>('agentLanes.startQueue', 1);
      assert.ok(execution, 'a task started');
      assert.strictEqual(execution.task.definition.type, 'agentLanesQueue');
      assert.strictEqual(execution.task.definition.workers, 1);
      const ended = endOf(execution);
      await waitFor('the worker to start its agent', () => briefWritten(f.commonDir), 90000);
      await waitFor('the view to show the claim', async () => (await row('group:claimed'))?.description === '1', 30000);
      assert.strictEqual(await vscode.commands.executeCommand('agentLanes.stopQueue', f.folder.uri, 'now'), 'now');
      await ended;
      const s = await snapshotNow();
      assert.strictEqual(s.stop, true, 'the stop is in the claims ref');
      assert.deepStrictEqual([...s.workers.values()].map((w) => w.state), ['stopped'], 'the worker said it stopped');
      assert.strictEqual(s.locks.size, 0, 'its claim was handed back');
      assert.strictEqual(s.done.size, 0);
      assert.strictEqual(s.notes.size, 0, 'a person stopping it is not a failed try: no note, no round');
      await vscode.commands.executeCommand('agentLanes.refreshQueue');
      assert.strictEqual((await row('summary'))?.label, '0/3 done');
      assert.strictEqual((await row('summary'))?.description, '3 open · 0 claimed · 0 failed · stopping');
      assert.strictEqual((await row('summary'))?.contextValue, 'queue:summary:stopping');
      assert.strictEqual(a.queueTasks.running(f), undefined);
    } finally {
      fs.rmSync(hangFile(), { force: true });
    }
  });

  it('Start Queue runs the queue in a terminal until every task is done; the view shows each task and how it ended', async () => {
    const a = await api();
    const f = await folder();
    const execution = await vscode.commands.executeCommand<vscode.TaskExecution>('agentLanes.startQueue', 1);
    assert.ok(execution);
    assert.ok(a.queueTasks.running(f), 'running');
    // A second start while it runs starts nothing more.
    assert.strictEqual(await vscode.commands.executeCommand('agentLanes.startQueue', 1), execution);
    assert.strictEqual(await endOf(execution), 0, 'lanes queue start exits 0: every task done');
    await waitFor('the view to show every task done', async () => (await row('summary'))?.label === '3/3 done', 30000);
    const summary = (await row('summary'))!;
    assert.strictEqual(summary.contextValue, 'queue:summary', 'starting took the stop back');
    assert.match(String(summary.description), /^0 open · 0 claimed · 0 failed( · [\d.]+ tasks\/h)?$/);
    const done = (await row('group:done'))!;
    assert.strictEqual(done.description, '3');
    const descriptions = done.children!.map((c) => String(c.description)).sort();
    assert.strictEqual(descriptions.filter((d) => /^integrated at [0-9a-f]{10} · by /.test(d)).length, 2, descriptions.join('\n'));
    assert.strictEqual(descriptions.filter((d) => /^closed by re-check \(passes at [0-9a-f]{10}\) · by /.test(d)).length, 1, descriptions.join('\n'));
    const names = done.children!.map((c) => c.label).sort();
    assert.deepStrictEqual(names, ['double doubles', 'shared a adds', 'shared b adds']);
    const integrated = done.children!.find((c) => c.contextValue === 'queue:task:done:integrated')!;
    assert.ok(integrated.tooltip?.some((p) => p.title === 'Brief' && /Make this failing test pass/.test(p.text)));
    // The worker's last word ("stopped") lands after the last task's record: a poll may fall between.
    await waitFor('the worker to say it stopped', async () => {
      await vscode.commands.executeCommand('agentLanes.refreshQueue');
      return /^stopped · 3 done/.test(String((await row('workers'))?.children?.[0]?.description));
    }, 30000);
    const workers = (await row('workers'))!;
    assert.strictEqual(workers.children!.length, 1);
    assert.strictEqual(workers.children![0]!.contextValue, 'queue:worker:stopped');
    // Workers fix the integration branch in clones of their own: the user's checkout is untouched.
    assert.strictEqual(fs.readFileSync(path.join(workspaceDir(), 'q/lib/double.js'), 'utf8'), 'module.exports.double = (x) => x * 3;\n');
    // The tree shows the same rows.
    const top = a.queue.getChildren();
    assert.deepStrictEqual(top.map((n) => a.queue.getTreeItem(n).label), ['3/3 done', 'Workers', 'Tasks']);
    const doneNode = a.queue.getChildren(a.queue.getChildren(top[2])[2]!);
    assert.strictEqual(doneNode.length, 3);
    await a.queueView.reveal(doneNode[0]!, { select: true, expand: true });
    await screenshot('queue-view');
  });

  it('Stop Queue (after current tasks) writes the stop into the queue\'s ref', async () => {
    const f = await folder();
    assert.strictEqual((await snapshotNow()).stop, false);
    assert.strictEqual(await vscode.commands.executeCommand('agentLanes.stopQueue', f.folder.uri, 'after'), 'after');
    assert.strictEqual((await snapshotNow()).stop, true);
    assert.strictEqual((await row('summary'))?.contextValue, 'queue:summary:stopping');
  });
});
