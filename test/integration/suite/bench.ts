// Activation benchmark, run in the real VS Code host by bench/activation.mjs (not a test).
import * as fs from 'fs';
import * as vscode from 'vscode';
import type { AgentLanesApi } from '../../../src/extension/extension';
import type { Node } from '../../../src/extension/tree';

export async function run(): Promise<void> {
  const out = process.env.LANES_BENCH_OUT!;
  const t0 = Date.now();
  const ext = vscode.extensions.getExtension<AgentLanesApi>('agent-lanes.agent-lanes')!;
  const api = await ext.activate();
  const activated = Date.now() - t0;
  await api.ready;
  const t1 = Date.now();
  const roots = (await api.tree.getChildren()) as Node[];
  for (const n of roots) api.tree.getTreeItem(n);
  const treeMs = Date.now() - t1;
  fs.writeFileSync(
    out,
    JSON.stringify({ lanes: roots.filter((n) => n.kind === 'lane').length, activateCallMs: activated, activateSyncMs: api.timings.activateMs, readyMs: api.timings.readyMs, treeMs }),
  );
}
