import * as assert from 'assert';
import * as vscode from 'vscode';
import type { Node } from '../../../src/extension/tree';
import { api, folder } from './util';

describe('activation and the Plan view', () => {
  it('activates in a trusted workspace and finds the git folder and its plan', async () => {
    const a = await api();
    assert.strictEqual(vscode.workspace.isTrusted, true);
    const f = await folder();
    assert.ok(f.plan?.ok, JSON.stringify(f.plan?.errors));
    assert.deepStrictEqual(f.plan!.plan!.lanes.map((l) => l.id), ['impl', 'tests', 'clash', 'stuck']);
    assert.ok(a.tree);
  });

  it('shows the goal, then each lane with its role and dependencies', async () => {
    const a = await api();
    const roots = (await a.tree.getChildren()) as Node[];
    assert.strictEqual(roots[0]!.kind, 'goal');
    assert.strictEqual(a.tree.getTreeItem(roots[0]!).label, 'Add b, with tests');
    const lanes = roots.filter((n) => n.kind === 'lane');
    const items = lanes.map((n) => a.tree.getTreeItem(n));
    assert.deepStrictEqual(items.map((i) => i.label), ['impl', 'tests', 'clash', 'stuck']);
    assert.match(String(items[1]!.description), /^test/);
    assert.strictEqual(items[0]!.contextValue, 'lane:idle');
    const children = (await a.tree.getChildren(lanes[1])) as Node[];
    assert.ok(children.some((c) => c.kind === 'info' && c.label === 'depends on impl'));
  });

  it('contributes the commands', async () => {
    const all = await vscode.commands.getCommands(true);
    for (const id of ['agentLanes.runPlan', 'agentLanes.runLane', 'agentLanes.stopLane', 'agentLanes.newPlanFromTemplate', 'agentLanes.cleanUp']) assert.ok(all.includes(id), id);
  });
});
