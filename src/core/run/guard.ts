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
}

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

export async function fingerprint(repoRoot: string, commonDir: string): Promise<Fingerprint> {
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
  const [config, hooks] = await Promise.all([hashFile(path.join(commonDir, 'config')), hashDir(path.join(commonDir, 'hooks'))]);
  return { checkout, config, hooks };
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
  return out;
}
