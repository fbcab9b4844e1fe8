/**
 * The reconcile panel (browser side). Renders the state the host sends and turns clicks into
 * protocol messages. Every message from the host is validated; text from lanes, plans and git is
 * always inserted as text (textContent), never as HTML. Keyboard: every control is a button,
 * checkbox or text field in tab order; the radar matrix cells are buttons.
 */
import { FindingView, parseToWebview, PanelState, ToHost } from '../shared/protocol';
import { radarMatrix } from '../shared/panelState';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const root = document.getElementById('root')!;
// What the serializer needs to reopen this panel after a reload.
vscode.setState({ folder: decodeURIComponent(document.body.dataset.folder ?? ''), runId: decodeURIComponent(document.body.dataset.run ?? '') });

let state: PanelState | undefined;
const results: { ok: boolean; text: string }[] = [];
const send = (m: ToHost) => vscode.postMessage(m);

// Every state the host sends redraws the panel (several a second while lanes work): what a person
// is typing and which folds are open survive the redraw, by element id.
const drafts = new Map<string, string>();
const opened = new Set<string>();
function draft<T extends HTMLTextAreaElement | HTMLInputElement>(e: T, initial = ''): T {
  e.value = drafts.get(e.id) ?? initial;
  e.addEventListener('input', () => drafts.set(e.id, e.value));
  return e;
}
function fold(e: HTMLDetailsElement): HTMLDetailsElement {
  e.open = opened.has(e.id);
  e.addEventListener('toggle', () => (e.open ? opened.add(e.id) : opened.delete(e.id)));
  return e;
}
/** Forget a draft and close its fold once it has been sent. */
function sent(...ids: string[]): void {
  for (const id of ids) {
    drafts.delete(id);
    opened.delete(id);
  }
}

type Attrs = Record<string, string>;
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string | undefined)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) if (c !== undefined) e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return e;
}
const icon = (name: string) => el('span', { class: `codicon codicon-${name}`, 'aria-hidden': 'true' });
function button(label: string, iconName: string, onClick: () => void, attrs: Attrs = {}): HTMLButtonElement {
  const b = el('button', { type: 'button', ...attrs }, icon(iconName), ` ${label}`);
  b.addEventListener('click', onClick);
  if (state?.busy) b.disabled = true;
  return b;
}

const STATUS_ICON: Record<string, string> = { passed: 'pass-filled', failed: 'error', 'timed-out': 'watch', cancelled: 'circle-slash', skipped: 'debug-step-over', running: 'sync', verifying: 'loading', queued: 'circle-outline', blocked: 'debug-pause' };

