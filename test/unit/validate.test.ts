import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { formatDiagnostic, formatPath, validatePlanText, validatePlanValue } from '../../src/core/plan/validate';

const fixture = (name: string) => readFileSync(path.join(__dirname, '../fixtures/plans', name), 'utf8');

/** Minimal valid plan with overrides, as JSON text. */
function plan(over: Record<string, unknown> = {}, lanes?: unknown[]): string {
  return JSON.stringify({ version: 1, goal: 'g', ...over, lanes: lanes ?? [{ id: 'a', brief: 'do a' }] }, null, 2);
}

function messages(text: string): string[] {
  const r = validatePlanText(text);
  return [...r.errors, ...r.warnings].map((d) => `${d.severity} ${formatPath(d.path)}: ${d.message}`);
}

describe('plan validation', () => {
  it('accepts the example plan from the contract and a plan using every field', () => {
    for (const f of ['issue-example.json', 'full.json']) {
      const r = validatePlanText(fixture(f));
      assert.deepEqual([...r.errors, ...r.warnings], [], f);
      assert.ok(r.ok && r.plan);
    }
    const full = validatePlanText(fixture('full.json')).plan!;
    assert.equal(full.defaults?.timeoutMinutes, 0.5, 'fractional timeouts are allowed');
    assert.deepEqual(full.verify, ['npm', 'test']);
    assert.equal(full.lanes[2]!.role, 'write a migration guide', 'free-text roles are allowed');
  });

  it('reports invalid JSON with line and column', () => {
    const r = validatePlanText('{\n  "version": 1,\n  "goal": "g",\n}');
    assert.equal(r.ok, false);
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0]!.code, 'json-syntax');
    assert.equal(r.errors[0]!.message, 'invalid JSON: trailing comma before } at line 4, column 1');
    assert.equal(r.errors[0]!.line, 4);
  });

  it('names the path and the expectation for wrong types', () => {
    const text = plan({ maxParallel: 'four' }, [{ id: 'a', brief: 'x', timeoutMinutes: '5', retries: 1.5, dependsOn: 'b', scope: 'src/**' }]);
    assert.deepEqual(messages(text), [
      'error maxParallel: expected a whole number, got the string "four"',
      'error lanes[0].timeoutMinutes: expected a number of minutes, got the string "5"',
      'error lanes[0].retries: expected a whole number, got 1.5',
      'error lanes[0].dependsOn: expected an array of lane ids, got the string "b"',
      'error lanes[0].scope: expected an array of globs, e.g. ["src/**"], got the string "src/**"',
    ]);
  });

  it('enforces the numeric contract: timeoutMinutes > 0, retries >= 0, maxParallel >= 1', () => {
    assert.deepEqual(messages(plan({ maxParallel: 0 }, [{ id: 'a', brief: 'x', timeoutMinutes: 0, retries: -1 }])), [
      'error maxParallel: must be at least 1',
      'error lanes[0].timeoutMinutes: must be greater than 0',
      'error lanes[0].retries: must be 0 or more',
    ]);
  });

  it('requires version 1 and says what to do about other versions', () => {
    assert.deepEqual(messages(JSON.stringify({ goal: 'g', lanes: [{ id: 'a', brief: 'x' }] })), [
      'error version: missing; add "version": 1 at the top of the plan',
    ]);
    assert.deepEqual(messages(plan({ version: 2 })), [
      'error version: this plan is version 2, but this Agent Lanes reads version 1; update Agent Lanes',
    ]);
  });

  it('rejects empty goals and briefs, and plans without lanes', () => {
    assert.deepEqual(messages(plan({ goal: ' ' }, [{ id: 'a', brief: '\n ' }])), ['error goal: must not be empty', 'error lanes[0].brief: must not be empty']);
    assert.deepEqual(messages(plan({}, [])), ['error lanes: a plan needs at least one lane']);
    assert.deepEqual(messages(plan({}, [{ id: 'a' }])), ['error lanes[0].brief: missing required field; expected a brief (a string)']);
  });

  it('rejects unknown fields and suggests the right name', () => {
    assert.deepEqual(messages(plan({ maxparallel: 2 }, [{ id: 'a', brief: 'x', depends_on: [] }])), [
      'error maxparallel: unknown field "maxparallel"; did you mean "maxParallel"? Allowed here: $schema, version, goal, maxParallel, verify, context, agents, defaults, isolation, loopBack, budget, worktree, lanes',
      'error lanes[0].depends_on: unknown field "depends_on"; did you mean "dependsOn"? Allowed here: id, role, brief, dependsOn, scope, agent, verify, timeoutMinutes, retries, env, budget, isolation, network',
    ]);
  });

  it('reports duplicate keys that JSON.parse would silently drop', () => {
    const r = validatePlanText('{"version":1,"goal":"g","lanes":[{"id":"a","brief":"x","brief":"y"}]}');
    assert.deepEqual(
      r.errors.map((d) => formatDiagnostic(d)),
      ['1:56: error lanes[0].brief: "brief" appears twice in the same object; JSON keeps only the last one, so remove one'],
    );
  });

  describe('lane ids', () => {
    const cases: [string, string][] = [
      ['-rf', 'must not start with "-" (it would read as a command-line option)'],
      ['a..b', 'must not contain ".." (git refuses it in branch names, and it climbs folders)'],
      ['a/b', 'must not contain "/" or "\\" (one lane is one folder and one branch level)'],
      ['a\\b', 'must not contain "/" or "\\" (one lane is one folder and one branch level)'],
      ['x@{1}', 'must not contain "@{" (git reads it as a reflog reference)'],
      ['my lane', 'must not contain spaces or other whitespace'],
      ['impl.lock', 'must not end with ".lock" (git reserves it for lock files)'],
      ['.hidden', 'must not start with "." (hidden folder, and git refuses it in branch names)'],
      ['trailing.', 'must not end with "." (git refuses it in branch names)'],
      ['semi;colon', 'must not contain ";": use letters, digits, ".", "_" and "-" only'],
      ['$(rm -rf)', 'must not contain spaces or other whitespace'],
      ['a~1', 'must not contain "~": use letters, digits, ".", "_" and "-" only'],
      ['é', 'must not contain "é": use letters, digits, ".", "_" and "-" only'],
      ['tab\u0001', 'must not contain "\\u0001": use letters, digits, ".", "_" and "-" only'],
      ['', 'must not be empty'],
      ['x'.repeat(65), 'must be at most 64 characters (it has 65)'],
      ['CON', 'must not be "CON" (a reserved device name on Windows)'],
      ['@', 'must not be "@" (git reads it as HEAD)'],
    ];
    for (const [id, rule] of cases) {
      it(`rejects ${JSON.stringify(id)}`, () => {
        assert.deepEqual(messages(plan({}, [{ id, brief: 'x' }])), [`error lanes[0].id: ${JSON.stringify(id)} is not a safe lane id: it ${rule}`]);
      });
    }

    it('accepts ordinary ids', () => {
      for (const id of ['impl', 'api-v2', 'fix_bug.3', 'A1']) assert.deepEqual(messages(plan({}, [{ id, brief: 'x' }])), [], id);
    });

    it('rejects duplicates and ids that differ only in case', () => {
      assert.deepEqual(messages(plan({}, [{ id: 'impl', brief: 'x' }, { id: 'impl', brief: 'y' }, { id: 'Impl', brief: 'z' }])), [
        'error lanes[1].id: duplicate lane id "impl" (already used by lanes[0]); every lane needs its own id',
        'error lanes[2].id: "Impl" differs from "impl" (lanes[0]) only in case; branch and folder names would collide on case-insensitive file systems, so rename one',
      ]);
    });
  });

  describe('dependencies', () => {
    it('rejects unknown dependencies with a suggestion', () => {
      assert.deepEqual(messages(plan({}, [{ id: 'impl', brief: 'x' }, { id: 'docs', brief: 'y', dependsOn: ['imp', 'zzz'] }])), [
        'error lanes[1].dependsOn[0]: unknown lane "imp"; did you mean "impl"? Known lanes: impl, docs',
        'error lanes[1].dependsOn[1]: unknown lane "zzz". Known lanes: impl, docs',
      ]);
    });

    it('rejects a lane that depends on itself', () => {
      assert.deepEqual(messages(plan({}, [{ id: 'a', brief: 'x', dependsOn: ['a'] }])), ['error lanes[0].dependsOn[0]: lane "a" depends on itself; remove "a" from its dependsOn']);
    });

    it('names the whole cycle', () => {
      const lanes = [
        { id: 'a', brief: 'x', dependsOn: ['c'] },
        { id: 'b', brief: 'x', dependsOn: ['a'] },
        { id: 'c', brief: 'x', dependsOn: ['b'] },
        { id: 'd', brief: 'x' },
      ];
      assert.deepEqual(messages(plan({}, lanes)), [
        'error lanes[0].dependsOn[0]: dependency cycle: a -> b -> c -> a (each lane waits for the next); remove one of these dependencies',
      ]);
    });
  });

  describe('agents', () => {
    it('accepts presets, named agents and custom commands; rejects unknown names', () => {
      const lanes = [
        { id: 'a', brief: 'x', agent: 'codex' },
        { id: 'b', brief: 'x', agent: 'mine' },
        { id: 'c', brief: 'x', agent: { command: ['./run.sh', '{briefFile}'] } },
        { id: 'd', brief: 'x', agent: 'claud' },
      ];
      assert.deepEqual(messages(plan({ agents: { mine: { command: ['mine'] } } }, lanes)), [
        'error lanes[3].agent: unknown agent "claud"; did you mean "claude"? Use a preset (claude, codex, aider, gemini, copilot), a name defined in "agents", or {"command": [...]}',
      ]);
    });

    it('explains a malformed custom command', () => {
      assert.deepEqual(messages(plan({}, [{ id: 'a', brief: 'x', agent: { command: [] } }])), [
        'error lanes[0].agent.command: must name a program: the array needs at least one element',
      ]);
      assert.deepEqual(messages(plan({}, [{ id: 'a', brief: 'x', agent: { command: ['ok', 3] } }])), ['error lanes[0].agent.command[1]: expected a string argument, got 3']);
      assert.deepEqual(messages(plan({}, [{ id: 'a', brief: 'x', agent: { cmd: ['x'] } }])), [
        'error lanes[0].agent.command: missing required field; expected an argv array of strings, e.g. ["npm", "test"]',
        'error lanes[0].agent.cmd: unknown field "cmd". Allowed here: command, env, description',
      ]);
      assert.deepEqual(messages(plan({}, [{ id: 'a', brief: 'x', agent: 42 }])), [
        'error lanes[0].agent: expected a preset name (claude, codex, aider, gemini, copilot, or a name defined in "agents") or an object {"command": ["program", "arg", ...]}',
      ]);
    });
  });

  it('accepts verify as a string or argv and rejects anything else', () => {
    assert.deepEqual(messages(plan({ verify: 'npm test && npm run lint' }, [{ id: 'a', brief: 'x', verify: ['make', 'check'] }])), []);
    assert.deepEqual(messages(plan({ verify: 7 }, [{ id: 'a', brief: 'x', verify: [''] }])), [
      'error verify: expected a command line string (run with sh -c) or an argv array such as ["npm", "test"]',
      'error lanes[0].verify: the program (first element) must not be empty',
    ]);
  });

  describe('coherence: overlapping scopes of lanes that may run in parallel', () => {
    it('warns with both lanes, the overlap and the fix', () => {
      const r = validatePlanText(
        plan({}, [
          { id: 'impl', brief: 'x', scope: ['src/**'] },
          { id: 'tests', brief: 'x', scope: ['test/**', 'src/api/*.test.ts'] },
        ]),
      );
      assert.equal(r.ok, true, 'a warning does not make the plan invalid');
      assert.deepEqual(
        r.warnings.map((d) => `${formatPath(d.path)}: ${d.message}`),
        [
          'lanes[1].scope: lanes "impl" and "tests" may run in parallel but their scopes overlap: "src/**" (impl) and "src/api/*.test.ts" (tests). Add "dependsOn": ["impl"] to "tests" so it builds on impl\'s work, or narrow the scopes so they do not share files',
        ],
      );
    });

    it('stays quiet for disjoint scopes and for lanes ordered by a dependency (even transitively)', () => {
      assert.deepEqual(
        messages(
          plan({}, [
            { id: 'a', brief: 'x', scope: ['src/**'] },
            { id: 'b', brief: 'x', scope: ['test/**', 'docs/*.md'] },
            { id: 'c', brief: 'x', scope: ['src/util.ts'], dependsOn: ['a'] },
            { id: 'd', brief: 'x', scope: ['src/**'], dependsOn: ['c'] },
          ]),
        ),
        [],
      );
    });
  });

  it('points each problem at its line in the file', () => {
    const text = plan({}, [{ id: 'a', brief: 'x' }, { id: 'b', brief: 'x', dependsOn: ['nope'] }]);
    const r = validatePlanText(text);
    const d = r.errors[0]!;
    const line = text.split('\n')[d.line! - 1]!;
    assert.match(line, /"nope"/);
    assert.equal(text.slice(d.start, d.end), '"nope"');
  });

  it('validates values as well as text (planner answers)', () => {
    const r = validatePlanValue({ version: 1, goal: 'g', lanes: [{ id: 'a', brief: 'x', dependsOn: ['b'] }] });
    assert.equal(r.ok, false);
    assert.equal(r.errors[0]!.code, 'unknown-dependency');
  });
});

describe('plan validation: NUL characters', () => {
  it('rejects a NUL anywhere in the plan, at its path and line', () => {
    const text = '{\n  "version": 1,\n  "goal": "g",\n  "lanes": [\n    { "id": "a", "brief": "do \\u0000 this" }\n  ]\n}\n';
    const r = validatePlanText(text);
    assert.equal(r.ok, false);
    const d = r.errors.find((e) => e.code === 'nul-character')!;
    assert.deepEqual([d.path, d.line], [['lanes', 0, 'brief'], 5]);
    assert.match(d.message, /contains a NUL character \(\\u0000\), which no command, argument or file name can hold; remove it/);
  });
});
