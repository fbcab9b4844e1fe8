/**
 * The reconcile panel's message protocol, shared by the extension host and the webview. Every
 * message either side receives is validated with these schemas; unknown or malformed messages
 * are dropped (and logged by the host). One transport: postMessage.
 */
import { z } from 'zod';

// No code generation: plans are validated a few times, not millions (zod's JIT costs more than it
// saves here), and the webview's Content-Security-Policy forbids eval anyway.
z.config({ jitless: true });

const id = z.string().min(1).max(200);
const filePath = z.string().min(1).max(4096);
/** A finding's id in its run: F1, F2, … */
const findingId = z.string().regex(/^F\d{1,6}$/);

export const FileView = z.object({
  path: filePath,
  oldPath: filePath.optional(),
  kind: z.enum(['added', 'modified', 'deleted', 'renamed', 'copied', 'typechange']),
  added: z.number().optional(),
  removed: z.number().optional(),
  binary: z.boolean(),
});

export const LaneView = z.object({
  id,
  role: z.string(),
  status: z.string(),
  reason: z.string().optional(),
  attempts: z.number(),
  verify: z.object({ command: z.string(), passed: z.boolean() }).optional(),
  files: z.array(FileView),
  /** Part of what the merge queue integrates and an apply brings in. */
  accepted: z.boolean(),
  /** Whether its work can be merged at all (it passed and has a head). */
  mergeable: z.boolean(),
  /** What its agent used ("300 in / 60 out · $0.0024 · 3 turns"), when the CLI reports it. */
  used: z.string().max(300).optional(),
  /** What it spent against its budget, when it has one. */
  budget: z.string().max(300).optional(),
  /** Files it changed outside its declared scope. */
  outOfScope: z.array(filePath).optional(),
  /** Symlinks its work adds that point outside the repository: applied only when accepted. */
  outsideLinks: z.array(z.object({ path: filePath, target: z.string().max(4096) })).optional(),
  /** Blocking findings for it not yet addressed or dismissed: the merge queue holds it. */
  blockedBy: z.array(findingId).optional(),
});

/** A finding one lane raised about another's work (or the merge queue, on a check's evidence). */
export const FindingView = z.object({
  id: findingId,
  from: id,
  to: id,
  kind: z.enum(['bug', 'changes', 'approve', 'note']),
  status: z.enum(['open', 'sent', 'addressed', 'dismissed']),
  blocking: z.boolean(),
  source: z.enum(['agent', 'merge-queue']),
  title: z.string().max(1000),
  details: z.string().max(8000).optional(),
  /** Why it has its status ("not sent back: impl has no retries left…", "dismissed by VS Code: …"). */
  note: z.string().max(2000).optional(),
  evidence: z
    .object({
      command: z.string().max(2000).optional(),
      /** The end of the output. */
      output: z.string().max(8200).optional(),
      files: z.array(z.string().max(1000)).max(50).optional(),
    })
    .optional(),
  at: z.string().max(100),
  /** "bug · blocking · sent back" */
  description: z.string().max(200),
  /** A codicon id. */
  icon: z.string().max(100),
  /** Blocking and not done with: its lane is held by the merge queue. */
  outstanding: z.boolean(),
  actions: z.array(z.enum(['send', 'edit', 'dismiss'])),
  /** What the edit box starts with. */
  editText: z.string().max(8000),
});

export const LoopBackView = z.object({
  at: z.string().max(100),
  from: id,
  to: id,
  finding: z.string().max(1000),
  by: z.enum(['run', 'person', 'merge-queue']),
  sent: z.boolean(),
  text: z.string().max(2000),
});

export const PairView = z.object({
  a: id,
  b: id,
  kind: z.enum(['conflict', 'hotspot']),
  files: z.array(filePath),
  /** Lanes whose changes outside their scope caused it. */
  outOfScope: z.array(z.object({ lane: id, files: z.array(filePath) })).optional(),
  /** Pairs of lanes that build on these and inherit the same conflict (reported here once). */
  inheritedBy: z.array(z.object({ a: id, b: id })).optional(),
});

