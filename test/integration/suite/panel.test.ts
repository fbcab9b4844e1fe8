import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { api, folder, screenshot, waitFor, workspaceDir } from './util';

describe('reconcile panel and inline reconcile', () => {
  it('opens for a finished run and shows the lanes, their files and the conflict between them', async () => {
    const a = await api();
    const f = await folder();
    const o = await a.runs.start(f, { lanes: ['impl', 'clash'] });
    assert.ok(o);
    const state = await o!.run();
    assert.deepStrictEqual(state.lanes.map((l) => [l.id, l.status]), [
      ['impl', 'passed'],
      ['clash', 'passed'],
    ]);
    await waitFor('the run to settle', () => !f.live && f.run?.runId === state.runId);
    const panel = (await a.openReconcilePanel(f))!;
    assert.ok(panel);
    // The webview script ran under the CSP and shook hands.
    await waitFor('the webview to be ready', () => (panel as unknown as { ready: boolean }).ready, 20000);
    const s = panel.state;
    assert.deepStrictEqual(s.lanes.map((l) => [l.id, l.accepted, l.files.map((x) => x.path)]), [
      ['impl', true, ['src/a.txt', 'src/b.txt']],
      ['clash', true, ['src/b.txt']],
    ]);
    // clash's scope is lib/**: the conflict comes from its change outside it, and the panel says so.
    assert.deepStrictEqual(s.pairs, [{ a: 'impl', b: 'clash', kind: 'conflict', files: ['src/b.txt'], outOfScope: [{ lane: 'clash', files: ['src/b.txt'] }] }]);
    assert.deepStrictEqual(s.lanes.find((l) => l.id === 'clash')?.outOfScope, ['src/b.txt']);
    await screenshot('reconcile-panel-conflict');
  });

  it('comes back after a window reload (the serializer restores it for the same folder and run)', async () => {
    const a = await api();
    const f = await folder();
    const open = (await a.openReconcilePanel(f))!;
    const runId = open.state.runId;
    open.panel.dispose();
    // What VS Code does on reload: a fresh panel of our view type plus the state the webview saved.
    const fresh = vscode.window.createWebviewPanel('agentLanes.reconcile', 'restored', vscode.ViewColumn.Active, { enableScripts: true });
    await a.panelSerializer.deserializeWebviewPanel(fresh, { folder: f.root, runId });
    await waitFor('the restored panel', async () => (await a.openReconcilePanel(f))?.panel === fresh);
    const restored = (await a.openReconcilePanel(f))!;
    await waitFor('the restored webview to be ready', () => (restored as unknown as { ready: boolean }).ready, 20000);
    assert.strictEqual(restored.state.runId, runId);
    assert.deepStrictEqual(restored.state.pairs.map((p) => p.kind), ['conflict']);
  });

  it('rejects malformed messages from the webview', async () => {
    const a = await api();
    const panel = (await a.openReconcilePanel(await folder()))!;
    const before = panel.dropped;
    // A message no part of the protocol describes, as a hostile page would send it.
    await (panel as unknown as { receive(m: unknown): Promise<void> }).receive({ type: 'apply', extra: '<img src=x onerror=alert(1)>' , lane: 5 });
    await (panel as unknown as { receive(m: unknown): Promise<void> }).receive({ type: 'runQueue; rm -rf /' });
    assert.strictEqual(panel.dropped, before + 2, 'unknown types and unknown keys are dropped');
    assert.strictEqual(panel.state.lastApply, undefined, 'nothing was applied');
  });

  it('runs the merge queue on the accepted lanes, applies to the workspace, and undo restores it', async () => {
    const a = await api();
    const panel = (await a.openReconcilePanel(await folder()))!;
    assert.strictEqual(await panel.handle({ type: 'acceptLane', lane: 'clash', accepted: false }), true, JSON.stringify(panel.lastResult));
    assert.strictEqual(await panel.handle({ type: 'runQueue' }), true, JSON.stringify(panel.lastResult));
    assert.deepStrictEqual(panel.state.queue!.merged, ['impl']);
    const aFile = path.join(workspaceDir(), 'src/a.txt');
    const bFile = path.join(workspaceDir(), 'src/b.txt');
    assert.strictEqual(fs.readFileSync(aFile, 'utf8'), 'a\n');
    assert.strictEqual(await panel.handle({ type: 'apply' }), true, JSON.stringify(panel.lastResult));
    assert.strictEqual(fs.readFileSync(aFile, 'utf8'), 'a changed\n');
    assert.strictEqual(fs.readFileSync(bFile, 'utf8'), 'b\n');
    assert.strictEqual(await panel.handle({ type: 'undo' }), true, JSON.stringify(panel.lastResult));
    assert.strictEqual(fs.readFileSync(aFile, 'utf8'), 'a\n');
    assert.strictEqual(fs.existsSync(bFile), false);
  });

  it('never overwrites an editor with unsaved changes', async () => {
    const a = await api();
    const panel = (await a.openReconcilePanel(await folder()))!;
    await vscode.workspace.getConfiguration('agentLanes').update('unsavedEditors', 'skip', vscode.ConfigurationTarget.Workspace);
    const aFile = path.join(workspaceDir(), 'src/a.txt');
    const doc = await vscode.workspace.openTextDocument(aFile);
    const editor = await vscode.window.showTextDocument(doc);
    await editor.edit((e) => e.insert(new vscode.Position(0, 0), 'my unsaved words\n'));
    assert.ok(doc.isDirty);
    try {
      assert.strictEqual(await panel.handle({ type: 'apply' }), true, JSON.stringify(panel.lastResult));
      assert.strictEqual(doc.getText(), 'my unsaved words\na\n', 'the buffer is untouched');
      assert.strictEqual(fs.readFileSync(aFile, 'utf8'), 'a\n', 'the file under the dirty editor was left out');
      assert.strictEqual(fs.readFileSync(path.join(workspaceDir(), 'src/b.txt'), 'utf8'), 'b\n', 'the rest was applied');
      assert.strictEqual(await panel.handle({ type: 'undo' }), true, JSON.stringify(panel.lastResult));
    } finally {
      await vscode.commands.executeCommand('undo');
      await doc.save();
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
      await vscode.workspace.getConfiguration('agentLanes').update('unsavedEditors', undefined, vscode.ConfigurationTarget.Workspace);
    }
  });

  it('shows per-hunk CodeLenses naming the lane in a file the lanes changed, and accepting one applies just that change', async () => {
    const a = await api();
    const aFile = vscode.Uri.file(path.join(workspaceDir(), 'src/a.txt'));
    await vscode.window.showTextDocument(aFile);
    const lenses = await waitFor('lenses', async () => {
      const l = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', aFile, 100)) ?? [];
      return l.length ? l : undefined;
    });
    const titles = lenses.map((l) => l.command?.title);
    assert.ok(titles.includes('$(git-merge) impl: accept'), titles.join(' | '));
    const accept = lenses.find((l) => l.command?.title === '$(git-merge) impl: accept')!;
    assert.strictEqual(await a.editors.acceptHunk(accept.command!.arguments![0]), true);
    assert.strictEqual(fs.readFileSync(aFile.fsPath, 'utf8'), 'a changed\n');
    // Once in the file, the hunk is not offered again.
    await waitFor('the accept lens to go', async () => {
      const l = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', aFile, 100)) ?? [];
      return !l.some((x) => x.command?.title === '$(git-merge) impl: accept');
    });
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    await a.editors.showConflict({ folder: (await folder()).root, a: 'impl', b: 'clash', path: 'src/b.txt' });
    const text = vscode.window.activeTextEditor!.document.getText();
    assert.match(text, /^<<<<<<< lane impl\nb\n=======\nclash\n>>>>>>> lane clash$/m);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  it('never stays busy: a failed action ends in a final state with a readable message', async () => {
    const a = await api();
    const panel = (await a.openReconcilePanel(await folder()))!;
    assert.strictEqual(await panel.handle({ type: 'sendFeedback', lane: 'no-such-lane', text: 'please' }), false);
    assert.strictEqual(panel.state.busy, undefined, 'not busy');
    assert.strictEqual(panel.state.queue?.running ?? false, false, 'no queue left spinning');
    assert.strictEqual(panel.lastResult?.ok, false);
    assert.match(panel.lastResult!.text, /no lane "no-such-lane"/);
    assert.doesNotMatch(panel.lastResult!.text, /\bat .*\.js:\d+|Error:/, 'no stack trace');
  });

  it('two quick actions run one after the other, both settle, and the queue result survives closing the panel', async () => {
    const a = await api();
    const f = await folder();
    let panel = (await a.openReconcilePanel(f))!;
    await panel.handle({ type: 'acceptLane', lane: 'clash', accepted: false });
    const [one, two] = await Promise.all([panel.handle({ type: 'runQueue' }), panel.handle({ type: 'runQueue' })]);
    assert.deepStrictEqual([one, two], [true, true], JSON.stringify(panel.lastResult));
    assert.strictEqual(panel.state.busy, undefined);
    assert.deepStrictEqual(panel.state.queue!.merged, ['impl']);
    panel.panel.dispose();
    panel = (await a.openReconcilePanel(f))!;
    assert.deepStrictEqual(panel.state.queue?.merged, ['impl'], 'the merge queue result came back with the panel');
    assert.strictEqual(panel.state.lanes.find((l) => l.id === 'clash')!.accepted, false, 'and what was left out');
  });

  it("Show Run Report after a queue run in the panel shows the queue's result (the same report as the CLI's)", async () => {
    const f = await folder();
    await vscode.commands.executeCommand('agentLanes.showRunReport', f.folder.uri);
    const report = fs.readFileSync(path.join(f.commonDir, 'lanes', 'runs', f.run!.runId, 'report.md'), 'utf8');
    assert.match(report, /## Merge queue[\s\S]*Merged: impl\./);
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  it('Run Plan from the view title while a tree row is selected takes the folder from the row (no empty error)', async () => {
    const a = await api();
    const f = await folder();
    const lane = f.plan!.plan!.lanes[0]!;
    // The old handler took the row for a folder URI and failed with an empty "Agent Lanes:" toast
    // (the command's wrapper then returns undefined).
    const runId = await vscode.commands.executeCommand<string | undefined>('agentLanes.runPlan', { kind: 'lane', folder: f, lane });
    assert.ok(runId, 'a run started for the row\'s folder');
    assert.strictEqual(f.live?.runId, runId);
    a.runs.cancelRun(f);
    await waitFor('the run to end', () => !f.live, 30000);
  });

  it('resolves a conflict between two lanes in the merge editor: saving the result commits it to the lane, and the queue then merges both', async () => {
    const a = await api();
    const f = await folder();
    const o = (await a.runs.start(f, { lanes: ['impl', 'clash'] }))!;
    const state = await o.run();
    await waitFor('the run to settle', () => !f.live && f.run?.runId === state.runId);
    const files = await vscode.commands.executeCommand<string[]>('agentLanes.resolveConflict', { folder: f.root, runId: state.runId, lane: 'clash', against: 'impl' });
    assert.deepStrictEqual(files, ['src/b.txt']);
    // The merge editor's tab input has base, input1, input2 and result (TabInputTextMerge).
    type MergeInput = { base: vscode.Uri; input1: vscode.Uri; input2: vscode.Uri; result: vscode.Uri };
    const input = await waitFor('the merge editor', () => {
      const i = vscode.window.tabGroups.activeTabGroup.activeTab?.input as Partial<MergeInput> | undefined;
      return i?.result && i.input1 && i.input2 ? (i as MergeInput) : undefined;
    }, 20000);
    const clash = state.lanes.find((l) => l.id === 'clash')!;
    assert.strictEqual(input.result.fsPath, path.join(clash.worktree, 'src/b.txt'), "the result is the lane's file");
    // Its three inputs come from the lanes (the lane: content provider): base, impl's side, clash's side.
    assert.strictEqual((await vscode.workspace.openTextDocument(input.input1)).getText().trim(), 'b', "impl's version");
    assert.strictEqual((await vscode.workspace.openTextDocument(input.input2)).getText().trim(), 'clash');
    await new Promise((r) => setTimeout(r, 1500)); // let the editor paint its panes
    await screenshot('merge-editor');
    // What a person does in the editor: write the result and save it; then Commit Resolution.
    const doc = await vscode.workspace.openTextDocument(input.result);
    const edit = new vscode.WorkspaceEdit();
    edit.replace(doc.uri, new vscode.Range(doc.positionAt(0), doc.positionAt(doc.getText().length)), 'impl and clash\n');
    await vscode.workspace.applyEdit(edit);
    const head = await vscode.commands.executeCommand<string>('agentLanes.commitResolution', { folder: f.root, runId: state.runId, lane: 'clash', against: 'impl' });
    assert.ok(head, a.resolver.lastError);
    assert.strictEqual(fs.readFileSync(input.result.fsPath, 'utf8'), 'impl and clash\n', 'the unsaved result was saved first');
    const after = await f.session.store.read(state.runId);
    assert.strictEqual(after.lanes.find((l) => l.id === 'clash')!.head, head);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const q = await f.session.mergeQueue(state.runId, { sendBack: false });
    assert.deepStrictEqual([...q.merged].sort(), ['clash', 'impl']);
  });
});
