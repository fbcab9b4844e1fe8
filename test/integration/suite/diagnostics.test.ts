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
