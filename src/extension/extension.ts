import * as vscode from 'vscode';
import { DEFAULT_PLAN_PATH } from '../core/plan/schema';
import { validatePlanText, PlanDiagnostic } from '../core/plan/validate';

/**
 * Activation. The extension is a thin adapter over src/core: everything here turns core
 * results into VS Code UI. (Runs, the sidebar and tasks arrive with later issues.)
 */
export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Agent Lanes', { log: true });
  const diagnostics = vscode.languages.createDiagnosticCollection('agentLanes');
  context.subscriptions.push(log, diagnostics);

  const isPlan = (doc: vscode.TextDocument) => doc.uri.scheme === 'file' && doc.uri.path.endsWith(`/${DEFAULT_PLAN_PATH}`);

  const toDiagnostic = (doc: vscode.TextDocument, d: PlanDiagnostic): vscode.Diagnostic => {
    const start = doc.positionAt(d.start ?? 0);
    const end = doc.positionAt(Math.max(d.end ?? (d.start ?? 0) + 1, (d.start ?? 0) + 1));
    const diag = new vscode.Diagnostic(
      new vscode.Range(start, end),
      d.message,
      d.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning,
    );
    diag.source = 'Agent Lanes';
    diag.code = d.code;
    return diag;
  };

  const validate = (doc: vscode.TextDocument) => {
    if (!isPlan(doc)) return undefined;
    const result = validatePlanText(doc.getText());
    diagnostics.set(doc.uri, [...result.errors, ...result.warnings].map((d) => toDiagnostic(doc, d)));
    return result;
  };

  context.subscriptions.push(
    vscode.workspace.onDidOpenTextDocument(validate),
    vscode.workspace.onDidChangeTextDocument((e) => validate(e.document)),
    vscode.workspace.onDidCloseTextDocument((doc) => isPlan(doc) && diagnostics.delete(doc.uri)),
    vscode.commands.registerCommand('agentLanes.validatePlan', async () => {
      const files = await vscode.workspace.findFiles(DEFAULT_PLAN_PATH, '**/node_modules/**', 50);
      if (!files.length) {
        void vscode.window.showInformationMessage(`No plan found (${DEFAULT_PLAN_PATH}). Create one with "lanes init --template trio".`);
        return;
      }
      let errors = 0;
      let warnings = 0;
      for (const uri of files) {
        const result = validate(await vscode.workspace.openTextDocument(uri));
        errors += result?.errors.length ?? 0;
        warnings += result?.warnings.length ?? 0;
      }
      log.info(`validated ${files.length} plan(s): ${errors} error(s), ${warnings} warning(s)`);
      if (errors || warnings) void vscode.commands.executeCommand('workbench.actions.view.problems');
      else void vscode.window.showInformationMessage('Agent Lanes: the plan is valid.');
    }),
  );
  vscode.workspace.textDocuments.forEach(validate);
}

export function deactivate(): void {
  // Nothing to do: correctness never depends on deactivate (run state lives on disk).
}
