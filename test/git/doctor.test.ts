import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { doctor } from '../../src/core/agents/doctor';
import { lanes } from '../helpers/cli';
import { createTempRepo, tempDir } from '../helpers/repo';

/**
 * Stand-ins for agent CLIs on a PATH of their own (the real CLIs are exercised by the agent
 * compatibility suite): each answers --version and --help like its CLI does, so the checks of
 * versions and flags are tested against known text.
 */
function fakeBin(): string {
  const bin = tempDir('lanes-fake-bin-');
  const script = (name: string, version: string, help: string) => {
    // Only shell builtins: the PATH holds nothing else.
    writeFileSync(path.join(bin, name), `#!/bin/sh\ncase "$*" in\n  *--version*) echo '${version}' ;;\n  *--help*) printf '%s\\n' '${help.replace(/\n/g, "' '")}' ;;\n  *) exit 2 ;;\nesac\n`);
    chmodSync(path.join(bin, name), 0o755);
  };
  script('claude', '2.1.331 (Claude Code)', 'Usage: claude [options]\n  -p, --print  Print response\n  --permission-mode <mode>\n  --allowedTools, --allowed-tools <tools...>\n  --output-format <format>\n  --verbose  Override verbose mode');
  // An older codex: exec still has --full-auto and no --sandbox.
  script('codex', 'codex-cli 0.40.0', 'Usage: codex exec [OPTIONS] [PROMPT]\n      --full-auto  Convenience alias\n  -m, --model <MODEL>');
  symlinkSync(process.execPath, path.join(bin, 'node'));
  symlinkSync(execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim(), path.join(bin, 'git'));
  return bin;
}

describe('lanes doctor', () => {
  it("finds each CLI, its version and whether it accepts the preset's flags; reports auth without values", async () => {
    const bin = fakeBin();
    const home = tempDir('lanes-home-');
    mkdirSync(path.join(home, '.codex'), { recursive: true });
    writeFileSync(path.join(home, '.codex', 'auth.json'), '{}');
    const r = await doctor({ PATH: bin, HOME: home, ANTHROPIC_API_KEY: 'sk-secret-value' });
    const claude = r.agents.find((a) => a.preset === 'claude')!;
    assert.equal(claude.version, '2.1.331 (Claude Code)');
    assert.deepEqual(claude.flags, [
      { flag: '-p', accepted: true },
      { flag: '--permission-mode', accepted: true },
      { flag: '--allowedTools', accepted: true },
      { flag: '--output-format', accepted: true },
      { flag: '--verbose', accepted: true },
    ]);
    assert.deepEqual(claude.auth.vars.filter((v) => v.set), [{ name: 'ANTHROPIC_API_KEY', set: true }]);
    assert.deepEqual(claude.problems, []);
    const codex = r.agents.find((a) => a.preset === 'codex')!;
    assert.deepEqual(codex.flags, [
      { flag: '--json', accepted: false },
      { flag: '--sandbox', accepted: false },
      { flag: '-c', accepted: false },
    ]);
    assert.match(codex.problems[1]!, /does not list --sandbox in its help/);
    assert.equal(codex.auth.ready, true, 'logged in (auth.json)');
    const gemini = r.agents.find((a) => a.preset === 'gemini')!;
    assert.equal(gemini.path, undefined);
    assert.match(gemini.problems[0]!, /gemini is not on PATH; install it with: npm install -g @google\/gemini-cli/);
    assert.doesNotMatch(JSON.stringify(r), /sk-secret-value/, 'no secret in the report');
    assert.equal(r.sandbox.available, false, 'no bwrap on this PATH');
  });

  it('says whether lanes run sandboxed, having tried the sandbox', async function () {
    const r = await doctor(process.env, []);
    if (process.platform !== 'linux' || !r.sandbox.tool) this.skip();
    // bwrap is installed here: either it runs (sandboxed) or the report says why not.
    assert.match(r.sandbox.note, r.sandbox.available ? /^lanes run sandboxed \(bubblewrap, / : /^lanes run WITHOUT a sandbox: bubblewrap cannot create a sandbox here/);
  });

  it('prints a table, and JSON with --json', async () => {
    const repo = createTempRepo();
    const bin = fakeBin();
    const t = await lanes(repo.dir, ['doctor'], { PATH: bin, HOME: tempDir(), NO_COLOR: '1', ANTHROPIC_API_KEY: 'x' });
    assert.equal(t.code, 0, t.err);
    assert.match(t.out, /^✓ git version /m);
    assert.match(t.out, /^✓ Claude Code +2\.1\.331 \(Claude Code\)/m);
    assert.match(t.out, /flags: --json ✗ --sandbox ✗ -c ✗/);
    assert.match(t.out, /^! sandbox: lanes run WITHOUT a sandbox: bubblewrap \(bwrap\) is not installed; install it with "apt-get install bubblewrap"/m);
    assert.match(t.out, /^✗ Gemini CLI +not installed$/m);
    const j = await lanes(repo.dir, ['doctor', '--json'], { PATH: bin, HOME: tempDir() });
    assert.deepEqual(JSON.parse(j.out).agents.map((a: { preset: string }) => a.preset), ['claude', 'codex', 'aider', 'gemini', 'copilot']);
  });
});
