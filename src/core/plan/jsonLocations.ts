/**
 * A small strict JSON parser that also records where every value sits in the text, so plan
 * errors can point at a line and column (CLI output, editor diagnostics). JSON.parse gives no
 * positions and silently keeps the last of duplicate keys; this parser reports both.
 */

export type JsonPath = ReadonlyArray<string | number>;

export interface Span {
  /** Offset of the value's first character. */
  start: number;
  /** Offset one past the value's last character. */
  end: number;
  /** Offset of the property key when the value belongs to an object member. */
  keyStart?: number;
}

export interface Position {
  line: number; // 1-based
  column: number; // 1-based
}

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly position: Position,
  ) {
    super(`${message} at line ${position.line}, column ${position.column}`);
    this.name = 'JsonSyntaxError';
  }
}

export interface ParsedJson {
  value: unknown;
  spans: Map<string, Span>;
  /** Keys that appear twice in one object: JSON.parse would silently keep the last one. */
  duplicateKeys: { path: JsonPath; key: string; offset: number }[];
  text: string;
}

export function pathKey(path: JsonPath): string {
  return JSON.stringify(path);
}

export function offsetToPosition(text: string, offset: number): Position {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

/** The span of the deepest recorded value on `path` (falls back to the nearest ancestor). */
export function locate(parsed: Pick<ParsedJson, 'spans'>, path: JsonPath): Span | undefined {
  for (let n = path.length; n >= 0; n--) {
    const span = parsed.spans.get(pathKey(path.slice(0, n)));
    if (span) return span;
  }
  return undefined;
}

export function parseJsonWithLocations(text: string): ParsedJson {
  let i = 0;
  const spans = new Map<string, Span>();
  const duplicateKeys: ParsedJson['duplicateKeys'] = [];

  const fail = (message: string, at = i): never => {
    throw new JsonSyntaxError(message, at, offsetToPosition(text, at));
  };
  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else break;
    }
  };
  const describe = (at: number) => (at >= text.length ? 'end of file' : `'${text[at]}'`);

  const parseString = (): string => {
    const start = i;
    i++; // opening quote
    let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string', start);
      const c = text[i];
      if (c === '"') {
        i++;
        return out;
      }
      if (c === '\\') {
        const e = text[i + 1];
        const map: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e !== undefined && e in map) {
          out += map[e];
          i += 2;
        } else if (e === 'u') {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('invalid \\u escape in string');
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else {
          fail('invalid escape in string');
        }
        continue;
      }
      if (c.charCodeAt(0) < 0x20) fail('control character in string (use \\n for a newline)');
      out += c;
      i++;
    }
  };

  const parseValue = (path: (string | number)[], keyStart?: number): unknown => {
    ws();
    const start = i;
    const c = text[i];
    let value: unknown;
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      const seen = new Set<string>();
      ws();
      if (text[i] === '}') {
        i++;
      } else {
        for (;;) {
          ws();
          if (text[i] !== '"') fail(`expected a property name in double quotes but found ${describe(i)}`);
          const kStart = i;
          const key = parseString();
          ws();
          if (text[i] !== ':') fail(`expected ':' after property name "${key}" but found ${describe(i)}`);
          i++;
          if (seen.has(key)) duplicateKeys.push({ path: [...path], key, offset: kStart });
          seen.add(key);
          const v = parseValue([...path, key], kStart);
          Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
          ws();
          if (text[i] === ',') {
            i++;
            ws();
            if (text[i] === '}') fail('trailing comma before }');
            continue;
          }
          if (text[i] === '}') {
            i++;
            break;
          }
          fail(`expected ',' or '}' but found ${describe(i)}`);
        }
      }
      value = obj;
    } else if (c === '[') {
      i++;
      const arr: unknown[] = [];
      ws();
      if (text[i] === ']') {
        i++;
      } else {
        for (;;) {
          arr.push(parseValue([...path, arr.length]));
          ws();
          if (text[i] === ',') {
            i++;
            ws();
            if (text[i] === ']') fail('trailing comma before ]');
            continue;
          }
          if (text[i] === ']') {
            i++;
            break;
          }
          fail(`expected ',' or ']' but found ${describe(i)}`);
        }
      }
      value = arr;
    } else if (c === '"') {
      value = parseString();
    } else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) {
      const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
      if (!m) fail('invalid number');
      i += m![0].length;
      value = Number(m![0]);
    } else if (text.startsWith('true', i)) {
      i += 4;
      value = true;
    } else if (text.startsWith('false', i)) {
      i += 5;
      value = false;
    } else if (text.startsWith('null', i)) {
      i += 4;
      value = null;
    } else {
      fail(`unexpected ${describe(i)}`);
    }
    spans.set(pathKey(path), { start, end: i, keyStart });
    return value;
  };

  if (text.charCodeAt(0) === 0xfeff) i = 1; // BOM
  const value = parseValue([]);
  ws();
  if (i < text.length) fail(`unexpected ${describe(i)} after the end of the JSON value`);
  return { value, spans, duplicateKeys, text };
}
