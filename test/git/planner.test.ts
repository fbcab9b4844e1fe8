import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { extractJson, PlannerError, runPlanner } from '../../src/core/planner/planner';
import { createTempRepo, tempDir } from '../helpers/repo';

const SCRIPT = path.join(__dirname, '../fixtures/planners/scripted-planner.js');

describe('planner', () => {
  const repo = createTempRepo({ 'src/index.ts': 'export {};\n', 'README.md': '# x\n' });

  it('turns a task into a validated plan, with the repository files and schema in the prompt', async () => {
    const log = path.join(tempDir(), 'prompts.log');
    const r = await runPlanner({ task: 'Add rate limiting', command: ['node', SCRIPT, '{promptFile}'], cwd: repo.dir, env: { SCRIPT_LOG: log } });
    assert.equal(r.plan.goal, 'Add rate limiting');
    assert.deepEqual(r.plan.lanes.map((l) => l.id), ['impl', 'tests']);
    assert.equal(r.attempts.length, 1);
    const prompt = readFileSync(log, 'utf8');
    assert.match(prompt, /src\/index\.ts/);
    assert.match(prompt, /"\$schema":"http:\/\/json-schema\.org\/draft-07\/schema#"/);
  });

  it('asks again with the validation errors until the answer is valid', async () => {
    const log = path.join(tempDir(), 'prompts.log');
    const seen: string[][] = [];
    const r = await runPlanner({
      task: 'Add rate limiting',
      command: ['node', SCRIPT, '{prompt}'],
      cwd: repo.dir,
      env: { SCRIPT_MODE: 'bad-then-good', SCRIPT_LOG: log },
      onAttempt: (a) => seen.push(a.problems),
    });
    assert.equal(r.attempts.length, 3);
    assert.deepEqual(seen[0], ['the answer contains no JSON object']);
    assert.deepEqual(seen[1], ['error lanes[0].dependsOn[0]: unknown lane "ghost". Known lanes: impl']);
    assert.deepEqual(seen[2], []);
    const prompts = readFileSync(log, 'utf8').split(/^--- attempt \d+$/m).filter(Boolean);
    assert.equal(prompts.length, 3);
    assert.doesNotMatch(prompts[0]!, /previous answer was rejected/);
    assert.match(prompts[1]!, /previous answer was rejected[\s\S]*- the answer contains no JSON object/);
    assert.match(prompts[2]!, /- error lanes\[0\]\.dependsOn\[0\]: unknown lane "ghost"/);
  });

  it('gives up after the bounded number of attempts with the last problems', async () => {
    await assert.rejects(
      runPlanner({ task: 't', command: ['node', SCRIPT], cwd: repo.dir, env: { SCRIPT_MODE: 'always-bad' }, maxAttempts: 2 }),
      (e: unknown) => {
        assert.ok(e instanceof PlannerError);
        assert.equal(e.reason, 'invalidAnswer');
        assert.equal(e.attempts.length, 2);
        assert.match(e.message, /no valid plan in 2 attempts[\s\S]*unknown lane "ghost"/);
        return true;
      },
    );
  });

  it('sends the prompt on stdin when the command has no placeholder', async () => {
    const r = await runPlanner({ task: 'Task via stdin', command: ['node', SCRIPT], cwd: repo.dir });
    assert.equal(r.plan.goal, 'Task via stdin');
  });

  it('reports a planner that fails or is not installed', async () => {
    await assert.rejects(runPlanner({ task: 't', command: ['node', SCRIPT], cwd: repo.dir, env: { SCRIPT_MODE: 'fail' } }), (e: unknown) => {
      assert.ok(e instanceof PlannerError);
      assert.equal(e.reason, 'agentFailed');
      assert.equal(e.message, 'the planner exit code 3: planner crashed: no credentials');
      assert.match(e.attempts[0]!.problems[0]!, /no credentials/);
      return true;
    });
    await assert.rejects(runPlanner({ task: 't', command: ['lanes-no-such-planner-xyz'], cwd: repo.dir }), (e: unknown) => {
      assert.ok(e instanceof PlannerError);
      assert.equal(e.reason, 'notInstalled');
      return true;
    });
  });

  it('passes task text with quotes, $() and backticks through unchanged', async () => {
    const task = 'Fix "it" $(touch /tmp/pwned-lanes) `id` \'q\'';
    const r = await runPlanner({ task, command: ['node', SCRIPT, '{prompt}'], cwd: repo.dir });
    assert.equal(r.plan.goal, task);
  });

  it('extracts JSON from fences or surrounding prose', () => {
    assert.deepEqual(extractJson('noise {"a":1} more'), { a: 1 });
    assert.deepEqual(extractJson('```json\n{"a":2}\n```'), { a: 2 });
    assert.deepEqual(extractJson('first ```json\n{"a":1}\n``` then fixed ```json\n{"a":3}\n```'), { a: 3 });
    assert.throws(() => extractJson('{"a": }'), /not valid JSON/);
    assert.throws(() => extractJson('no braces'), /contains no JSON object/);
  });
});
