#!/usr/bin/env node
// A scripted model server for the agent compatibility suite (test/agents/run.mjs).
//
// It plays the model for one real agent CLI. Nothing is generated: every answer follows a fixed
// script, chosen statelessly from the conversation the CLI sends back (the CLIs resend the whole
// history on every request, with the results of the tools they ran).
//
// A lane ("create hello.txt, then run a shell command"):
//   turn 1  call the CLI's own file-edit tool: write <worktree>/hello.txt
//   turn 2  call the CLI's own shell tool:
//             echo "note from <tag>" >> "${LANES_MEMORY_FILE:-.lanes/memory/work.md}" && echo shell-ran > shell.txt;
//             { command -v lanes || echo none; echo "LANES_FINDINGS_DIR=…"; echo "PATH=$PATH"; } > lanes-diag.txt;
//             lanes finding add --to after --title "finding from <tag>" --no-blocking --command "echo evidence" 2>&1
//   turn 3  a final text answer (end of turn)
// The planner (a prompt that starts "You are the planner of Agent Lanes"): a valid plan as JSON text.
// Anything else (a title, a routing or quota check): a short text, or for a request that asks for
// JSON output with a schema (Gemini CLI's model router), an object filled in from that schema.
//
// Protocols, one per CLI (formats found by running each CLI against a logging server):
//   Anthropic Messages       POST /v1/messages[?beta=true]                          Claude Code
//   OpenAI Responses         POST /v1/responses                                     Codex CLI
//   Gemini API               POST /v1beta/models/M:streamGenerateContent?alt=sse     Gemini CLI
//                            POST /v1beta/models/M:generateContent
//   OpenAI Chat Completions  POST /v1/chat/completions                              Copilot CLI (BYOK), Aider
//
// Every request is logged as one JSON line: which protocol, what kind of request, what the script
// answered, and the tool results the CLI sent back (so the suite can prove a tool call was
// answered by the CLI's own tool).
//
// Use: node test/agents/server.mjs --tag claude --log FILE [--port 0] [--host 127.0.0.1]
//      prints one line {"port": N} on stdout once it listens; stop it with SIGTERM.
// Or:  import { startServer } from './server.mjs'; const s = await startServer({ tag, logFile });
import { appendFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const USAGE = { input: 100, output: 20 };
const PLANNER_MARKER = 'You are the planner of Agent Lanes';

/** The script's fixed ids for the two tool calls, per protocol (formats each CLI accepted). */
const IDS = {
  anthropic: { edit: 'toolu_01', shell: 'toolu_02' },
  responses: { edit: 'call_patch_1', shell: 'call_shell_2' },
  gemini: { edit: 'fc-1', shell: 'fc-2' },
  chat: { edit: 'call_1', shell: 'call_2' },
};

/** The lane of the suite's plan that the work lane's finding is for (a dependent: no loop-back). */
export const FINDING_TO = 'after';
export const FINDING_EVIDENCE = 'echo evidence';
export function findingTitle(tag) {
  return `finding from ${tag}`;
}
/** What the shell command writes (into the worktree) for diagnosis: which `lanes` it found, and the findings folder. */
export const FINDING_DIAG_FILE = 'lanes-diag.txt';

/**
 * The command the CLI's shell tool runs: a note in the shared memory, shell.txt, then a finding
 * for another lane through the `lanes` command on the lane's PATH (after writing down which
 * `lanes` the shell found, for the suite's failure detail). The note and shell.txt do not depend
 * on the finding; the command's exit status is that of `lanes finding add`.
 */
export function shellCommand(tag) {
  return (
    `echo "note from ${tag}" >> "\${LANES_MEMORY_FILE:-.lanes/memory/work.md}" && echo shell-ran > shell.txt; ` +
    // No $(…): Gemini CLI refuses a command with a command substitution in it.
    `{ command -v lanes || echo none; echo "LANES_FINDINGS_DIR=\${LANES_FINDINGS_DIR:-unset}"; echo "PATH=\$PATH"; } > ${FINDING_DIAG_FILE}; ` +
    `lanes finding add --to ${FINDING_TO} --title "${findingTitle(tag)}" --no-blocking --command "${FINDING_EVIDENCE}" 2>&1`
  );
}
export function fileContent(tag) {
  return `hello from ${tag}\n`;
}

// ---------------------------------------------------------------------------------------------
// Reading a request
// ---------------------------------------------------------------------------------------------

/** Every string inside a JSON value (prompts, system text, tool results), in order. */
function strings(value, out = []) {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) strings(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) strings(v, out);
  return out;
}

