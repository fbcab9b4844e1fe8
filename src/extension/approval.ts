// No `vscode` import: the approval logic is unit-tested in plain Node.
import { createHash } from 'node:crypto';
import { describeCommand, resolveAgent } from '../core/agents/resolve';
import type { Plan } from '../core/plan/schema';
import type { Isolation } from '../core/run/sandbox';

const WHERE: Record<Isolation, string> = { bwrap: 'sandboxed (bubblewrap)', 'sandbox-exec': 'sandboxed (sandbox-exec)', none: 'NOT sandboxed' };

/**
 * The exact commands a plan will run, for the first-run approval prompt, with where each lane
 * runs them (a plan that turns the sandbox off asks again).
 */
export function commandsOf(plan: Plan, defaultAgent: string, agents: Record<string, string[]>, isolation?: Record<string, { isolation: Isolation; network: boolean }>): string[] {
  const out: string[] = [];
  for (const lane of plan.lanes) {
    const agent = resolveAgent(plan, lane, defaultAgent, agents);
    const i = isolation?.[lane.id];
    const where = i ? ` [${WHERE[i.isolation]}${i.network ? '' : ', no network'}]` : '';
    out.push(`${lane.id}${where}: ${agent.argv.map((a) => (/^[\w./:=@%+{}-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')}`);
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
