import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { createStreamParser, StreamFormat, streamFormatOf } from '../../src/core/agents/streams';

/** Real output of each CLI against the project's scripted model server (test/fixtures/streams). */
const fixture = (name: string) => readFileSync(path.resolve(__dirname, '../fixtures/streams', `${name}.jsonl`), 'utf8');

/** Feed in awkward chunks (lines split anywhere), as a pipe delivers them. */
function parse(format: StreamFormat, text: string, chunk = 97) {
  const p = createStreamParser(format);
  let out = '';
  for (let i = 0; i < text.length; i += chunk) out += p.feed(text.slice(i, i + chunk));
  out += p.end();
  return { out, usage: p.usage, skipped: p.skipped };
}

describe('agent output streams (pure, from real CLI output)', () => {
  it('knows the format from the argv', () => {
    assert.equal(streamFormatOf(['claude', '-p', 'x', '--output-format', 'stream-json', '--verbose']), 'claude-stream-json');
    assert.equal(streamFormatOf(['claude', '-p', 'x', '--output-format', 'text']), undefined);
    assert.equal(streamFormatOf(['/usr/bin/codex', 'exec', '--json', 'x']), 'codex-json');
    assert.equal(streamFormatOf(['gemini', '-p', 'x', '-o', 'stream-json']), 'gemini-stream-json');
    assert.equal(streamFormatOf(['copilot', '-p', 'x', '--output-format=json']), 'copilot-json');
    assert.equal(streamFormatOf(['node', 'agent.js', '--json']), undefined);
  });

  it('Claude Code stream-json: text and tool calls readable; tokens, cost, turns and denials', () => {
    const r = parse('claude-stream-json', fixture('claude'));
    assert.equal(r.out, '→ Write: /tmp/agent-clis/e2e/ws-claude/hello.txt\n→ Bash: echo shell-ran > shell.txt && cat hello.txt\nAll done.\n');
    assert.deepEqual(r.usage, { inputTokens: 300, cachedInputTokens: 0, outputTokens: 60, costUsd: 0.0024000000000000002, turns: 3, permissionDenials: 0 });
    assert.equal(r.skipped.count, 0);
  });

  it('Codex exec --json: items readable; tokens from turn.completed; no cost (unknown, not 0)', () => {
    const r = parse('codex-json', fixture('codex'), 13);
    assert.equal(r.out, "→ add: /tmp/agent-clis/e2e/ws-codex/hello.txt\n→ shell: /bin/bash -lc 'echo shell-ran > shell.txt && cat hello.txt'\nAll done.\n");
    assert.deepEqual(r.usage, { inputTokens: 300, cachedInputTokens: 0, outputTokens: 60, turns: 1 });
    assert.equal('costUsd' in r.usage ? r.usage.costUsd : undefined, undefined);
  });

  it('Gemini CLI stream-json: tool calls and the answer; tokens from stats', () => {
    const r = parse('gemini-stream-json', fixture('gemini'));
    assert.equal(r.out, '→ write_file: /tmp/agent-clis/e2e/ws-gemini/hello.txt\n→ run_shell_command: echo shell-ran > shell.txt && cat hello.txt\nAll done.\n');
    assert.deepEqual(r.usage, { inputTokens: 300, outputTokens: 60, cachedInputTokens: 0 });
  });

  it('Copilot CLI json: tool calls readable, bookkeeping hidden; premium requests and turns', () => {
    const r = parse('copilot-json', fixture('copilot'), 1000);
    assert.equal(r.out, '→ create: /tmp/agent-clis/e2e/ws-copilot/hello.txt\n→ bash: echo shell-ran > shell.txt && cat hello.txt\nAll done.\n');
    assert.equal(r.usage.premiumRequests, 0);
    assert.equal(r.usage.turns, 3);
    assert.equal(r.usage.inputTokens, undefined, 'Copilot reports no tokens here: unknown, not 0');
    assert.equal(r.skipped.count, 0);
  });

  it('skips what it does not understand, keeps samples for the log, and never throws', () => {
    const r = parse('claude-stream-json', 'not json\n{"type":"mystery"}\n[1,2]\n{"type":"assistant","message":{"content":[{"type":"text","text":"hi"}]}}\n{"trunc');
    assert.equal(r.out, 'hi\n');
    assert.equal(r.skipped.count, 4);
    assert.deepEqual(r.skipped.samples.slice(0, 2), ['not json', '{"type":"mystery"}']);
  });

  it('a failed Claude result and denied tools are visible', () => {
    const line = JSON.stringify({ type: 'result', is_error: true, subtype: 'error_max_turns', result: 'stopped', permission_denials: [{ tool_name: 'Bash' }], usage: { input_tokens: 5, output_tokens: 1 } });
    const r = parse('claude-stream-json', line + '\n');
    assert.equal(r.out, '✗ stopped\n');
    assert.equal(r.usage.permissionDenials, 1);
    assert.equal(r.usage.costUsd, undefined);
  });
});
