/**
 * Applying lane work to the user's own checkout, without ever losing anything:
 *
 *  1. Snapshot first: the user's working state (tracked and untracked files, through a private
 *     index so nothing in the checkout changes) and the real index are saved as commits under
 *     refs/lanes/apply/<id>/, and a journal records every step.
 *  2. Three-way merge with the user's state as "ours" (merge-tree: nothing checked out). When
 *     HEAD is still the run's base and the tree is clean this is the plain update.
 *  3. Refuse, changing nothing, when a file the user has changed would also change (unless
 *     conflict markers are asked for), when an untracked file would be overwritten, or when the
 *     merge conflicts.
 *  4. Write only the paths the lanes changed (git rm for deletions, git checkout <tree> -- paths
 *     for the rest). Never reset --hard, clean or a forced checkout of the user's folder.
 *
 * `undoApply` puts those paths back exactly as the snapshot has them; a crash half-way is
 * rolled back from the journal by `recoverApply`, which every entry point calls first.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { BusyError, LanesError, storageError } from '../errors';
import { ownerAlive, ownerFor } from '../util/ownerLock';
import { git, GitError, GitOptions, gitOut, gitPaths, pathsOnStdin } from '../git/git';
import { decodePath, displayPath, encodePath, isPlainPath } from '../util/bytePath';
import { describeOutsideLinks, outsideLinks } from './links';
import { trialMerge } from '../git/merge';
import { writeFileAtomic } from '../util/fsx';
import { parseHunks } from './diff';

export const APPLY_REF_PREFIX = 'refs/lanes/apply/';

export type ApplyStep = 'snapshotted' | 'writing' | 'done' | 'rolled-back' | 'undoing' | 'undone';

export interface ApplyJournal {
  version: 1;
  id: string;
  runId?: string;
  step: ApplyStep;
  startedAt: string;
  head: string;
  /** Commit holding the user's working state (tracked + untracked) before the apply. */
  snapshot: string;
  /** Commit whose tree is the user's index before the apply. */
  indexSnapshot: string;
  /** What was applied: the merged tree written into the checkout. */
  tree?: string;
  /** Every path the apply may change (and undo restores). */
  paths: string[];
  endedAt?: string;
  /** The checkout the apply writes (linked worktrees share the common dir, not their files). */
  checkout: string;
  /** The process applying: recovery only ever rolls back an apply whose owner is gone. */
  owner: { pid: number; startTime?: string; argv: string[]; command: string; hostname: string };
}

export class ApplyRefused extends LanesError {
  constructor(
    message: string,
    readonly reason: 'dirtyOverlap' | 'untrackedCollision' | 'conflict' | 'unmergedIndex' | 'dirtyEditors' | 'nothingToApply' | 'outsideLink' | 'throughLink',
    readonly files: string[],
  ) {
    super(message);
    this.name = 'ApplyRefused';
  }
}

export interface ApplyOptions {
  repo: string;
  commonDir: string;
  /** The commit the lanes started from (the run's base). */
  base: string;
  /** The commit to bring in (the integration head, or a target built for a selection). */
  target: string;
  runId?: string;
  /** Only these paths (default: everything that differs between base and target). */
  paths?: string[];
  /** Merge files the user also changed, leaving conflict markers, instead of refusing. */
  conflictMarkers?: boolean;
  /** Paths open with unsaved changes in an editor: refused like dirty files. */
  unsavedPaths?: string[];
  /** Write symlinks that point outside the repository (refused otherwise: the user must accept them). */
  acceptOutsideLinks?: boolean;
  identity?: NodeJS.ProcessEnv;
  /** What the journal says is applying ("lanes reconcile --apply", "VS Code: Apply"). */
  command?: string;
  /** Test hook: throw right after this journal step is recorded (crash injection). */
  crashAfter?: ApplyStep | 'deleted';
}

