import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { FindingRecord } from '../../../src/core/run/findings';
import type { SendOutcome } from '../../../src/extension/runs';
import type { Node } from '../../../src/extension/tree';
import { api, folder, screenshot, waitFor, workspaceDir } from './util';

/**
 * A plan of its own (beside the workspace, not in it): `tests` checks for a file `impl` only
 * writes when it runs again, and raises a blocking finding for it when the check fails. impl has
 * no retries, so the run cannot send it back by itself: the finding stays open for a person.
 */
const agent = (...steps: string[]) => ({ command: ['node', '.lanes/agent.js', ...steps] });

function writeFindingsPlan(name: string, extraLanes: object[] = []): string {
  const file = path.join(path.dirname(workspaceDir()), `${name}.json`);
  const plan = {
    version: 1,
    goal: 'Fix the range bug, with a test lane checking it',
    lanes: [
      { id: 'impl', role: 'implement', brief: 'Write src/fixed.txt.', retries: 0, agent: agent('write-first=src/impl.txt:first try', 'write-later=src/fixed.txt:fixed') },
      { id: 'tests', role: 'test', brief: 'Check impl.', dependsOn: ['impl'], retries: 0, agent: agent('write=test/check.txt:checked', 'find-if-fails=impl:cat src/fixed.txt') },
      ...extraLanes,
    ],
  };
  fs.writeFileSync(file, JSON.stringify(plan, null, 2) + '\n');
  return file;
}

async function laneNode(id: string): Promise<Node> {
  const a = await api();
  const roots = (await a.tree.getChildren()) as Node[];
  const n = roots.find((x) => x.kind === 'lane' && x.lane.id === id);
  assert.ok(n, `lane ${id} in the tree`);
  return n;
}

async function childrenOf(lane: string): Promise<Node[]> {
  return ((await (await api()).tree.getChildren(await laneNode(lane))) as Node[]) ?? [];
}

