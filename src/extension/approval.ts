// No `vscode` import: the approval logic is unit-tested in plain Node.
import { createHash } from 'node:crypto';
import { describeCommand, resolveAgent } from '../core/agents/resolve';
import type { Plan } from '../core/plan/schema';

/** The exact commands a plan will run, for the first-run approval prompt. */
export function commandsOf(plan: Plan, defaultAgent: string, agents: Record<string, string[]>): string[] {
  const out: string[] = [];
  for (const lane of plan.lanes) {
    const agent = resolveAgent(plan, lane, defaultAgent, agents);
    out.push(`${lane.id}: ${agent.argv.map((a) => (/^[\w./:=@%+{}-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')}`);
    if (lane.verify) out.push(`${lane.id} verify: ${describeCommand(lane.verify)}`);
  }
  for (const cmd of plan.worktree?.setup ?? []) out.push(`setup: ${describeCommand(cmd)}`);
  if (plan.verify) out.push(`integration verify: ${describeCommand(plan.verify)}`);
  return out;
}

/** Approvals are remembered by the commands, not the whole plan: editing a brief does not ask again. */
export function approvalKey(commands: readonly string[]): string {
  return `agentLanes.approved.${createHash('sha256').update(JSON.stringify(commands)).digest('hex')}`;
}