export interface ApplyResult {
  id: string;
  applied: string[];
  deleted: string[];
  conflicted: string[];
  journal: ApplyJournal;
  mode: 'clean-update' | 'three-way';
}

const ID = { GIT_AUTHOR_NAME: 'Agent Lanes', GIT_AUTHOR_EMAIL: 'lanes@agent-lanes.invalid', GIT_COMMITTER_NAME: 'Agent Lanes', GIT_COMMITTER_EMAIL: 'lanes@agent-lanes.invalid' };

/** Each checkout has its own journal folder (keyed by its path) under the common dir. */
function applyDir(commonDir: string, checkout: string): string {
  const key = createHash('sha256').update(path.resolve(checkout)).digest('hex').slice(0, 16);
  return path.join(commonDir, 'lanes', 'apply', key);
}
function journalFile(commonDir: string, checkout: string): string {
  return path.join(applyDir(commonDir, checkout), 'journal.json');
}

async function writeJournal(commonDir: string, j: ApplyJournal): Promise<void> {
  const dir = applyDir(commonDir, j.checkout);
  try {
    await fs.mkdir(dir, { recursive: true });
    await writeFileAtomic(journalFile(commonDir, j.checkout), JSON.stringify(j, null, 2) + '\n');
    // Keep every journal too, so older applies can be inspected.
    await writeFileAtomic(path.join(dir, `${j.id}.json`), JSON.stringify(j, null, 2) + '\n');
  } catch (e) {
    throw storageError(e, journalFile(commonDir, j.checkout), "the apply's journal");
  }
}

/** The last apply into this checkout. */
export async function readJournal(commonDir: string, checkout: string): Promise<ApplyJournal | undefined> {
  try {
    const j = JSON.parse(await fs.readFile(journalFile(commonDir, checkout), 'utf8')) as ApplyJournal;
    return path.resolve(j.checkout) === path.resolve(checkout) ? j : undefined;
  } catch {
    return undefined;
  }
}

/** Applies under way in this process, by journal id: their owner is alive and still applying. */
const applying = new Set<string>();

/** Whether an unfinished journal's apply is still going on (its owner alive and applying). */
function stillApplying(j: ApplyJournal): boolean {
  if (j.owner.pid === process.pid) return applying.has(j.id);
  return ownerAlive({ ...j.owner, startTime: j.owner.startTime });
}

export type Recovery = 'none' | 'rolled-back' | 'undo-finished' | 'in-progress';