/**
 * The directory the agent works in, which is where hello.txt must go (Claude's Write and
 * Copilot's create want absolute paths). First from the Agent Lanes brief (it names the lane's
 * memory folder inside the worktree), else from what each CLI says about its working directory.
 */
function findWorkdir(text) {
  const patterns = [
    ['brief', /share their findings in `([^`\n]+?)\/\.lanes\/memory`/],
    ['claude-env', /Primary working directory: (\/[^\n]+)/],
    ['codex-env', /<cwd>([^<\n]+)<\/cwd>/],
    ['generic', /(?:current working directory|working directory is|working in the directory)[^/\n]*(\/[^\s'"`]+)/i],
  ];
  for (const [from, re] of patterns) {
    const m = re.exec(text);
    if (m) return { workdir: m[1].trim().replace(/[.,;:]$/, ''), from };
  }
  return { workdir: undefined, from: 'none' };
}

/** The task in a planner prompt (the text under "## Task"). */
function plannerTask(text) {
  const m = /## Task\n([\s\S]*?)\n\n## /.exec(text);
  return (m ? m[1] : 'the task').trim();
}

/** A tool result that says the tool did not run (refused, denied, failed). */
function looksRefused(text) {
  return /permission denied|requires approval|haven't granted|not allowed|was rejected|denied by|refused|does not exist|not in workspace|outside the allowed/i.test(text);
}

function textOf(content) {
  if (typeof content === 'string') return content;
  return strings(content).join('\n');
}

// ---------------------------------------------------------------------------------------------
// The script
// ---------------------------------------------------------------------------------------------

/** A valid Agent Lanes plan (version 1, goal, lanes) for the planner case. */
export function scriptedPlan(task) {
  return {
    version: 1,
    goal: task,
    lanes: [
      { id: 'greeting', role: 'implement', brief: `Implement it: ${task}.`, scope: ['src/**'] },
      { id: 'greeting-tests', role: 'test', brief: 'Test the greeting: its text and its edge cases.', dependsOn: ['greeting'], scope: ['test/**'] },
    ],
  };
}

/**
 * What the script says next. `req` is the protocol-neutral view of a request:
 *   { hasLaneTools, text, results: [{ id, role, error, text }], schema? }
 * Returns { kind, step, action } where action is one of
 *   { type: 'edit', path, content } | { type: 'shell', command } | { type: 'text', text }
 */
function decide(req, tag) {
  if (req.text.includes(PLANNER_MARKER)) {
    return { kind: 'planner', step: 0, action: { type: 'text', text: JSON.stringify(scriptedPlan(plannerTask(req.text)), null, 2) } };
  }
  if (!req.hasLaneTools) {
    const text = req.schema ? JSON.stringify(fillSchema(req.schema)) : 'ok';
    return { kind: 'side', step: 0, action: { type: 'text', text } };
  }
  const step = req.results.filter((r) => r.role !== 'other').length;
  if (step === 0) {
    const file = req.workdir ? path.join(req.workdir, 'hello.txt') : 'hello.txt';
    return { kind: 'lane', step, action: { type: 'edit', path: file, content: fileContent(tag) } };
  }
  if (step === 1) return { kind: 'lane', step, action: { type: 'shell', command: shellCommand(tag) } };
  return { kind: 'lane', step, action: { type: 'text', text: `Done: hello.txt is written and the shell command ran (${tag}).` } };
}

