/**
 * Budgets, pure: what was spent against a cap (money, tokens, agent minutes), and whether it is
 * over. Money and tokens count only what the agent CLIs report; minutes are measured.
 */
import { AgentUsage, describeUsage, sumUsage } from '../agents/streams';

export interface Budget {
  usd?: number;
  tokens?: number;
  minutes?: number;
}

export interface Spent {
  /** Undefined when no agent reported a cost. */
  usd?: number;
  /** Undefined when no agent reported tokens. */
  tokens?: number;
  minutes: number;
}

export function spentOf(usage: AgentUsage, busyMs: number): Spent {
  const tokens = usage.inputTokens === undefined && usage.outputTokens === undefined ? undefined : (usage.inputTokens ?? 0) + (usage.outputTokens ?? 0);
  return { usd: usage.costUsd, tokens, minutes: busyMs / 60_000 };
}

/** Why `spent` is over `budget` ("budget: $0.52 spent of $0.50"), or undefined. */
export function overBudget(budget: Budget | undefined, spent: Spent): string | undefined {
  if (!budget) return undefined;
  if (budget.usd !== undefined && spent.usd !== undefined && spent.usd >= budget.usd) return `budget: $${spent.usd.toFixed(4)} spent of $${budget.usd}`;
  if (budget.tokens !== undefined && spent.tokens !== undefined && spent.tokens >= budget.tokens) return `budget: ${spent.tokens} tokens used of ${budget.tokens}`;
  if (budget.minutes !== undefined && spent.minutes >= budget.minutes) return `budget: ${spent.minutes.toFixed(2)} agent minutes of ${budget.minutes}`;
  return undefined;
}

/** "$0.12 of $0.50 · 3.1k of 100k tokens · 2.5 of 10 min", for what the budget caps. */
export function describeSpent(budget: Budget, spent: Spent): string {
  const out: string[] = [];
  if (budget.usd !== undefined) out.push(`${spent.usd === undefined ? 'cost unknown' : `$${spent.usd.toFixed(4)}`} of $${budget.usd}`);
  if (budget.tokens !== undefined) out.push(`${spent.tokens === undefined ? 'tokens unknown' : spent.tokens} of ${budget.tokens} tokens`);
  if (budget.minutes !== undefined) out.push(`${spent.minutes.toFixed(1)} of ${budget.minutes} min`);
  return out.join(' · ');
}

/** What a lane used and, when it has a budget, what it spent against it (for the faces). */
export function laneSpending(lane: { busyMs: number; attempts: { usage?: AgentUsage }[] }, budget: Budget | undefined): { used?: string; budget?: string; over?: string } {
  const reported = lane.attempts.some((a) => a.usage);
  const usage = sumUsage(lane.attempts.map((a) => a.usage));
  const spent = spentOf(usage, lane.busyMs);
  return {
    used: reported ? describeUsage(usage) : undefined,
    budget: budget ? describeSpent(budget, spent) : undefined,
    over: overBudget(budget, spent),
  };
}
