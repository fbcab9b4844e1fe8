import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? files(p) : /\.(ts|js|mjs|cjs)$/.test(name) ? [p] : [];
  });
}

const IMPORT = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|require\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]/gm;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? m[3] ?? m[4]!);
}

describe('layering', () => {
  it('src/core and src/cli never import vscode (they run in plain Node)', () => {
    const offenders: string[] = [];
    for (const dir of ['src/core', 'src/cli']) {
      for (const f of files(path.join(ROOT, dir))) {
        if (importsOf(f).some((m) => m === 'vscode' || m.startsWith('vscode/'))) offenders.push(path.relative(ROOT, f));
      }
    }
    assert.deepEqual(offenders, []);
  });

  it('src/core never imports from the adapters above it', () => {
    const offenders: string[] = [];
    for (const f of files(path.join(ROOT, 'src/core'))) {
      for (const m of importsOf(f)) {
        if (!m.startsWith('.')) continue;
        const target = path.resolve(path.dirname(f), m);
        if (!target.startsWith(path.join(ROOT, 'src/core'))) offenders.push(`${path.relative(ROOT, f)} -> ${m}`);
      }
    }
    assert.deepEqual(offenders, []);
  });

  it('the scanner itself finds a vscode import (so the check above can fail)', () => {
    const probe = ["import * as vscode from 'vscode';", "const v = require('vscode');", "import type { Uri } from 'vscode';"];
    for (const line of probe) assert.deepEqual([...line.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? m[3] ?? m[4]), ['vscode'], line);
  });
});
