import { isPresetName, PRESETS, substituteArgv } from './presets';
import type { AgentRef, CommandLine, Lane, Plan } from '../plan/schema';

export interface ResolvedAgent {
  /** What the plan or settings called it: a preset, a named agent, or "custom". */
  name: string;
  argv: string[];
  env: Record<string, string>;
}

/**
 * The agent for a lane: the lane's own, else the plan's default, else `fallback` (a setting).
 * A name defined in the plan's `agents` wins over a preset of the same name, so a team can
 * pin its own flags for "claude".
 */
export function resolveAgent(plan: Plan, lane: Lane, fallback: AgentRef = 'claude', overrides: Record<string, string[]> = {}): ResolvedAgent {
  const ref = lane.agent ?? plan.defaults?.agent ?? fallback;
  if (typeof ref !== 'string') return { name: 'custom', argv: [...ref.command], env: { ...ref.env } };
  const named = plan.agents?.[ref];
  if (named) return { name: ref, argv: [...named.command], env: { ...named.env } };
  if (overrides[ref]?.length) return { name: ref, argv: [...overrides[ref]!], env: {} };
  if (isPresetName(ref)) return { name: ref, argv: [...PRESETS[ref].command], env: {} };
  throw new Error(`unknown agent "${ref}"`);
}

export function agentArgv(agent: ResolvedAgent, values: { brief: string; briefFile: string; lane: string; worktree: string }): string[] {
  return substituteArgv(agent.argv, values);
}

/** A verify command as argv: strings are the user's own command line, run by `sh -c`. */
export function commandArgv(cmd: CommandLine): string[] {
  return typeof cmd === 'string' ? ['sh', '-c', cmd] : [...cmd];
}

export function describeCommand(cmd: CommandLine): string {
  return typeof cmd === 'string' ? cmd : cmd.map((a) => (/^[\w./:=@%+-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}
