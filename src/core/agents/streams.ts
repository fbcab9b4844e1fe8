/**
 * Machine-readable output of agent CLIs, parsed: readable text for the lane's terminal, and what
 * the agent used (tokens, cost, turns, permission denials). One parser per CLI format; each is
 * fed raw output in chunks (lines may split across chunks) and never throws: an unknown or
 * malformed line is counted and skipped (the caller logs it), never shown raw to the person.
 *
 * The formats, as the CLIs print them (fixtures in test/fixtures/streams are their real output
 * against a scripted model server):
 *   claude  -p --output-format stream-json --verbose   NDJSON: system, assistant, user, result
 *   codex   exec --json                                NDJSON: thread.*, item.*, turn.completed
 *   gemini  -p --output-format stream-json             NDJSON: init, message, tool_use, tool_result, result
 *   copilot -p --output-format json                    NDJSON: assistant.*, tool.*, result
 */

export type StreamFormat = 'claude-stream-json' | 'codex-json' | 'gemini-stream-json' | 'copilot-json';

/** What an agent used. A field that is undefined is unknown (never 0 by default). */
export interface AgentUsage {
  inputTokens?: number;
  outputTokens?: number;
  cachedInputTokens?: number;
  /** Only where the CLI reports a cost itself (Claude Code). */
  costUsd?: number;
  turns?: number;
  /** Tool calls the CLI refused for lack of permission: a warning, the agent was blocked. */
  permissionDenials?: number;
  /** Copilot's billing unit. */
  premiumRequests?: number;
}

export interface StreamParser {
  readonly format: StreamFormat;
  /** Feed raw output; returns the readable text for what complete lines arrived. */
  feed(chunk: string): string;
  /** The output ended: parse what is left; returns its readable text. */
  end(): string;
  readonly usage: AgentUsage;
  /** Lines that were not JSON or not understood (first few kept for the log). */
  readonly skipped: { count: number; samples: string[] };
}

/** Which format an agent's argv asks for (undefined: plain text). */
export function streamFormatOf(argv: readonly string[]): StreamFormat | undefined {
  const exe = (argv[0] ?? '').split('/').pop();
  const value = (...names: string[]) => {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      for (const n of names) {
        if (a === n) return argv[i + 1];
        if (a.startsWith(`${n}=`)) return a.slice(n.length + 1);
      }
    }
    return undefined;
  };
  if (exe === 'claude' && value('--output-format') === 'stream-json') return 'claude-stream-json';
  if (exe === 'codex' && argv.includes('exec') && argv.includes('--json')) return 'codex-json';
  if (exe === 'gemini' && value('--output-format', '-o') === 'stream-json') return 'gemini-stream-json';
  if (exe === 'copilot' && value('--output-format') === 'json') return 'copilot-json';
  return undefined;
}

type Obj = Record<string, unknown>;
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const obj = (v: unknown): Obj | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const oneLine = (s: string, n = 200) => {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > n ? `${t.slice(0, n)}…` : t;
};
const add = (a: number | undefined, b: number | undefined) => (b === undefined ? a : (a ?? 0) + b);

/** How one tool call reads in the terminal: "→ Bash: npm test". */
function toolLine(name: string, input: Obj | undefined): string {
  const arg = str(input?.command) ?? str(input?.cmd) ?? str(input?.file_path) ?? str(input?.path) ?? str(input?.pattern) ?? '';
  return `→ ${name}${arg ? `: ${oneLine(arg)}` : ''}\n`;
}

/** Each format: one JSON object in, readable text out; usage is updated in place. */
type LineHandler = (o: Obj, usage: AgentUsage) => string | undefined;

