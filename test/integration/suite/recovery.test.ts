import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { alive, api, folder, waitFor, workspaceDir } from './util';

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
});
