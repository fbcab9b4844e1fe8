import type { Recovery } from '../core/reconcile/apply';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeError } from '../core/errors';
import { commonDir, GitError } from '../core/git/git';
import { LanesSession } from '../core/session/session';
import { unsupportedPlatform } from '../core/util/platform';
import { parseArgs, UsageError } from './args';
import { initCommand, planCommand, schemaCommand, templatesCommand, validateCommand } from './commands/plan';
import { doctorCommand } from './commands/doctor';
import { findingCommand } from './commands/finding';
import { queueCommand, workerCommand } from './commands/queue';
import { discardCommand, reconcileCommand, undoCommand } from './commands/reconcile';
import { cleanCommand, demoCommand, runCommand, statusCommand } from './commands/run';
import { Command, EXIT_FAILED, EXIT_OK, EXIT_USAGE, Io, style } from './context';

declare const __LANES_VERSION__: string | undefined;
const VERSION = typeof __LANES_VERSION__ === 'string' ? __LANES_VERSION__ : 'dev';

/** Every command, in the order `lanes --help` lists them. */
export const COMMANDS: readonly Command[] = [initCommand, planCommand, validateCommand, runCommand, statusCommand, findingCommand, reconcileCommand, undoCommand, discardCommand, cleanCommand, queueCommand, workerCommand, doctorCommand, demoCommand, templatesCommand, schemaCommand];

function usageLine(c: Command): string {
  return `  ${c.name.padEnd(10)} ${c.summary}`;
}

export function mainHelp(): string {
  return [
    'lanes — run several coding agents on one change, each in its own git worktree, and merge their work back safely.',
    '',
    'Usage: lanes <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map(usageLine),
    '',
    'Examples:',
    '  lanes init --template trio --goal "Add rate limiting to the API"',
    '  lanes plan "Add rate limiting to the API, with tests and docs"',
    '  lanes validate',
    '  lanes run                 # every lane in its own worktree, in parallel',
    '  lanes status',
    '  lanes finding list        # what lanes found in each other\'s work',
    '  lanes demo                # offline demo on a throwaway sample repository',
    '',
    'Run "lanes <command> --help" for the options of one command.',
    'Exit codes: 0 success, 1 the work failed (e.g. an invalid plan), 2 usage error.',
    '',
  ].join('\n');
}

export function commandHelp(c: Command): string {
  const opts = [...c.options, { name: 'help', short: 'h', type: 'flag' as const, description: 'show this help' }];
  const width = Math.max(...opts.map((o) => (o.short ? `-${o.short}, ` : '    ').length + `--${o.name}${o.valueName ? ` ${o.valueName}` : ''}`.length));
  return [
    `Usage: ${c.usage}`,
    '',
    c.summary.charAt(0).toUpperCase() + c.summary.slice(1) + '.',
    ...(c.description ? ['', c.description] : []),
    '',
    'Options:',
    ...opts.map((o) => {
      const flag = (o.short ? `-${o.short}, ` : '    ') + `--${o.name}${o.valueName ? ` ${o.valueName}` : ''}`;
      return `  ${flag.padEnd(width)}  ${o.description}`;
    }),
    '',
    'Examples:',
    ...c.examples.map((e) => `  ${e}`),
    '',
  ].join('\n');
}

/**
 * An apply into this checkout that a crash cut off is rolled back before anything else runs:
 * only when its owner is dead (a live apply, from another terminal or the editor, is left
 * alone) and only in the checkout it was writing.
 */
async function recoverInterruptedApply(io: Io, command: string): Promise<Recovery> {
  let session: LanesSession;
  try {
    session = await LanesSession.open({ cwd: io.cwd, face: `lanes ${command}` });
  } catch {
    return 'none'; // not in a repository: nothing to recover
  }
  return session.recover();
}

/** Where the CLI keeps what a person should not have to read (stacks, whole git commands). */
async function logFile(cwd: string): Promise<string> {
  try {
    return path.join(await commonDir(cwd), 'lanes', 'cli.log');
  } catch {
    return path.join(os.tmpdir(), 'agent-lanes-cli.log');
  }
}

/** Append the full text of an error to the CLI's log; returns the log's path (or undefined). */
export async function logError(cwd: string, command: string, text: string): Promise<string | undefined> {
  const file = await logFile(cwd);
  try {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.appendFile(file, `[${new Date().toISOString()}] lanes ${command} (pid ${process.pid})\n${text}\n\n`);
    return file;
  } catch {
    return undefined;
  }
}

/** Whether a command's arguments ask for its help (before any "--"). */
function asksForHelp(rest: readonly string[]): boolean {
  const dd = rest.indexOf('--');
  const helpAt = Math.max(rest.indexOf('--help'), rest.indexOf('-h'));
  return helpAt >= 0 && (dd < 0 || helpAt < dd);
}

export async function main(argv: readonly string[], io: Io, platform: string = process.platform): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    io.out(topic ? commandHelp(topic) : mainHelp());
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === '--version' || name === '-V') {
    io.out(`${VERSION}\n`);
    return EXIT_OK;
  }
  // Help reads the same everywhere; everything else needs a POSIX system.
  const refused = unsupportedPlatform(platform);
  if (refused && !asksForHelp(rest)) {
    io.err(`${refused}\n`);
    return EXIT_USAGE;
  }
  const command = COMMANDS.find((c) => c.name === name);
  const s = style({ ...io, isTTY: false });
  if (!command) {
    io.err(`lanes: unknown command "${name}"\n\n${mainHelp()}`);
    return EXIT_USAGE;
  }
  if (asksForHelp(rest)) {
    io.out(commandHelp(command));
    return EXIT_OK;
  }
  try {
    const args = parseArgs(rest, command.options);
    // An apply that a crash interrupted is rolled back before anything else runs.
    const recovered = await recoverInterruptedApply(io, command.name);
    if (recovered === 'rolled-back') io.err(s.red(`lanes: an apply into your checkout was interrupted; it has been rolled back (snapshot refs under refs/lanes/apply/)\n`));
    if (recovered === 'undo-finished') io.err(s.red(`lanes: an undo of the last apply was interrupted; it has been finished (your checkout is as before the apply; what the undo found is under refs/lanes/apply/)\n`));
    return await command.run(args, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`lanes ${command.name}: ${e.message}\nUsage: ${command.usage}\nRun "lanes ${command.name} --help" for details.\n`);
      return EXIT_USAGE;
    }
    // One error model: a line a person can act on; argv, stderr and stacks go to the log.
    const d = describeError(e);
    const log = await logError(io.cwd, command.name, `${d.logText}${e instanceof GitError ? `\n${e.detail}` : ''}`);
    io.err(s.red(`lanes ${command.name}: ${d.message}\n`));
    if (!d.expected && log) io.err(`  the details are in ${log}\n`);
    if (io.env.LANES_DEBUG) io.err(`${d.logText}\n`);
    return EXIT_FAILED;
  }
}

export { EXIT_OK, EXIT_FAILED, EXIT_USAGE };
