/**
 * Findings: structured messages between lanes. An agent records one by writing a small JSON
 * file into `$LANES_FINDINGS_DIR` (`.lanes/memory/findings/` in its worktree), by hand or with
 * the `lanes finding` command on its PATH. The orchestrator collects them into the run's state
 * (numbered F1, F2, …, attributed to the lane and attempt that raised them), puts the ones
 * addressed to a lane into its brief, and loops back on blocking ones. A person's decisions
 * (dismiss) are files of their own beside the state, so they can be made while a run works in
 * another process; the effective status is the record plus the latest decision.
 *
 * The file format (documented in the README and every brief):
 *   { "to": "impl",                       lane the finding is for (required)
 *     "kind": "bug",                      bug (default) | changes (a review asks for them) | approve | note
 *     "title": "range(3) has 2 items",    what is wrong, one line (required except for approve)
 *     "details": "…",                     optional
 *     "blocking": true,                   default true for bug and changes; notes and approvals never block
 *     "evidence": { "command": "node --test", "output": "…", "files": ["test/range.test.js:5"] } }
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { ownedDirInside, writeFileAtomic } from '../util/fsx';

export const FINDING_KINDS = ['bug', 'changes', 'approve', 'note'] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];
export const FINDING_STATUSES = ['open', 'sent', 'addressed', 'dismissed'] as const;
export type FindingStatus = (typeof FINDING_STATUSES)[number];

/** Most findings one attempt of a lane may raise (an agent in a loop must not flood the run). */
export const MAX_FINDINGS_PER_ATTEMPT = 20;
/** Longest evidence output kept (its end: where a failure usually is). */
export const MAX_EVIDENCE_OUTPUT = 8000;
const MAX_TITLE = 300;
const MAX_DETAILS = 4000;

const clip = (s: string, n: number) => (s.length > n ? '…' + s.slice(s.length - n) : s);

const EvidenceSchema = z.object({
  command: z.string({ error: 'expected the command that shows the problem (a string)' }).optional(),
  output: z.string({ error: 'expected the output of that command (a string)' }).optional(),
  files: z.array(z.string({ error: 'expected "file" or "file:line" strings' }), { error: 'expected an array of "file" or "file:line" strings' }).optional(),
});
export type Evidence = z.infer<typeof EvidenceSchema>;

/** What an agent writes (unknown fields are ignored: agents add their own). */
export const FindingFileSchema = z.object({
  to: z.string({ error: 'expected "to": the id of the lane the finding is for' }).min(1, { message: 'must name a lane' }),
  kind: z.enum(FINDING_KINDS, { error: `expected "kind" to be one of ${FINDING_KINDS.join(', ')}` }).optional(),
  title: z.string({ error: 'expected "title": what is wrong, in one line' }).optional(),
  details: z.string({ error: 'expected "details" to be a string' }).optional(),
  blocking: z.boolean({ error: 'expected "blocking" to be true or false' }).optional(),
  evidence: EvidenceSchema.optional(),
});
export type FindingFile = z.infer<typeof FindingFileSchema>;

const HistoryEntry = z.object({ at: z.string(), status: z.enum(FINDING_STATUSES), note: z.string().optional() });

/** A finding as the run keeps it. */
export const FindingRecordSchema = z.object({
  id: z.string(),
  from: z.string(),
  to: z.string(),
  kind: z.enum(FINDING_KINDS),
  title: z.string(),
  details: z.string().optional(),
  blocking: z.boolean(),
  evidence: EvidenceSchema.optional(),
  at: z.string(),
  /** The finder's attempt that raised it. */
  attempt: z.number().optional(),
  /** Who wrote it: the finder's agent, or the merge queue on the evidence of a failing check. */
  source: z.enum(['agent', 'merge-queue']).default('agent'),
  status: z.enum(FINDING_STATUSES),
  /** Why it has its status (the last history entry's note). */
  note: z.string().optional(),
  history: z.array(HistoryEntry).default([]),
});
export type FindingRecord = z.infer<typeof FindingRecordSchema>;

