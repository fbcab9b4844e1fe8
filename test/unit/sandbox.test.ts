import * as assert from 'node:assert/strict';
import { commandsOf } from '../../src/extension/approval';
import { formatPath, validatePlanText } from '../../src/core/plan/validate';
import { bwrapArgv, decideIsolation, describeIsolation, SandboxError, seatbeltProfile, writableAllowed } from '../../src/core/run/sandbox';

const policy = { kind: 'bwrap' as const, writable: ['/w/lane/sub', '/w/lane', '/repo/.git/objects'], network: true, tmpDir: '/t' };

describe('lane sandbox (pure parts)', () => {
  it('bwrap: read-only root, own /dev, /proc and PID namespace, dies with its parent, writable paths bound in order (parents first)', () => {
    const argv = bwrapArgv(policy, ['claude', '-p', 'a "brief" with $(x)'], '/w/lane');
    assert.deepEqual(argv.slice(0, 11), ['bwrap', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--unshare-pid', '--die-with-parent', '--new-session']);
    const binds = argv.flatMap((a, i) => (a === '--bind' ? [argv[i + 1]] : []));
    assert.deepEqual(binds, ['/w/lane', '/w/lane/sub', '/repo/.git/objects']);
    assert.ok(!argv.includes('--unshare-net'));
    assert.deepEqual(argv.slice(argv.indexOf('--')), ['--', 'claude', '-p', 'a "brief" with $(x)'], 'the command is argv after --, untouched');
    assert.ok(bwrapArgv({ ...policy, network: false }, ['x'], '/w/lane').includes('--unshare-net'));
  });

  it('never makes the root, the home folder, or anything holding or inside the repository writable; read-only paths are bound last', () => {
    assert.equal(writableAllowed('/', ['/r']), false);
    assert.equal(writableAllowed('/home/u', ['/r'], '/home/u'), false);
    assert.equal(writableAllowed('/r/.git', ['/r']), false);
    assert.equal(writableAllowed('/w', ['/w/lanes/run']), false, 'a folder holding a protected one');
    assert.equal(writableAllowed('/home/u/.codex', ['/r'], '/home/u'), true);
    const argv = bwrapArgv({ ...policy, readOnly: ['/w/lane/.git'] }, ['x'], '/w/lane');
    assert.ok(argv.lastIndexOf('--bind') < argv.indexOf('--ro-bind', 2), 'ro-binds come after every bind');
    assert.deepEqual(argv.slice(argv.indexOf('--ro-bind', 2), argv.indexOf('--ro-bind', 2) + 3), ['--ro-bind', '/w/lane/.git', '/w/lane/.git']);
  });

  it('sandbox-exec: writes denied but for the lane paths; quotes in paths cannot end the string', () => {
    const p = seatbeltProfile({ ...policy, kind: 'sandbox-exec', writable: ['/Users/a"b/w'], network: false });
    assert.match(p, /\(deny file-write\*\)/);
    assert.ok(p.includes('(subpath "/Users/a\\"b/w")'));
    assert.match(p, /\(deny network\*\)/);
    assert.doesNotMatch(seatbeltProfile(policy), /deny network/);
  });

  it('decides isolation: a lane or plan setting wins; an explicit sandbox or no network is never silently downgraded', () => {
    const here = { kind: 'bwrap' as const };
    const none = { reason: 'bubblewrap (bwrap) is not installed' };
    assert.deepEqual(decideIsolation(undefined, true, here, 'a'), { isolation: 'bwrap' });
    assert.deepEqual(decideIsolation('none', true, here, 'a'), { isolation: 'none' });
    assert.deepEqual(decideIsolation(undefined, true, none, 'a'), { isolation: 'none', warning: 'lanes run without a sandbox: bubblewrap (bwrap) is not installed' });
    assert.throws(() => decideIsolation('sandbox', true, none, 'a'), (e: unknown) => e instanceof SandboxError && /lane "a" needs isolation "sandbox", but bubblewrap/.test(e.message));
    assert.throws(() => decideIsolation(undefined, false, none, 'a'), /"network": false, which needs the sandbox/);
    assert.throws(() => decideIsolation('none', false, here, 'a'), /its isolation is "none"/);
  });

  it('validates isolation and network in the plan, naming the field', () => {
    const plan = (extra: object, lane: object = {}) => JSON.stringify({ version: 1, goal: 'g', ...extra, lanes: [{ id: 'a', brief: 'b', ...lane }] });
    assert.equal(validatePlanText(plan({ isolation: 'sandbox' }, { isolation: 'none', network: false })).ok, true);
    const bad = validatePlanText(plan({ isolation: 'docker' }, { network: 'off' }));
    assert.deepEqual(bad.errors.map((e) => `${formatPath(e.path)}: ${e.message}`), ['isolation: expected "sandbox" or "none"', 'lanes[0].network: expected true or false, got the string "off"']);
  });

  it('says where lanes run, and the approval lists it per lane (turning the sandbox off asks again)', () => {
    assert.equal(describeIsolation({ lanes: [{ id: 'a', isolation: 'bwrap' }, { id: 'b', isolation: 'bwrap' }] }), 'lanes sandboxed (bubblewrap)');
    assert.equal(describeIsolation({ lanes: [{ id: 'a' }] }), 'lanes not sandboxed');
    assert.equal(describeIsolation({ lanes: [{ id: 'a', isolation: 'bwrap', network: false }, { id: 'b', isolation: 'none' }] }), '1 of 2 lanes sandboxed (a: bubblewrap); no network for a');
    const plan = { version: 1 as const, goal: 'g', lanes: [{ id: 'a', brief: 'b', agent: { command: ['x'] } }] };
    const on = commandsOf(plan, 'claude', {}, { a: { isolation: 'bwrap', network: true } });
    const off = commandsOf(plan, 'claude', {}, { a: { isolation: 'none', network: true } });
    assert.deepEqual(on, ['a [sandboxed (bubblewrap)]: x']);
    assert.deepEqual(off, ['a [NOT sandboxed]: x']);
  });
});
