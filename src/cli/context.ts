import { LanesSession } from '../core/session/session';
import { describeOwner } from '../core/util/ownerLock';
import type { OptionSpec, ParsedArgs } from './args';

export const EXIT_OK = 0;
/** The work failed: an invalid plan, a failed lane, a refused apply. */
export const EXIT_FAILED = 1;
/** The command line was wrong. */
export const EXIT_USAGE = 2;

export interface Io {
  cwd: string;
  env: NodeJS.ProcessEnv;
  out: (text: string) => void;
  err: (text: string) => void;
  /** Whether stdout is an interactive terminal (live tables, colour). */
  isTTY: boolean;
  signal?: AbortSignal;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  description?: string;
  options: OptionSpec[];
  examples: string[];
  run(args: ParsedArgs, io: Io): Promise<number>;
}

export function style(io: Io) {
  const on = io.isTTY && !io.env.NO_COLOR;
  const wrap = (code: string) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { bold: wrap('1'), dim: wrap('2'), red: wrap('31'), green: wrap('32'), yellow: wrap('33'), cyan: wrap('36') };
}

export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2) + '\n');
}

export const JSON_OPTION: OptionSpec = { name: 'json', type: 'flag', description: 'print machine-readable JSON on stdout' };
export const PLAN_OPTION: OptionSpec = { name: 'plan', short: 'p', type: 'string', valueName: 'FILE', description: 'plan file (default: .lanes/plan.json in the repository)' };

/** The application layer for a CLI command: one session per command, waiting out loud. */
export function openSession(io: Io, command: string): Promise<LanesSession> {
  let told = false;
  return LanesSession.open({
    cwd: io.cwd,
    face: `lanes ${command}`,
    runDefaults: () => ({ env: io.env }),
    onWait: (what, owner) => {
      if (told) return;
      told = true;
      io.err(style(io).dim(`lanes: waiting for ${describeOwner(owner)} to finish before the ${what}…\n`));
    },
  });
}
