/**
 * A lane's brief: the markdown file its agent reads. It holds the goal, the whole plan, this
 * lane's own brief and scope, the verify command, the shared context files, the shared memory
 * (its location and what other lanes have written so far) and, on a retry, why the last
 * attempt failed. Text from the plan is copied as text; nothing here is ever run by a shell.
 */
import { promises as fs } from 'node:fs';
import type { Lane, Plan } from '../plan/schema';
import { describeCommand } from '../agents/resolve';
import { realPathInside } from '../util/fsx';
import { describeFinding, type FindingRecord } from './findings';


export interface BriefInput {
  plan: Plan;
  lane: Lane;
  runId: string;
  attempt: number;
  repoRoot: string;
  worktree: string;
  branch: string;
  base: string;
  memoryDir: string;
  memoryFile: string;
  memory: { lane: string; text: string }[];
  dependencies: { id: string; head: string }[];
  /** Why the previous attempt failed (exit code, log tail, verify output). */
  previousFailure?: string;
  /** Extra feedback (e.g. from the merge queue or a reviewer). */
  feedback?: string;
  /** Where the agent writes findings for other lanes (inside its worktree). */
  findingsDir?: string;
  /** Findings other lanes raised about this lane that are not done with. */
  findings?: FindingRecord[];
}

const MAX_CONTEXT_FILE = 64 * 1024;

function fence(text: string): string {
  let ticks = '```';
  while (text.includes(ticks)) ticks += '`';
  return `${ticks}\n${text.replace(/\n$/, '')}\n${ticks}`;
}

