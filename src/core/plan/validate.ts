/**
 * Plan validation a person can act on: every problem names its JSON path, what was expected,
 * and (when the source text is known) the line and column.
 */
import type { z } from 'zod';
import { isPresetName, PRESET_NAMES } from '../agents/presets';
import { scopeOverlap } from './glob';
import { LaneGraph } from './graph';
import { JsonPath, JsonSyntaxError, locate, offsetToPosition, ParsedJson, parseJsonWithLocations } from './jsonLocations';
import { laneIdProblem } from './laneId';
import { CustomAgentSchema, LaneSchema, Plan, PLAN_VERSION, PlanSchema } from './schema';

export type Severity = 'error' | 'warning';

export type DiagnosticCode =
  | 'json-syntax'
  | 'duplicate-key'
  | 'schema'
  | 'unknown-field'
  | 'version'
  | 'lane-id'
  | 'duplicate-id'
  | 'case-collision'
  | 'unknown-dependency'
  | 'self-dependency'
  | 'cycle'
  | 'unknown-agent'
  | 'scope-overlap'
  | 'context-missing'
  | 'nul-character';

/** Every string in a JSON value that holds a NUL character, with its path. */
function nulStrings(v: unknown, at: JsonPath = []): JsonPath[] {
  if (typeof v === 'string') return v.includes('\0') ? [at] : [];
  if (Array.isArray(v)) return v.flatMap((x, i) => nulStrings(x, [...at, i]));
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]): JsonPath[] => [...(k.includes('\0') ? [[...at, k]] : []), ...nulStrings(x, [...at, k])]);
  return [];
}

export interface PlanDiagnostic {
  severity: Severity;
  code: DiagnosticCode;
  path: JsonPath;
  message: string;
  /** 1-based position of the offending value (or its key) when the source text is known. */
  line?: number;
  column?: number;
  /** 0-based offsets of the range to underline in an editor. */
  start?: number;
  end?: number;
  /** Quick fixes an editor can offer (see plan/editing.ts for the text edits). */
  fixes?: PlanFix[];
}

export type PlanFix =
  /** Put this string where the diagnostic points (a lane or agent name it meant). */
  | { kind: 'replace'; title: string; value: string }
  /** Add `dependency` to lane `lane`'s dependsOn (lanes[index]). */
  | { kind: 'addDependency'; title: string; laneIndex: number; dependency: string }
  /** Remove one glob from lanes[index].scope. */
  | { kind: 'removeScope'; title: string; laneIndex: number; scopeIndex: number };

export interface ValidationResult {
  ok: boolean;
  plan?: Plan;
  errors: PlanDiagnostic[];
  warnings: PlanDiagnostic[];
}

export function formatPath(path: JsonPath): string {
  if (path.length === 0) return '(plan)';
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(p)) out += out ? `.${p}` : p;
    else out += `[${JSON.stringify(p)}]`;
  }
  return out;
}

export function formatDiagnostic(d: PlanDiagnostic, file?: string): string {
  const where = file ? `${file}${d.line ? `:${d.line}:${d.column}` : ''}: ` : d.line ? `${d.line}:${d.column}: ` : '';
  return `${where}${d.severity} ${formatPath(d.path)}: ${d.message}`;
}

const PLAN_FIELDS = Object.keys(PlanSchema.shape);
const LANE_FIELDS = Object.keys(LaneSchema.shape);
const AGENT_FIELDS = Object.keys(CustomAgentSchema.shape);

function allowedFieldsAt(path: JsonPath): string[] | undefined {
  if (path.length === 0) return PLAN_FIELDS;
  if (path.length === 2 && path[0] === 'lanes') return LANE_FIELDS;
  if (path[path.length - 1] === 'agent' || (path.length === 2 && path[0] === 'agents')) return AGENT_FIELDS;
  if (path.length === 1 && path[0] === 'worktree') return ['copy', 'setup'];
  if (path.length === 1 && path[0] === 'defaults') return ['agent', 'timeoutMinutes', 'retries'];
  return undefined;
}

function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

