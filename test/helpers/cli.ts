import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { main } from '../../src/cli/main';

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Run the CLI in this process (fast). */
export async function lanes(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  let out = '';
  let err = '';
  const code = await main(args, { cwd, env: { ...process.env, ...env }, out: (t) => (out += t), err: (t) => (err += t), isTTY: false });
  return { code, out, err };
}

const ROOT = path.resolve(__dirname, '../..');

/** Run the CLI as its own process, as a user would (real exit codes, real signals). */
export function lanesProcess(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, ['--import', require.resolve('tsx'), path.join(ROOT, 'src/cli/index.ts'), ...args], {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** The CLI as its own process in the background (lanesProcess waits; this does not). */
export function lanesBackground(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  let out = '';
  const child = spawn(process.execPath, ['--import', require.resolve('tsx'), path.join(ROOT, 'src/cli/index.ts'), ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out: () => out, exited };
}