export async function buildBrief(b: BriefInput): Promise<string> {
  const { plan, lane } = b;
  const role = lane.role ?? 'implement';
  const verify = lane.verify ?? plan.verify;
  const lines: string[] = [];
  lines.push(`# Agent Lanes brief: lane \`${lane.id}\` (${role})`, '');
  lines.push(
    `You are one of ${plan.lanes.length} agents working on the same goal at the same time, each in its own git worktree and branch. ` +
      `Work only inside your worktree (\`${b.worktree}\`), on branch \`${b.branch}\`. Do not touch any other checkout, the shared git config or hooks.`,
    '',
  );
  lines.push('## Goal', '', plan.goal.trim(), '');
  lines.push('## Your lane', '', lane.brief.trim(), '');
  if (lane.scope?.length) {
    lines.push(`Scope: the files you are expected to change: ${lane.scope.map((s) => `\`${s}\``).join(', ')}. Other lanes own the rest; leave their files alone.`, '');
  }
  if (verify) {
    lines.push(`Verify: when you finish, \`${describeCommand(verify)}\` runs in your worktree. The lane passes only if it exits 0.`, '');
  }
  if (b.dependencies.length) {
    lines.push(
      `You start from the verified work of ${b.dependencies.map((d) => `\`${d.id}\` (${d.head.slice(0, 10)})`).join(', ')}; it is already in your worktree (base ${b.base.slice(0, 10)}).`,
      '',
    );
  }
  lines.push('## The whole plan', '');
  lines.push('| lane | role | depends on | scope | brief |', '|---|---|---|---|---|');
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
  for (const l of plan.lanes) {
    lines.push(
      `| ${l.id === lane.id ? `**${l.id}** (you)` : l.id} | ${cell(l.role ?? 'implement')} | ${(l.dependsOn ?? []).join(', ') || '—'} | ${cell((l.scope ?? []).join(', ') || '—')} | ${cell(l.brief.trim())} |`,
    );
  }
  lines.push('');
  if (plan.verify) lines.push(`After the lanes finish, their work is merged and \`${describeCommand(plan.verify)}\` runs on the combined result.`, '');

  if (plan.context?.length) {
    lines.push('## Shared context', '');
    for (const rel of plan.context) {
      let text: string;
      // Followed to where it really is: a symlink out of the repository is never read.
      const real = await realPathInside(b.repoRoot, rel);
      try {
        if (!real) throw new Error('outside');
        text = await fs.readFile(real, 'utf8');
        if (text.length > MAX_CONTEXT_FILE) text = text.slice(0, MAX_CONTEXT_FILE) + '\n… (truncated)';
      } catch {
        text = real ? '(file not found when this brief was written)' : '(not included: it is not a file inside the repository)';
      }
      lines.push(`### ${rel}`, '', fence(text), '');
    }
  }

  lines.push('## Shared memory', '');
  lines.push(
    `The lanes share their findings in \`${b.memoryDir}\`, a folder inside your worktree that is never committed. Append what other lanes must know (names you chose, signatures, decisions, gotchas) to your own file \`${b.memoryFile}\` (also in $LANES_MEMORY_FILE); the other lanes' notes appear in the same folder, one file per lane, as they write them.`,

    '',
  );
  if (b.memory.length) {
    lines.push('What the lanes have written so far:', '');
    for (const m of b.memory) lines.push(`### from \`${m.lane}\``, '', m.text, '');
  } else {
    lines.push('Nothing has been written there yet.', '');
  }

  if (b.findingsDir) {
    const others = plan.lanes.filter((l) => l.id !== lane.id).map((l) => `\`${l.id}\``);
    lines.push('## Findings: telling another lane what is wrong', '');
    if (others.length) {
      lines.push(
        `When you find a problem in another lane's work (a bug your test exposes, a wrong signature), do not work around it in your own files and do not weaken your check: raise a finding for that lane (one of ${others.join(', ')}). ` +
          'A blocking finding for a lane you build on sends that lane back to its agent with your evidence; once it is fixed you run again on top of its new work.',
        '',
        '```sh',
        'lanes finding add --to LANE --title "what is wrong, in one line" --command "the failing command" --output-file FILE_WITH_ITS_OUTPUT [--file path:line] [--no-blocking]',
        '```',
        '',
        `\`lanes\` is on your PATH; \`lanes finding list\` shows the findings for and from you. Without it, write a JSON file into \`${b.findingsDir}\` (also $LANES_FINDINGS_DIR): \`{"to": "LANE", "title": "…", "blocking": true, "evidence": {"command": "…", "output": "…", "files": ["path:line"]}}\`.`,
        '',
      );
      if ((lane.role ?? 'implement') === 'review') {
        lines.push(
          'You review the lanes you build on. For each, either approve it (`lanes finding approve LANE`) or request changes (`lanes finding request-changes LANE --title "…" --details "…"`). ' +
            'Requested changes go back to that lane\'s agent; you then run again on its new work and approve it or ask again. A lane whose review requested changes is not integrated until they are made.',
          '',
        );
      }
    } else lines.push('This plan has no other lane to raise findings for.', '');
  }
  if (b.findings?.length) {
    lines.push('## Findings for you', '', 'Other lanes found these problems in your work. Fix their cause in your own work; do not change the finder\'s files to make them go away.', '');
    for (const f of b.findings) {
      lines.push(`- ${describeFinding(f)}`);
      if (f.details) lines.push(`  ${f.details.split('\n').join('\n  ')}`);
      if (f.evidence?.command) lines.push(`  Reproduce with: \`${f.evidence.command}\``);
      if (f.evidence?.output) lines.push('', fence(f.evidence.output.slice(-3000)), '');
    }
    lines.push('');
  }

  if (b.previousFailure) {
    lines.push(`## Attempt ${b.attempt}: the previous attempt failed`, '', 'Fix the cause below; your earlier changes are still in the worktree.', '', fence(b.previousFailure), '');
  }
  if (b.feedback) lines.push('## Feedback', '', b.feedback.trim(), '');
  lines.push('## When you are done', '', 'Leave your changes in the worktree (committing is optional: Agent Lanes commits what is left, with trailers naming this lane) and exit.', '');
  return lines.join('\n');
}