export const QueueView = z.object({
  running: z.boolean(),
  step: z.string().optional(),
  merged: z.array(id),
  held: z.array(z.object({ lane: id, reason: z.string() })),
  verify: z.object({ command: z.string(), passed: z.boolean(), exit: z.string(), outputTail: z.string() }).optional(),
  culprit: z
    .object({
      lane: id,
      outputTail: z.string(),
      probes: z.number(),
      /** The lane blamed on the evidence of the failing output, when not the culprit itself. */
      blamed: id.optional(),
      /** The queue's decision in words ("blamed impl: …", "sent tests back: …"). */
      decision: z.string().max(4000).optional(),
    })
    .optional(),
  sentBack: z.array(z.object({ lane: id, result: z.string() })),
  head: z.string().optional(),
  passed: z.boolean().optional(),
});

export const PanelState = z.object({
  folder: z.string(),
  runId: z.string(),
  goal: z.string(),
  lanes: z.array(LaneView),
  pairs: z.array(PairView),
  queue: QueueView.optional(),
  lastApply: z.object({ id: z.string(), files: z.number(), undone: z.boolean() }).optional(),
  busy: z.string().optional(),
  /** What the run's agents used in all, when any reported it. */
  spend: z.string().max(300).optional(),
  findings: z.array(FindingView),
  loopBacks: z.array(LoopBackView),
});

export const ToHost = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ready') }),
  z.strictObject({ type: z.literal('openDiff'), lane: id, path: filePath, against: id.optional() }),
  z.strictObject({ type: z.literal('acceptLane'), lane: id, accepted: z.boolean() }),
  z.strictObject({ type: z.literal('rejectLane'), lane: id }),
  z.strictObject({ type: z.literal('acceptFile'), lane: id, path: filePath }),
  z.strictObject({ type: z.literal('sendFeedback'), lane: id, text: z.string().trim().min(1).max(20000) }),
  z.strictObject({ type: z.literal('runQueue') }),
  z.strictObject({ type: z.literal('apply') }),
  /** Resolve a lane's conflict in the merge editor: against another lane, or "integration". */
  z.strictObject({ type: z.literal('resolveConflict'), lane: id, against: z.union([id, z.literal('integration')]) }),
  /** A held-back lane on the integration: only what does not conflict, or everything with markers. */
  z.strictObject({ type: z.literal('applyLane'), lane: id, how: z.enum(['nonConflicting', 'markers']) }),
  z.strictObject({ type: z.literal('undo') }),
  /** Send the lane a finding is for back to its agent; `text` replaces the finding's details. */
  z.strictObject({ type: z.literal('sendFinding'), id: findingId, text: z.string().trim().min(1).max(20000).optional() }),
  /** Set a finding aside (it no longer holds its lane), with an optional reason. */
  z.strictObject({ type: z.literal('dismissFinding'), id: findingId, reason: z.string().trim().max(2000).optional() }),
]);

export const ToWebview = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('state'), state: PanelState }),
  z.strictObject({ type: z.literal('result'), action: z.string(), ok: z.boolean(), text: z.string() }),
]);

export type FileView = z.infer<typeof FileView>;
export type LaneView = z.infer<typeof LaneView>;
export type PairView = z.infer<typeof PairView>;
export type QueueView = z.infer<typeof QueueView>;
export type FindingView = z.infer<typeof FindingView>;
export type LoopBackView = z.infer<typeof LoopBackView>;
export type PanelState = z.infer<typeof PanelState>;
export type ToHost = z.infer<typeof ToHost>;
export type ToWebview = z.infer<typeof ToWebview>;

/** Parse a message or return undefined (never throws on hostile input). */
export function parseToHost(raw: unknown): ToHost | undefined {
  const r = ToHost.safeParse(raw);
  return r.success ? r.data : undefined;
}

export function parseToWebview(raw: unknown): ToWebview | undefined {
  const r = ToWebview.safeParse(raw);
  return r.success ? r.data : undefined;
}
