/** A small, strict argument parser: unknown options are usage errors (exit 2), never ignored. */

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptionSpec {
  /** Long name without dashes. */
  name: string;
  short?: string;
  /** 'flag' takes no value; 'string' takes one; 'list' may repeat and split on commas. */
  type: 'flag' | 'string' | 'list';
  description: string;
  valueName?: string;
}

export interface ParsedArgs {
  positionals: string[];
  options: Record<string, string | string[] | boolean | undefined>;
  /** Everything after a bare `--`. */
  rest?: string[];
}

export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): ParsedArgs {
  const out: ParsedArgs = { positionals: [], options: {} };
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.rest = argv.slice(i + 1);
      break;
    }
    let spec: OptionSpec | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
      spec = byName.get(name);
      if (!spec) throw new UsageError(`unknown option --${name}`);
    } else if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) {
      spec = byShort.get(arg.slice(1));
      if (!spec) throw new UsageError(`unknown option ${arg}`);
    } else {
      out.positionals.push(arg);
      continue;
    }
    if (spec.type === 'flag') {
      if (inline !== undefined) throw new UsageError(`option --${spec.name} takes no value`);
      out.options[spec.name] = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`option --${spec.name} needs a value${spec.valueName ? ` (${spec.valueName})` : ''}`);
    if (spec.type === 'string') {
      if (out.options[spec.name] !== undefined) throw new UsageError(`option --${spec.name} given twice`);
      out.options[spec.name] = value;
    } else {
      const prev = (out.options[spec.name] as string[] | undefined) ?? [];
      out.options[spec.name] = [...prev, ...value.split(',').map((v) => v.trim()).filter(Boolean)];
    }
  }
  return out;
}

export function intOption(value: unknown, name: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be a whole number of at least ${min}, got "${String(value)}"`);
  return n;
}