/** The user's working state and index as two commits, without touching the checkout. */
export async function snapshotCheckout(repo: string, message: string): Promise<{ head: string; snapshot: string; indexSnapshot: string }> {
  const head = await gitOut(['rev-parse', '--verify', 'HEAD^{commit}'], { cwd: repo, readOnly: true });
  let indexTree: string;
  try {
    indexTree = await gitOut(['write-tree'], { cwd: repo, lockRetries: 3 });
  } catch (e) {
    // Only an index with conflicts is that; a held index.lock (another git at work, or a stale
    // lock after a crash) is said as such, with the file (GitError's message names it).
    if (e instanceof GitError && /unmerged|not able to write|error building trees/i.test(e.stderr)) {
      throw new ApplyRefused('your index has unresolved merge conflicts; resolve them first', 'unmergedIndex', []);
    }
    throw e;
  }

  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'lanes-apply-'));
  try {
    const env = { GIT_INDEX_FILE: path.join(tmp, 'index') };
    // Start from the real index so staged-but-deleted files and intent-to-add entries stay right.
    await fs.copyFile(path.join(await gitOut(['rev-parse', '--absolute-git-dir'], { cwd: repo, readOnly: true }), 'index'), env.GIT_INDEX_FILE).catch(async () => {
      await gitUser(['read-tree', head], { cwd: repo, env });
    });
    await gitUser(['add', '-A', '--sparse'], { cwd: repo, env });
    const workTree = await gitOut(['write-tree'], { cwd: repo, env });
    const snapshot = await gitOut(['commit-tree', workTree, '-p', head, '-F', '-'], { cwd: repo, input: `${message} (working tree)\n`, env: ID });
    const indexSnapshot = await gitOut(['commit-tree', indexTree, '-p', head, '-F', '-'], { cwd: repo, input: `${message} (index)\n`, env: ID });
    return { head, snapshot, indexSnapshot };
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** Names that differ between two commits (byte-exact), optionally only those at or under `limit`. */
async function changedPaths(repo: string, from: string, to: string, limit?: string[]): Promise<string[]> {
  const all = await gitPaths(['diff', '--name-only', '-z', '--no-renames', from, to], { cwd: repo, readOnly: true });
  if (!limit) return all;
  return all.filter((p) => limit.some((l) => p === l || p.startsWith(l.replace(/\/$/, '') + '/')));
}

/**
 * Which of `paths` are files (blob, symlink or submodule, not a folder) in `tree`: one git
 * process for all of them, names on stdin (so any bytes git stores work).
 */
async function filesIn(repo: string, tree: string, paths: readonly string[]): Promise<Set<string>> {
  const have = new Set<string>();
  if (!paths.length) return have;
  const input = Buffer.concat(paths.flatMap((p) => [Buffer.from(`${tree}:`), encodePath(p), Buffer.from([0])]));
  const out = (await gitUser(['cat-file', '--batch-check=%(objecttype)', '-z'], { cwd: repo, readOnly: true, input, binaryStdout: true })).stdoutBytes!;
  // One answer per name, in order: "<type>\n", or the name as given and " missing\n".
  let at = 0;
  for (const p of paths) {
    const missing = Buffer.concat([Buffer.from(`${tree}:`), encodePath(p), Buffer.from(' missing\n')]);
    if (out.subarray(at, at + missing.length).equals(missing)) {
      at += missing.length;
      // cat-file cannot read a submodule's commit: a gitlink (mode 160000) is a file here too.
      if (isPlainPath(p) && /^160000 /.test(await gitOut(['ls-tree', tree, '--', p], { cwd: repo, readOnly: true, env: { GIT_LITERAL_PATHSPECS: '1' } }))) have.add(p);
      continue;
    }
    const nl = out.indexOf(10, at);
    const type = out.subarray(at, nl).toString();
    at = nl + 1;
    if (type !== 'tree') have.add(p);
  }
  return have;
}

/** git in the user's own checkout: the only place the repository's hooks may run (when the user opts in). */
const gitUser = (args: readonly string[], opts: GitOptions) => git(args, { ...opts, userCheckout: true });

const fsPath = (repo: string, p: string) => encodePath(path.join(repo, p));

/** Paths whose folder, as it is on disk, is not inside the checkout (a symlinked folder on the way). */
async function throughLinks(repo: string, paths: readonly string[]): Promise<string[]> {
  const root = await fs.realpath(repo);
  const seen = new Map<string, boolean>();
  const inside = async (dir: string): Promise<boolean> => {
    if (dir === '.' || dir === '') return true;
    if (!seen.has(dir)) {
      const real = await fs.realpath(fsPath(repo, dir), { encoding: 'buffer' }).then(decodePath, () => undefined);
      // A folder that does not exist yet is created by git inside its parent: judge the parent.
      seen.set(dir, real === undefined ? await inside(path.posix.dirname(dir)) : real === root || real.startsWith(root + path.sep));
    }
    return seen.get(dir)!;
  };
  const out: string[] = [];
  for (const p of paths) if (!(await inside(path.posix.dirname(p)))) out.push(p);
  return out;
}

/** Remove index entries (names on stdin). */
async function removeFromIndex(repo: string, paths: readonly string[]): Promise<void> {
  if (paths.length) await gitUser(['update-index', '--force-remove', '-z', '--stdin'], pathsOnStdin(paths, { cwd: repo, lockRetries: 8 }));
}

/** Write these paths from `tree` into the checkout and the index (names on stdin, literal). */
async function checkoutFrom(repo: string, tree: string, paths: readonly string[]): Promise<void> {
  if (paths.length) await gitUser(['checkout', tree, '--pathspec-from-file=-', '--pathspec-file-nul'], pathsOnStdin(paths, { cwd: repo, lockRetries: 8 }));
}

/** Empty parent folders of a removed path, up to the checkout. */
async function removeEmptyParents(repo: string, p: string): Promise<void> {
  let dir = path.dirname(p);
  while (dir !== '.' && dir !== '' && (await fs.rmdir(fsPath(repo, dir)).then(() => true, () => false))) dir = path.dirname(dir);
}

/**
 * A target commit holding only some of the integrated work: chosen files, and within a file,
 * chosen hunks (numbered as `hunks(base, target, [file])` lists them).
 */
export async function selectionTarget(repo: string, base: string, integrated: string, select: { files?: string[]; hunks?: Record<string, number[]> }): Promise<string> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'lanes-select-'));
  const env = { GIT_INDEX_FILE: path.join(tmp, 'index') };
  try {
    await gitUser(['read-tree', base], { cwd: repo, env });
    const whole = (select.files ?? []).filter((f) => !select.hunks?.[f]);
    // Files taken whole: their entries (or absence) from the integrated tree, in the temp index.
    if (whole.length) await gitUser(['reset', '-q', integrated, '--pathspec-from-file=-', '--pathspec-file-nul'], pathsOnStdin(whole, { cwd: repo, env }));
    for (const [file, wanted] of Object.entries(select.hunks ?? {})) {
      const patch = await gitOut(['diff', '--no-color', '--no-ext-diff', '--no-renames', base, integrated, '--', file], { cwd: repo, readOnly: true });
      const header = patch.slice(0, patch.indexOf('\n@@'));
      const all = parseHunks(patch);
      const keep = all.filter((_, i) => wanted.includes(i));
      if (!keep.length) continue;
      const body = keep.map((h) => `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@${h.header ? ` ${h.header}` : ''}\n${h.lines.join('\n')}\n`).join('');
      await gitUser(['apply', '--cached', '--recount', '-'], { cwd: repo, env, input: `${header}\n${body}` });
    }
    const tree = await gitOut(['write-tree'], { cwd: repo, env });
    return await gitOut(['commit-tree', tree, '-p', base, '-F', '-'], { cwd: repo, input: 'lanes: selection to apply\n', env: ID });
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Roll back an apply into this checkout that a crash interrupted. Only an apply whose owner is
 * gone, and only in the checkout it was writing; a live apply is left alone ('in-progress').
 * The checkout's state as found is saved first (refs/lanes/apply/<id>/before-recovery).
 */
export async function recoverApply(repo: string, commonDir: string): Promise<Recovery> {
  const j = await readJournal(commonDir, repo);
  if (!j || j.step === 'done' || j.step === 'rolled-back' || j.step === 'undone') return 'none';
  if (stillApplying(j)) return 'in-progress';
  // Either way the checkout as found is saved first (edits made since the crash are never lost).
  // An apply that died is rolled back; an undo that died is finished (the person asked for the
  // before-state): both put j.paths back as the snapshot has them.
  const undoing = j.step === 'undoing';
  const found = await snapshotCheckout(repo, `lanes: snapshot before ${undoing ? 'finishing the interrupted undo' : 'rolling back the interrupted apply'} ${j.id}`);
  await gitUser(['update-ref', `${APPLY_REF_PREFIX}${j.id}/before-recovery`, found.snapshot], { cwd: repo, lockRetries: 6 });
  await restorePaths(repo, j);
  j.step = undoing ? 'undone' : 'rolled-back';
  j.endedAt = new Date().toISOString();
  await writeJournal(commonDir, j);
  return undoing ? 'undo-finished' : 'rolled-back';
}

/** An apply into this checkout that is under way right now, if any (for status). */
export async function applyInProgress(repo: string, commonDir: string): Promise<ApplyJournal | undefined> {
  const j = await readJournal(commonDir, repo);
  return j && (j.step === 'snapshotted' || j.step === 'writing' || j.step === 'undoing') && stillApplying(j) ? j : undefined;
}

/** Put `j.paths` back exactly as the snapshot has them (working tree and index). */
async function restorePaths(repo: string, j: ApplyJournal): Promise<void> {
  const snapshotFiles = await filesIn(repo, j.snapshot, j.paths);
  const inSnapshot = j.paths.filter((p) => snapshotFiles.has(p));
  const notInSnapshot = j.paths.filter((p) => !snapshotFiles.has(p));
  // Paths the apply created: remove them (and their index entries), then empty parent folders.
  for (const p of notInSnapshot) {
    // Only a file the apply wrote goes; a folder there is the user's own (not written by us).
    const st = await fs.lstat(fsPath(repo, p)).catch(() => undefined);
    if (st && !st.isDirectory()) await fs.rm(fsPath(repo, p));
  }
  await removeFromIndex(repo, notInSnapshot);
  for (const p of notInSnapshot) await removeEmptyParents(repo, p);
  if (inSnapshot.length) {
    // A file may have become a folder (or the reverse): clear the way first.
    for (const p of inSnapshot) {
      const st = await fs.lstat(fsPath(repo, p)).catch(() => undefined);
      // Only an empty folder is removed; anything inside it stops the restore with an error.
      if (st?.isDirectory()) await fs.rmdir(fsPath(repo, p));
    }
    await checkoutFrom(repo, j.snapshot, inSnapshot);
  }
  // Index entries back to what the user had staged (a path not in that index leaves it); the
  // working tree is not touched by this.
  await gitUser(['reset', '-q', j.indexSnapshot, '--pathspec-from-file=-', '--pathspec-file-nul'], pathsOnStdin(j.paths, { cwd: repo, lockRetries: 8 }));
}

export async function applyToCheckout(o: ApplyOptions): Promise<ApplyResult> {
  if ((await recoverApply(o.repo, o.commonDir)) === 'in-progress') {
    throw new BusyError('another apply into this checkout is under way; wait for it to finish');
  }
  const lanePaths = await changedPaths(o.repo, o.base, o.target, o.paths);
  if (!lanePaths.length) throw new ApplyRefused('nothing to apply: the lanes changed nothing here', 'nothingToApply', []);
  const links = await outsideLinks(o.repo, o.base, o.target, new Set(lanePaths));
  if (links.length && !o.acceptOutsideLinks) {
    throw new ApplyRefused(
      `the lanes' result has symlinks pointing outside the repository: ${describeOutsideLinks(links)}; nothing was applied. Apply them only if you mean to (lanes reconcile --apply --accept-outside-links, or "Apply Anyway" in VS Code), or leave them out`,
      'outsideLink',
      links.map((l) => l.path),
    );
  }
  // Never through a link out of the checkout: a path whose folder is (or sits under) a symlink
  // leading elsewhere would be written or deleted there.
  const through = await throughLinks(o.repo, lanePaths);
  if (through.length) {
    throw new ApplyRefused(`these paths lie under a symlink that leads outside your checkout: ${through.map(displayPath).join(', ')}; nothing was applied`, 'throughLink', through);
  }
  const id = `${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${Math.floor(Math.random() * 0xffff).toString(16).padStart(4, '0')}`;
  const snap = await snapshotCheckout(o.repo, `lanes: snapshot before apply ${id}`);
  for (const [name, commit] of [['head', snap.head], ['worktree', snap.snapshot], ['index', snap.indexSnapshot]] as const) {
    await gitUser(['update-ref', `${APPLY_REF_PREFIX}${id}/${name}`, commit], { cwd: o.repo, lockRetries: 6 });
  }
  const userChanged = new Set([
    ...(await changedPaths(o.repo, snap.head, snap.snapshot)), // uncommitted edits and untracked files
    ...(await changedPaths(o.repo, snap.head, snap.indexSnapshot)), // staged
    ...(o.unsavedPaths ?? []),
  ]);
  const untracked = new Set(await gitPaths(['ls-files', '-z', '--others', '--exclude-standard'], { cwd: o.repo, readOnly: true }));
  // Tracked: a file in the index, or a folder holding one.
  const tracked = new Set<string>();
  for (const f of await gitPaths(['ls-files', '-z'], { cwd: o.repo, readOnly: true })) {
    for (let p = f; p !== '.' && !tracked.has(p); p = path.posix.dirname(p)) tracked.add(p);
  }
  const targetFiles = await filesIn(o.repo, o.target, lanePaths);
  const ignoredOrUntrackedHit: string[] = [];
  for (const p of lanePaths) {
    if (!tracked.has(p) && targetFiles.has(p) && (await fs.lstat(fsPath(o.repo, p)).then(() => true, () => false))) ignoredOrUntrackedHit.push(p);
  }
  const untrackedHits = lanePaths.filter((p) => untracked.has(p) || ignoredOrUntrackedHit.includes(p));
  if (untrackedHits.length) {
    throw new ApplyRefused(`untracked files in your checkout would be overwritten: ${untrackedHits.map(displayPath).join(', ')}; move or commit them first`, 'untrackedCollision', untrackedHits);
  }
  const unsaved = lanePaths.filter((p) => o.unsavedPaths?.includes(p));
  if (unsaved.length) throw new ApplyRefused(`files open with unsaved changes would change: ${unsaved.map(displayPath).join(', ')}; save or close them first`, 'dirtyEditors', unsaved);
  const overlap = lanePaths.filter((p) => userChanged.has(p));
  if (overlap.length && !o.conflictMarkers) {
    throw new ApplyRefused(`you have changed files the lanes also change: ${overlap.map(displayPath).join(', ')}; commit or stash them, or apply with conflict markers`, 'dirtyOverlap', overlap);
  }

  // Three-way: base is found by git (the run's base when HEAD descends from it); ours is the
  // user's working state; theirs the lanes' result.
  const clean = snap.head === o.base && userChanged.size === 0;
  const trial = await trialMerge(o.repo, snap.snapshot, o.target);
  // Only the paths this apply writes matter: a conflict elsewhere (work of a lane this selection
  // builds on, say) is not brought in, so it refuses nothing.
  const merge = { tree: trial.tree, conflicts: trial.conflicts.filter((p) => lanePaths.includes(p)) };
  if (merge.conflicts.length && !o.conflictMarkers) {
    throw new ApplyRefused(`the lanes' work conflicts with your checkout in ${merge.conflicts.map(displayPath).join(', ')}`, 'conflict', merge.conflicts);
  }
  const paths = lanePaths;
  const owner = { ...ownerFor(o.command ?? 'apply') };
  const journal: ApplyJournal = { version: 1, id, runId: o.runId, step: 'snapshotted', startedAt: new Date().toISOString(), ...snap, tree: merge.tree, paths, checkout: o.repo, owner };
  applying.add(id);
  try {
    return await writeInto(o, journal, merge.tree, merge.conflicts, clean);
  } catch (e) {
    if (e instanceof InjectedCrash) throw e; // a crash: nothing of this process runs on
    // A failure half-way (disk full, a lock): put back what was written, then say what failed.
    if (journal.step === 'writing') {
      try {
        await restorePaths(o.repo, journal);
        journal.step = 'rolled-back';
        journal.endedAt = new Date().toISOString();
        await writeJournal(o.commonDir, journal);
      } catch {
        /* left to recovery: the journal still says "writing" */
      }
    }
    throw e;
  } finally {
    applying.delete(id);
  }
}

/** Test hook: a crash at a chosen step (the apply stops as if its process died). */
class InjectedCrash extends Error {}

async function writeInto(o: ApplyOptions, journal: ApplyJournal, tree: string, conflicts: string[], clean: boolean): Promise<ApplyResult> {
  const { id, paths } = journal;
  const merge = { tree, conflicts };
  await writeJournal(o.commonDir, journal);
  if (o.crashAfter === 'snapshotted') throw new InjectedCrash('injected crash after snapshotted');

  journal.step = 'writing';
  await writeJournal(o.commonDir, journal);
  if (o.crashAfter === 'writing') throw new InjectedCrash('injected crash after writing started');
  const inTree = await filesIn(o.repo, merge.tree, paths);
  const written = paths.filter((p) => inTree.has(p));
  const deleted = paths.filter((p) => !inTree.has(p));
  // Deletions first (deepest first), so a folder can become a file.
  const deepestFirst = [...deleted].sort((a, b) => b.length - a.length);
  for (const p of deepestFirst) await fs.rm(fsPath(o.repo, p), { force: true });
  await removeFromIndex(o.repo, deepestFirst);
  for (const p of deepestFirst) await removeEmptyParents(o.repo, p);
  if (o.crashAfter === 'deleted') throw new InjectedCrash('injected crash after deletions');
  if (written.length) {
    for (const p of written) {
      // A folder that must become a file: only when everything in it was a lane deletion.
      const st = await fs.lstat(fsPath(o.repo, p)).catch(() => undefined);
      if (st?.isDirectory()) await fs.rmdir(fsPath(o.repo, p));
    }
    await checkoutFrom(o.repo, merge.tree, written);
  }
  journal.step = 'done';
  journal.endedAt = new Date().toISOString();
  await writeJournal(o.commonDir, journal);
  return { id, applied: written, deleted, conflicted: merge.conflicts, journal, mode: clean ? 'clean-update' : 'three-way' };
}

export class UndoRefused extends LanesError {
  readonly reason = 'refused' as const;
  constructor(
    message: string,
    readonly files: string[],
  ) {
    super(message);
    this.name = 'UndoRefused';
  }
}

/**
 * Undo the last apply: its paths go back to the snapshot, byte for byte. Paths edited since the
 * apply are refused unless `force` (and even then the current state is snapshotted first).
 */
export async function undoApply(repo: string, commonDir: string, opts: { force?: boolean } = {}): Promise<{ id: string; restored: string[]; saved?: string }> {
  if ((await recoverApply(repo, commonDir)) === 'in-progress') throw new BusyError('an apply into this checkout is under way; wait for it to finish');
  const j = await readJournal(commonDir, repo);
  if (!j || j.step !== 'done') throw new UndoRefused('there is no apply to undo', []);
  const now = await snapshotCheckout(repo, `lanes: snapshot before undo of ${j.id}`);
  const editedSince = j.tree ? (await changedPaths(repo, j.tree, now.snapshot, j.paths)).filter((p) => j.paths.includes(p)) : [];
  if (editedSince.length && !opts.force) {
    throw new UndoRefused(`these files changed since the apply: ${editedSince.map(displayPath).join(', ')}; use --force to undo anyway (their current state is saved first)`, editedSince);
  }
  const saved = `${APPLY_REF_PREFIX}${j.id}/before-undo`;
  await gitUser(['update-ref', saved, now.snapshot], { cwd: repo, lockRetries: 6 });
  // Journaled like the apply: an undo that dies half-way is finished by the next command.
  j.step = 'undoing';
  j.owner = { ...ownerFor('undo') };
  await writeJournal(commonDir, j);
  applying.add(j.id);
  try {
    await restorePaths(repo, j);
  } finally {
    applying.delete(j.id);
  }
  j.step = 'undone';
  j.endedAt = new Date().toISOString();
  await writeJournal(commonDir, j);
  return { id: j.id, restored: j.paths, saved };
}