/** A loop-back: a lane sent back to another lane's agent with a finding (or refused, and why). */
export const LoopBackSchema = z.object({
  at: z.string(),
  from: z.string(),
  to: z.string(),
  finding: z.string(),
  /** Who sent it: the run (automatically), a person, or the merge queue. */
  by: z.enum(['run', 'person', 'merge-queue']),
  /** false: the loop-back was not made (limit, no retries left); `reason` says why. */
  sent: z.boolean(),
  reason: z.string().optional(),
});
export type LoopBack = z.infer<typeof LoopBackSchema>;

export const DEFAULT_LOOP_BACKS = 3;
export const DEFAULT_LOOP_BACKS_PER_PAIR = 2;

/** Whether a finding of this kind asks another lane to change something. */
export function asksForChange(f: Pick<FindingRecord, 'kind'>): boolean {
  return f.kind === 'bug' || f.kind === 'changes';
}

/** Blocking and not done with: the merge queue holds the lane it is for. */
export function isOutstanding(f: Pick<FindingRecord, 'kind' | 'blocking' | 'status'>): boolean {
  return asksForChange(f) && f.blocking && (f.status === 'open' || f.status === 'sent');
}

/**
 * Check what an agent wrote, against the plan's lanes. Returns the problem in words that name
 * the field and the fix, or the finding's fields.
 */
export function checkFindingFile(raw: unknown, from: string, laneIds: readonly string[]): { ok: true; value: Omit<FindingRecord, 'id' | 'at' | 'status' | 'history' | 'source'> } | { ok: false; problem: string } {
  const p = FindingFileSchema.safeParse(raw);
  if (!p.success) {
    const i = p.error.issues[0]!;
    return { ok: false, problem: `${i.path.length ? `"${i.path.join('.')}": ` : ''}${i.message}` };
  }
  const f = p.data;
  if (!laneIds.includes(f.to)) return { ok: false, problem: `"to": the plan has no lane "${f.to}"; use one of ${laneIds.filter((x) => x !== from).join(', ')}` };
  if (f.to === from) return { ok: false, problem: `"to": a finding is for another lane, not the one that raises it (${from}); write what you found about your own work in your memory file` };
  const kind = f.kind ?? 'bug';
  const title = (f.title ?? '').trim().split('\n')[0]!;
  if (!title && kind !== 'approve') return { ok: false, problem: '"title": say what is wrong, in one line' };
  const evidence = f.evidence
    ? {
        ...(f.evidence.command ? { command: f.evidence.command.slice(0, 2000) } : {}),
        ...(f.evidence.output ? { output: clip(f.evidence.output, MAX_EVIDENCE_OUTPUT) } : {}),
        ...(f.evidence.files?.length ? { files: f.evidence.files.slice(0, 50) } : {}),
      }
    : undefined;
  return {
    ok: true,
    value: {
      from,
      to: f.to,
      kind,
      title: (title || `approved ${f.to}`).slice(0, MAX_TITLE),
      details: f.details?.trim() ? f.details.trim().slice(0, MAX_DETAILS) : undefined,
      blocking: asksForChange({ kind }) ? (f.blocking ?? true) : false,
      evidence: evidence && Object.keys(evidence).length ? evidence : undefined,
    },
  };
}

/** Where a lane's agent writes its findings: inside its worktree (never committed). */
export function worktreeFindingsDir(memoryDir: string): string {
  return path.join(memoryDir, 'findings');
}

/** The same folder, relative to the worktree. */
export const WORKTREE_FINDINGS_DIR = '.lanes/memory/findings';

export interface CollectedFile {
  file: string;
  raw?: unknown;
  problem?: string;
}

/**
 * The finding files a lane's agent has written, oldest first. Each is taken away once read: a
 * good one is removed (the run records it), a bad one (`check` says why) is renamed `*.invalid`
 * (kept for the agent and the person; reported once).
 */
