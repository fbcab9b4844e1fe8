import * as assert from 'node:assert/strict';
import { approvalKey, commandsOf } from '../../src/extension/approval';
import type { Plan } from '../../src/core/plan/schema';

describe('first-run approval', () => {
  const plan: Plan = {
    version: 1,
    goal: 'g',
    verify: 'npm test',
    worktree: { setup: ['npm ci'] },
    agents: { mine: { command: ['./agent.sh', '{briefFile}', 'two words'] } },
    lanes: [
      { id: 'a', brief: 'first', agent: 'claude', verify: ['make', 'check'] },
      { id: 'b', brief: 'second', agent: 'mine' },
    ],
  };

  it('lists the exact commands that will run: agents, verify, setup, integration check', () => {
    assert.deepEqual(commandsOf(plan, 'claude', {}), [
      'a: claude -p {brief} --permission-mode acceptEdits --allowedTools Bash --output-format stream-json --verbose',
      'a verify: make check',
      'b: ./agent.sh {briefFile} "two words"',
      'setup: npm ci',
      'integration verify: npm test',
    ]);
    assert.equal(commandsOf(plan, 'claude', { claude: ['claude', '--model', 'opus', '-p', '{brief}'] })[0], 'a: claude --model opus -p {brief}', 'settings override presets');
  });

  it('asks again when a command changes, not when a brief does', () => {
    const key = approvalKey(commandsOf(plan, 'claude', {}));
    const briefEdited = { ...plan, lanes: plan.lanes.map((l) => ({ ...l, brief: l.brief + ' (edited)' })) };
    assert.equal(approvalKey(commandsOf(briefEdited, 'claude', {})), key);
    const verifyEdited = { ...plan, verify: 'npm test && rm -rf ~' };
    assert.notEqual(approvalKey(commandsOf(verifyEdited, 'claude', {})), key);
  });
});
