import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { Node } from '../../../src/extension/tree';
import { api, folder, waitFor, workspaceDir } from './util';

describe('Restricted Mode', () => {
  it('activates, shows the plan read-only, and runs nothing: no agents, no verify, no git', async () => {
    assert.strictEqual(vscode.workspace.isTrusted, false);
    const a = await api();
    const f = await folder();
    assert.ok(f.plan?.ok);
    const roots = (await a.tree.getChildren()) as Node[];
    assert.deepStrictEqual(roots.filter((n) => n.kind === 'lane').map((n) => (n.kind === 'lane' ? n.lane.id : '')), ['impl', 'tests', 'clash', 'stuck']);
    // The command handlers check trust themselves (not just a when clause).
    for (const id of ['agentLanes.runPlan', 'agentLanes.resumeRun', 'agentLanes.cleanUp']) {
      assert.strictEqual(await vscode.commands.executeCommand(id, f.folder.uri), undefined, id);
    }
    // Findings are shown, but nobody sends one back or dismisses one here.
    for (const id of ['agentLanes.sendFindingBack', 'agentLanes.editAndSendFinding', 'agentLanes.dismissFinding']) {
      assert.strictEqual(await vscode.commands.executeCommand(id, { folder: f.root, runId: 'any', id: 'F1' }, 'text'), undefined, id);
    }
    await assert.rejects(a.runs.start(f), /Restricted Mode/);
    assert.strictEqual(fs.existsSync(path.join(workspaceDir(), '.git', 'lanes')), false, 'no run was created');
  });

  it('shows the Queue view as one row asking for trust, and reads nothing (the queue lives in git)', async () => {
    const a = await api();
    const f = await folder();
    await a.queue.ready;
    assert.deepStrictEqual(a.queue.folders().map((x) => x.root), [f.root], 'the queue file is found without git');
    await vscode.commands.executeCommand('agentLanes.queue.focus');
    await waitFor('the Queue view to show', () => a.queueView.visible);
    assert.strictEqual(a.queue.polling, false);
    const rows = a.queue.getChildren().map((n) => a.queue.getTreeItem(n));
    assert.deepStrictEqual(rows.map((r) => [r.label, r.command?.command]), [['Trust the workspace to see the queue', 'workbench.trust.manage']]);
    assert.strictEqual(await vscode.commands.executeCommand('agentLanes.startQueue', 1), undefined);
    assert.strictEqual(await vscode.commands.executeCommand('agentLanes.stopQueue', f.folder.uri, 'now'), undefined);
    await vscode.commands.executeCommand('agentLanes.refreshQueue');
    assert.strictEqual(vscode.tasks.taskExecutions.length, 0, 'no queue task');
    assert.strictEqual(fs.existsSync(path.join(workspaceDir(), '.git', 'refs', 'lanes')), false, 'no ref fetched or written');
  });
});