export async function takeFindingFiles(worktree: string, check: (raw: unknown) => string | undefined): Promise<CollectedFile[]> {
  // Never through a symlink an agent made: the folder and each file must be its own.
  const dir = await ownedDirInside(worktree, WORKTREE_FINDINGS_DIR, { create: false }).catch((e: Error) => e);
  if (dir instanceof Error) return [{ file: path.join(worktree, WORKTREE_FINDINGS_DIR), problem: `${dir.message}; findings there are not read` }];
  if (!dir) return [];
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
  } catch {
    return [];
  }
  const stats = await Promise.all(names.map((n) => fs.lstat(path.join(dir, n)).then((s) => ({ n, t: s.mtimeMs, file: s.isFile() }), () => undefined)));
  const out: CollectedFile[] = [];
  for (const s of stats.filter((x): x is { n: string; t: number; file: boolean } => !!x && x.file).sort((a, b) => a.t - b.t || a.n.localeCompare(b.n))) {
    const file = path.join(dir, s.n);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (text.length > 256 * 1024) {
      out.push({ file, problem: 'the file is larger than 256 KiB; keep "evidence.output" to the end of the failing output' });
      await fs.rename(file, `${file}.invalid`).catch(() => undefined);
      continue;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      out.push({ file, problem: `not valid JSON (${(e as Error).message})` });
      await fs.rename(file, `${file}.invalid`).catch(() => undefined);
      continue;
    }
    const problem = check(raw);
    out.push({ file, raw, problem });
    if (problem) await fs.rename(file, `${file}.invalid`).catch(() => undefined);
    else await fs.rm(file, { force: true });
  }
  return out;
}

/** The next id in a run: F1, F2, … */
export function nextFindingId(existing: readonly Pick<FindingRecord, 'id'>[]): string {
  const n = existing.reduce((m, f) => Math.max(m, Number(/^F(\d+)$/.exec(f.id)?.[1] ?? 0)), 0);
  return `F${n + 1}`;
}

export function setFindingStatus(f: FindingRecord, status: FindingStatus, note?: string, at = new Date().toISOString()): void {
  f.status = status;
  f.note = note;
  f.history.push({ at, status, ...(note ? { note } : {}) });
}

// ——— a person's decisions ———

export const DecisionSchema = z.object({ finding: z.string(), action: z.enum(['dismiss']), at: z.string(), by: z.string(), reason: z.string().optional() });
export type Decision = z.infer<typeof DecisionSchema>;

export function decisionsDir(runDir: string): string {
  return path.join(runDir, 'decisions');
}

export async function writeDecision(runDir: string, d: Decision): Promise<void> {
  const dir = decisionsDir(runDir);
  await fs.mkdir(dir, { recursive: true });
  await writeFileAtomic(path.join(dir, `${d.finding}.json`), JSON.stringify(d, null, 2) + '\n');
}

export async function readDecisions(runDir: string): Promise<Map<string, Decision>> {
  const dir = decisionsDir(runDir);
  const out = new Map<string, Decision>();
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((n) => /^F\d+\.json$/.test(n));
  } catch {
    return out;
  }
  for (const n of names) {
    try {
      const d = DecisionSchema.parse(JSON.parse(await fs.readFile(path.join(dir, n), 'utf8')));
      out.set(d.finding, d);
    } catch {
      /* a half-written or foreign file is no decision */
    }
  }
  return out;
}

/** The findings with a person's decisions applied (a dismissal wins over anything but a later send). */
export function effectiveFindings(findings: readonly FindingRecord[], decisions: ReadonlyMap<string, Decision>): FindingRecord[] {
  return findings.map((f) => {
    const d = decisions.get(f.id);
    if (!d || f.status === 'dismissed') return f;
    const lastSend = [...f.history].reverse().find((h) => h.status === 'sent');
    if (lastSend && lastSend.at > d.at) return f; // sent again after the dismissal
    const note = `dismissed by ${d.by}${d.reason ? `: ${d.reason}` : ''}`;
    return { ...f, status: 'dismissed' as const, note, history: [...f.history, { at: d.at, status: 'dismissed' as const, note }] };
  });
}

