import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { FINDING_KINDS, FINDING_STATUSES, type FindingRecord, type LoopBack } from '../../src/core/run/findings';
import type { RunState } from '../../src/core/run/state';
import {
  evidenceTail,
  findingActions,
  findingContextValue,
  findingDescription,
  findingIcon,
  findingLabel,
  findingView,
  loopBackLabel,
  loopBackView,
  outstandingText,
  type FindingAction,
} from '../../src/extension/findingsView';
import { buildPanelState, queueView } from '../../src/shared/panelState';
import { FindingView, parseToHost, parseToWebview } from '../../src/shared/protocol';

const finding = (over: Partial<FindingRecord> = {}): FindingRecord => ({
  id: 'F1',
  from: 'tests',
  to: 'impl',
  kind: 'bug',
  title: 'node --test fails',
  blocking: true,
  at: '2025-01-02T03:04:05.000Z',
  source: 'agent',
  status: 'open',
  history: [],
  ...over,
});

const pkg = JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8'));

/** The finding commands package.json's tree menus offer for a contextValue (evaluating the `viewItem =~ /…/` clauses). */
function offered(contextValue: string, group?: (g: string) => boolean): string[] {
  const out = new Set<string>();
  for (const m of pkg.contributes.menus['view/item/context'] as { command: string; when: string; group?: string }[]) {
    const re = /viewItem =~ \/(.*)\/(?:\s|$)/.exec(m.when);
    const eq = /viewItem == ([\w.:-]+)/.exec(m.when);
    const matches = re ? new RegExp(re[1]!).test(contextValue) : eq ? eq[1] === contextValue : false;
    if (matches && (!group || group(m.group ?? ''))) out.add(m.command);
  }
  return [...out].sort();
}

const COMMAND_OF: Record<FindingAction, string> = { send: 'agentLanes.sendFindingBack', edit: 'agentLanes.editAndSendFinding', dismiss: 'agentLanes.dismissFinding' };