/** A value matching a JSON schema (Gemini CLI's router asks for {complexity_reasoning, complexity_score}). */
function fillSchema(s) {
  if (!s || typeof s !== 'object') return {};
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[0];
  const t = String(Array.isArray(s.type) ? s.type[0] : s.type || (s.properties ? 'object' : 'string')).toLowerCase();
  if (t === 'object') return Object.fromEntries(Object.entries(s.properties || {}).map(([k, v]) => [k, fillSchema(v)]));
  if (t === 'array') return [];
  if (t === 'integer' || t === 'number') return 10;
  if (t === 'boolean') return false;
  return 'ok';
}

// ---------------------------------------------------------------------------------------------
// Writing answers
// ---------------------------------------------------------------------------------------------

function sendSse(res, events) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  for (const e of events) {
    if (e.event) res.write(`event: ${e.event}\n`);
    res.write(`data: ${typeof e.data === 'string' ? e.data : JSON.stringify(e.data)}\n\n`);
  }
  res.end();
}

function sendJson(res, code, value) {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

// ---------------------------------------------------------------------------------------------
// Protocols: parse (request → neutral view) and render (action → wire format)
// ---------------------------------------------------------------------------------------------

/** Anthropic Messages (Claude Code): tools Write {file_path, content} and Bash {command}. */
const anthropic = {
  name: 'anthropic',
  match: (method, url) => method === 'POST' && /\/v1\/messages(\?|$)/.test(url),
  parse(body) {
    const tools = (body.tools || []).map((t) => t.name);
    const results = [];
    for (const m of body.messages || []) {
      if (!Array.isArray(m.content)) continue;
      for (const c of m.content) {
        if (c.type !== 'tool_result') continue;
        const text = textOf(c.content);
        results.push({ id: c.tool_use_id, error: c.is_error === true || looksRefused(text), text });
      }
    }
    return { model: body.model, stream: body.stream === true, tools, hasLaneTools: tools.includes('Write') && tools.includes('Bash'), results };
  },
  render(res, action, ctx) {
    const ids = IDS.anthropic;
    const block =
      action.type === 'edit'
        ? { type: 'tool_use', id: ids.edit, name: 'Write', input: { file_path: action.path, content: action.content } }
        : action.type === 'shell'
          ? { type: 'tool_use', id: ids.shell, name: 'Bash', input: { command: action.command, description: 'Leave a note in the shared memory, write shell.txt and record a finding for the after lane' } }
          : { type: 'text', text: action.text };
    const stop = block.type === 'tool_use' ? 'tool_use' : 'end_turn';
    const message = {
      id: `msg_${Date.now()}`, type: 'message', role: 'assistant', model: ctx.model, content: [], stop_reason: null, stop_sequence: null,
      usage: { input_tokens: USAGE.input, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    };
    if (!ctx.stream) return sendJson(res, 200, { ...message, content: [block], stop_reason: stop, usage: { ...message.usage, output_tokens: USAGE.output } });
    const start = block.type === 'tool_use' ? { type: 'tool_use', id: block.id, name: block.name, input: {} } : { type: 'text', text: '' };
    const delta = block.type === 'tool_use' ? { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } : { type: 'text_delta', text: block.text };
    sendSse(res, [
      { event: 'message_start', data: { type: 'message_start', message } },
      { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: start } },
      { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta } },
      { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
      { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: USAGE.output } } },
      { event: 'message_stop', data: { type: 'message_stop' } },
    ]);
  },
};

/**
 * OpenAI Responses (Codex CLI): apply_patch (a freeform "custom" tool for gpt-5.5, else a function
 * with {input}) and exec_command {cmd} (older shapes: shell_command {command}, shell {command: argv}).
 * response.completed is mandatory: without it Codex reports "stream closed before response.completed".
 */
