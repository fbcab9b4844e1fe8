// No `vscode` import: how findings and loop-backs read in the tree and the panel, unit-tested in
// plain Node. The tree and the reconcile panel both render from these, so they say the same thing.
import { isOutstanding, possessive, type FindingRecord, type LoopBack } from '../core/run/findings';
import type { FindingView, LoopBackView } from '../shared/protocol';

/** What a person can do with a finding (the tree's menus and the panel's buttons). */
export type FindingAction = 'send' | 'edit' | 'dismiss';

/**
 * Approvals settle nothing more; notes ask for nothing, so they can only be set aside. A bug or
 * a change request can be sent back while open or sent, and again after a dismissal (a send
 * after a dismissal wins: the way to take a dismissal back).
 */
export function findingActions(f: Pick<FindingRecord, 'kind' | 'status'>): FindingAction[] {
  if (f.kind === 'approve' || f.status === 'addressed') return [];
  if (f.kind === 'note') return f.status === 'dismissed' ? [] : ['dismiss'];
  return f.status === 'dismissed' ? ['send', 'edit'] : ['send', 'edit', 'dismiss'];
}

/**
 * The tree item's contextValue: `finding.<status>` for bugs and change requests,
 * `finding.<status>.note` for notes, `finding.approve` for approvals. package.json's menus match
 * these with regexes (a unit test checks that they offer exactly `findingActions`).
 */
export function findingContextValue(f: Pick<FindingRecord, 'kind' | 'status'>): string {
  if (f.kind === 'approve') return 'finding.approve';
  return `finding.${f.status}${f.kind === 'note' ? '.note' : ''}`;
}

/** A codicon and a theme colour id (the tree's ThemeColor; the panel maps it to a CSS class). */
export function findingIcon(f: Pick<FindingRecord, 'kind' | 'status' | 'blocking'>): { id: string; color?: string } {
  if (f.status === 'dismissed') return { id: 'circle-slash', color: 'disabledForeground' };
  if (f.kind === 'approve') return { id: 'thumbsup', color: 'testing.iconPassed' };
  if (f.status === 'addressed') return { id: 'pass', color: 'testing.iconPassed' };
  if (f.kind === 'note') return { id: 'note' };
  const id = f.kind === 'changes' ? 'comment-discussion' : 'bug';
  if (f.status === 'sent') return { id, color: 'charts.blue' };
  return { id, color: f.blocking ? 'list.errorForeground' : 'list.warningForeground' };
}

/** Who raised it, as a lane reads it ("tests", "tests (merge queue)"). */
function raisedBy(f: Pick<FindingRecord, 'from' | 'source'>): string {
  return f.source === 'merge-queue' ? `the merge queue (${possessive(f.from)} check)` : f.from;
}

/**
 * One line, from where it is shown: under the lane it is for ("F1 from tests: …") or under the
 * lane that raised it ("F1 to impl: …").
 */
export function findingLabel(f: FindingRecord, side: 'to' | 'from'): string {
  if (f.kind === 'approve') return side === 'to' ? `${f.id} approved by ${f.from}` : `${f.id} approves ${f.to}`;
  return side === 'to' ? `${f.id} from ${raisedBy(f)}: ${f.title}` : `${f.id} to ${f.to}: ${f.title}`;
}

const STATUS_TEXT: Record<FindingRecord['status'], string> = { open: 'open', sent: 'sent back', addressed: 'addressed', dismissed: 'dismissed' };

/** "bug · blocking · sent back" */
export function findingDescription(f: FindingRecord): string {
  if (f.kind === 'approve') return 'approval';
  const kind = f.kind === 'changes' ? 'changes requested' : f.kind;
  return [kind, ...(f.blocking && f.status !== 'dismissed' && f.status !== 'addressed' ? ['blocking'] : []), STATUS_TEXT[f.status]].join(' · ');
}

