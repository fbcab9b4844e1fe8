import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { ESLint } from 'eslint';

const ROOT = path.resolve(__dirname, '../..');

/**
 * The layers are guarded by lint (eslint.config.mjs, run by `npm test`). These probes prove the
 * rules can fail: each puts a forbidden import in a file of a layer and expects the error.
 */
describe('layers (lint rules)', function () {
  this.timeout(60_000);
  const eslint = new ESLint({ cwd: ROOT });
  const probe = async (file: string, code: string) => {
    const [r] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
    return r!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
  };

  it('src/core imports neither vscode nor the faces above it', async () => {
    assert.match((await probe('src/core/run/judge.ts', "import * as vscode from 'vscode';\nexport const x = vscode;\n"))[0] ?? '', /src\/core is pure Node/);
    assert.match((await probe('src/core/run/judge.ts', "import { COMMANDS } from '../../cli/main';\nexport const x = COMMANDS;\n"))[0] ?? '', /src\/core is pure Node/);
    assert.match((await probe('src/core/run/judge.ts', "import { activate } from '../../extension/extension';\nexport const x = activate;\n"))[0] ?? '', /src\/core is pure Node/);
  });

  it('src/cli never imports vscode or the extension; the webview never Node or core', async () => {
    assert.match((await probe('src/cli/context.ts', "import type { Uri } from 'vscode';\nexport type X = Uri;\n"))[0] ?? '', /src\/cli is a face/);
    assert.match((await probe('src/webview/main.ts', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n"))[0] ?? '', /runs in a browser/);
    assert.match((await probe('src/webview/main.ts', "import { judge } from '../core/run/judge';\nexport const x = judge;\n"))[0] ?? '', /runs in a browser/);
  });

  it('the real sources pass (nothing forbidden today)', async () => {
    const results = await eslint.lintFiles(['src/core/**/*.ts', 'src/cli/**/*.ts', 'src/webview/**/*.ts', 'src/shared/**/*.ts']);
    const bad = results.flatMap((r) => r.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => `${path.relative(ROOT, r.filePath)}: ${m.message}`));
    assert.deepEqual(bad, []);
  });

  it('an unawaited promise is an error', async () => {
    const [r] = await eslint.lintText("async function save(): Promise<void> {}\nexport function f(): void {\n  save();\n}\n", { filePath: path.join(ROOT, 'src/core/run/judge.ts') });
    assert.ok(r!.messages.some((m) => m.ruleId === '@typescript-eslint/no-floating-promises'), JSON.stringify(r!.messages));
  });
});