const label = (item: vscode.TreeItem) => (typeof item.label === 'string' ? item.label : item.label?.label ?? '');
/** A tooltip's text (appendText writes spaces as &nbsp; and escapes markdown). */
const tooltip = (item: vscode.TreeItem) =>
  (item.tooltip instanceof vscode.MarkdownString ? item.tooltip.value : String(item.tooltip ?? '')).replace(/&nbsp;/g, ' ').replace(/\\([\\`*_{}[\]()#+\-.!])/g, '$1');

describe('findings between lanes', () => {
  let runId: string;

  it('a blocking finding that could not loop back shows under both lanes, with its evidence; dismissing it frees the lane', async () => {
    const a = await api();
    const f = await folder();
    await waitFor('no run active', () => !f.live, 30000);
    const o = await f.session.run({ planFile: writeFindingsPlan('findings-plan') });
    const state = await o.run();
    runId = state.runId;
    await waitFor('the run to settle', () => !f.live && f.run?.runId === state.runId);
    assert.deepStrictEqual(state.lanes.map((l) => [l.id, l.status]), [
      ['impl', 'passed'],
      ['tests', 'failed'],
    ]);
    assert.deepStrictEqual(state.findings.map((x) => [x.id, x.from, x.to, x.kind, x.blocking, x.status]), [['F1', 'tests', 'impl', 'bug', true, 'open']]);
    assert.deepStrictEqual(state.loopBacks.map((x) => [x.from, x.to, x.finding, x.sent]), [['tests', 'impl', 'F1', false]]);

    // Under impl: the finding against it, and the loop-back that was not made.
    await waitFor('the finding in the tree', async () => (await childrenOf('impl')).some((n) => n.kind === 'finding'));
    const implItem = a.tree.getTreeItem(await laneNode('impl'));
    assert.match(String(implItem.description), /⚠ F1 blocks merge/);
    assert.match(tooltip(implItem), /merge queue holds impl/);
    const kids = await childrenOf('impl');
    const node = kids.find((n) => n.kind === 'finding')!;
    const item = a.tree.getTreeItem(node);
    assert.strictEqual(item.contextValue, 'finding.open');
    assert.strictEqual(label(item), 'F1 from tests: cat src/fixed.txt fails');
    assert.strictEqual(item.description, 'bug · blocking · open');
    assert.strictEqual((item.iconPath as vscode.ThemeIcon).id, 'bug');
    assert.match(tooltip(item), /cat src\/fixed\.txt/);
    assert.match(tooltip(item), /No such file or directory/, 'the end of the evidence output');
    assert.match(tooltip(item), /not sent back/);
    const loop = kids.find((n) => n.kind === 'loopBack');
    assert.ok(loop, kids.map((n) => n.kind).join(', '));
    assert.match(label(a.tree.getTreeItem(loop)), /^not sent back \(F1\): impl has no retries left/);
    // Under tests: the finding it raised.
    const raised = (await childrenOf('tests')).find((n) => n.kind === 'finding');
    assert.ok(raised);
    assert.strictEqual(label(a.tree.getTreeItem(raised)), 'F1 to impl: cat src/fixed.txt fails');
    assert.notStrictEqual(a.tree.getTreeItem(raised).id, item.id, 'one id per row');

    await vscode.commands.executeCommand('agentLanes.plan.focus');
    await a.view.reveal(node, { select: true, focus: true });
    await screenshot('finding-in-tree');

    // The reconcile panel lists it with its actions, and the lane it holds.
    const panel = (await a.openReconcilePanel(f))!;
    await waitFor('the panel to be ready', () => (panel as unknown as { ready: boolean }).ready, 20000);
    assert.deepStrictEqual(panel.state.findings.map((x) => [x.id, x.status, x.actions]), [['F1', 'open', ['send', 'edit', 'dismiss']]]);
    assert.deepStrictEqual(panel.state.lanes.find((l) => l.id === 'impl')?.blockedBy, ['F1']);
    assert.match(panel.state.loopBacks[0]!.text, /impl: not sent back \(F1\)/);
    await screenshot('finding-in-panel');

    // Dismiss, as the row's inline action calls it (the reason given, no input box).
    const after = await vscode.commands.executeCommand<FindingRecord | undefined>('agentLanes.dismissFinding', node, 'flaky on CI, tracked elsewhere');
    assert.strictEqual(after?.status, 'dismissed');
    const listed = await f.session.findings(state.runId);
    assert.strictEqual(listed[0]!.status, 'dismissed');
    assert.match(listed[0]!.note ?? '', /flaky on CI, tracked elsewhere/);
    // The tree and the panel follow.
    await waitFor('the row to say dismissed', async () => {
      const n = (await childrenOf('impl')).find((x) => x.kind === 'finding');
      return n && a.tree.getTreeItem(n).contextValue === 'finding.dismissed';
    });
    assert.doesNotMatch(String(a.tree.getTreeItem(await laneNode('impl')).description), /⚠ F1/);
    await waitFor('the panel to say dismissed', () => panel.state.findings[0]?.status === 'dismissed');
    assert.strictEqual(panel.state.lanes.find((l) => l.id === 'impl')?.blockedBy, undefined);
    panel.panel.dispose();
  });

  it('Edit and Send Back resumes the run: the lane runs again with the edited text, and the finder checks again on top', async () => {
    const f = await folder();
    const text = 'src/fixed.txt is missing; write it, and keep src/impl.txt as it is';
    const r = await vscode.commands.executeCommand<SendOutcome | undefined>('agentLanes.editAndSendFinding', { folder: f.root, runId, id: 'F1' }, text);
    assert.strictEqual(r?.kind, 'sent', JSON.stringify(r));
    // The run resumed in this window (views attached) before the command returned.
    await waitFor('the resumed run to end', () => !f.live && f.run?.runId === runId && f.run.loopBacks.some((x) => x.by === 'person'), 60000);
    const st = await f.session.store.read(runId);
    const seen = JSON.stringify({ lanes: st.lanes.map((l) => [l.id, l.status, l.reason, l.attempts.length]), loopBacks: st.loopBacks, findings: st.findings.map((x) => [x.id, x.status, x.note]) });
    assert.deepStrictEqual(st.lanes.map((l) => [l.id, l.status, l.attempts.length]), [
      ['impl', 'passed', 2],
      ['tests', 'passed', 2],
    ], seen);
    const brief = fs.readFileSync(st.lanes[0]!.attempts[1]!.briefFile, 'utf8');
    assert.ok(brief.includes(text), 'the edited text is in impl\'s brief');
    assert.match(brief, /finding F1/);
    const findings = await f.session.findings(runId);
    assert.deepStrictEqual(findings.map((x) => [x.id, x.status]), [['F1', 'addressed']], `a send after the dismissal wins, and impl passing again addresses it: ${seen}`);
    assert.deepStrictEqual(st.loopBacks.map((x) => [x.by, x.sent]), [
      ['run', false],
      ['person', true],
    ], seen);
    const a = await api();
    await waitFor('the row to say addressed', async () => {
      const n = (await childrenOf('impl')).find((x) => x.kind === 'finding');
      return n && a.tree.getTreeItem(n).contextValue === 'finding.addressed';
    });
  });

  it('Send Back while the run still works in this window: the live run takes it, the lane runs again, then the finder', async () => {
    const a = await api();
    const f = await folder();
    // A third lane keeps the run going while tests fails with its finding.
    const o = await f.session.run({ planFile: writeFindingsPlan('findings-live-plan', [{ id: 'slow', role: 'docs', brief: 'Takes its time.', agent: agent('sleep=20000', 'write=docs/slow.txt:slow') }]) });
    try {
      await waitFor('tests to fail with F1 while slow works', () => o.state.lanes.find((l) => l.id === 'tests')?.status === 'failed' && f.findings.some((x) => x.id === 'F1' && x.status === 'open'), 30000);
      assert.strictEqual(f.live, o, 'the run is live in this window');
      const r = await vscode.commands.executeCommand<SendOutcome | undefined>('agentLanes.sendFindingBack', { folder: f.root, id: 'F1' });
      assert.deepStrictEqual([r?.kind, r?.kind === 'sent' && r.live], ['sent', true], JSON.stringify({ r, lanes: o.state.lanes.map((l) => [l.id, l.status, l.reason, l.attempts.length]), loopBacks: o.state.loopBacks, findings: o.state.findings.map((x) => [x.id, x.status, x.note]) }));
      await waitFor('impl and tests to pass again in the same run', () => {
        const st = Object.fromEntries(o.state.lanes.map((l) => [l.id, `${l.status}/${l.attempts.length}`]));
        return st.impl === 'passed/2' && st.tests === 'passed/2';
      }, 30000);
      await waitFor('F1 addressed in the tree', async () => {
        const n = (await childrenOf('impl')).find((x) => x.kind === 'finding');
        return n && a.tree.getTreeItem(n).contextValue === 'finding.addressed';
      });
      assert.deepStrictEqual(o.state.loopBacks.map((x) => [x.by, x.sent]), [
        ['run', false],
        ['person', true],
      ]);
      assert.strictEqual(f.live, o, 'still the one run');
    } finally {
      a.runs.cancelRun(f);
      await o.run().catch(() => undefined);
      await waitFor('the run to end', () => !f.live, 20000);
    }
  });
});
