import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/**
 * Write a file so that readers see the old bytes or the new bytes, never a mix: write a temp
 * file in the same folder, fsync it, rename it over the target. A failure (disk full) leaves
 * the old file in place and removes the temp file.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode?: number): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, 'w', mode);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(tmp, file);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where `rel` really is once every symlink is followed, if that is inside `root` (itself
 * resolved); undefined when it leads outside (or does not exist).
 */
export async function realPathInside(root: string, rel: string): Promise<string | undefined> {
  try {
    const [realRoot, real] = await Promise.all([fs.realpath(root), fs.realpath(path.resolve(root, rel))]);
    return real === realRoot || real.startsWith(realRoot + path.sep) ? real : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The folder `rel` inside `root`, made where missing, refusing any part of it that is a symlink
 * or not a folder: what an agent made of its worktree never leads our writes (or reads) out of it.
 */
export async function ownedDirInside(root: string, rel: string, opts: { create?: boolean } = {}): Promise<string | undefined> {
  let cur = root;
  for (const part of rel.split(/[\\/]+/).filter(Boolean)) {
    if (part === '..' || part === '.') throw new Error(`"${rel}" is not a plain path inside ${root}`);
    cur = path.join(cur, part);
    const st = await fs.lstat(cur).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
    if (!st && opts.create === false) return undefined;
    if (!st) await fs.mkdir(cur).catch((e: NodeJS.ErrnoException) => (e.code === 'EEXIST' ? undefined : Promise.reject(e)));
    const now = await fs.lstat(cur);
    if (now.isSymbolicLink() || !now.isDirectory()) throw new Error(`${cur} is ${now.isSymbolicLink() ? 'a symlink' : 'not a folder'}; Agent Lanes does not write through it`);
  }
  return cur;
}

/**
 * Write `name` in a folder made by `ownedDirInside`: a new file (exclusive create, so never
 * through a symlink) renamed over the old one (which replaces a symlink, never its target).
 */
export async function writeFileInside(root: string, rel: string, name: string, data: string): Promise<string> {
  const dir = (await ownedDirInside(root, rel))!;
  const file = path.join(dir, name);
  const tmp = path.join(dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  await fs.writeFile(tmp, data, { flag: 'wx' });
  try {
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  return file;
}