function suggest(word: string, options: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const exact = options.find((o) => norm(o) === norm(word));
  if (exact) return exact;
  let best: string | undefined;
  let bestD = Infinity;
  for (const o of options) {
    const d = editDistance(word, o);
    if (d < bestD) {
      bestD = d;
      best = o;
    }
  }
  return bestD <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

function valueAt(root: unknown, path: JsonPath): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  const json = JSON.stringify(v);
  if (typeof v === 'string') return `the string ${json.length > 40 ? json.slice(0, 37) + '..."' : json}`;
  return json ?? typeof v;
}

type Issue = z.core.$ZodIssue;

/** Turn zod's issues into messages that name the field and the fix. */
function schemaDiagnostics(issues: readonly Issue[], input: unknown, base: JsonPath = []): PlanDiagnostic[] {
  const out: PlanDiagnostic[] = [];
  for (const issue of issues) {
    const path = [...base, ...(issue.path as (string | number)[])];
    const here = valueAt(input, path);
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedFieldsAt(path) ?? [];
      for (const key of issue.keys) {
        const guess = suggest(key, allowed);
        out.push({
          severity: 'error',
          code: 'unknown-field',
          path: [...path, key],
          message: `unknown field "${key}"${guess ? `; did you mean "${guess}"?` : '.'} Allowed here: ${allowed.join(', ')}`,
        });
      }
      continue;
    }
    if (issue.code === 'invalid_union' && here !== null && typeof here === 'object' && !Array.isArray(here) && issue.errors.length) {
      // An object was given where a string or an object is accepted: the object branch's
      // issues are the useful ones (e.g. agent.command[0] is not a string).
      const objectBranch = issue.errors.find((branch) => !branch.some((i) => i.code === 'invalid_type' && i.path.length === 0 && i.expected === 'string'));
      if (objectBranch) {
        out.push(...schemaDiagnostics(objectBranch, input, path));
        continue;
      }
    }
    if (issue.code === 'invalid_union' && Array.isArray(here) && issue.errors.length) {
      const arrayBranch = issue.errors.find((branch) => !branch.some((i) => i.code === 'invalid_type' && i.path.length === 0));
      if (arrayBranch) {
        out.push(...schemaDiagnostics(arrayBranch, input, path));
        continue;
      }
    }
    if (path.length === 1 && path[0] === 'version') {
      const message =
        here === undefined
          ? `missing; add "version": ${PLAN_VERSION} at the top of the plan`
          : typeof here === 'number' && here > PLAN_VERSION
            ? `this plan is version ${here}, but this Agent Lanes reads version ${PLAN_VERSION}; update Agent Lanes`
            : `expected ${PLAN_VERSION}, got ${JSON.stringify(here)}`;
      out.push({ severity: 'error', code: 'version', path, message });
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type') {
      if (here === undefined) message = `missing required field; ${message.replace(/^expected/, 'expected')}`;
      else message = `${message}, got ${typeName(here)}`;
    }
    out.push({ severity: 'error', code: 'schema', path, message });
  }
  return out;
}

interface RawLane {
  index: number;
  id?: string;
  dependsOn: { value: string; index: number }[];
  scope?: string[];
  agent?: unknown;
}

function rawLanes(input: unknown): RawLane[] {
  const lanes = (input as { lanes?: unknown } | null)?.lanes;
  if (!Array.isArray(lanes)) return [];
  return lanes.map((l, index) => {
    const lane = (l ?? {}) as Record<string, unknown>;
    const deps = Array.isArray(lane.dependsOn) ? lane.dependsOn : [];
    return {
      index,
      id: typeof lane.id === 'string' ? lane.id : undefined,
      dependsOn: deps.flatMap((d, i) => (typeof d === 'string' ? [{ value: d, index: i }] : [])),
      scope: Array.isArray(lane.scope) ? lane.scope.filter((s): s is string => typeof s === 'string' && s.trim() !== '') : undefined,
      agent: lane.agent,
    };
  });
}

