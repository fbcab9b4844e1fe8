import * as assert from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { alive, api, EXTENSION_ID, folder, waitFor, workspaceDir } from './util';

describe('recovery after a reload or crash', () => {
  it('shows the truth when the state says a lane was running but nobody runs it', async () => {
    const f = await folder();
    const prev = f.run!;
    // A newer run whose orchestrator and agent are gone (as after an extension host crash).
    const runId = '29991231-235959-beef';
    const dir = path.join(f.commonDir, 'lanes', 'runs', runId);
    fs.mkdirSync(dir, { recursive: true });
    const state = {
      ...prev,
      runId,
      status: 'running',
      orchestrator: { pid: 2147483000, argv: ['node', 'gone'], startedAt: new Date().toISOString() },
      lanes: prev.lanes.map((l, i) => (i === 0 ? { ...l, status: 'running', process: { pid: 2147483001, argv: ['node', 'agent.js'], startedAt: new Date().toISOString() } } : l)),
    };
    fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state));
    try {
      await vscode.commands.executeCommand('agentLanes.refresh');
      await waitFor('the interrupted run', () => f.run?.runId === runId);
      assert.strictEqual(f.truth!.status, 'interrupted');
      assert.strictEqual(f.truth!.orchestrator, 'dead');
      assert.strictEqual(f.truth!.lanes[0]!.process, 'dead');
      // The tree says so at once: the lane is interrupted (no timer, no Stop), the run row offers Resume.
      const a = await api();
      const roots = (await a.tree.getChildren()) as Parameters<typeof a.tree.getTreeItem>[0][];
      const goal = a.tree.getTreeItem(roots.find((n) => n.kind === 'goal')!);
      assert.strictEqual(goal.contextValue, 'goal:interrupted');
      assert.match(String(goal.description), /interrupted/);
      const laneNode = roots.find((n) => n.kind === 'lane' && n.lane.id === state.lanes[0]!.id)!;
      const item = a.tree.getTreeItem(laneNode);
      assert.strictEqual(item.contextValue?.split(':')[1], 'interrupted');
      assert.match(String(item.description), /interrupted/);
      assert.doesNotMatch(String(item.description), /\d+s/, 'no ticking timer');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      await vscode.commands.executeCommand('agentLanes.refresh');
    }
  });

  it('a run that fails outright (its state cannot be written) lets Run Plan come back', async () => {
    const a = await api();
    const f = await folder();
    const pids = path.join(path.dirname(workspaceDir()), 'stuck.pids');
    fs.rmSync(pids, { force: true });
    const o = (await a.runs.start(f, { lanes: ['stuck'] }))!;
    assert.ok(o);
    await waitFor('the stuck agent', () => fs.existsSync(pids), 30000);
    const stateFile = path.join(f.commonDir, 'lanes', 'runs', o.runId, 'state.json');
    // The disk "fills": the next state write (the lane being stopped) fails.
    fs.rmSync(stateFile);
    fs.mkdirSync(path.join(stateFile, 'x'), { recursive: true });
    o.cancelLane('stuck');
    await assert.rejects(o.run(), /could not write the run's state/);
    await waitFor('the folder to stop following the run', () => !f.live, 30000);
    const [agentPid] = fs.readFileSync(pids, 'utf8').split(' ').map(Number);
    await waitFor('the stuck agent to be stopped', () => !alive(agentPid!), 15000);
    fs.rmSync(path.join(f.commonDir, 'lanes', 'runs', o.runId), { recursive: true, force: true });
    await vscode.commands.executeCommand('agentLanes.refresh');
  });

  it('a run interrupted outside VS Code (its CLI killed) shows as interrupted; Resume brings it back live, with its lane terminal and the status bar', async () => {
    const a = await api();
    const f = await folder();
    const pids = path.join(path.dirname(workspaceDir()), 'stuck.pids');
    fs.rmSync(pids, { force: true });
    const cli = path.join(vscode.extensions.getExtension(EXTENSION_ID)!.extensionPath, 'dist', 'cli.js');
    const child = spawn(process.execPath, [cli, 'run', '--lane', 'stuck'], { cwd: workspaceDir(), env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' }, stdio: 'ignore' });
    let orphan: number | undefined;
    try {
      await waitFor('the stuck agent', () => fs.existsSync(pids), 30000);
      orphan = Number(fs.readFileSync(pids, 'utf8').split(' ')[0]);
      await waitFor('its process to be recorded', () => {
        const id = fs.readdirSync(path.join(f.commonDir, 'lanes', 'runs')).sort().pop()!;
        return /"process"/.test(fs.readFileSync(path.join(f.commonDir, 'lanes', 'runs', id, 'state.json'), 'utf8'));
      }, 20000);
      child.kill('SIGKILL');
      await vscode.commands.executeCommand('agentLanes.refresh');
      await waitFor('the run to show as interrupted', () => f.truth?.status === 'interrupted', 20000);
      const runId = f.run!.runId;
      fs.rmSync(pids, { force: true });
      await vscode.commands.executeCommand('agentLanes.resumeRun', f.folder.uri);
      await waitFor('the resumed run to be live', () => f.live?.runId === runId, 20000);
      await waitFor('the stuck agent again', () => fs.existsSync(pids), 30000);
      await waitFor("the lane's terminal", () => vscode.tasks.taskExecutions.some((e) => e.task.definition.lane === 'stuck'), 20000);
      assert.match(a.runs.status.text, /Lanes 1 running/);
      a.runs.cancelRun(f);
      await waitFor('the run to end', () => !f.live, 30000);
    } finally {
      child.kill('SIGKILL');
      for (const p of [orphan, ...(fs.existsSync(pids) ? [Number(fs.readFileSync(pids, 'utf8').split(' ')[0])] : [])]) {
        try {
          if (p) process.kill(-p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  });
});
