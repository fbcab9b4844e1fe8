/**
 * Queue mode's commands and task. Start Queue runs the bundled CLI's `lanes queue start
 * --workers N` as a task (a ProcessExecution: an argv, never a shell line) so its live table
 * shows in a terminal; Stop Queue asks every worker, on every machine, to stop after its current
 * task (the core's stopQueue), and "Now" also ends the queue this window started; Refresh reads
 * the queue at once.
 */
import * as vscode from 'vscode';
import { PreconditionError } from '../core/errors';
import { loadQueue, stopQueue } from '../core/queue/queue';
import { register } from './commands';
import type { Log } from './log';
import type { FolderModel, WorkspaceModel } from './model';
import { QueueNode, queueRemote, QueueTreeProvider } from './queueTree';

export const QUEUE_TASK_TYPE = 'agentLanesQueue';
const DEFAULT_WORKERS = 2;
const MAX_WORKERS = 64; // the CLI's limit on one machine
/** How long "Now" waits for the CLI to end its workers before it ends the task outright. */
const STOP_GRACE_MS = 15_000;

export interface QueueTaskDefinition extends vscode.TaskDefinition {
  type: typeof QUEUE_TASK_TYPE;
  workers: number;
}

const scopeKey = (task: vscode.Task) => (task.scope && typeof task.scope === 'object' ? (task.scope as vscode.WorkspaceFolder).uri.toString() : undefined);
const isQueueTask = (task: vscode.Task) => task.definition.type === QUEUE_TASK_TYPE;

/** `agentLanesQueue` tasks: one per folder with a queue file; tasks.json may set `workers`. */
export class QueueTaskProvider implements vscode.TaskProvider, vscode.Disposable {
  /** The CLI's process of each running queue task, by folder (what "Now" signals). */
  private readonly pids = new Map<string, number>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly model: WorkspaceModel,
    private readonly queue: QueueTreeProvider,
    /** The bundled CLI (dist/cli.js). */
    private readonly cli: string,
  ) {
    const update = (ended?: vscode.TaskExecution) => {
      const running = vscode.tasks.taskExecutions.some((x) => x !== ended && isQueueTask(x.task));
      void vscode.commands.executeCommand('setContext', 'agentLanes.queueRunning', running);
    };
    this.disposables.push(
      vscode.tasks.onDidStartTaskProcess((e) => {
        const key = scopeKey(e.execution.task);
        if (isQueueTask(e.execution.task) && key) this.pids.set(key, e.processId);
      }),
      vscode.tasks.onDidEndTaskProcess((e) => {
        const key = scopeKey(e.execution.task);
        if (isQueueTask(e.execution.task) && key) this.pids.delete(key);
      }),
      vscode.tasks.onDidStartTask((e) => isQueueTask(e.execution.task) && update()),
      vscode.tasks.onDidEndTask((e) => isQueueTask(e.execution.task) && update(e.execution)),
    );
  }

  makeTask(folder: FolderModel, definition?: QueueTaskDefinition): vscode.Task {
    const def: QueueTaskDefinition = definition ?? { type: QUEUE_TASK_TYPE, workers: DEFAULT_WORKERS };
    const remote = queueRemote(folder);
    const args = [this.cli, 'queue', 'start', '--workers', String(def.workers), ...(remote !== folder.root ? ['--remote', remote] : [])];
    // The extension host's own Node: in desktop VS Code that is Electron, which runs as Node with
    // ELECTRON_RUN_AS_NODE (the CLI passes its environment on to the workers it starts).
    const env: Record<string, string> = process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {};
    const task = new vscode.Task(def, folder.folder, `queue (${def.workers} worker${def.workers === 1 ? '' : 's'})`, 'Agent Lanes', new vscode.ProcessExecution(process.execPath, args, { cwd: folder.root, env }));
    task.detail = `lanes queue start --workers ${def.workers} in ${folder.name}`;
    task.presentationOptions = { reveal: vscode.TaskRevealKind.Always, panel: vscode.TaskPanelKind.Dedicated, clear: true, showReuseMessage: false };
    task.isBackground = false;
    return task;
  }

  async provideTasks(): Promise<vscode.Task[]> {
    await this.queue.ready;
    return this.queue.folders().map((f) => this.makeTask(f));
  }

  resolveTask(task: vscode.Task): vscode.Task | undefined {
    const def = task.definition as QueueTaskDefinition;
    if (def.type !== QUEUE_TASK_TYPE) return undefined;
    if (def.workers !== undefined && !validWorkers(def.workers)) return undefined;
    const scope = task.scope && typeof task.scope === 'object' ? (task.scope as vscode.WorkspaceFolder) : undefined;
    const folder = this.model.pick(scope?.uri);
    if (!folder) return undefined;
    // "resolveTask requires that the same definition object be used."
    if (def.workers === undefined) def.workers = DEFAULT_WORKERS;
    return this.makeTask(folder, def);
  }

  /** The queue task running for a folder, if this window started one. */
  running(folder: FolderModel): vscode.TaskExecution | undefined {
    const key = folder.folder.uri.toString();
    return vscode.tasks.taskExecutions.find((x) => isQueueTask(x.task) && scopeKey(x.task) === key);
  }

  /**
   * End a running queue now: SIGTERM to the CLI, which ends its workers (each ends its agent and
   * hands its task back with a note); the task itself ends when they have. If it has not within
   * the grace time, the task is ended outright (its workers' claims then go stale and are reclaimed).
   */
  async stopNow(folder: FolderModel, execution: vscode.TaskExecution): Promise<void> {
    const key = folder.folder.uri.toString();
    const ended = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => (sub.dispose(), resolve(false)), STOP_GRACE_MS);
      const sub = vscode.tasks.onDidEndTask((e) => {
        if (scopeKey(e.execution.task) === key && isQueueTask(e.execution.task)) {
          clearTimeout(timer);
          sub.dispose();
          resolve(true);
        }
      });
    });
    const pid = this.pids.get(key);
    let signalled = false;
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGTERM');
        signalled = true;
      } catch {
        /* gone already */
      }
    }
    if (!signalled) execution.terminate();
    if (!(await ended) && signalled) execution.terminate();
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