function lanesSection(s: PanelState): HTMLElement {
  const sec = el('section', { 'aria-labelledby': 'lanes-h' }, el('h2', { id: 'lanes-h' }, 'Lanes'));
  for (const l of s.lanes) {
    const box = el('input', { type: 'checkbox', id: `accept-${l.id}`, 'aria-label': `accept lane ${l.id}` }) as HTMLInputElement;
    box.checked = l.accepted;
    box.disabled = !l.mergeable || Boolean(s.busy);
    box.addEventListener('change', () => send({ type: 'acceptLane', lane: l.id, accepted: box.checked }));
    const head = el(
      'div',
      { class: 'lane-head' },
      box,
      el('label', { for: `accept-${l.id}`, class: 'lane-id' }, l.id),
      el('span', { class: `status status-${l.status}` }, icon(STATUS_ICON[l.status] ?? 'circle-outline'), ` ${l.status}`),
      el('span', { class: 'muted' }, `${l.role} · ${l.attempts} attempt${l.attempts === 1 ? '' : 's'}`),
      l.verify ? el('span', { class: l.verify.passed ? 'ok' : 'bad' }, `verify ${l.verify.passed ? 'passed' : 'failed'}: ${l.verify.command}`) : undefined,
      l.used || l.budget ? el('span', { class: 'muted' }, [l.used ? `used ${l.used}` : '', l.budget ? `budget ${l.budget}` : ''].filter(Boolean).join(' · ')) : undefined,

    );
    const lane = el('div', { class: 'lane', 'data-lane': l.id }, head);
    if (l.reason && l.status !== 'passed') lane.append(el('div', { class: 'muted reason' }, l.reason.split('\n')[0]!));
    if (l.blockedBy?.length) {
      const ids = l.blockedBy.join(', ');
      lane.append(el('div', { class: 'bad blocked-by', role: 'note' }, icon('warning'), ` ${ids} ${l.blockedBy.length === 1 ? 'is' : 'are'} unresolved: the merge queue holds ${l.id} until ${l.blockedBy.length === 1 ? 'it is' : 'they are'} addressed or dismissed (see Findings)`));
    }
    for (const x of l.outsideLinks ?? []) {
      lane.append(el('div', { class: 'bad outside-link', role: 'alert' }, icon('warning'), ` symlink ${x.path} → ${x.target} points outside the repository: applied only if you accept it`));
    }
    const list = el('ul', { class: 'files' });
    for (const f of l.files) {
      const counts = f.binary ? 'binary' : `+${f.added ?? 0} −${f.removed ?? 0}`;
      const li = el('li', {}, el('span', { class: `kind kind-${f.kind}` }, f.kind[0]!.toUpperCase()), ' ');
      const open = button(f.path, 'diff', () => send({ type: 'openDiff', lane: l.id, path: f.path }), { class: 'link', title: `Compare ${f.path}: base ↔ ${l.id}` });
      li.append(open, el('span', { class: 'muted' }, ` ${counts}${f.oldPath ? ` · from ${f.oldPath}` : ''} `));
      if (l.outOfScope?.includes(f.path)) li.append(el('span', { class: 'bad out-of-scope', title: `${l.id} declared a scope that does not include this file` }, icon('warning'), ' outside scope '));
      if (l.mergeable) li.append(button('Accept file', 'check', () => send({ type: 'acceptFile', lane: l.id, path: f.path }), { class: 'small', title: `Apply only ${f.path} from ${l.id} to your checkout` }));
      list.append(li);
    }
    if (l.files.length) lane.append(list);
    // Feedback folds away behind one small action per lane: the radar and queue stay in view.
    const actions = el('div', { class: 'actions' });
    const fb = draft(el('textarea', { rows: '2', id: `feedback-${l.id}`, placeholder: `Feedback for ${l.id}: it runs again with this in its brief`, 'aria-label': `feedback for lane ${l.id}` }));
    const details = fold(
      el(
        'details',
        { class: 'feedback', id: `feedback-fold-${l.id}` },
        el('summary', {}, icon('comment-discussion'), ' Send feedback…'),
        fb,
        button('Send', 'send', () => {
          if (!fb.value.trim()) return;
          send({ type: 'sendFeedback', lane: l.id, text: fb.value });
          sent(fb.id, `feedback-fold-${l.id}`);
        }, { class: 'secondary' }),
      ),
    );
    actions.append(details);
    if (l.mergeable) actions.append(button('Reject lane', 'trash', () => send({ type: 'rejectLane', lane: l.id }), { class: 'secondary' }));
    lane.append(actions);
    sec.append(lane);
  }
  return sec;
}

