/**
 * The guard: agents must not touch the user's checkout or the shared git config and hooks.
 * A fingerprint of the main checkout's status (with the size and mtime of every dirty file) and
 * of .git/config and .git/hooks is taken before and after each lane; any difference is flagged.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { gitOut } from '../git/git';

export interface Fingerprint {
  checkout: Map<string, string>;
  config: string;
  hooks: string;
  /** Files git does not show (ignored): those worktree.copy names and top-level dotfiles, by content hash. */
  ignored: Map<string, string>;
}

/** Ignored files larger than this are compared by size and time, and not kept. */
const KEEP_MAX_BYTES = 8 * 1024 * 1024;

async function hashFile(file: string): Promise<string> {
  try {
    return createHash('sha256').update(await fs.readFile(file)).digest('hex');
  } catch {
    return 'missing';
  }
}

async function hashDir(dir: string): Promise<string> {
  const h = createHash('sha256');
  let names: string[];
  try {
    names = (await fs.readdir(dir)).sort();
  } catch {
    return 'missing';
  }
  for (const n of names) {
    const p = path.join(dir, n);
    const st = await fs.lstat(p);
    h.update(`${n}\0${st.mode}\0`);
    if (st.isFile()) h.update(await fs.readFile(p));
    else if (st.isDirectory()) h.update(await hashDir(p));
    else if (st.isSymbolicLink()) h.update(await fs.readlink(p));
  }
  return h.digest('hex');
}

/**
 * The user's files an agent could reach without git noticing: the ignored files worktree.copy
 * names (`.env`) and top-level dotfiles (`.npmrc`, `.env.local`), when git ignores them.
 */
export async function guardedIgnored(repoRoot: string, copy: readonly string[] = []): Promise<string[]> {
  const top = (await fs.readdir(repoRoot, { withFileTypes: true }).catch(() => [])).filter((d) => d.name.startsWith('.') && d.name !== '.git' && d.isFile()).map((d) => d.name);
  const candidates = [...new Set([...copy, ...top])];
  if (!candidates.length) return [];
  const ignored = await gitOut(['check-ignore', '-z', '--no-index', '--stdin'], { cwd: repoRoot, readOnly: true, okCodes: [1], input: candidates.join('\0') + '\0' });
  return ignored.split('\0').filter(Boolean).sort();
}

async function stampIgnored(repoRoot: string, files: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of files) {
    const p = path.join(repoRoot, f);
    const st = await fs.lstat(p).catch(() => undefined);
    if (!st) out.set(f, 'missing');
    else if (!st.isFile() || st.size > KEEP_MAX_BYTES) out.set(f, `${st.mode}:${st.size}:${st.mtimeMs}`);
    else out.set(f, await hashFile(p));
  }
  return out;
}

/**
 * Keep what the guard may need to put back: .git/config, .git/hooks and the guarded ignored
 * files, as they are before the run (in the run's guard folder).
 */
export async function keepShared(repoRoot: string, commonDir: string, dir: string, ignored: readonly string[]): Promise<void> {
  await fs.mkdir(path.join(dir, 'files'), { recursive: true });
  await fs.copyFile(path.join(commonDir, 'config'), path.join(dir, 'config')).catch(() => undefined);
  await fs.cp(path.join(commonDir, 'hooks'), path.join(dir, 'hooks'), { recursive: true, verbatimSymlinks: true }).catch(() => undefined);
  for (const f of ignored) {
    const st = await fs.lstat(path.join(repoRoot, f)).catch(() => undefined);
    if (st?.isFile() && st.size <= KEEP_MAX_BYTES) {
      await fs.mkdir(path.dirname(path.join(dir, 'files', f)), { recursive: true });
      await fs.copyFile(path.join(repoRoot, f), path.join(dir, 'files', f));
    }
  }
}

/**
 * Put back .git/config and/or .git/hooks as kept before the run; what was there instead is
 * moved aside (never deleted) into `<dir>/changed-<stamp>/`. Returns sentences saying what was done.
 */
