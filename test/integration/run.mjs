// npm run test:integration — Agent Lanes' integration tests in a real VS Code (offline host).
//  1. builds the extension and bundles the test suite (with mocha) to out/test/integration/
//  2. makes a fixture workspace: a git repository with a three-lane plan of scripted agents
//  3. runs the suite trusted (tasks, tree, diagnostics, recovery) and again in Restricted Mode
// Exit code: 0 when both runs pass.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { makeFixture, makeMultiRootFixture } from './fixture.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const extraArgs = process.argv.slice(2).filter((a) => a !== '--build-only');
const buildOnly = process.argv.includes('--build-only');

execFileSync(process.execPath, [path.join(repo, 'esbuild.config.mjs')], { stdio: 'inherit', cwd: repo });
await esbuild.build({
  entryPoints: [path.join(repo, 'test/integration/suite/index.ts')],
  outfile: path.join(repo, 'out/test/integration/index.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node18',
  external: ['vscode'],
  sourcemap: 'inline',
  logLevel: 'error', // mocha's optional parallel-mode files are not needed in the bundle
});

if (buildOnly) process.exit(0);

// The offline VS Code host: installed on first use (idempotent; apt-get needs root).
const hostReady = existsSync(path.join(process.env.LANES_VSCODE_HOST || path.join(repo, '.vscode-test/host'), 'runner/node_modules/playwright-core'));
if (!hostReady) execFileSync('bash', [path.join(repo, 'test/integration/host/install.sh')], { stdio: 'inherit' });

const runner = path.join(repo, 'test/integration/host/run.js');
let failed = 0;
for (const mode of ['trusted', 'untrusted', 'multi-root']) {
  const base = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'lanes-it-')));
  const target = mode === 'multi-root' ? makeMultiRootFixture(base, repo) : makeFixture(base, repo);
  console.log(`\n=== integration tests (${mode}) in ${target}`);
  const r = spawnSync(
    process.execPath,
    [runner, `--workspace=${target}`, `--mode=${mode}`, `--screenshots=${path.join(repo, 'out/screenshots')}`, ...(mode === 'untrusted' ? ['--untrusted'] : []), ...extraArgs],
    { stdio: 'inherit', cwd: repo },
  );
  if (r.status !== 0) failed++;
  rmSync(base, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