/** The text a lane's agent gets when it is sent back with a finding. */
export function findingFeedback(f: FindingRecord, text?: string): string {
  const who = f.source === 'merge-queue' ? `The merge queue, on the evidence of lane \`${f.from}\`'s failing check,` : `Lane \`${f.from}\``;
  const what = f.kind === 'changes' ? 'requests changes to your work' : 'found a problem in your work';
  const lines = [`${who} ${what} (finding ${f.id}${f.blocking ? ', blocking' : ''}):`, '', `**${f.title}**`];
  if (text?.trim()) lines.push('', text.trim());
  else if (f.details) lines.push('', f.details);
  if (f.evidence?.files?.length) lines.push('', `Where: ${f.evidence.files.map((x) => `\`${x}\``).join(', ')}`);
  if (f.evidence?.command) lines.push('', `Reproduce with: \`${f.evidence.command}\``);
  if (f.evidence?.output) {
    let ticks = '```';
    while (f.evidence.output.includes(ticks)) ticks += '`';
    lines.push('', 'Its output:', ticks, f.evidence.output.replace(/\n$/, ''), ticks);
  }
  lines.push('', `Fix the cause in your own work. Do not change ${possessive(f.from)} files to make the problem go away: that lane keeps its work as it is and checks yours again once you are done.`);
  return lines.join('\n');
}

/** "tests'" and "impl's": a lane's name as a possessive. */
export function possessive(name: string): string {
  return name.endsWith('s') ? `${name}'` : `${name}'s`;
}

/** One line per finding: "F2 tests → impl (bug, blocking, sent): range(3) has 2 items". */
export function describeFinding(f: FindingRecord): string {
  const flags = [f.kind, ...(f.blocking ? ['blocking'] : []), f.status].join(', ');
  return `${f.id} ${f.from} → ${f.to} (${flags}): ${f.title}${f.note ? ` — ${f.note}` : ''}`;
}

/**
 * The `lanes` command on every lane's PATH: `lanes finding add|approve|request-changes|list`.
 * A standalone script (no modules of ours: it runs inside the lane's sandbox, from the run's
 * folder), which only writes JSON files into $LANES_FINDINGS_DIR. Any other command goes to the
 * next `lanes` on PATH, if there is one.
 */
