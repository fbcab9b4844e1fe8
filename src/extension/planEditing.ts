/**
 * Editing help for plan files: lane ids completed in `dependsOn`, and quick fixes for the
 * validator's findings ("did you mean", add the dependency a scope overlap asks for, narrow a
 * scope). The logic is core's (plan/editing.ts); this turns it into VS Code providers.
 */
import * as vscode from 'vscode';
import { dependsOnCompletions, fixEdit } from '../core/plan/editing';
import { DEFAULT_PLAN_PATH } from '../core/plan/schema';
import { validatePlanText } from '../core/plan/validate';

const PLAN_SELECTOR: vscode.DocumentSelector = [{ scheme: 'file', pattern: `**/${DEFAULT_PLAN_PATH}` }];

class DependsOnCompletion implements vscode.CompletionItemProvider {
  provideCompletionItems(doc: vscode.TextDocument, pos: vscode.Position): vscode.CompletionItem[] | undefined {
    const c = dependsOnCompletions(doc.getText(), doc.offsetAt(pos));
    if (!c) return undefined;
    return c.ids.map((id, i) => {
      const item = new vscode.CompletionItem(id, vscode.CompletionItemKind.Reference);
      item.detail = 'lane';
      item.insertText = c.inString ? id : JSON.stringify(id);
      item.sortText = String(i).padStart(4, '0');
      return item;
    });
  }
}

class PlanQuickFixes implements vscode.CodeActionProvider {
  static readonly kinds = [vscode.CodeActionKind.QuickFix];

  provideCodeActions(doc: vscode.TextDocument, range: vscode.Range | vscode.Selection): vscode.CodeAction[] {
    const text = doc.getText();
    const r = validatePlanText(text);
    const out: vscode.CodeAction[] = [];
    for (const d of [...r.errors, ...r.warnings]) {
      if (!d.fixes?.length || d.start === undefined) continue;
      const at = new vscode.Range(doc.positionAt(d.start), doc.positionAt(d.end ?? d.start + 1));
      if (!at.intersection(range) && !range.contains(at.start)) continue;
      for (const fix of d.fixes) {
        const e = fixEdit(text, fix, d);
        if (!e) continue;
        const action = new vscode.CodeAction(fix.title, vscode.CodeActionKind.QuickFix);
        action.edit = new vscode.WorkspaceEdit();
        action.edit.replace(doc.uri, new vscode.Range(doc.positionAt(e.start), doc.positionAt(e.end)), e.text);
        action.isPreferred = fix === d.fixes[0];
        out.push(action);
      }
    }
    return out;
  }
}

export function registerPlanEditing(): vscode.Disposable {
  return vscode.Disposable.from(
    vscode.languages.registerCompletionItemProvider(PLAN_SELECTOR, new DependsOnCompletion(), '"', '[', ','),
    vscode.languages.registerCodeActionsProvider(PLAN_SELECTOR, new PlanQuickFixes(), { providedCodeActionKinds: PlanQuickFixes.kinds }),
  );
}
