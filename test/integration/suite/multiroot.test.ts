import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { Node } from '../../../src/extension/tree';
import { api, waitFor } from './util';

describe('multi-root workspaces', () => {
  it('gives every git folder its own plan, tree node, tasks and runs', async () => {
    const a = await api();
    assert.strictEqual(vscode.workspace.workspaceFolders?.length, 2);
    const folders = a.model.all();
    assert.deepStrictEqual(folders.map((f) => f.name).sort(), ['alpha', 'beta']);
    assert.ok(folders.every((f) => f.plan?.ok));
    const roots = (await a.tree.getChildren()) as Node[];
    assert.deepStrictEqual(roots.map((n) => (n.kind === 'folder' ? n.folder.name : n.kind)).sort(), ['alpha', 'beta']);
    // Each folder's queue under a row of its own in the Queue view.
    await a.queue.ready;
    assert.deepStrictEqual(a.queue.currentRows().map((r) => [r.label, r.contextValue]), [
      ['alpha', 'queue:folder'],
      ['beta', 'queue:folder'],
    ]);
    const tasks = await vscode.tasks.fetchTasks({ type: 'agentLane' });
    const byFolder = (name: string) => tasks.filter((t) => (t.scope as vscode.WorkspaceFolder).name === name).map((t) => t.definition.lane).sort();
    assert.deepStrictEqual(byFolder('alpha'), ['clash', 'impl', 'stuck', 'tests']);
    assert.deepStrictEqual(byFolder('beta'), ['clash', 'impl', 'stuck', 'tests']);

    // Run a lane in beta only: its run lives in beta's repository, alpha has none.
    const beta = folders.find((f) => f.name === 'beta')!;
    const alpha = folders.find((f) => f.name === 'alpha')!;
    const task = tasks.find((t) => (t.scope as vscode.WorkspaceFolder).name === 'beta' && t.definition.lane === 'impl')!;
    const ended = new Promise<number | undefined>((resolve) => {
      const sub = vscode.tasks.onDidEndTaskProcess((e) => {
        if (e.execution.task.definition.lane === 'impl') {
          sub.dispose();
          resolve(e.exitCode);
        }
      });
    });
    await vscode.tasks.executeTask(task);
    assert.strictEqual(await ended, 0);
    await waitFor('beta\'s run to finish', () => !beta.live && beta.run?.lanes[0]?.status === 'passed');
    assert.ok(fs.existsSync(path.join(beta.commonDir, 'lanes', 'runs', beta.run!.runId, 'state.json')));
    assert.strictEqual(alpha.run, undefined);
    assert.strictEqual(fs.existsSync(path.join(alpha.commonDir, 'lanes')), false);
  });
});