export async function restoreShared(commonDir: string, dir: string, what: { config: boolean; hooks: boolean }): Promise<string[]> {
  const aside = path.join(dir, `changed-${new Date().toISOString().replace(/[-:.]/g, '')}`);
  await fs.mkdir(aside, { recursive: true });
  const said: string[] = [];
  if (what.config && (await fs.stat(path.join(dir, 'config')).then(() => true, () => false))) {
    await fs.copyFile(path.join(commonDir, 'config'), path.join(aside, 'config'));
    // Written beside it, then renamed over: git never reads half a config.
    const tmp = path.join(commonDir, `config.lanes-restore-${process.pid}`);
    await fs.copyFile(path.join(dir, 'config'), tmp);
    await fs.rename(tmp, path.join(commonDir, 'config'));
    said.push(`restored .git/config from before the run (the changed one is kept at ${path.join(aside, 'config')})`);
  }
  if (what.hooks) {
    const hooks = path.join(commonDir, 'hooks');
    await fs.rename(hooks, path.join(aside, 'hooks')).catch(() => undefined);
    if (await fs.stat(path.join(dir, 'hooks')).then(() => true, () => false)) await fs.cp(path.join(dir, 'hooks'), hooks, { recursive: true, verbatimSymlinks: true });
    said.push(`restored .git/hooks from before the run (the changed ones are kept at ${path.join(aside, 'hooks')})`);
  }
  return said;
}

export async function fingerprint(repoRoot: string, commonDir: string, ignoredFiles: readonly string[] = []): Promise<Fingerprint> {
  const status = await gitOut(['status', '--porcelain=v1', '-z', '--untracked-files=all', '--ignore-submodules=dirty'], { cwd: repoRoot, readOnly: true });
  const checkout = new Map<string, string>();
  const entries = status.split('\0').filter(Boolean);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const code = e.slice(0, 2);
    const file = e.slice(3);
    if (code[0] === 'R' || code[0] === 'C') i++; // the next entry is the rename source
    let stamp = 'gone';
    try {
      const st = await fs.stat(path.join(repoRoot, file));
      stamp = `${st.size}:${st.mtimeMs}`;
    } catch {
      /* deleted */
    }
    checkout.set(file, `${code}:${stamp}`);
  }
  const [config, hooks, ignored] = await Promise.all([hashFile(path.join(commonDir, 'config')), hashDir(path.join(commonDir, 'hooks')), stampIgnored(repoRoot, ignoredFiles)]);
  return { checkout, config, hooks, ignored };
}

/** Human-readable differences between two fingerprints (empty when nothing changed). */
export function compareFingerprints(before: Fingerprint, after: Fingerprint): string[] {
  const out: string[] = [];
  const changed: string[] = [];
  for (const [f, v] of after.checkout) if (before.checkout.get(f) !== v) changed.push(f);
  for (const f of before.checkout.keys()) if (!after.checkout.has(f)) changed.push(f);
  if (changed.length) {
    const shown = changed.slice(0, 10).join(', ') + (changed.length > 10 ? ` and ${changed.length - 10} more` : '');
    out.push(`the main checkout changed: ${shown}`);
  }
  if (before.config !== after.config) out.push('.git/config changed');
  if (before.hooks !== after.hooks) out.push('.git/hooks changed');
  const ignored = [...after.ignored].filter(([f, v]) => before.ignored.get(f) !== v).map(([f]) => f);
  if (ignored.length) out.push(`your ignored file${ignored.length > 1 ? 's' : ''} ${ignored.join(', ')} changed`);
  return out;
}

/** Which ignored files changed between two fingerprints. */
export function changedIgnored(before: Fingerprint, after: Fingerprint): string[] {
  return [...after.ignored].filter(([f, v]) => before.ignored.get(f) !== v).map(([f]) => f);
}