function radarSection(s: PanelState): HTMLElement {
  const sec = el('section', { 'aria-labelledby': 'radar-h' }, el('h2', { id: 'radar-h' }, 'Conflict radar'));
  const ids = s.lanes.map((l) => l.id);
  if (!s.pairs.length) {
    sec.append(el('p', { class: 'muted' }, `No collisions among ${(ids.length * (ids.length - 1)) / 2} pairs of lanes.`));
    return sec;
  }
  const m = radarMatrix(ids, s.pairs);
  const table = el('table', { class: 'matrix', role: 'grid' });
  table.append(el('tr', {}, el('th', {}, ''), ...ids.map((id) => el('th', { scope: 'col' }, id))));
  ids.forEach((a, i) => {
    const row = el('tr', {}, el('th', { scope: 'row' }, a));
    ids.forEach((b, j) => {
      const cell = m[i]![j];
      if (!cell) {
        row.append(el('td', { class: i === j ? 'diag' : '' }, ''));
        return;
      }
      const label = `${cell.kind === 'conflict' ? 'conflict' : 'both change'}: ${cell.files.join(', ')}`;
      const b1 = button('', cell.kind === 'conflict' ? 'error' : 'warning', () => send({ type: 'openDiff', lane: a, path: cell.files[0]!, against: b }), {
        class: `cell ${cell.kind}`,
        title: `${a} and ${b}: ${label}`,
        'aria-label': `${a} and ${b}: ${label}`,
      });
      row.append(el('td', {}, b1));
    });
    table.append(row);
  });
  sec.append(table);
  const list = el('ul', { class: 'pairs' });
  for (const p of s.pairs) {
    const cause = (p.outOfScope ?? []).map((o) => ` — caused by ${o.lane} changing ${o.files.join(', ')} outside its scope`).join('');
    const inherited = p.inheritedBy?.length ? ` (also reaches ${p.inheritedBy.map((x) => `${x.a}/${x.b}`).join(', ')}, built on them)` : '';
    // Each file of a collision opens the two lanes' versions side by side.
    const li = el('li', { class: p.kind }, `${p.a} and ${p.b} ${p.kind === 'conflict' ? 'conflict in' : 'both change (merges cleanly)'} `);
    p.files.forEach((f, i) => li.append(...(i ? [', '] : []), button(f, 'diff', () => send({ type: 'openDiff', lane: p.b, path: f, against: p.a }), { class: 'link', title: `Compare ${f}: ${p.a} ↔ ${p.b}` })));
    li.append(`${cause}${inherited} `);
    if (p.kind === 'conflict') li.append(button('Resolve in merge editor', 'git-merge', () => send({ type: 'resolveConflict', lane: p.b, against: p.a }), { class: 'secondary small', title: `Merge ${p.a} into ${p.b} and resolve ${p.files.join(', ')} in the merge editor` }));
    list.append(li);
  }
  sec.append(list);
  return sec;
}

const FINDING_CLASS: Record<FindingView['status'], string> = { open: 'bad', sent: 'sent', addressed: 'ok', dismissed: 'muted' };

function findingActions(f: FindingView): HTMLElement | undefined {
  if (!f.actions.length) return undefined;
  const bar = el('div', { class: 'actions' });
  if (f.actions.includes('send')) bar.append(button('Send back', 'reply', () => send({ type: 'sendFinding', id: f.id }), { class: 'secondary', title: `Run ${f.to} again with ${f.id} in its brief` }));
  if (f.actions.includes('edit')) {
    const text = draft(el('textarea', { rows: '4', id: `finding-text-${f.id}`, 'aria-label': `what ${f.to} is told about ${f.id}` }), f.editText);
    const foldId = `finding-edit-${f.id}`;
    bar.append(
      fold(
        el(
          'details',
          { class: 'feedback', id: foldId },
          el('summary', {}, icon('edit'), ' Edit and send back…'),
          text,
          button('Send back', 'reply', () => {
            if (!text.value.trim()) return;
            send({ type: 'sendFinding', id: f.id, text: text.value });
            sent(text.id, foldId);
          }, { class: 'secondary', title: `Run ${f.to} again with this text in place of ${f.id}'s details (its title and evidence go along)` }),
        ),
      ),
    );
  }
  if (f.actions.includes('dismiss')) {
    const reason = draft(el('input', { type: 'text', id: `finding-reason-${f.id}`, placeholder: 'Why? (optional)', 'aria-label': `why dismiss ${f.id}` }));
    const foldId = `finding-dismiss-${f.id}`;
    bar.append(
      fold(
        el(
          'details',
          { class: 'feedback', id: foldId },
          el('summary', {}, icon('circle-slash'), ' Dismiss…'),
          reason,
          button('Dismiss', 'circle-slash', () => {
            send({ type: 'dismissFinding', id: f.id, ...(reason.value.trim() ? { reason: reason.value } : {}) });
            sent(reason.id, foldId);
          }, { class: 'secondary', title: f.outstanding ? `Set ${f.id} aside: the merge queue no longer holds ${f.to} for it` : `Set ${f.id} aside` }),
        ),
      ),
    );
  }
  return bar;
}

