/**
 * Where a lane's programs run. The attempt hands the agent (and the lane's verify and setup
 * commands) to a LaneRunner; the local runner starts a process group, inside the lane's sandbox
 * when it has one. Remote runners plug in here.
 */
import { run, RunResult } from '../util/proc';
import { sandboxedArgv, SandboxPolicy } from './sandbox';

export interface LaneCommand {
  argv: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Run inside this sandbox (none: as the user's own process). */
  sandbox?: SandboxPolicy;
  onSpawn?: (pid: number, argv: readonly string[]) => void;
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
}

export interface LaneRunner {
  run(cmd: LaneCommand): Promise<RunResult>;
}

/**
 * A local process group per command: cancel and timeout stop the whole tree. With
 * `dieWithParent` the group also ends when this process dies (an editor window closing).
 * A sandboxed command always does (bubblewrap's own PID namespace dies with its parent), and
 * everything it started dies with it.
 */
export class LocalProcessRunner implements LaneRunner {
  constructor(private readonly dieWithParent = false) {}

  run(cmd: LaneCommand): Promise<RunResult> {
    const argv = cmd.sandbox ? sandboxedArgv(cmd.sandbox, cmd.argv, cmd.cwd, cmd.env) : [...cmd.argv];
    const env = cmd.sandbox ? { ...cmd.env, TMPDIR: cmd.sandbox.tmpDir, TMP: cmd.sandbox.tmpDir, TEMP: cmd.sandbox.tmpDir, LANES_SANDBOX: cmd.sandbox.kind } : cmd.env;
    return run(argv, {
      cwd: cmd.cwd,
      env,
      signal: cmd.signal,
      timeoutMs: cmd.timeoutMs,
      dieWithParent: this.dieWithParent && cmd.sandbox?.kind !== 'bwrap',
      onSpawn: cmd.onSpawn && ((pid) => cmd.onSpawn!(pid, argv)),
      onOutput: cmd.onOutput,
    });
  }
}
