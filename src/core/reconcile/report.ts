/** The run report: markdown a person reads after a run (also written to the run's folder). */
import { describeUsage, sumUsage } from '../agents/streams';
import { speedup } from '../run/orchestrator';
import { describeIsolation } from '../run/sandbox';

import { runWallMs, type RunState } from '../run/state';
import type { FileChange } from './diff';
import type { QueueResult } from './queue';
import type { RadarResult } from './radar';
import { displayPath } from '../util/bytePath';
import { possessive, type FindingRecord } from '../run/findings';

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

function changeSummary(files: FileChange[] | undefined): string {
  if (!files?.length) return '—';
  const added = files.reduce((a, f) => a + (f.added ?? 0), 0);
  const removed = files.reduce((a, f) => a + (f.removed ?? 0), 0);
  return `${files.length} file${files.length === 1 ? '' : 's'} (+${added} −${removed})`;
}

export function runReport(state: RunState, goal: string, radar?: RadarResult, queue?: QueueResult, findings: readonly FindingRecord[] = state.findings ?? []): string {
  const lines: string[] = [];
  lines.push(`# Agent Lanes run ${state.runId}`, '');
  lines.push(`Goal: ${goal.trim()}`, '');
  lines.push(`Base ${state.baseCommit.slice(0, 10)}${state.baseRef ? ` (${state.baseRef})` : ''} · started ${state.startedAt}${state.endedAt ? ` · ended ${state.endedAt}` : ''} · ${describeIsolation(state)}`, '');
  const sp = speedup(state);
  if (sp !== undefined) {
    const busy = state.lanes.reduce((a, l) => a + l.busyMs, 0);
    lines.push(`Wall time ${secs(runWallMs(state)!)}, lane time ${secs(busy)}: parallel speedup **${sp.toFixed(2)}×**.`, '');
  }
  lines.push('## Lanes', '', '| lane | status | attempts | time | verify | changes | agent usage | branch |', '|---|---|---|---|---|---|---|---|');
  for (const l of state.lanes) {
    const v = l.attempts[l.attempts.length - 1]?.verify;
    const used = l.attempts.some((a) => a.usage) ? describeUsage(sumUsage(l.attempts.map((a) => a.usage))) : l.attempts.length ? 'not reported by the agent' : '—';
    lines.push(
      `| ${l.id} | ${l.status}${l.reason ? `: ${cell(l.reason.split('\n')[0]!).slice(0, 80)}` : ''} | ${l.attempts.length} | ${secs(l.busyMs)} | ${v ? `${v.passed ? 'passed' : 'failed'}: \`${cell(v.command)}\`` : '—'} | ${changeSummary(radar?.changes[l.id])} | ${used} | \`${l.branch}\` |`,
    );
  }
  lines.push('');
  if (state.budgetSpent) lines.push(`**Budget:** ${state.budgetSpent}; no lane started after that.`, '');
  const all = state.lanes.flatMap((l) => l.attempts.map((a) => a.usage));

  if (all.some(Boolean)) lines.push(`Agents used, all lanes: ${describeUsage(sumUsage(all))}${all.some((u) => !u) ? ' (some attempts did not report their usage)' : ''}.`, '');
  const warnings = state.lanes.flatMap((l) => l.warnings.map((w) => `- **${l.id}**: ${w.split('\n')[0]}`));
  if (warnings.length || state.warnings.length) lines.push('## Warnings', '', ...state.warnings.map((w) => `- ${w}`), ...warnings, '');
  if (findings.length) {
    lines.push('## Findings', '', 'What lanes found in each other\'s work (and the merge queue, on a failing check\'s evidence).', '');
    lines.push('| finding | from → to | kind | status | what |', '|---|---|---|---|---|');
    for (const f of findings) {
      const kind = `${f.kind}${f.blocking ? ', blocking' : ''}${f.source === 'merge-queue' ? ' (merge queue)' : ''}`;
      lines.push(`| ${f.id} | ${f.from} → ${f.to} | ${kind} | ${f.status}${f.note ? `: ${cell(f.note)}` : ''} | ${cell(f.title)}${f.evidence?.command ? ` (\`${cell(f.evidence.command)}\`)` : ''} |`);
    }
    lines.push('');
  }
  const loopBacks = state.loopBacks ?? []; // states written before loop-backs existed
  if (loopBacks.length) {
    lines.push('## Loop-backs', '');
    for (const lb of loopBacks) {
      const by = lb.by === 'person' ? 'by a person' : lb.by === 'merge-queue' ? 'by the merge queue' : `by ${possessive(lb.from)} finding`;
      lines.push(lb.sent ? `- ↺ ${lb.at.slice(11, 19)} **${lb.to}** sent back ${by} (${lb.finding})` : `- ⊘ ${lb.at.slice(11, 19)} **${lb.to}** not sent back ${by} (${lb.finding}): ${lb.reason ?? ''}`);
    }
    lines.push('');
  }
  if (radar) {
    lines.push('## Conflict radar', '');
    const conflicts = radar.pairs.filter((p) => p.kind === 'conflict');
    const hot = radar.pairs.filter((p) => p.kind === 'hotspot');
    if (!conflicts.length && !hot.length) lines.push(`No collisions among ${radar.checked} pairs of lanes.`, '');
    const cause = (p: (typeof radar.pairs)[number]) =>
      (p.outOfScope ?? []).map((o) => `; caused by **${o.lane}** changing ${o.files.map((f) => `\`${f}\``).join(', ')} outside its scope`).join('');
    const inherited = (p: (typeof radar.pairs)[number]) => (p.inheritedBy?.length ? `; inherited by ${p.inheritedBy.map((x) => `${x.a}/${x.b}`).join(', ')}, which build on them` : '');
    for (const c of conflicts) lines.push(`- ✗ **${c.a}** and **${c.b}** conflict in ${c.files.map((f) => `\`${f}\``).join(', ')}${cause(c)}${inherited(c)}`);
    for (const h of hot) lines.push(`- ⚠ **${h.a}** and **${h.b}** both change ${h.files.map((f) => `\`${f}\``).join(', ')} (merges cleanly; worth a look)${cause(h)}`);
    if (conflicts.length || hot.length) lines.push('');
    const violations = Object.entries(radar.outOfScope ?? {});
    if (violations.length) {
      lines.push('## Outside their scope', '');
      for (const [lane, files] of violations) lines.push(`- ⚠ **${lane}** changed ${files.map((f) => `\`${f}\``).join(', ')}, outside its declared scope`);
      lines.push('');
    }
    const links = Object.entries(radar.outsideLinks ?? {});
    if (links.length) {
      lines.push('## Symlinks pointing outside the repository', '');
      for (const [lane, ls] of links) for (const l of ls) lines.push(`- ⚠ **${lane}** adds \`${displayPath(l.path)}\` → \`${l.target}\`: applied only when you accept it`);
      lines.push('');
    }
  }
  if (queue) {
    lines.push('## Merge queue', '');
    lines.push(`Integration branch \`${queue.branch}\` at ${queue.head.slice(0, 10)}: ${queue.passed ? '**passed**' : '**not passed**'}.`, '');
    lines.push(`Merged: ${queue.merged.join(', ') || 'nothing'}.`, '');
    for (const h of queue.held) lines.push(`- held back **${h.lane}**: ${h.reason}`);
    if (queue.held.length) lines.push('');
    if (queue.verify) lines.push(`Integration check \`${queue.verify.command}\`: ${queue.verify.passed ? 'passed' : `failed (${queue.verify.exit})`} in ${secs(queue.verify.durationMs)}.`, '');
    for (const r of queue.rounds) {
      if (r.culprit) {
        lines.push(`Bisect found that merging **${r.culprit.lane}** breaks \`${r.culprit.verify.command}\` (${r.culprit.probes} probe(s)):`, '', '```', r.culprit.verify.outputTail, '```', '');
        if (r.culprit.blame) {
          const ev = r.culprit.blame;
          lines.push(`Decision: blamed **${ev.lane}**, not ${r.culprit.lane}: ${ev.reason}.`, '');
          lines.push(`Evidence: failing test${ev.failing.length === 1 ? '' : 's'} ${ev.failing.map((p) => `\`${p.file}${p.line ? `:${p.line}` : ''}\``).join(', ')}; ${ev.exercised.map((e) => `\`${e.file}${e.line ? `:${e.line}` : ''}\` (${e.lane}, ${e.how === 'output' ? 'named in the output' : 'imported by the test'})`).join(', ')}.`, '');
        } else if (r.culprit.decision) lines.push(`Decision: ${r.culprit.decision}.`, '');
      }
    }
    for (const s of queue.sentBack) lines.push(`- sent **${s.lane}** back to its agent with the failure: ${s.result}`);
    if (queue.sentBack.length) lines.push('');
  }
  return lines.join('\n');
}