/** What lanes found in each other's work, what was sent back (or not, and why), with the actions. */
function findingsSection(s: PanelState): HTMLElement | undefined {
  if (!s.findings.length && !s.loopBacks.length) return undefined;
  const sec = el('section', { 'aria-labelledby': 'findings-h' }, el('h2', { id: 'findings-h' }, 'Findings'));
  for (const f of s.findings) {
    const from = f.source === 'merge-queue' ? `merge queue (${f.from}'s check)` : f.from;
    const head = el(
      'div',
      { class: 'finding-head' },
      el('span', { class: FINDING_CLASS[f.status] }, icon(f.icon)),
      el('span', { class: 'finding-id' }, f.id),
      el('span', {}, `${from} → ${f.to}`),
      el('span', { class: `muted${f.outstanding ? ' bad' : ''}` }, f.description),
    );
    const box = el('div', { class: `finding finding-${f.status}`, 'data-finding': f.id }, head, el('div', { class: 'finding-title' }, f.title));
    if (f.details) box.append(el('div', { class: 'finding-details' }, f.details));
    if (f.note) box.append(el('div', { class: 'muted' }, f.note));
    const e = f.evidence;
    if (e) {
      const ev = fold(el('details', { class: 'evidence', id: `finding-evidence-${f.id}` }, el('summary', {}, icon('terminal'), ' Evidence')));
      if (e.command) ev.append(el('p', {}, 'Reproduce with ', el('code', {}, e.command)));
      if (e.files?.length) ev.append(el('p', {}, `Where: ${e.files.join(', ')}`));
      if (e.output) ev.append(el('pre', {}, e.output));
      box.append(ev);
    }
    const actions = findingActions(f);
    if (actions) box.append(actions);
    sec.append(box);
  }
  if (s.loopBacks.length) {
    const list = el('ul', { class: 'loop-backs', 'aria-label': 'loop-backs' });
    for (const lb of s.loopBacks) {
      list.append(el('li', { class: lb.sent ? '' : 'bad' }, icon(lb.sent ? 'reply' : 'circle-slash'), ` ${lb.at.slice(11, 19)} ${lb.text}`));
    }
    sec.append(el('h3', {}, 'Loop-backs'), list);
  }
  return sec;
}