export function findingCommandScript(node: string): string {
  const shebang = /^[^\s]+$/.test(node) ? `#!${node}` : '#!/usr/bin/env node';
  return `${shebang}
// Agent Lanes: the "lanes finding" command inside a lane. Written by Agent Lanes for this run.
'use strict';
const fs = require('fs');
const path = require('path');
const args = process.argv.slice(2);
const die = (m, code = 2) => { process.stderr.write('lanes: ' + m + '\\n'); process.exit(code); };
const HELP = [
  'Usage (inside an Agent Lanes lane):',
  '  lanes finding add --to LANE --title TEXT [--details TEXT] [--kind bug|note] [--no-blocking]',
  '                    [--command CMD] [--output TEXT | --output-file FILE] [--file PATH[:LINE]]...',
  '  lanes finding request-changes LANE --title TEXT [--details TEXT]',
  '  lanes finding approve LANE [--title TEXT]',
  '  lanes finding list          findings for and from this lane',
  'A finding goes to another lane of the plan: what is wrong, the evidence, whether it blocks.',
  'Lanes: ' + (process.env.LANES_LANE_IDS || '?') + '; you are ' + (process.env.LANES_LANE || '?') + '.',
].join('\\n');
if (args[0] !== 'finding') {
  const here = path.dirname(fs.realpathSync(__filename));
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir || path.resolve(dir) === here) continue;
    const p = path.join(dir, 'lanes');
    try { fs.accessSync(p, fs.constants.X_OK); } catch { continue; }
    const r = require('child_process').spawnSync(p, args, { stdio: 'inherit' });
    process.exit(r.status === null ? 1 : r.status);
  }
  die(args.length && args[0] !== '--help' && args[0] !== '-h' ? 'inside a lane only "lanes finding ..." is available\\n' + HELP : HELP, args.length && args[0] !== '--help' && args[0] !== '-h' ? 2 : 0);
}
const sub = args[1];
if (!sub || sub === '--help' || sub === '-h') { process.stdout.write(HELP + '\\n'); process.exit(0); }
const dir = process.env.LANES_FINDINGS_DIR;
if (!dir) die('LANES_FINDINGS_DIR is not set: this command works inside an Agent Lanes lane');
if (sub === 'list') {
  let text = '';
  try { text = fs.readFileSync(process.env.LANES_FINDINGS_FILE || '', 'utf8'); } catch {}
  process.stdout.write(text || 'No findings for or from this lane yet.\\n');
  process.exit(0);
}
const o = { files: [] };
const rest = args.slice(2);
for (let i = 0; i < rest.length; i++) {
  const a = rest[i];
  const val = () => { if (i + 1 >= rest.length) die(a + ' needs a value\\n' + HELP); return rest[++i]; };
  if (a === '--to') o.to = val();
  else if (a === '--title' || a === '-m') o.title = val();
  else if (a === '--details') o.details = val();
  else if (a === '--kind') o.kind = val();
  else if (a === '--blocking') o.blocking = true;
  else if (a === '--no-blocking') o.blocking = false;
  else if (a === '--command') o.command = val();
  else if (a === '--output') o.output = val();
  else if (a === '--output-file') { const f = val(); try { o.output = fs.readFileSync(f, 'utf8'); } catch (e) { die('cannot read ' + f + ': ' + e.message); } }
  else if (a === '--file') o.files.push(val());
  else if (!a.startsWith('-') && (sub === 'approve' || sub === 'request-changes') && !o.to) o.to = a;
  else die('unknown option ' + a + '\\n' + HELP);
}
if (sub === 'approve') { o.kind = 'approve'; }
else if (sub === 'request-changes') { o.kind = 'changes'; }
else if (sub !== 'add') die('unknown command "finding ' + sub + '"\\n' + HELP);
if (!o.to) die('say which lane the finding is for: --to LANE\\n' + HELP);
const lanes = (process.env.LANES_LANE_IDS || '').split(',').filter(Boolean);
if (lanes.length && !lanes.includes(o.to)) die('the plan has no lane "' + o.to + '"; lanes: ' + lanes.join(', '));
if (o.to === process.env.LANES_LANE) die('a finding is for another lane, not your own (' + o.to + ')');
if (o.kind && !['bug', 'note', 'changes', 'approve'].includes(o.kind)) die('--kind is bug or note');
if (!o.title && o.kind !== 'approve') die('say what is wrong: --title TEXT');
if (o.output && o.output.length > ${MAX_EVIDENCE_OUTPUT}) o.output = '…' + o.output.slice(-${MAX_EVIDENCE_OUTPUT});
const finding = { to: o.to, kind: o.kind || 'bug', title: o.title, details: o.details, blocking: o.blocking };
if (o.command || o.output || o.files.length) finding.evidence = { command: o.command, output: o.output, files: o.files.length ? o.files : undefined };
fs.mkdirSync(dir, { recursive: true });
const name = new Date().toISOString().replace(/[-:.]/g, '') + '-' + process.pid + '-' + Math.random().toString(16).slice(2, 8) + '.json';
const tmp = path.join(dir, '.' + name + '.tmp');
fs.writeFileSync(tmp, JSON.stringify(finding, null, 2) + '\\n');
fs.renameSync(tmp, path.join(dir, name));
process.stdout.write('recorded: ' + (finding.kind === 'approve' ? 'approval of ' + o.to : finding.kind + ' for ' + o.to + ': ' + o.title) + '\\n');
`;
}

/** What `lanes finding list` shows inside a lane: findings for it and from it. */
export function findingsForLaneText(lane: string, findings: readonly FindingRecord[]): string {
  const mine = findings.filter((f) => f.to === lane || f.from === lane);
  if (!mine.length) return '';
  return mine.map((f) => `${describeFinding(f)}${f.to === lane && f.details ? `\n    ${f.details.split('\n').join('\n    ')}` : ''}`).join('\n') + '\n';
}