/** Checks zod cannot express: ids, dependencies, cycles, agents, scope overlap. */
function semanticDiagnostics(input: unknown): PlanDiagnostic[] {
  const out: PlanDiagnostic[] = [];
  const lanes = rawLanes(input);
  const byId = new Map<string, RawLane>();
  const byFolded = new Map<string, RawLane>();
  const err = (code: DiagnosticCode, path: JsonPath, message: string) => out.push({ severity: 'error', code, path, message });

  for (const lane of lanes) {
    if (lane.id === undefined) continue;
    const idPath = ['lanes', lane.index, 'id'];
    const problem = laneIdProblem(lane.id);
    if (problem) {
      err('lane-id', idPath, `${JSON.stringify(lane.id)} is not a safe lane id: it ${problem}`);
      continue;
    }
    const dup = byId.get(lane.id);
    if (dup) {
      err('duplicate-id', idPath, `duplicate lane id "${lane.id}" (already used by lanes[${dup.index}]); every lane needs its own id`);
      continue;
    }
    const folded = byFolded.get(lane.id.toLowerCase());
    if (folded) {
      err(
        'case-collision',
        idPath,
        `"${lane.id}" differs from "${folded.id}" (lanes[${folded.index}]) only in case; branch and folder names would collide on case-insensitive file systems, so rename one`,
      );
      continue;
    }
    byId.set(lane.id, lane);
    byFolded.set(lane.id.toLowerCase(), lane);
  }

  const ids = [...byId.keys()];
  for (const lane of lanes) {
    for (const dep of lane.dependsOn) {
      const path = ['lanes', lane.index, 'dependsOn', dep.index];
      if (dep.value === lane.id) err('self-dependency', path, `lane "${lane.id}" depends on itself; remove "${dep.value}" from its dependsOn`);
      else if (!byId.has(dep.value)) {
        const guess = suggest(dep.value, ids);
        err(
          'unknown-dependency',
          path,
          `unknown lane "${dep.value}"${guess ? `; did you mean "${guess}"?` : '.'} Known lanes: ${ids.join(', ') || '(none)'}`,
        );
        if (guess) out[out.length - 1]!.fixes = [{ kind: 'replace', title: `Change to "${guess}"`, value: guess }];
      }
    }
  }

  const goodLanes = lanes.filter((l) => l.id !== undefined && byId.get(l.id) === l);
  const graph = new LaneGraph(goodLanes.map((l) => ({ id: l.id!, dependsOn: l.dependsOn.map((d) => d.value).filter((d) => d !== l.id) })));
  const cycle = graph.findCycle();
  if (cycle) {
    // cycle[0] depends on the last lane of the cycle: point at that dependency.
    const first = byId.get(cycle[0]!)!;
    const depIndex = first.dependsOn.find((d) => d.value === cycle[cycle.length - 1])?.index ?? 0;
    err(
      'cycle',
      ['lanes', first.index, 'dependsOn', depIndex],
      `dependency cycle: ${[...cycle, cycle[0]].join(' -> ')} (each lane waits for the next); remove one of these dependencies`,
    );
  }

  const agents = (input as { agents?: unknown } | null)?.agents;
  const agentNames = agents && typeof agents === 'object' && !Array.isArray(agents) ? Object.keys(agents) : [];
  const known = [...new Set([...PRESET_NAMES, ...agentNames])];
  const checkAgent = (agent: unknown, path: JsonPath) => {
    if (typeof agent !== 'string' || agent === '') return;
    if (isPresetName(agent) || agentNames.includes(agent)) return;
    const guess = suggest(agent, known);
    err(
      'unknown-agent',
      path,
      `unknown agent "${agent}"${guess ? `; did you mean "${guess}"?` : '.'} Use a preset (${PRESET_NAMES.join(', ')}), a name defined in "agents", or {"command": [...]}`,
    );
    if (guess) out[out.length - 1]!.fixes = [{ kind: 'replace', title: `Change to "${guess}"`, value: guess }];
  };
  for (const lane of lanes) checkAgent(lane.agent, ['lanes', lane.index, 'agent']);
  checkAgent((input as { defaults?: { agent?: unknown } } | null)?.defaults?.agent, ['defaults', 'agent']);

  // Coherence: lanes that may run at the same time must not both expect to change the same files.
  if (!cycle) {
    for (const [a, b] of graph.independentPairs()) {
      const la = byId.get(a)!;
      const lb = byId.get(b)!;
      if (!la.scope?.length || !lb.scope?.length) continue;
      const overlap = scopeOverlap(la.scope, lb.scope);
      if (!overlap) continue;
      out.push({
        severity: 'warning',
        code: 'scope-overlap',
        path: ['lanes', lb.index, 'scope'],
        message:
          `lanes "${a}" and "${b}" may run in parallel but their scopes overlap: "${overlap[0]}" (${a}) and "${overlap[1]}" (${b}). ` +
          `Add "dependsOn": ["${a}"] to "${b}" so it builds on ${a}'s work, or narrow the scopes so they do not share files`,
        fixes: [
          { kind: 'addDependency', title: `Make "${b}" depend on "${a}"`, laneIndex: lb.index, dependency: a },
          ...(lb.scope.length > 1 ? [{ kind: 'removeScope' as const, title: `Narrow "${b}"'s scope: remove "${overlap[1]}"`, laneIndex: lb.index, scopeIndex: lb.scope.indexOf(overlap[1]) }] : []),
        ],
      });
    }
  }
  return out;
}

