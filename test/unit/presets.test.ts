import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { PRESET_NAMES, PRESETS } from '../../src/core/agents/presets';

describe('agent presets', () => {
  it("the README's preset table is the code's, word for word", () => {
    const readme = readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
    const rows = new Map([...readme.matchAll(/^\s*\| `([a-z]+)` \| `([^`]+)` \|$/gm)].map((m) => [m[1]!, m[2]!]));
    for (const name of PRESET_NAMES) assert.equal(rows.get(name), PRESETS[name].command.join(' '), `README row for ${name}`);
  });
});
