import * as assert from 'assert';
import * as path from 'path';
import * as vscode from 'vscode';
import { waitFor, workspaceDir } from './util';

describe('plan diagnostics', () => {
  it('reports a broken plan in the Problems panel at the right line, as the user types', async () => {
    const uri = vscode.Uri.file(path.join(workspaceDir(), '.lanes/plan.json'));
    const doc = await vscode.workspace.openTextDocument(uri);
    const editor = await vscode.window.showTextDocument(doc);
    const text = doc.getText();
    const at = text.indexOf('"impl"', text.indexOf('"dependsOn"'));
    assert.ok(at > 0);
    const start = doc.positionAt(at + 1);
    await editor.edit((e) => e.replace(new vscode.Range(start, start.translate(0, 4)), 'nope'));
    try {
      const diags = await waitFor('a diagnostic', () => {
        const d = vscode.languages.getDiagnostics(uri).filter((x) => x.source === 'Agent Lanes');
        return d.length ? d : undefined;
      });
      assert.strictEqual(diags.length, 1);
      assert.match(diags[0]!.message, /unknown lane "nope"/);
      assert.strictEqual(diags[0]!.range.start.line, start.line);
      assert.strictEqual(diags[0]!.severity, vscode.DiagnosticSeverity.Error);
    } finally {
      await vscode.commands.executeCommand('undo');
      await waitFor('the plan to be clean again', () => doc.getText() === text);
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    }
    await waitFor('diagnostics to clear', () => vscode.languages.getDiagnostics(uri).filter((x) => x.source === 'Agent Lanes').length === 0);
  });
});

describe('plan editing help', () => {
  const planUri = () => vscode.Uri.file(path.join(workspaceDir(), '.lanes/plan.json'));

  /** Edit the plan, run `fn`, and put the file back exactly (undo until the text is as it was). */
  async function withEdit(edit: (doc: vscode.TextDocument, e: vscode.TextEditorEdit) => void, fn: (doc: vscode.TextDocument) => Promise<void>): Promise<void> {
    const doc = await vscode.workspace.openTextDocument(planUri());
    const editor = await vscode.window.showTextDocument(doc);
    const text = doc.getText();
    await editor.edit((e) => edit(doc, e));
    try {
      await fn(doc);
    } finally {
      await editor.edit((e) => e.replace(new vscode.Range(doc.positionAt(0), doc.positionAt(doc.getText().length)), text));
      await doc.save();
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    }
  }

  it('completes lane ids inside dependsOn', async () => {
    await withEdit(
      (doc, e) => {
        const at = doc.getText().indexOf('"dependsOn": [') + '"dependsOn": ['.length;
        e.insert(doc.positionAt(at), '"", ');
      },
      async (doc) => {
        const at = doc.getText().indexOf('"dependsOn": [""') + '"dependsOn": ["'.length;
        const list = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider', doc.uri, doc.positionAt(at), '"');
        const labels = list.items.map((i) => (typeof i.label === 'string' ? i.label : i.label.label));
        for (const id of ['clash', 'stuck']) assert.ok(labels.includes(id), `offers ${id}: ${labels.join(', ')}`);
        assert.ok(!labels.includes('tests'), 'not the lane itself');
      },
    );
  });

  it('offers "did you mean" as a quick fix for an unknown lane, and applying it fixes the plan', async () => {
    await withEdit(
      (doc, e) => {
        const text = doc.getText();
        const at = text.indexOf('"impl"', text.indexOf('"dependsOn"'));
        e.replace(new vscode.Range(doc.positionAt(at), doc.positionAt(at + 6)), '"impel"');
      },
      async (doc) => {
        await waitFor('the diagnostic', () => vscode.languages.getDiagnostics(doc.uri).some((d) => /unknown lane "impel"/.test(d.message)));
        const at = doc.positionAt(doc.getText().indexOf('"impel"') + 2);
        const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', doc.uri, new vscode.Range(at, at), vscode.CodeActionKind.QuickFix.value);
        const fix = actions.find((a) => a.title === 'Change to "impl"');
        assert.ok(fix?.edit, actions.map((a) => a.title).join(', '));
        await vscode.workspace.applyEdit(fix!.edit!);
        await waitFor('the plan to be valid again', () => !vscode.languages.getDiagnostics(doc.uri).some((d) => d.source === 'Agent Lanes'));
      },
    );
  });
});
