import { execFileSync } from 'node:child_process';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { COMMANDS } from '../../src/extension/commandIds';

const pkg = JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8'));

describe('package.json contributions', () => {
  it('declares exactly the commands the extension registers, each in the Agent Lanes category', () => {
    const declared = pkg.contributes.commands.map((c: { command: string }) => c.command).sort();
    assert.deepEqual(declared, Object.keys(COMMANDS).sort());
    for (const c of pkg.contributes.commands) assert.equal(c.category, 'Agent Lanes', c.command);
  });

  it('hides commands that need a lane argument from the palette', () => {
    const hidden = new Set(pkg.contributes.menus.commandPalette.filter((m: { when: string }) => m.when === 'false').map((m: { command: string }) => m.command));
    for (const id of ['runLane', 'stopLane', 'retryLane', 'openLaneWorktree', 'openLaneTerminal', 'showLaneLog', 'compareLaneWithBase']) assert.ok(hidden.has(`agentLanes.${id}`), id);
  });

  it('declares the agentLane task type with a required lane, and restricts settings that name executables', () => {
    assert.deepEqual(pkg.contributes.taskDefinitions[0].type, 'agentLane');
    assert.deepEqual(pkg.contributes.taskDefinitions[0].required, ['lane']);
    const restricted = pkg.capabilities.untrustedWorkspaces.restrictedConfigurations;
    for (const k of ['agentLanes.agents', 'agentLanes.plannerCommand', 'agentLanes.defaultAgent']) assert.ok(restricted.includes(k), k);
    assert.equal(pkg.capabilities.untrustedWorkspaces.supported, 'limited');
  });

  it('every menu entry names a declared command', () => {
    const ids = new Set(Object.keys(COMMANDS));
    for (const [menu, entries] of Object.entries(pkg.contributes.menus) as [string, { command: string }[]][]) {
      for (const e of entries) assert.ok(ids.has(e.command), `${menu}: ${e.command}`);
    }
  });
});

describe('packaging', () => {
  it('the .vsix holds only what runs: no sources, tests, node_modules or source maps', function () {
    this.timeout(60000);
    const vsce = path.resolve(__dirname, '../../node_modules/@vscode/vsce/vsce');
    const listed = execFileSync(process.execPath, [vsce, 'ls', '--no-dependencies'], { cwd: path.resolve(__dirname, '../..'), encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    const bad = listed.filter((f) => /^(src|test|bench|node_modules|\.ci|media\/screenshots)\//.test(f) || f.endsWith('.map') || f.endsWith('.ts'));
    assert.deepEqual(bad, []);
    assert.ok(listed.includes('dist/extension.js'), listed.join(', '));
    assert.ok(listed.includes('dist/plan.schema.json'));
  });
});
