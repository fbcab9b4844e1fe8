import * as assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../src/cli/main';
import { unsupportedPlatform } from '../../src/core/util/platform';

const WSL = 'Agent Lanes needs Linux or macOS; on Windows, run it inside WSL (https://learn.microsoft.com/windows/wsl/)';

/** Outside any repository: nothing here may touch a real one. */
const cwd = mkdtempSync(path.join(os.tmpdir(), 'lanes-platform-'));

async function lanesOn(platform: string, args: string[]) {
  let out = '';
  let err = '';
  const code = await main(args, { cwd, env: {}, out: (t) => (out += t), err: (t) => (err += t), isTTY: false }, platform);
  return { code, out, err };
}

describe('platform support', () => {
  it('Windows is refused with a pointer to WSL; Linux and macOS are not', () => {
    assert.equal(unsupportedPlatform('win32'), WSL);
    assert.equal(unsupportedPlatform('linux'), undefined);
    assert.equal(unsupportedPlatform('darwin'), undefined);
  });

  it('the CLI refuses every command on Windows with one line and exit 2, but still answers --help and --version', async () => {
    for (const args of [['run'], ['status'], ['validate', '--plan', 'x.json'], ['clean', '--all'], ['nonsense']]) {
      const r = await lanesOn('win32', args);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.err, `${WSL}\n`);
      assert.equal(r.out, '');
    }
    const help = await lanesOn('win32', ['--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /^lanes — /);
    const runHelp = await lanesOn('win32', ['run', '--help']);
    assert.equal(runHelp.code, 0);
    assert.match(runHelp.out, /^Usage: lanes run/);
    const version = await lanesOn('win32', ['--version']);
    assert.equal(version.code, 0);
    assert.equal(version.err, '');
  });

  it('elsewhere the CLI runs the command', async () => {
    const r = await lanesOn('linux', ['schema']);
    assert.equal(r.code, 0);
    assert.equal(r.err, '');
    assert.match(r.out, /"\$schema"/);
  });
});
