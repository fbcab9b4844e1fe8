import * as vscode from 'vscode';
import { DEFAULT_PLAN_PATH } from '../core/plan/schema';
import { PlanDiagnostic, validatePlanText } from '../core/plan/validate';

/** Problems-panel diagnostics for plan files, at the right line, as the user types. */
export class PlanDiagnostics implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('agentLanes');
  private readonly subs: vscode.Disposable[];

  constructor() {
    this.subs = [
      this.collection,
      vscode.workspace.onDidOpenTextDocument((d) => this.validate(d)),
      vscode.workspace.onDidChangeTextDocument((e) => this.validate(e.document)),
      vscode.workspace.onDidCloseTextDocument((d) => this.isPlan(d) && this.collection.delete(d.uri)),
    ];
    vscode.workspace.textDocuments.forEach((d) => this.validate(d));
  }

  isPlan(doc: vscode.TextDocument): boolean {
    return doc.uri.scheme === 'file' && doc.uri.path.endsWith(`/${DEFAULT_PLAN_PATH}`);
  }

  validate(doc: vscode.TextDocument) {
    if (!this.isPlan(doc)) return undefined;
    const result = validatePlanText(doc.getText());
    this.collection.set(doc.uri, [...result.errors, ...result.warnings].map((d) => this.toDiagnostic(doc, d)));
    return result;
  }

  private toDiagnostic(doc: vscode.TextDocument, d: PlanDiagnostic): vscode.Diagnostic {
    const start = doc.positionAt(d.start ?? 0);
    const end = doc.positionAt(Math.max(d.end ?? (d.start ?? 0) + 1, (d.start ?? 0) + 1));
    const diag = new vscode.Diagnostic(new vscode.Range(start, end), d.message, d.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning);
    diag.source = 'Agent Lanes';
    diag.code = d.code;
    return diag;
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
  }
}