const responses = {
  name: 'responses',
  match: (method, url) => method === 'POST' && /\/v1\/responses(\?|$)/.test(url),
  parse(body) {
    const tools = (body.tools || []).map((t) => t.name || t.type);
    const results = (body.input || [])
      .filter((i) => i.type === 'function_call_output' || i.type === 'custom_tool_call_output')
      .map((i) => {
        const text = textOf(i.output);
        return { id: i.call_id, error: looksRefused(text), text };
      });
    const shellTool = ['exec_command', 'shell_command', 'shell'].find((n) => tools.includes(n));
    const customPatch = (body.tools || []).some((t) => t.type === 'custom' && t.name === 'apply_patch');
    return { model: body.model, stream: true, tools, hasLaneTools: tools.includes('apply_patch') && Boolean(shellTool), results, shellTool, customPatch };
  },
  render(res, action, ctx) {
    const ids = IDS.responses;
    let item;
    if (action.type === 'edit') {
      // Codex resolves patch paths against its working directory; a relative path is enough.
      const patch = `*** Begin Patch\n*** Add File: hello.txt\n${action.content.replace(/\n$/, '').split('\n').map((l) => `+${l}`).join('\n')}\n*** End Patch\n`;
      item = ctx.customPatch
        ? { type: 'custom_tool_call', id: 'ctc_1', call_id: ids.edit, name: 'apply_patch', input: patch, status: 'completed' }
        : { type: 'function_call', id: 'fc_1', call_id: ids.edit, name: 'apply_patch', arguments: JSON.stringify({ input: patch }), status: 'completed' };
    } else if (action.type === 'shell') {
      const args = ctx.shellTool === 'exec_command' ? { cmd: action.command } : ctx.shellTool === 'shell_command' ? { command: action.command } : { command: ['bash', '-lc', action.command] };
      item = { type: 'function_call', id: 'fc_2', call_id: ids.shell, name: ctx.shellTool, arguments: JSON.stringify(args), status: 'completed' };
    } else {
      item = { type: 'message', id: 'msg_3', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: action.text, annotations: [] }] };
    }
    const id = `resp_${Date.now()}`;
    const events = [
      { event: 'response.created', data: { type: 'response.created', response: { id } } },
      { event: 'response.output_item.added', data: { type: 'response.output_item.added', output_index: 0, item } },
    ];
    if (item.type === 'message') {
      events.push({ event: 'response.output_text.delta', data: { type: 'response.output_text.delta', item_id: item.id, output_index: 0, content_index: 0, delta: action.text } });
    }
    events.push({ event: 'response.output_item.done', data: { type: 'response.output_item.done', output_index: 0, item } });
    events.push({
      event: 'response.completed',
      data: {
        type: 'response.completed',
        response: {
          id, status: 'completed', output: [item],
          usage: { input_tokens: USAGE.input, input_tokens_details: { cached_tokens: 0 }, output_tokens: USAGE.output, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: USAGE.input + USAGE.output },
        },
      },
    });
    sendSse(res, events);
  },
};

/**
 * Gemini API (Gemini CLI): write_file {file_path, content} and run_shell_command {command}. One SSE
 * chunk per answer; the non-streaming generateContent (the model router) gets the same object as JSON.
 */
