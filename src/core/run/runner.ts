/**
 * Where a lane's programs run. The attempt hands the agent (and the lane's verify and setup
 * commands) to a LaneRunner; today's runner starts a local process group. Sandboxed and remote
 * runners plug in here.
 */
import { run, RunResult } from '../util/proc';

export interface LaneCommand {
  argv: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  timeoutMs?: number;
  onSpawn?: (pid: number) => void;
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
}

export interface LaneRunner {
  run(cmd: LaneCommand): Promise<RunResult>;
}

/**
 * A local process group per command: cancel and timeout stop the whole tree. With
 * `dieWithParent` the group also ends when this process dies (an editor window closing).
 */
export class LocalProcessRunner implements LaneRunner {
  constructor(private readonly dieWithParent = false) {}

  run(cmd: LaneCommand): Promise<RunResult> {
    return run(cmd.argv, {
      cwd: cmd.cwd,
      env: cmd.env,
      signal: cmd.signal,
      timeoutMs: cmd.timeoutMs,
      dieWithParent: this.dieWithParent,
      onSpawn: cmd.onSpawn,
      onOutput: cmd.onOutput,
    });
  }
}
