/**
 * Temp git repositories for tests: real git, a fixed identity, and no user or system config
 * leaking in (hooks, signing, templates, aliases of the machine running the tests).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync, realpathSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const isolation = mkdtempSync(path.join(os.tmpdir(), 'lanes-test-home-'));
const globalConfig = path.join(isolation, 'gitconfig');
writeFileSync(
  globalConfig,
  [
    '[user]',
    '\tname = Lanes Test',
    '\temail = test@lanes.invalid',
    '[init]',
    '\tdefaultBranch = main',
    '[commit]',
    '\tgpgsign = false',
    '[tag]',
    '\tgpgsign = false',
    '[gc]',
    '\tauto = 0',
    '[maintenance]',
    '\tauto = false',
    '',
  ].join('\n'),
);
/**
 * Scratch space for what test agents record (pids, argv, logs): the only folder outside their
 * worktrees that sandboxed lanes may write in these tests (LANES_SANDBOX_WRITABLE). Repositories
 * and worktrees live elsewhere, so the sandbox still guards them.
 */
const scratchRoot = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'lanes-scratch-')));
process.env.LANES_SANDBOX_WRITABLE = scratchRoot;
process.env.GIT_CONFIG_GLOBAL = globalConfig;
process.env.GIT_CONFIG_NOSYSTEM = '1';
for (const k of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_COMMITTER_NAME', 'GIT_COMMITTER_EMAIL']) {
  delete process.env[k];
}

export function sh(cwd: string, args: string[], input?: string): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] }).replace(/\n$/, '');
}

export interface TempRepo {
  dir: string;
  git(...args: string[]): string;
  write(rel: string, content: string): void;
  commitAll(message: string): string;
  cleanup(): void;
}

const created: string[] = [];

/** A temp folder; by default scratch space (writable by sandboxed test agents), else a named one. */
export function tempDir(prefix = 'lanes-test-'): string {
  const dir = realpathSync(mkdtempSync(path.join(prefix === 'lanes-test-' ? scratchRoot : os.tmpdir(), prefix)));

  created.push(dir);
  return dir;
}

export function createTempRepo(files: Record<string, string> = { 'README.md': '# sample\n' }): TempRepo {
  const dir = tempDir('lanes-repo-');
  const repo: TempRepo = {
    dir,
    git: (...args) => sh(dir, args),
    write: (rel, content) => {
      const abs = path.join(dir, rel);
      mkdirSync(path.dirname(abs), { recursive: true });
      writeFileSync(abs, content);
    },
    commitAll: (message) => {
      sh(dir, ['add', '-A']);
      sh(dir, ['commit', '-q', '-m', message]);
      return sh(dir, ['rev-parse', 'HEAD']);
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true, maxRetries: 3 }),
  };
  sh(dir, ['init', '-q', '-b', 'main']);
  for (const [rel, content] of Object.entries(files)) repo.write(rel, content);
  if (Object.keys(files).length) repo.commitAll('initial');
  return repo;
}

/** Remove every temp folder this process created (mocha root hook). */
export function cleanupTempDirs(): void {
  for (const d of created.splice(0)) rmSync(d, { recursive: true, force: true, maxRetries: 3 });
}

export const mochaHooks = {
  afterAll() {
    if (!process.env.LANES_KEEP_TEST_DIRS) {
      cleanupTempDirs();
      rmSync(scratchRoot, { recursive: true, force: true, maxRetries: 3 });
    }
    rmSync(isolation, { recursive: true, force: true });
  },
};
