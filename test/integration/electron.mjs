// npm run test:electron — the same integration suite in a desktop VS Code downloaded by
// @vscode/test-electron (needs internet; CI uses the offline host in test/integration/host/).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync } from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTests } from '@vscode/test-electron';
import { makeFixture } from './fixture.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
execFileSync(process.execPath, [path.join(repo, 'test/integration/run.mjs'), '--build-only'], { stdio: 'inherit' });
const dir = makeFixture(realpathSync(mkdtempSync(path.join(os.tmpdir(), 'lanes-it-'))), repo);
await runTests({
  extensionDevelopmentPath: repo,
  extensionTestsPath: path.join(repo, 'out/test/integration/index.js'),
  launchArgs: [dir, '--disable-extensions', '--disable-workspace-trust'],
  extensionTestsEnv: { LANES_TEST_WORKSPACE: dir, LANES_TEST_STATE_DIR: path.join(dir, '..', 'state') },
});