function queueSection(s: PanelState): HTMLElement {
  const sec = el('section', { 'aria-labelledby': 'queue-h' }, el('h2', { id: 'queue-h' }, 'Merge queue'));
  const bar = el(
    'div',
    { class: 'actions' },
    // One primary action: the queue until it has passed, then the apply.
    button('Run merge queue', 'git-merge', () => send({ type: 'runQueue' }), s.queue?.passed ? { class: 'secondary' } : {}),
    button('Apply to workspace', 'cloud-download', () => send({ type: 'apply' }), s.queue?.passed ? {} : { class: 'secondary' }),
    button('Undo last apply', 'discard', () => send({ type: 'undo' }), { class: 'secondary' }),
  );
  sec.append(bar);
  if (s.busy) sec.append(el('p', { class: 'busy' }, icon('loading'), ` ${s.busy}`));
  const q = s.queue;
  if (q) {
    if (q.step) sec.append(el('p', { class: 'muted' }, q.step));
    if (!q.running) {
      sec.append(el('p', { class: q.passed ? 'ok' : 'bad' }, q.passed ? `Integrated: ${q.merged.join(', ')}` : `Not passed. Merged: ${q.merged.join(', ') || 'nothing'}`));
      for (const h of q.held) {
        const row = el('p', { class: 'bad' }, `Held back ${h.lane}: ${h.reason} `);
        // A lane held back by a conflict with what is integrated: resolve it, or take part of it.
        if (/conflict/i.test(h.reason)) {
          row.append(
            button('Resolve in merge editor', 'git-merge', () => send({ type: 'resolveConflict', lane: h.lane, against: 'integration' }), { class: 'secondary' }),
            button("Apply the files that don't conflict", 'check', () => send({ type: 'applyLane', lane: h.lane, how: 'nonConflicting' }), { class: 'secondary' }),
            button('Apply with conflict markers', 'warning', () => send({ type: 'applyLane', lane: h.lane, how: 'markers' }), { class: 'secondary' }),
          );
        }
        sec.append(row);
      }
      if (q.verify) sec.append(el('p', { class: q.verify.passed ? 'ok' : 'bad' }, `Integration check ${q.verify.command}: ${q.verify.passed ? 'passed' : q.verify.exit}`));
      if (q.culprit) {
        sec.append(el('p', { class: 'bad' }, `The bisect (${q.culprit.probes} probe${q.culprit.probes === 1 ? '' : 's'}) found that merging ${q.culprit.lane} breaks the check:`));
        sec.append(el('pre', {}, q.culprit.outputTail));
        if (q.culprit.blamed) sec.append(el('p', { class: 'decision' }, icon('law'), ` On the evidence of that output, ${q.culprit.blamed} is at fault, not ${q.culprit.lane}.`));
        if (q.culprit.decision) sec.append(el('p', { class: 'decision muted' }, `Decision: ${q.culprit.decision}`));
      }
      for (const b of q.sentBack) sec.append(el('p', {}, `Sent ${b.lane} back to its agent: ${b.result}`));
    }
  }
  if (s.lastApply) sec.append(el('p', { class: 'muted' }, `Last apply ${s.lastApply.id}: ${s.lastApply.files} file(s)${s.lastApply.undone ? ' (undone)' : ''}`));
  return sec;
}

/** One line on top: how the lanes ended, what collides, where the queue is, what was spent. */
function summary(s: PanelState): HTMLElement {
  const count = (st: string[]) => s.lanes.filter((l) => st.includes(l.status)).length;
  const parts = [
    `${count(['passed'])} passed`,
    count(['failed', 'timed-out']) ? `${count(['failed', 'timed-out'])} failed` : '',
    count(['cancelled', 'skipped']) ? `${count(['cancelled', 'skipped'])} cancelled` : '',
    count(['running', 'verifying', 'queued', 'blocked']) ? `${count(['running', 'verifying', 'queued', 'blocked'])} still running` : '',
    `${s.pairs.filter((p) => p.kind === 'conflict').length} conflicting pair(s)`,
    s.findings.some((f) => f.outstanding) ? `${s.findings.filter((f) => f.outstanding).length} blocking finding(s) unresolved` : '',
    s.queue ? (s.queue.running ? 'queue running' : s.queue.passed ? `queue passed (${s.queue.merged.length} integrated)` : 'queue not passed') : 'queue not run',
    s.spend ? `agents used ${s.spend}` : '',
  ].filter(Boolean);
  return el('p', { class: 'summary', role: 'status' }, parts.join(' · '));
}

function render(): void {
  if (!state) return;
  const focusedId = (document.activeElement as HTMLElement | null)?.id;
  root.replaceChildren(
    el('header', {}, el('h1', {}, `Reconcile run ${state.runId}`), el('p', { class: 'goal' }, state.goal), summary(state)),
    radarSection(state),
    ...[findingsSection(state)].filter((x): x is HTMLElement => !!x),
    queueSection(state),
    lanesSection(state),
    el('section', { 'aria-labelledby': 'results-h', class: 'results' }, el('h2', { id: 'results-h' }, 'Results'), ...results.slice(-6).reverse().map((r) => el('p', { class: r.ok ? 'ok' : 'bad' }, r.text))),
  );
  if (focusedId) document.getElementById(focusedId)?.focus();
}

window.addEventListener('message', (event: MessageEvent) => {
  const m = parseToWebview(event.data);
  if (!m) return; // not ours, or malformed: dropped
  if (m.type === 'state') state = m.state;
  else results.push({ ok: m.ok, text: m.text });
  render();
});

send({ type: 'ready' });
