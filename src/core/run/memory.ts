/**
 * Shared memory: a per-run folder (the store, outside every worktree) of findings lanes write. Each lane
 * writes its own file (no two writers share a file); every entry is attributed and timestamped.
 * Briefs of lanes that start later, and of retries, include everything there.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ownedDirInside, writeFileInside } from '../util/fsx';

export interface MemoryEntry {
  lane: string;
  at: string;
  text: string;
}

export function memoryFile(memoryDir: string, lane: string): string {
  return path.join(memoryDir, `${lane}.md`);
}

/** Append a finding for `lane` (used by the orchestrator; agents may also append to their file). */
export async function appendMemory(memoryDir: string, lane: string, text: string, at = new Date()): Promise<void> {
  await fs.mkdir(memoryDir, { recursive: true });
  await fs.appendFile(memoryFile(memoryDir, lane), `\n## ${at.toISOString()} — ${lane}\n\n${text.trim()}\n`);
}

/** Everything in the shared memory, one block per lane file, oldest lanes first. */
export async function readMemory(memoryDir: string): Promise<{ lane: string; text: string }[]> {
  let names: string[];
  try {
    names = await fs.readdir(memoryDir);
  } catch {
    return [];
  }
  const out: { lane: string; text: string; mtime: number }[] = [];
  for (const n of names.filter((x) => x.endsWith('.md')).sort()) {
    const file = path.join(memoryDir, n);
    const [text, st] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
    if (text.trim()) out.push({ lane: n.slice(0, -3), text: text.trim(), mtime: st.mtimeMs });
  }
  return out.sort((a, b) => a.mtime - b.mtime).map(({ lane, text }) => ({ lane, text }));
}

/**
 * Agents cannot write outside their worktree (every real CLI refuses, or its sandbox does), so
 * each lane's view of the shared memory is a folder inside its worktree. It is kept out of every
 * commit by the repository's exclude file; the orchestrator mirrors it: what a lane writes to its
 * own file goes to the run's store, and every other lane's notes come into its folder.
 */
export const WORKTREE_MEMORY_DIR = '.lanes/memory';
/** Files of the run for the agent inside its worktree (a long brief), never committed either. */
export const WORKTREE_RUN_DIR = '.lanes/run';
const EXCLUDE_LINES = ['/.lanes/memory/', '/.lanes/run/'];

export function worktreeMemoryDir(worktree: string): string {
  return path.join(worktree, ...WORKTREE_MEMORY_DIR.split('/'));
}

/**
 * Keep lanes' memory folders out of commits, `git status` and `git add -A` (theirs and ours):
 * one line in the shared info/exclude (git reads it for every worktree of the repository).
 */
export async function excludeMemoryFolder(commonDir: string): Promise<void> {
  const file = path.join(commonDir, 'info', 'exclude');
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  const have = new Set(text.split('\n').map((l) => l.trim()));
  const missing = EXCLUDE_LINES.filter((l) => !have.has(l));
  if (!missing.length) return;
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.appendFile(file, `${text && !text.endsWith('\n') ? '\n' : ''}# Agent Lanes: the lanes' shared notes and run files inside lane worktrees (never committed)\n${missing.join('\n')}\n`);

}

/**
 * Mirrors lane memory between worktrees and the run's store. `sync` copies each lane's own file
 * in (when it changed) and every other lane's notes out; it never writes a file whose content is
 * already there, and a lane's copies of others' notes are overwritten, never read back.
 */
export class MemoryMirror {
  private readonly seen = new Map<string, string>();

  constructor(private readonly storeDir: string) {}

  /** Bring one lane's own notes into the store. */
  async collect(lane: { id: string; worktree: string }): Promise<void> {
    // Never through a symlink the agent made (it would bring another file's bytes to every lane).
    const dir = await ownedDirInside(lane.worktree, WORKTREE_MEMORY_DIR, { create: false }).catch(() => undefined);
    if (!dir) return;
    const file = memoryFile(dir, lane.id);
    const st = await fs.lstat(file).catch(() => undefined);
    if (!st?.isFile()) return;
    const text = await fs.readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined || this.seen.get(lane.id) === text) return;
    this.seen.set(lane.id, text);
    await fs.mkdir(this.storeDir, { recursive: true });
    const stored = await fs.readFile(memoryFile(this.storeDir, lane.id), 'utf8').catch(() => undefined);
    if (stored !== text) await fs.writeFile(memoryFile(this.storeDir, lane.id), text);
  }

  /** Put every other lane's notes into this lane's folder. */
  async distribute(lane: { id: string; worktree: string }): Promise<void> {
    let names: string[];
    try {
      names = (await fs.readdir(this.storeDir)).filter((n) => n.endsWith('.md') && n !== `${lane.id}.md`);
    } catch {
      return;
    }
    for (const n of names) {
      const text = await fs.readFile(path.join(this.storeDir, n), 'utf8');
      const there = await fs.readFile(path.join(worktreeMemoryDir(lane.worktree), n), 'utf8').catch(() => undefined);
      if (there !== text) await writeFileInside(lane.worktree, WORKTREE_MEMORY_DIR, n, text);
    }
  }

  /** Every running lane: collect all, then distribute to all. */
  async sync(lanes: readonly { id: string; worktree: string }[]): Promise<void> {
    for (const l of lanes) await this.collect(l);
    for (const l of lanes) await this.distribute(l);
  }
}