/** The end of an output (where a failure usually is), at most `lines` lines and `chars` characters. */
export function evidenceTail(output: string, lines = 20, chars = 2000): string {
  const trimmed = output.replace(/\s+$/, '');
  let out = trimmed.split('\n').slice(-lines).join('\n');
  if (out.length > chars) out = out.slice(out.length - chars);
  return out.length < trimmed.length ? `…\n${out}` : out;
}

/** Blocking findings for `lane` not yet addressed or dismissed: the merge queue holds the lane. */
export function outstandingFor(lane: string, findings: readonly FindingRecord[]): FindingRecord[] {
  return findings.filter((f) => f.to === lane && isOutstanding(f));
}

/** "⚠ F1 blocks merge" for the lane's description, or nothing. */
export function outstandingText(lane: string, findings: readonly FindingRecord[]): string | undefined {
  const out = outstandingFor(lane, findings);
  if (!out.length) return undefined;
  return `⚠ ${out.map((f) => f.id).join(', ')} block${out.length === 1 ? 's' : ''} merge`;
}

/** What the edit box starts with: the finding's details, else its title. */
export function findingEditText(f: Pick<FindingRecord, 'title' | 'details'>): string {
  return f.details?.trim() || f.title;
}

function who(lb: LoopBack): string {
  return lb.by === 'person' ? 'a person' : lb.by === 'merge-queue' ? 'the merge queue' : lb.from;
}

/**
 * A loop-back as a line, from where it is shown: under the lane sent back ("sent back by tests
 * (F1)", "not sent back: …") or under the lane whose finding it was ("sent impl back (F1)").
 */
export function loopBackLabel(lb: LoopBack, side: 'to' | 'from'): string {
  if (side === 'to') return lb.sent ? `sent back by ${who(lb)} (${lb.finding})` : `not sent back (${lb.finding}): ${lb.reason ?? 'no reason recorded'}`;
  if (lb.by !== 'run') return lb.sent ? `${lb.to} sent back by ${who(lb)} with ${lb.finding}` : `${lb.to} not sent back with ${lb.finding}: ${lb.reason ?? 'no reason recorded'}`;
  return lb.sent ? `sent ${lb.to} back (${lb.finding})` : `${lb.to} not sent back (${lb.finding}): ${lb.reason ?? 'no reason recorded'}`;
}

export function loopBackIcon(lb: LoopBack): { id: string; color?: string } {
  return lb.sent ? { id: 'reply', color: 'charts.blue' } : { id: 'circle-slash', color: 'list.warningForeground' };
}

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + '…' : s);

/**
 * A finding as the panel shows it, clipped to the protocol's limits (the webview validates the
 * state it gets and would drop all of it for one long field).
 */
export function findingView(f: FindingRecord): FindingView {
  const e = f.evidence;
  return {
    id: f.id,
    from: f.from,
    to: f.to,
    kind: f.kind,
    status: f.status,
    blocking: f.blocking,
    source: f.source,
    title: clip(f.title, 1000),
    ...(f.details ? { details: clip(f.details, 8000) } : {}),
    ...(f.note ? { note: clip(f.note, 2000) } : {}),
    ...(e && (e.command || e.output || e.files?.length)
      ? {
          evidence: {
            ...(e.command ? { command: clip(e.command, 2000) } : {}),
            ...(e.output ? { output: evidenceTail(e.output, 200, 8000) } : {}),
            ...(e.files?.length ? { files: e.files.slice(0, 50).map((x) => clip(x, 1000)) } : {}),
          },
        }
      : {}),
    at: f.at,
    description: findingDescription(f),
    icon: findingIcon(f).id,
    outstanding: isOutstanding(f),
    actions: findingActions(f),
    editText: clip(findingEditText(f), 8000),
  };
}

export function loopBackView(lb: LoopBack): LoopBackView {
  return { at: lb.at, from: lb.from, to: lb.to, finding: lb.finding, by: lb.by, sent: lb.sent, text: clip(`${lb.to}: ${loopBackLabel(lb, 'to')}`, 2000) };
}