describe('findings in the tree and the panel', () => {
  it('offers Send Back, Edit and Dismiss by kind and status, and the tree menus offer exactly those', () => {
    assert.deepEqual(findingActions({ kind: 'bug', status: 'open' }), ['send', 'edit', 'dismiss']);
    assert.deepEqual(findingActions({ kind: 'changes', status: 'sent' }), ['send', 'edit', 'dismiss']);
    assert.deepEqual(findingActions({ kind: 'bug', status: 'addressed' }), []);
    assert.deepEqual(findingActions({ kind: 'bug', status: 'dismissed' }), ['send', 'edit'], 'a send takes a dismissal back');
    assert.deepEqual(findingActions({ kind: 'approve', status: 'open' }), []);
    assert.deepEqual(findingActions({ kind: 'note', status: 'open' }), ['dismiss']);
    assert.equal(findingContextValue({ kind: 'bug', status: 'open' }), 'finding.open');
    assert.equal(findingContextValue({ kind: 'changes', status: 'dismissed' }), 'finding.dismissed');
    assert.equal(findingContextValue({ kind: 'approve', status: 'open' }), 'finding.approve');
    assert.equal(findingContextValue({ kind: 'note', status: 'open' }), 'finding.open.note');
    for (const kind of FINDING_KINDS) {
      for (const status of FINDING_STATUSES) {
        const cv = findingContextValue({ kind, status });
        const want = findingActions({ kind, status }).map((a) => COMMAND_OF[a]).sort();
        assert.deepEqual(offered(cv), want, `${kind}/${status} (${cv})`);
        // Inline: Send Back and Dismiss only (Edit is in the context menu).
        assert.deepEqual(offered(cv, (g) => g.startsWith('inline')), want.filter((c) => c !== COMMAND_OF.edit), `inline ${kind}/${status}`);
      }
    }
    // Only finding rows: no lane, file or run row gets them.
    for (const cv of ['lane:passed:changed', 'lane:failed', 'laneInfo', 'laneFile', 'run', 'loopBack.refused']) assert.deepEqual(offered(cv).filter((c) => Object.values(COMMAND_OF).includes(c)), [], cv);
  });

  it('gates the finding actions on Workspace Trust and keeps them out of the command palette', () => {
    for (const id of Object.values(COMMAND_OF)) {
      const c = pkg.contributes.commands.find((x: { command: string }) => x.command === id);
      assert.equal(c.enablement, 'isWorkspaceTrusted', id);
      assert.ok(c.icon, id);
      assert.ok(pkg.contributes.menus.commandPalette.some((m: { command: string; when: string }) => m.command === id && m.when === 'false'), id);
      for (const m of pkg.contributes.menus['view/item/context'].filter((x: { command: string }) => x.command === id)) assert.match(m.when, /isWorkspaceTrusted/, id);
    }
  });

  it('reads from where it is shown: under the lane it is for, or under the lane that raised it', () => {
    const f = finding();
    assert.equal(findingLabel(f, 'to'), 'F1 from tests: node --test fails');
    assert.equal(findingLabel(f, 'from'), 'F1 to impl: node --test fails');
    assert.equal(findingLabel(finding({ source: 'merge-queue' }), 'to'), "F1 from the merge queue (tests' check): node --test fails");
    assert.equal(findingLabel(finding({ kind: 'approve', title: 'approved impl', blocking: false }), 'to'), 'F1 approved by tests');
    assert.equal(findingLabel(finding({ kind: 'approve', title: 'approved impl', blocking: false }), 'from'), 'F1 approves impl');
    assert.equal(findingDescription(f), 'bug · blocking · open');
    assert.equal(findingDescription(finding({ status: 'sent' })), 'bug · blocking · sent back');
    assert.equal(findingDescription(finding({ status: 'dismissed' })), 'bug · dismissed');
    assert.equal(findingDescription(finding({ kind: 'changes', blocking: false, status: 'addressed' })), 'changes requested · addressed');
    assert.deepEqual(findingIcon(f), { id: 'bug', color: 'list.errorForeground' });
    assert.deepEqual(findingIcon(finding({ kind: 'changes', status: 'sent' })), { id: 'comment-discussion', color: 'charts.blue' });
    assert.equal(findingIcon(finding({ status: 'dismissed' })).id, 'circle-slash');
    assert.equal(findingIcon(finding({ status: 'addressed' })).id, 'pass');
  });

  it('says when a lane has unresolved blocking findings (open or sent; not notes, dismissed or addressed ones)', () => {
    const all = [
      finding(),
      finding({ id: 'F2', status: 'sent' }),
      finding({ id: 'F3', status: 'dismissed' }),
      finding({ id: 'F4', kind: 'note', blocking: false }),
      finding({ id: 'F5', status: 'addressed' }),
      finding({ id: 'F6', to: 'docs' }),
      finding({ id: 'F7', blocking: false }),
    ];
    assert.equal(outstandingText('impl', all), '⚠ F1, F2 block merge');
    assert.equal(outstandingText('docs', all), '⚠ F6 blocks merge');
    assert.equal(outstandingText('tests', all), undefined);
  });

  it('tells loop-backs apart: sent by the run, a person or the merge queue, or not sent and why', () => {
    const lb = (over: Partial<LoopBack>): LoopBack => ({ at: '2025-01-02T03:04:05.000Z', from: 'tests', to: 'impl', finding: 'F1', by: 'run', sent: true, ...over });
    assert.equal(loopBackLabel(lb({}), 'to'), 'sent back by tests (F1)');
    assert.equal(loopBackLabel(lb({}), 'from'), 'sent impl back (F1)');
    assert.equal(loopBackLabel(lb({ by: 'person' }), 'to'), 'sent back by a person (F1)');
    assert.equal(loopBackLabel(lb({ by: 'merge-queue' }), 'from'), 'impl sent back by the merge queue with F1');
    const refused = lb({ sent: false, reason: 'impl has no retries left in this run' });
    assert.equal(loopBackLabel(refused, 'to'), 'not sent back (F1): impl has no retries left in this run');
    assert.equal(loopBackLabel(refused, 'from'), 'impl not sent back (F1): impl has no retries left in this run');
    assert.equal(loopBackView(refused).text, 'impl: not sent back (F1): impl has no retries left in this run');
  });

  it('keeps the end of the evidence output, where the failure is', () => {
    const out = Array.from({ length: 50 }, (_, i) => `line ${i + 1}`).join('\n') + '\n\n';
    assert.equal(evidenceTail(out, 3), '…\nline 48\nline 49\nline 50');
    assert.equal(evidenceTail('short\n'), 'short');
    assert.equal(evidenceTail('x'.repeat(100), 20, 10), `…\n${'x'.repeat(10)}`);
  });

  it('builds panel views within the protocol limits (one long field never drops the whole state)', () => {
    const long = finding({ title: 'T'.repeat(5000), details: 'D'.repeat(50000), note: 'n'.repeat(9000), evidence: { command: 'c'.repeat(9000), output: 'o\n'.repeat(20000), files: Array.from({ length: 80 }, (_, i) => `f${i}.js:1`) } });
    const v = findingView(long);
    assert.ok(FindingView.safeParse(v).success, JSON.stringify(FindingView.safeParse(v).error?.issues.slice(0, 2)));
    assert.equal(v.evidence!.files!.length, 50);
    assert.deepEqual(v.actions, ['send', 'edit', 'dismiss']);
    assert.equal(v.outstanding, true);
    assert.equal(findingView(finding({ details: 'use a cache' })).editText, 'use a cache');
    assert.equal(findingView(finding()).editText, 'node --test fails');
  });

  it('puts findings and loop-backs into the panel state, and the lanes they hold', () => {
    const lane = (id: string) => ({ id, status: 'passed', branch: `lanes/r/${id}`, worktree: `/w/${id}`, base: 'b'.repeat(40), head: 'c'.repeat(40), busyMs: 0, attempts: [], warnings: [], portBase: 30000 });
    const run = { runId: 'r', baseCommit: 'b'.repeat(40), lanes: [lane('impl'), lane('tests')] } as unknown as RunState;
    const refused: LoopBack = { at: '2025-01-02T03:04:05.000Z', from: 'tests', to: 'impl', finding: 'F1', by: 'run', sent: false, reason: 'no retries left' };
    const s = buildPanelState({ folder: '/r', run, goal: 'g', roles: {}, files: {}, pairs: [], excluded: new Set(), findings: [findingView(finding()), findingView(finding({ id: 'F2', to: 'tests', from: 'impl', status: 'dismissed' }))], loopBacks: [loopBackView(refused)] });
    assert.deepEqual(s.lanes.map((l) => [l.id, l.blockedBy]), [
      ['impl', ['F1']],
      ['tests', undefined],
    ]);
    assert.deepEqual(s.findings.map((f) => [f.id, f.status, f.actions]), [
      ['F1', 'open', ['send', 'edit', 'dismiss']],
      ['F2', 'dismissed', ['send', 'edit']],
    ]);
    assert.ok(parseToWebview({ type: 'state', state: s }), 'the webview accepts it');
  });

  it('carries the merge queue\'s blame decision', () => {
    const verify = { command: 'node --test', commit: 'x', passed: false, exit: 'exit code 1', outputTail: 'boom', durationMs: 1 };
    const v = queueView({
      branch: 'b',
      head: 'h',
      merged: ['impl', 'tests'],
      held: [],
      rounds: [{ merged: ['impl', 'tests'], held: [], head: 'x', culprit: { lane: 'tests', probes: 1, verify, blame: { lane: 'impl', failing: [], exercised: [], reason: "tests' failing tests exercise src/range.js" }, decision: "blamed impl: tests' failing tests exercise src/range.js" } }],
      sentBack: [{ lane: 'impl', result: 'passed' }],
      passed: true,
    });
    assert.deepEqual(v.culprit, { lane: 'tests', outputTail: 'boom', probes: 1, blamed: 'impl', decision: "blamed impl: tests' failing tests exercise src/range.js" });
  });

  it('validates the finding messages from the webview', () => {
    assert.deepEqual(parseToHost({ type: 'sendFinding', id: 'F1' }), { type: 'sendFinding', id: 'F1' });
    assert.deepEqual(parseToHost({ type: 'sendFinding', id: 'F12', text: '  keep the signature  ' }), { type: 'sendFinding', id: 'F12', text: 'keep the signature' });
    assert.deepEqual(parseToHost({ type: 'dismissFinding', id: 'F3', reason: 'tracked in #41' }), { type: 'dismissFinding', id: 'F3', reason: 'tracked in #41' });
    assert.deepEqual(parseToHost({ type: 'dismissFinding', id: 'F3' }), { type: 'dismissFinding', id: 'F3' });
    for (const bad of [
      { type: 'sendFinding' },
      { type: 'sendFinding', id: 'f1' },
      { type: 'sendFinding', id: 'F1; rm -rf /' },
      { type: 'sendFinding', id: '../F1' },
      { type: 'sendFinding', id: 'F1', text: '   ' },
      { type: 'sendFinding', id: 'F1', text: 'x'.repeat(20001) },
      { type: 'sendFinding', id: 'F1', lane: 'impl' },
      { type: 'dismissFinding', id: 1 },
      { type: 'dismissFinding', id: 'F1', reason: 'x'.repeat(2001) },
    ]) assert.equal(parseToHost(bad), undefined, JSON.stringify(bad).slice(0, 80));
  });
});
