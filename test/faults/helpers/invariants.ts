/**
 * The invariants that hold after every fault scenario (faults.md): the user's pre-existing
 * edits are byte-identical or recoverable from a ref, every lane commit is reachable from a ref,
 * no process of ours is left running, and the shared .git/config and .git/hooks are unchanged.
 *
 * `baseline()` records what must not change (call it once the scenario's setup is done, just
 * before the fault); `checkInvariants()` verifies it afterwards.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import * as path from 'node:path';

export interface Baseline {
  repo: string;
  commonDir: string;
  config: Buffer;
  hooks: string;
  /** User files: path → git blob id of their bytes (undefined: the file did not exist). */
  files: Map<string, string | undefined>;
  /** Paths whose mention in a process's command line makes that process ours. */
  watch: string[];
}

function git(cwd: string, args: string[], input?: string | Buffer): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 }).replace(/\n$/, '');
}

/** A folder's names, modes and bytes, recursively (symlinks by target). */
export function hashDir(dir: string): string {
  const h = createHash('sha256');
  if (!existsSync(dir)) return 'missing';
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    const st = lstatSync(p);
    h.update(`${name}\0${st.mode}\0`);
    if (st.isSymbolicLink()) h.update(readlinkSync(p));
    else if (st.isDirectory()) h.update(hashDir(p));
    else h.update(readFileSync(p));
  }
  return h.digest('hex');
}

function blobOf(repo: string, abs: string): string | undefined {
  if (!existsSync(abs)) return undefined;
  return git(repo, ['hash-object', '--no-filters', '--stdin'], readFileSync(abs));
}

export function baseline(repo: string, userFiles: string[], watch: string[] = []): Baseline {
  const commonDir = path.resolve(repo, git(repo, ['rev-parse', '--git-common-dir']));
  const files = new Map<string, string | undefined>();
  for (const f of userFiles) files.set(f, blobOf(repo, path.join(repo, f)));
  return {
    repo,
    commonDir,
    config: readFileSync(path.join(commonDir, 'config')),
    hooks: hashDir(path.join(commonDir, 'hooks')),
    files,
    watch: [repo, ...watch],
  };
}

/** Live (non-zombie) processes whose command line mentions one of `needles`. */
export function processesMentioning(needles: string[]): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (!cmd || !needles.some((n) => cmd.includes(n))) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (/^\d+ \(.*\) [ZX]/.test(stat)) continue;
      out.push({ pid: Number(name), cmd: cmd.split('\0').join(' ') });
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Every lane head recorded in the repository's run states (state.json files that parse). */
export function recordedHeads(commonDir: string): { runId: string; lane: string; head: string }[] {
  const runs = path.join(commonDir, 'lanes', 'runs');
  const out: { runId: string; lane: string; head: string }[] = [];
  if (!existsSync(runs)) return out;
  for (const runId of readdirSync(runs)) {
    const file = path.join(runs, runId, 'state.json');
    if (!existsSync(file)) continue;
    let state: { lanes?: { id: string; head?: string }[] };
    try {
      state = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      continue; // a corrupt state file is the subject of its own scenario
    }
    for (const l of state.lanes ?? []) if (l.head) out.push({ runId, lane: l.id, head: l.head });
  }
  return out;
}

export interface CheckOptions {
  /** The scenario is about the shared git config and hooks: they may differ (the test checks how). */
  sharedGitMayChange?: boolean;
  /** Lane heads recorded somewhere other than the repository's run folder (a state copied out). */
  extraHeads?: string[];
  /** Heads the test itself made unreachable (it rewrote a lane branch, standing in for the user). */
  exceptHeads?: string[];
  /** How long processes of ours may take to end. */
  processGraceMs?: number;
}

export async function checkInvariants(b: Baseline, o: CheckOptions = {}): Promise<void> {
  // 1. The user's pre-existing files: byte-identical, or their bytes at that path in some ref.
  const refs = git(b.repo, ['for-each-ref', '--format=%(refname)']).split('\n').filter(Boolean);
  for (const [rel, blob] of b.files) {
    if (blob === undefined) continue;
    if (blobOf(b.repo, path.join(b.repo, rel)) === blob) continue;
    const holder = refs.find((ref) => {
      try {
        return git(b.repo, ['rev-parse', '--verify', '--quiet', `${ref}:${rel}`]) === blob;
      } catch {
        return false;
      }
    });
    assert.ok(holder, `the user's ${rel} changed and no ref holds its earlier bytes`);
  }
  // 2. Every recorded lane head is reachable from a ref.
  const reachable = new Set(git(b.repo, ['rev-list', '--all']).split('\n'));
  const heads = [...recordedHeads(b.commonDir).map((h) => h.head), ...(o.extraHeads ?? [])].filter((h) => !o.exceptHeads?.includes(h));
  for (const h of heads) assert.ok(reachable.has(h), `lane commit ${h} is not reachable from any ref`);
  // 3. The shared .git/config and .git/hooks.
  if (!o.sharedGitMayChange) {
    assert.equal(readFileSync(path.join(b.commonDir, 'config'), 'utf8'), b.config.toString('utf8'), '.git/config changed');
    assert.equal(hashDir(path.join(b.commonDir, 'hooks')), b.hooks, '.git/hooks changed');
  }
  // 4. No process of ours left running.
  const end = Date.now() + (o.processGraceMs ?? 8000);
  let left = processesMentioning(b.watch);
  while (left.length && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    left = processesMentioning(b.watch);
  }
  assert.deepEqual(left, [], 'processes of ours are still running');
}
