/**
 * Shared memory: a per-run folder outside every worktree where lanes append findings. Each lane
 * writes its own file (no two writers share a file); every entry is attributed and timestamped.
 * Briefs of lanes that start later, and of retries, include everything there.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

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
