/**
 * The built-in sample for `lanes demo`: a tiny Node project in a throwaway git repository and a
 * plan of three scripted agents (no AI agent needed, fully offline). `impl` and `docs` run in
 * parallel; `tests` depends on `impl`, starts from its verified commit and reads what it wrote to
 * the shared memory. impl's first attempt forgets the check its note promises; tests' test
 * exposes it, tests raises a finding with `lanes finding add`, and the run loops back: impl is
 * sent back with the failing test, fixes it, and tests runs again on the fix, its test unchanged.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Plan } from '../plan/schema';

const AGENT = String.raw`#!/usr/bin/env node
// Scripted demo agent: does what a coding agent would do for its lane, a little slowly.
const fs = require('fs');
const path = require('path');
const os = require('os');
const { execFileSync, spawnSync } = require('child_process');
const lane = process.argv[2];
const attempt = Number(process.env.LANES_ATTEMPT || 1);
const delay = Number(process.env.DEMO_AGENT_DELAY_MS || 1500);
const brief = fs.readFileSync(process.env.LANES_BRIEF_FILE, 'utf8');
const say = (s) => console.log('[' + lane + '] ' + s);
say('read my brief (' + brief.length + ' characters, ' + brief.split('\n').length + ' lines)');
function write(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  say('wrote ' + file);
}
setTimeout(() => {
  if (lane === 'impl' && attempt === 1) {
    // A slip a real agent makes: the note promises a check the code does not have.
    write('src/farewell.js', "'use strict';\n\n/** Say goodbye. */\nfunction farewell(name) {\n  return 'Goodbye, ' + name + '!';\n}\n\nmodule.exports = { farewell };\n");
    fs.appendFileSync(process.env.LANES_MEMORY_FILE, '\nfarewell(name) is in src/farewell.js; it throws TypeError when name is empty.\n');
    say('noted the API in the shared memory');
  } else if (lane === 'impl') {
    const finding = /finding (F\d+)/.exec(brief);
    say('sent back with ' + (finding ? 'finding ' + finding[1] : 'feedback') + ' from tests: adding the missing check');
    write('src/farewell.js', "'use strict';\n\n/** Say goodbye. */\nfunction farewell(name) {\n  if (!name) throw new TypeError('name is required');\n  return 'Goodbye, ' + name + '!';\n}\n\nmodule.exports = { farewell };\n");
  } else if (lane === 'docs') {
    write('docs/usage.md', "# Usage\n\n    const { greet } = require('./src/greet');\n    greet('Ada'); // 'Hello, Ada!'\n");
  } else if (lane === 'tests') {
    const memory = fs.readdirSync(process.env.LANES_MEMORY_DIR).filter((f) => f.endsWith('.md')).map((f) => fs.readFileSync(path.join(process.env.LANES_MEMORY_DIR, f), 'utf8')).join('\n');
    say(memory.includes('TypeError') ? 'the shared memory says farewell throws TypeError: testing that too' : 'nothing in the shared memory');
    write('test/farewell.test.js', "'use strict';\nconst test = require('node:test');\nconst assert = require('node:assert');\nconst { farewell } = require('../src/farewell');\n\ntest('farewell says goodbye', () => assert.strictEqual(farewell('Ada'), 'Goodbye, Ada!'));\ntest('farewell needs a name', () => assert.throws(() => farewell(''), TypeError));\n");
    const r = spawnSync(process.execPath, ['--test', 'test/'], { encoding: 'utf8' });
    if (r.status === 0) say(attempt > 1 ? "impl's fix works: my test passes, unchanged" : 'my tests pass');
    else {
      const out = path.join(os.tmpdir(), 'farewell-test-output.txt');
      fs.writeFileSync(out, r.stdout + r.stderr);
      execFileSync('lanes', ['finding', 'add', '--to', 'impl', '--title', "farewell('') does not throw the TypeError the shared memory promises", '--command', 'node --test test/', '--output-file', out, '--file', 'src/farewell.js'], { stdio: 'inherit' });
      say('my test exposes a bug in impl: raised a blocking finding for impl, with the failing output');
    }
  }
  say('done');
}, delay);
`;

export function demoPlan(): Plan {
  return {
    version: 1,
    goal: 'Add a farewell(name) function next to greet(name), with tests and usage docs.',
    maxParallel: 3,
    verify: ['node', '--test', 'test/'],
    agents: {
      scripted: { command: ['node', '.demo/agent.js', '{lane}'], description: 'a scripted stand-in for a coding agent (offline)' },
    },
    defaults: { agent: 'scripted', timeoutMinutes: 2, retries: 1 },
    lanes: [
      { id: 'impl', role: 'implement', brief: 'Add farewell(name) in src/farewell.js; record its contract in the shared memory.', scope: ['src/**'], verify: ['node', '-e', "require('./src/farewell')"] },
      { id: 'docs', role: 'document', brief: 'Write docs/usage.md showing how to call greet.', scope: ['docs/**'] },
      { id: 'tests', role: 'test', brief: 'Test farewell, including what the shared memory says about bad input.', dependsOn: ['impl'], scope: ['test/**'], verify: ['node', '--test', 'test/'] },
    ],
  };
}

/** Create the sample repository in `dir` (which must not exist or be empty). */
export function createSampleRepo(dir: string): string {
  const files: Record<string, string> = {
    'package.json': JSON.stringify({ name: 'lanes-demo', version: '1.0.0', private: true, scripts: { test: 'node --test test/' } }, null, 2) + '\n',
    'src/greet.js': "'use strict';\n\nfunction greet(name) {\n  return 'Hello, ' + name + '!';\n}\n\nmodule.exports = { greet };\n",
    'test/greet.test.js': "'use strict';\nconst test = require('node:test');\nconst assert = require('node:assert');\nconst { greet } = require('../src/greet');\n\ntest('greet says hello', () => assert.strictEqual(greet('Ada'), 'Hello, Ada!'));\n",
    'README.md': '# lanes-demo\n\nA sample project for `lanes demo`.\n',
    '.demo/agent.js': AGENT,
    '.lanes/plan.json': JSON.stringify(demoPlan(), null, 2) + '\n',
  };
  mkdirSync(dir, { recursive: true });
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GIT_AUTHOR_NAME: 'Lanes Demo',
    GIT_AUTHOR_EMAIL: 'demo@agent-lanes.invalid',
    GIT_COMMITTER_NAME: 'Lanes Demo',
    GIT_COMMITTER_EMAIL: 'demo@agent-lanes.invalid',
  };
  for (const k of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE']) delete env[k];
  const g = (...args: string[]) => execFileSync('git', args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  g('init', '-q');
  g('config', 'user.name', 'Lanes Demo');
  g('config', 'user.email', 'demo@agent-lanes.invalid');
  g('config', 'commit.gpgsign', 'false');
  g('add', '-A');
  g('commit', '-q', '-m', 'Sample project with greet()');
  return dir;
}