const gemini = {
  name: 'gemini',
  match: (method, url) => method === 'POST' && /:(stream)?[gG]enerateContent/.test(url),
  parse(body, url) {
    const tools = [];
    for (const t of body.tools || []) for (const f of t.functionDeclarations || []) tools.push(f.name);
    const results = [];
    for (const c of body.contents || []) {
      for (const p of c.parts || []) {
        if (!p.functionResponse) continue;
        const r = p.functionResponse.response || {};
        const text = textOf(r);
        results.push({ id: p.functionResponse.id, error: r.error !== undefined || looksRefused(text), text });
      }
    }
    const model = decodeURIComponent(url.split('/models/')[1] || '').split(':')[0];
    const schema = body.generationConfig?.responseJsonSchema || body.generationConfig?.responseSchema;
    return { model, stream: url.includes(':streamGenerateContent'), tools, hasLaneTools: tools.includes('write_file') && tools.includes('run_shell_command'), results, schema };
  },
  render(res, action, ctx) {
    const ids = IDS.gemini;
    const parts =
      action.type === 'edit'
        ? [{ functionCall: { id: ids.edit, name: 'write_file', args: { file_path: action.path, content: action.content } } }]
        : action.type === 'shell'
          ? [{ functionCall: { id: ids.shell, name: 'run_shell_command', args: { command: action.command, description: 'Leave a note in the shared memory, write shell.txt and record a finding for the after lane' } } }]
          : [{ text: action.text }];
    const chunk = {
      candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: USAGE.input, candidatesTokenCount: USAGE.output, totalTokenCount: USAGE.input + USAGE.output },
      modelVersion: ctx.model,
      responseId: `r${Date.now()}`,
    };
    if (!ctx.stream) return sendJson(res, 200, chunk);
    sendSse(res, [{ data: chunk }]);
  },
};

/**
 * OpenAI Chat Completions. Copilot CLI (with a model name it does not know) offers plain function
 * tools create {path, file_text} and bash {command}. Aider offers no tools: it edits from
 * SEARCH/REPLACE blocks in the answer's text, so for it the answer is such a block followed by a
 * ```bash block (a suggested command, which Aider runs only if it is allowed to).
 * (The Aider script is untested here: Aider could not be installed when this was written.)
 */
const chat = {
  name: 'chat',
  match: (method, url) => method === 'POST' && /\/chat\/completions/.test(url),
  parse(body, _url, tag) {
    const tools = (body.tools || []).map((t) => t.function?.name || t.custom?.name);
    const results = (body.messages || [])
      .filter((m) => m.role === 'tool')
      .map((m) => {
        const text = textOf(m.content);
        return { id: m.tool_call_id, error: looksRefused(text), text };
      });
    const textMode = tag === 'aider' && tools.length === 0;
    if (textMode) {
      // Aider's history: each of our earlier answers counts as a step taken.
      for (const m of body.messages || []) {
        const said = m.role === 'assistant' ? textOf(m.content) : '';
        if (said.includes('>>>>>>> REPLACE')) results.push({ id: IDS.chat.edit, error: false, text: '(aider applies edits from the text)' });
        if (said.includes('note from')) results.push({ id: IDS.chat.shell, error: false, text: '(aider runs suggested commands itself)' });
      }
    }
    return { model: body.model, stream: body.stream === true, tools, hasLaneTools: textMode || (tools.includes('create') && tools.includes('bash')), results, textMode };
  },
  render(res, action, ctx) {
    const ids = IDS.chat;
    let delta;
    let finish = 'tool_calls';
    if (ctx.textMode && action.type !== 'text') {
      // Aider asks the model once per message: the edit and the command come in one answer.
      const run = `Then run:\n\n\`\`\`bash\n${shellCommand(ctx.tag)}\n\`\`\`\n`;
      const text = action.type === 'edit' ? `${path.basename(action.path)}\n\`\`\`\n<<<<<<< SEARCH\n=======\n${action.content}>>>>>>> REPLACE\n\`\`\`\n\n${run}` : run;
      delta = { role: 'assistant', content: text };
      finish = 'stop';
    } else if (action.type === 'edit') {
      delta = { role: 'assistant', content: null, tool_calls: [{ index: 0, id: ids.edit, type: 'function', function: { name: 'create', arguments: JSON.stringify({ path: action.path, file_text: action.content }) } }] };
    } else if (action.type === 'shell') {
      delta = {
        role: 'assistant', content: null,
        tool_calls: [{ index: 0, id: ids.shell, type: 'function', function: { name: 'bash', arguments: JSON.stringify({ command: action.command, description: 'Leave a note in the shared memory, write shell.txt and record a finding for the after lane' }) } }],
      };
    } else {
      delta = { role: 'assistant', content: action.text };
      finish = 'stop';
    }
    const base = { id: `chatcmpl-${Date.now()}`, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: ctx.model };
    const usage = { prompt_tokens: USAGE.input, completion_tokens: USAGE.output, total_tokens: USAGE.input + USAGE.output };
    if (!ctx.stream) {
      const message = { role: 'assistant', content: delta.content ?? null };
      if (delta.tool_calls) message.tool_calls = delta.tool_calls.map(({ index: _index, ...call }) => call);
      return sendJson(res, 200, { ...base, object: 'chat.completion', choices: [{ index: 0, message, finish_reason: finish }], usage });
    }
    sendSse(res, [
      { data: { ...base, choices: [{ index: 0, delta, finish_reason: null }] } },
      { data: { ...base, choices: [{ index: 0, delta: {}, finish_reason: finish }] } },
      { data: { ...base, choices: [], usage } },
      { data: '[DONE]' },
    ]);
  },
};

