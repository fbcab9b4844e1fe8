/**
 * Help while editing a plan, as plain text operations an editor applies (no `vscode` here):
 * completing lane ids in `dependsOn`, and the text edits behind the validator's quick fixes.
 * Completion works on text that does not parse yet (the user is typing).
 */
import { locate, parseJsonWithLocations } from './jsonLocations';
import type { PlanFix } from './validate';

export interface TextEdit {
  start: number;
  end: number;
  text: string;
}

/**
 * Lane ids to offer at `offset` when it is inside a `dependsOn` array: every lane id in the
 * text except the lane being edited and those it already lists. Undefined elsewhere.
 */
export function dependsOnCompletions(text: string, offset: number): { ids: string[]; inString: boolean } | undefined {
  const before = text.slice(0, offset);
  // Inside `"dependsOn": [ ...` with no `]` yet since.
  const m = /"dependsOn"\s*:\s*\[([^\]]*)$/.exec(before);
  if (!m) return undefined;
  const listed = [...m[1]!.matchAll(/"([^"\\]*)"/g)].map((x) => x[1]!);
  const quotes = (m[1]!.match(/"/g) ?? []).length;
  const inString = quotes % 2 === 1;
  // The lane being edited: the last "id" before the array (in the same lane object, usually).
  const own = [...before.slice(0, m.index).matchAll(/"id"\s*:\s*"([^"\\]*)"/g)].pop()?.[1];
  const all = [...new Set([...text.matchAll(/"id"\s*:\s*"([^"\\]*)"/g)].map((x) => x[1]!))];
  // `listed` holds only closed strings: a name being typed (an odd quote) is not excluded.
  return { ids: all.filter((id) => id !== own && !listed.includes(id)), inString };
}

/** The text edit for a validator fix, on the plan's current text (undefined if the text no longer fits). */
export function fixEdit(text: string, fix: PlanFix, at?: { start?: number; end?: number }): TextEdit | undefined {
  if (fix.kind === 'replace') {
    if (at?.start === undefined || at.end === undefined) return undefined;
    return { start: at.start, end: at.end, text: JSON.stringify(fix.value) };
  }
  let parsed;
  try {
    parsed = parseJsonWithLocations(text);
  } catch {
    return undefined;
  }
  const lane = (parsed.value as { lanes?: { dependsOn?: unknown; scope?: unknown }[] }).lanes?.[fix.laneIndex];
  if (!lane) return undefined;
  if (fix.kind === 'addDependency') {
    const deps = Array.isArray(lane.dependsOn) ? lane.dependsOn : undefined;
    if (deps) {
      const span = parsed.spans.get(JSON.stringify(['lanes', fix.laneIndex, 'dependsOn']));
      if (!span) return undefined;
      // Before the closing bracket: `["a"]` -> `["a", "b"]`, `[]` -> `["b"]`.
      return { start: span.end - 1, end: span.end - 1, text: `${deps.length ? ', ' : ''}${JSON.stringify(fix.dependency)}` };
    }
    // No dependsOn yet: add it right after the lane's "id" member.
    const id = parsed.spans.get(JSON.stringify(['lanes', fix.laneIndex, 'id']));
    if (!id) return undefined;
    return { start: id.end, end: id.end, text: `, "dependsOn": [${JSON.stringify(fix.dependency)}]` };
  }
  // removeScope: the glob and the comma that joins it to a neighbour.
  const scope = lane.scope as unknown[];
  const el = locate(parsed, ['lanes', fix.laneIndex, 'scope', fix.scopeIndex]);
  if (!Array.isArray(scope) || scope.length < 2 || !el) return undefined;
  if (fix.scopeIndex < scope.length - 1) {
    const next = parsed.spans.get(JSON.stringify(['lanes', fix.laneIndex, 'scope', fix.scopeIndex + 1]))!;
    return { start: el.start, end: next.start, text: '' };
  }
  const prev = parsed.spans.get(JSON.stringify(['lanes', fix.laneIndex, 'scope', fix.scopeIndex - 1]))!;
  return { start: prev.end, end: el.end, text: '' };
}

/** Apply edits to text (for tests and the CLI). */
export function applyEdit(text: string, e: TextEdit): string {
  return text.slice(0, e.start) + e.text + text.slice(e.end);
}
