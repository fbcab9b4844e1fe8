import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { AgentLanesApi } from '../../../src/extension/extension';
import type { FolderModel } from '../../../src/extension/model';

export const EXTENSION_ID = 'agent-lanes.agent-lanes';

export async function api(): Promise<AgentLanesApi> {
  const ext = vscode.extensions.getExtension<AgentLanesApi>(EXTENSION_ID);
  if (!ext) throw new Error(`extension ${EXTENSION_ID} not found`);
  const a = await ext.activate();
  await a.ready;
  return a;
}

export async function folder(): Promise<FolderModel> {
  const a = await api();
  const f = a.model.all()[0];
  if (!f) throw new Error('no git folder in the workspace');
  return f;
}

export const workspaceDir = () => process.env.LANES_TEST_WORKSPACE!;

export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Ask the runner for a screenshot of the whole workbench (no-op outside the runner). */
export async function screenshot(name: string): Promise<string | undefined> {
  const dir = process.env.VSCODE_TEST_SCREENSHOT_DIR;
  if (!dir) return undefined;
  const file = path.join(dir, `${name}.png`);
  fs.rmSync(file, { force: true });
  console.log(`vscode-test-screenshot:${name}`);
  await waitFor(`screenshot ${name}`, () => fs.existsSync(file), 20000);
  return file;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