const claude: LineHandler = (o, u) => {
  const type = str(o.type);
  if (type === 'system') return '';
  if (type === 'assistant') {
    const content = obj(o.message)?.content;
    if (!Array.isArray(content)) return undefined;
    return content
      .map((c) => {
        const b = obj(c);
        if (b?.type === 'text') return `${str(b.text) ?? ''}\n`;
        if (b?.type === 'tool_use') return toolLine(str(b.name) ?? 'tool', obj(b.input));
        return '';
      })
      .join('');
  }
  if (type === 'user') {
    const content = obj(o.message)?.content;
    const errors = Array.isArray(content) ? content.map(obj).filter((b) => b?.type === 'tool_result' && b.is_error === true) : [];
    return errors.map((b) => `  ✗ ${oneLine(typeof b!.content === 'string' ? b!.content : JSON.stringify(b!.content))}\n`).join('');
  }
  if (type === 'result') {
    const usage = obj(o.usage);
    u.inputTokens = add(num(usage?.input_tokens), num(usage?.cache_creation_input_tokens));
    u.cachedInputTokens = num(usage?.cache_read_input_tokens);
    u.outputTokens = num(usage?.output_tokens);
    u.costUsd = num(o.total_cost_usd);
    u.turns = num(o.num_turns);
    u.permissionDenials = Array.isArray(o.permission_denials) ? o.permission_denials.length : undefined;
    return o.is_error === true ? `✗ ${oneLine(str(o.result) ?? str(o.subtype) ?? 'error')}\n` : '';
  }
  return undefined;
};

const codex: LineHandler = (o, u) => {
  const type = str(o.type);
  if (type === 'thread.started' || type === 'turn.started' || type === 'item.started' || type === 'item.updated') return '';
  if (type === 'item.completed') {
    const item = obj(o.item);
    switch (str(item?.type)) {
      case 'agent_message':
        return `${str(item!.text) ?? ''}\n`;
      case 'reasoning':
        return '';
      case 'command_execution': {
        const code = num(item!.exit_code);
        return `${toolLine('shell', { command: str(item!.command) ?? '' })}${code !== undefined && code !== 0 ? `  ✗ exit ${code}\n` : ''}`;
      }
      case 'file_change': {
        const changes = Array.isArray(item!.changes) ? item!.changes.map(obj) : [];
        return changes.map((c) => `→ ${str(c?.kind) ?? 'edit'}: ${str(c?.path) ?? ''}\n`).join('');
      }
      case 'error':
        return `✗ ${oneLine(str(item!.message) ?? 'error')}\n`;
      default:
        return '';
    }
  }
  if (type === 'turn.completed') {
    const usage = obj(o.usage);
    u.inputTokens = add(u.inputTokens, num(usage?.input_tokens));
    u.cachedInputTokens = add(u.cachedInputTokens, num(usage?.cached_input_tokens));
    u.outputTokens = add(u.outputTokens, num(usage?.output_tokens));
    u.turns = (u.turns ?? 0) + 1;
    return '';
  }
  if (type === 'turn.failed' || type === 'error') return `✗ ${oneLine(str(obj(o.error)?.message) ?? str(o.message) ?? 'error')}\n`;
  return undefined;
};

const gemini: LineHandler = (o, u) => {
  const type = str(o.type);
  if (type === 'init') return '';
  if (type === 'message') return o.role === 'assistant' ? (str(o.content) ?? '') + (o.delta === true ? '' : '\n') : '';
  if (type === 'tool_use') return toolLine(str(o.tool_name) ?? 'tool', obj(o.parameters));
  if (type === 'tool_result') return o.status === 'success' ? '' : `  ✗ ${oneLine(str(obj(o.error)?.message) ?? str(o.output) ?? 'failed')}\n`;
  if (type === 'error') return `✗ ${oneLine(str(o.message) ?? 'error')}\n`;
  if (type === 'result') {
    const stats = obj(o.stats);
    u.inputTokens = num(stats?.input_tokens) ?? num(stats?.input);
    u.outputTokens = num(stats?.output_tokens);
    u.cachedInputTokens = num(stats?.cached);
    return '\n';
  }
  return undefined;
};

