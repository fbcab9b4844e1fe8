/**
 * Lanes as tasks: a provider of type `agentLane` exposes one task per lane of each folder's plan.
 * Running one runs that lane through the core engine inside a CustomExecution pseudoterminal
 * (or, when the lane is already part of an active run, follows it); its output streams to the
 * terminal; stopping the task cancels the lane and its whole process tree.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { describeError } from '../core/errors';
import type { Orchestrator, RunEvent } from '../core/run/orchestrator';

import { FINAL_STATUSES, runPaths } from '../core/run/state';
import type { FolderModel, WorkspaceModel } from './model';
import { requireTrust, RunController } from './runs';

export const TASK_TYPE = 'agentLane';

export interface LaneTaskDefinition extends vscode.TaskDefinition {
  type: typeof TASK_TYPE;
  lane: string;
  /** Set when the task shows a lane of a run already under way: it follows, never starts. */
  run?: string;
}

const crlf = (s: string) => s.replace(/\r?\n/g, '\r\n');

class LanePty implements vscode.Pseudoterminal {
  private readonly writeEmitter = new vscode.EventEmitter<string>();
  private readonly closeEmitter = new vscode.EventEmitter<number>();
  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;
  private off?: () => void;
  private orchestrator?: Orchestrator;
  private closed = false;

  constructor(
    private readonly folder: FolderModel,
    private readonly lane: string,
    private readonly runs: RunController,
    private readonly followRun?: string,
  ) {}

  open(): void {
    this.start().catch((e: unknown) => {
      this.write(`${describeError(e).message}\n`);
      this.finish(1);
    });
  }

  private async start(): Promise<void> {
    try {
      requireTrust();
      let o = this.folder.live;
      if (this.followRun) {
        if (o?.runId === this.followRun) return await this.follow(o);
        // The lane ended before its terminal opened: show what it did, start nothing.
        const st = this.folder.run?.lanes.find((l) => l.id === this.lane);
        await this.printLog(this.followRun);
        this.write(`\n\x1b[1m${this.lane}: ${st?.status ?? 'unknown'}\x1b[0m\n`);
        this.finish(st?.status === 'passed' ? 0 : 1);
        return;
      }
      const inRun = o?.state.lanes.find((l) => l.id === this.lane);
      if (!o || !inRun || FINAL_STATUSES.has(inRun.status)) {
        // Not running, or ended in the active run: it starts a run, or joins the active one.
        if (o) this.write(`Lane ${this.lane} joins run ${o.runId}.\n`);
        o = await this.runs.start(this.folder, { lanes: [this.lane] });
        if (!o) {
          this.write('Not started.\n');
          this.finish(1);
          return;
        }
      }
      await this.follow(o);
    } catch (e) {
      this.write(`${describeError(e).message}\n`);
      this.finish(1);
    }
  }

  private async follow(o: Orchestrator): Promise<void> {
    this.orchestrator = o;
    this.write(`\x1b[1mAgent Lanes · lane ${this.lane} · run ${o.runId}\x1b[0m\n`);
    await this.printLog(o.runId); // what the lane printed before this terminal opened
    const settle = (status: string, reason?: string) => {
      this.write(`\n\x1b[1m${this.lane}: ${status}\x1b[0m${reason ? ` — ${reason.split('\n')[0]}` : ''}\n`);
      this.finish(status === 'passed' ? 0 : 1);
    };
    this.off = o.onEvent((e: RunEvent) => {
      if (e.type === 'lane-output' && e.lane === this.lane) this.write(e.chunk);
      else if (e.type === 'lane-status' && e.lane === this.lane) {
        if (FINAL_STATUSES.has(e.status)) settle(e.status, e.reason);
        else this.write(`\x1b[2m[${e.status}${e.reason ? `: ${e.reason.split('\n')[0]}` : ''}]\x1b[0m\n`);
      } else if (e.type === 'warning' && e.lane === this.lane) this.write(`\x1b[33m! ${e.message}\x1b[0m\n`);
    });
    const now = o.state.lanes.find((l) => l.id === this.lane);
    if (now && FINAL_STATUSES.has(now.status)) settle(now.status, now.reason);
  }

  private async printLog(runId: string): Promise<void> {
    try {
      const earlier = await fs.readFile(path.join(runPaths(this.folder.commonDir, runId).logs, `${this.lane}.log`), 'utf8');
      if (earlier) this.write(earlier);
    } catch {
      /* nothing yet */
    }
  }

  private write(s: string): void {
    if (!this.closed) this.writeEmitter.fire(crlf(s));
  }

  private finish(code: number): void {
    if (this.closed) return;
    this.off?.();
    this.closed = true;
    this.closeEmitter.fire(code);
  }

  /** The user stopped the task or closed its terminal: cancel the lane (whole process tree). */
  close(): void {
    if (!this.closed) {
      const o = this.orchestrator;
      const st = o?.state.lanes.find((l) => l.id === this.lane);
      if (o && st && !FINAL_STATUSES.has(st.status)) o.cancelLane(this.lane);
    }
    this.off?.();
    this.closed = true;
  }
}

export class LaneTaskProvider implements vscode.TaskProvider {
  constructor(
    private readonly model: WorkspaceModel,
    private readonly runs: RunController,
  ) {}

  makeTask(folder: FolderModel, lane: string, definition?: LaneTaskDefinition): vscode.Task {
    const def: LaneTaskDefinition = definition ?? { type: TASK_TYPE, lane };
    const role = folder.plan?.plan?.lanes.find((l) => l.id === lane)?.role ?? 'implement';
    const task = new vscode.Task(
      def,
      folder.folder,
      lane,
      'Agent Lanes',
      new vscode.CustomExecution(async () => new LanePty(folder, lane, this.runs, def.run)),
    );
    task.detail = `${role} lane of ${folder.name}`;
    task.presentationOptions = { reveal: vscode.TaskRevealKind.Silent, panel: vscode.TaskPanelKind.Dedicated, clear: true, showReuseMessage: false };
    task.isBackground = false;
    return task;
  }

  async provideTasks(): Promise<vscode.Task[]> {
    await this.model.ready;
    const out: vscode.Task[] = [];
    for (const f of this.model.all()) for (const l of f.plan?.plan?.lanes ?? []) out.push(this.makeTask(f, l.id));
    return out;
  }

  resolveTask(task: vscode.Task): vscode.Task | undefined {
    const def = task.definition as LaneTaskDefinition;
    if (def.type !== TASK_TYPE || typeof def.lane !== 'string') return undefined;
    const scope = task.scope && typeof task.scope === 'object' ? (task.scope as vscode.WorkspaceFolder) : undefined;
    const folder = this.model.pick(scope?.uri);
    if (!folder) return undefined;
    // "resolveTask requires that the same definition object be used."
    return this.makeTask(folder, def.lane, def);
  }

  /** Show a lane that a run started in the terminal panel, as its task. */
  async show(folder: FolderModel, lane: string): Promise<void> {
    const running = vscode.tasks.taskExecutions.find((x) => x.task.definition.type === TASK_TYPE && x.task.definition.lane === lane);
    if (running || !folder.live) return;
    await vscode.tasks.executeTask(this.makeTask(folder, lane, { type: TASK_TYPE, lane, run: folder.live.runId }));
  }
}
