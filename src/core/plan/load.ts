import { LanesError } from '../errors';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { realPathInside, writeFileAtomic } from '../util/fsx';
import { Plan, DEFAULT_PLAN_PATH } from './schema';
import { attachPositions, PlanDiagnostic, validatePlanText, ValidationResult } from './validate';

export interface LoadedPlan extends ValidationResult {
  /** Absolute path of the plan file. */
  file: string;
  text: string;
  /** sha256 of the file's bytes: what a run and an approval are tied to. */
  hash: string;
}

export class PlanFileError extends LanesError {
  constructor(
    message: string,
    readonly file: string,
    readonly reason: 'notFound' | 'unreadable',
  ) {
    super(message);
    this.name = 'PlanFileError';
  }
}

export function resolvePlanPath(root: string, file?: string): string {
  return path.resolve(root, file ?? DEFAULT_PLAN_PATH);
}

export function hashText(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Check what only the file system can tell: do the shared context files exist? */
async function fileDiagnostics(plan: Plan, root: string): Promise<PlanDiagnostic[]> {
  const out: PlanDiagnostic[] = [];
  for (const [i, rel] of (plan.context ?? []).entries()) {
    const abs = path.resolve(root, rel);
    const inside = abs === root || abs.startsWith(root + path.sep);
    if (!inside) {
      out.push({ severity: 'error', code: 'context-missing', path: ['context', i], message: `"${rel}" is outside the repository; context files must be inside it` });
      continue;
    }
    try {
      const st = await fs.stat(abs);
      if (!st.isFile()) out.push({ severity: 'error', code: 'context-missing', path: ['context', i], message: `"${rel}" is not a file` });
      // A symlink committed into a repository can point anywhere (~/.ssh/id_rsa): its target's
      // text would go into every brief.
      else if (!(await realPathInside(root, rel))) {
        out.push({ severity: 'error', code: 'context-missing', path: ['context', i], message: `"${rel}" is a symlink to a file outside the repository; context files must be inside it` });
      }
    } catch {

      out.push({ severity: 'error', code: 'context-missing', path: ['context', i], message: `file "${rel}" not found in the repository` });
    }
  }
  return out;
}

/**
 * Read and validate a plan file. `root` is the repository root (context files are resolved
 * against it); defaults to the folder above `.lanes/`, or the file's folder.
 */
export async function loadPlan(file: string, root?: string): Promise<LoadedPlan> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new PlanFileError(`no plan at ${file}; create one with "lanes init --template trio" or "lanes plan <task>"`, file, 'notFound');
    }
    throw new PlanFileError(`cannot read ${file}: ${(e as Error).message}`, file, 'unreadable');
  }
  const result = validatePlanText(text);
  const base = root ?? (path.basename(path.dirname(file)) === '.lanes' ? path.dirname(path.dirname(file)) : path.dirname(file));
  if (result.plan) {
    const extra = await fileDiagnostics(result.plan, path.resolve(base));
    if (extra.length) {
      if (result.parsed) attachPositions(extra, result.parsed);
      result.errors.push(...extra);
      result.ok = false;
    }
  }
  const { parsed: _parsed, ...rest } = result;
  return { ...rest, plan: result.ok ? result.plan : undefined, file, text, hash: hashText(text) };
}

export function serializePlan(plan: Plan): string {
  return JSON.stringify(plan, null, 2) + '\n';
}

export async function writePlan(file: string, plan: Plan): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, serializePlan(plan));
}