function validWorkers(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= MAX_WORKERS;
}

interface QueueDeps {
  context: vscode.ExtensionContext;
  log: Log;
  model: WorkspaceModel;
}

/**
 * The folder a queue command is about: a Uri, `{ folder: root }`, a row of the Queue view, the
 * only folder with a queue, or a pick.
 */
async function queueFolder(deps: QueueDeps, queue: QueueTreeProvider, args: readonly unknown[]): Promise<FolderModel> {
  await queue.ready;
  for (const a of args) {
    if (a instanceof vscode.Uri) {
      const f = deps.model.pick(a);
      if (f) return f;
    } else if (a && typeof a === 'object' && 'folder' in a && typeof a.folder === 'string') {
      const f = deps.model.all().find((x) => x.root === a.folder || x.folder.uri.fsPath === a.folder);
      if (f) return f;
    } else if (a && typeof a === 'object' && 'id' in a && typeof a.id === 'string') {
      const f = queue.folderOf(a as QueueNode);
      if (f) return f;
    }
  }
  const folders = queue.folders();
  if (!folders.length) throw new PreconditionError('no folder of this workspace has a queue file (.lanes/queue.json)', 'other');
  if (folders.length === 1) return folders[0]!;
  const pick = await vscode.window.showQuickPick(
    folders.map((f) => ({ label: f.name, description: f.root, f })),
    { placeHolder: 'Which folder\'s queue?' },
  );
  if (!pick) throw new vscode.CancellationError();
  return pick.f;
}

export function registerQueueCommands(deps: QueueDeps, queue: QueueTreeProvider, tasks: QueueTaskProvider): void {
  /** Cancelling a pick or an input box ends the command quietly. */
  const quietly =
    <A extends unknown[]>(fn: (...args: A) => Promise<unknown>) =>
    async (...args: A) => {
      try {
        return await fn(...args);
      } catch (e) {
        if (e instanceof vscode.CancellationError) return undefined;
        throw e;
      }
    };

  /** `agentLanes.startQueue([folder], [workers])`: without a number it asks, 2 by default. */
  register(
    deps,
    'agentLanes.startQueue',
    quietly(async (...args: unknown[]) => {
      const folder = await queueFolder(deps, queue, args);
      const running = tasks.running(folder);
      if (running) {
        void vscode.window.showInformationMessage(`Agent Lanes: the queue of ${folder.name} is already running here (its terminal shows the table).`);
        return running;
      }
      // The file's problems, named by field, before any terminal opens.
      await loadQueue(folder.root);
      let workers = args.find((a): a is number => typeof a === 'number');
      if (workers === undefined) {
        const answer = await vscode.window.showInputBox({
          title: `Start the Queue of ${folder.name}`,
          prompt: 'How many workers on this machine? Each claims tasks in its own clone and runs its own agent.',
          value: String(DEFAULT_WORKERS),
          ignoreFocusOut: true,
          validateInput: (v) => (validWorkers(Number(v.trim())) && v.trim() !== '' ? undefined : `A whole number from 1 to ${MAX_WORKERS} (more: lanes queue kubernetes)`),
        });
        if (answer === undefined) return undefined;
        workers = Number(answer.trim());
      }
      if (!validWorkers(workers)) throw new PreconditionError(`the number of workers must be a whole number from 1 to ${MAX_WORKERS}; got ${workers}`, 'other');
      deps.log.info(`${folder.name}: starting the queue with ${workers} worker(s) on ${queueRemote(folder)}`);
      const execution = await vscode.tasks.executeTask(tasks.makeTask(folder, { type: QUEUE_TASK_TYPE, workers }));
      void queue.poll();
      return execution;
    }),
  );

  /** `agentLanes.stopQueue([folder], ['after' | 'now'])`: without one it asks (modal). */
  register(
    deps,
    'agentLanes.stopQueue',
    quietly(async (...args: unknown[]) => {
      const folder = await queueFolder(deps, queue, args);
      let how = args.find((a): a is 'after' | 'now' => a === 'after' || a === 'now');
      const running = tasks.running(folder);
      if (!how) {
        const after = 'After Current Tasks';
        const now = 'Now';
        const pick = await vscode.window.showWarningMessage(
          `Stop the queue of ${folder.name}?`,
          {
            modal: true,
            detail:
              `${after}: every worker, on every machine, finishes the task it works on, then stops.\n` +
              `${now}: the same, and ${running ? 'the queue started in this window ends at once: its workers end their agents and hand their tasks back' : 'nothing runs here to end at once (workers elsewhere stop after their current task)'}.\n\n` +
              'Starting the queue again takes the stop back.',
          },
          after,
          now,
        );
        if (!pick) return undefined;
        how = pick === now ? 'now' : 'after';
      }
      await stopQueue(folder.root, queueRemote(folder));
      deps.log.info(`${folder.name}: asked every worker to stop${how === 'now' ? ', and ended the queue started here' : ' after its current task'}`);
      if (how === 'now' && running) await tasks.stopNow(folder, running);
      await queue.poll();
      return how;
    }),
  );

  register(deps, 'agentLanes.refreshQueue', async () => {
    // Nothing is read in Restricted Mode: the view keeps its one row.
    if (!vscode.workspace.isTrusted) return;
    await queue.poll();
  });
}