export function attachPositions(diags: PlanDiagnostic[], parsed: ParsedJson): void {
  for (const d of diags) {
    if (d.line !== undefined) continue;
    const span = locate(parsed, d.path);
    if (!span) continue;
    // Unknown fields point at their key; everything else at the value.
    const at = d.code === 'unknown-field' && span.keyStart !== undefined ? span.keyStart : span.start;
    const pos = offsetToPosition(parsed.text, at);
    d.line = pos.line;
    d.column = pos.column;
    d.start = at;
    d.end = d.code === 'unknown-field' && span.keyStart !== undefined ? span.keyStart + JSON.stringify(String(d.path[d.path.length - 1])).length : span.end;
  }
}

/** Validate an already-parsed plan value. */
export function validatePlanValue(input: unknown, parsed?: ParsedJson): ValidationResult {
  const result = PlanSchema.safeParse(input);
  const diags = [...(result.success ? [] : schemaDiagnostics(result.error.issues, input)), ...semanticDiagnostics(input)];
  // A NUL can be written in JSON ("\u0000") but no program argument, environment variable or
  // file name can hold one: reject it here, not when a lane fails to start.
  for (const p of nulStrings(input)) {
    diags.push({ severity: 'error', code: 'nul-character', path: p, message: 'contains a NUL character (\\u0000), which no command, argument or file name can hold; remove it' });
  }

  if (parsed) {
    for (const dk of parsed.duplicateKeys) {
      const pos = offsetToPosition(parsed.text, dk.offset);
      diags.push({
        severity: 'error',
        code: 'duplicate-key',
        path: [...dk.path, dk.key],
        message: `"${dk.key}" appears twice in the same object; JSON keeps only the last one, so remove one`,
        line: pos.line,
        column: pos.column,
        start: dk.offset,
        end: dk.offset + dk.key.length + 2,
      });
    }
    attachPositions(diags, parsed);
  }
  // De-duplicate identical messages on the same path (zod and our checks can both fire).
  const seen = new Set<string>();
  const unique = diags.filter((d) => {
    const k = `${d.severity}|${formatPath(d.path)}|${d.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  unique.sort((a, b) => (a.start ?? 0) - (b.start ?? 0));
  const errors = unique.filter((d) => d.severity === 'error');
  const warnings = unique.filter((d) => d.severity === 'warning');
  const ok = errors.length === 0 && result.success;
  return { ok, plan: ok ? result.data : undefined, errors, warnings };
}

/** Validate plan text (JSON). Syntax errors come back as one diagnostic with line and column. */
export function validatePlanText(text: string): ValidationResult & { parsed?: ParsedJson } {
  let parsed: ParsedJson;
  try {
    parsed = parseJsonWithLocations(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) {
      return {
        ok: false,
        errors: [
          {
            severity: 'error',
            code: 'json-syntax',
            path: [],
            message: `invalid JSON: ${e.message}`,
            line: e.position.line,
            column: e.position.column,
            start: e.offset,
            end: e.offset + 1,
          },
        ],
        warnings: [],
      };
    }
    throw e;
  }
  return { ...validatePlanValue(parsed.value, parsed), parsed };
}