const copilot: LineHandler = (o, u) => {
  const type = str(o.type);
  const data = obj(o.data);
  if (type === 'assistant.message') {
    const text = str(data?.content) ?? '';
    const tools = Array.isArray(data?.toolRequests) ? data!.toolRequests.map(obj) : [];
    return (text ? `${text}\n` : '') + tools.map((t) => toolLine(str(t?.name) ?? 'tool', obj(t?.arguments))).join('');
  }
  if (type === 'assistant.turn_start') {
    u.turns = (u.turns ?? 0) + 1;
    return '';
  }
  if (type === 'tool.execution_complete') {
    if (data?.success === false) return `  ✗ ${oneLine(str(obj(data.error)?.message) ?? str(obj(data.result)?.content) ?? 'failed')}\n`;
    return '';
  }
  if (type === 'result') {
    u.premiumRequests = num(obj(o.usage)?.premiumRequests);
    return '';
  }
  // Session bookkeeping, deltas already shown whole in assistant.message, partial outputs.
  if (type && /^(session|model|user|assistant|tool)\./.test(type)) return '';
  return undefined;
};

const HANDLERS: Record<StreamFormat, LineHandler> = {
  'claude-stream-json': claude,
  'codex-json': codex,
  'gemini-stream-json': gemini,
  'copilot-json': copilot,
};

export function createStreamParser(format: StreamFormat): StreamParser {
  const handle = HANDLERS[format];
  const usage: AgentUsage = {};
  const skipped = { count: 0, samples: [] as string[] };
  let pending = '';
  const line = (raw: string): string => {
    const t = raw.trim();
    if (!t) return '';
    let o: Obj | undefined;
    try {
      o = obj(JSON.parse(t));
    } catch {
      o = undefined;
    }
    const out = o ? handle(o, usage) : undefined;
    if (out === undefined) {
      skipped.count++;
      if (skipped.samples.length < 5) skipped.samples.push(t.slice(0, 300));
      return '';
    }
    return out;
  };
  return {
    format,
    usage,
    skipped,
    feed(chunk: string): string {
      pending += chunk;
      const parts = pending.split('\n');
      pending = parts.pop()!;
      return parts.map(line).join('');
    },
    end(): string {
      const rest = pending;
      pending = '';
      return line(rest);
    },
  };
}

/**
 * The sum of several usages. A field no part reports stays undefined (unknown); a field some
 * parts report sums what is known.
 */
export function sumUsage(parts: readonly (AgentUsage | undefined)[]): AgentUsage {
  const out: AgentUsage = {};
  for (const p of parts) {
    if (!p) continue;
    for (const k of Object.keys(p) as (keyof AgentUsage)[]) {
      const v = p[k];
      if (typeof v === 'number') out[k] = (out[k] ?? 0) + v;
    }
  }
  return out;
}

/** "1.2k in / 340 out · $0.0123 · 3 turns", with "unknown" for what the CLI did not say. */
export function describeUsage(u: AgentUsage): string {
  const n = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(0)}k` : v >= 1000 ? `${(v / 1000).toFixed(1)}k` : String(v));
  const parts: string[] = [];
  parts.push(u.inputTokens === undefined && u.outputTokens === undefined ? 'tokens unknown' : `${u.inputTokens === undefined ? '?' : n(u.inputTokens)} in / ${u.outputTokens === undefined ? '?' : n(u.outputTokens)} out`);
  parts.push(u.costUsd === undefined ? 'cost unknown' : `$${u.costUsd.toFixed(4)}`);
  if (u.turns !== undefined) parts.push(`${u.turns} turn${u.turns === 1 ? '' : 's'}`);
  if (u.premiumRequests) parts.push(`${u.premiumRequests} premium request${u.premiumRequests === 1 ? '' : 's'}`);
  if (u.permissionDenials) parts.push(`${u.permissionDenials} permission denial${u.permissionDenials === 1 ? '' : 's'}`);
  return parts.join(' · ');
}