const PROTOCOLS = [anthropic, responses, gemini, chat];

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/**
 * Start a scripted server for one CLI. `tag` names the CLI in the file it writes and in the note.
 * Resolves to { port, url, close() }.
 */
export function startServer({ tag, logFile, host = '127.0.0.1', port = 0 }) {
  const log = (entry) => {
    if (logFile) appendFileSync(logFile, JSON.stringify({ t: new Date().toISOString(), ...entry }) + '\n');
  };

  const handle = (req, res, raw) => {
    const url = req.url || '/';
    let body = {};
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      /* not JSON: handled as an unknown request below */
    }
    const proto = PROTOCOLS.find((p) => p.match(req.method, url));
    if (!proto) {
      // Preflights and probes (Claude's HEAD /api/hello, model lists): answer them harmlessly.
      log({ proto: 'other', method: req.method, url, body: raw.slice(0, 500) });
      if (url.includes('count_tokens')) return sendJson(res, 200, { input_tokens: USAGE.input });
      if (req.method === 'HEAD') {
        res.writeHead(200);
        return res.end();
      }
      if (req.method === 'GET' && /\/models/.test(url)) return sendJson(res, 200, { object: 'list', data: [], models: [] });
      return sendJson(res, 404, { error: { message: `not scripted: ${req.method} ${url}` } });
    }
    const parsed = proto.parse(body, url, tag);
    const text = strings(body).join('\n');
    const { workdir, from } = findWorkdir(text);
    const ids = IDS[proto.name];
    const results = parsed.results.map((r) => ({ ...r, role: r.id === ids.edit ? 'edit' : r.id === ids.shell ? 'shell' : 'other' }));
    const { kind, step, action } = decide({ text, hasLaneTools: parsed.hasLaneTools, results, workdir, schema: parsed.schema }, tag);
    log({
      proto: proto.name,
      url,
      model: parsed.model,
      kind,
      step,
      workdir,
      workdirFrom: from,
      tools: parsed.tools.length,
      answer: action.type === 'text' ? { type: 'text', text: action.text.slice(0, 200) } : action,
      // Long results keep their start and their end (where a failing command says why).
      results: results.map((r) => ({ id: r.id, role: r.role, error: r.error, text: r.text.length > 700 ? `${r.text.slice(0, 300)}\n…\n${r.text.slice(-400)}` : r.text })),
    });
    proto.render(res, action, { ...parsed, tag });
  };

  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      try {
        handle(req, res, raw);
      } catch (e) {
        log({ proto: 'crash', url: req.url, error: String(e && e.stack) });
        if (!res.headersSent) sendJson(res, 500, { error: { message: String(e) } });
        else res.end();
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const actual = server.address().port;
      resolve({
        port: actual,
        url: `http://${host}:${actual}`,
        close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opt = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
  };
  const s = await startServer({ tag: opt('tag', 'cli'), logFile: opt('log', undefined), host: opt('host', '127.0.0.1'), port: Number(opt('port', '0')) });
  process.stdout.write(JSON.stringify({ port: s.port, url: s.url }) + '\n');
  const stop = () => void s.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
