/**
 * The lane dependency graph. Works on any list of {id, dependsOn}; ties are broken by plan
 * order so every ordering is deterministic.
 */

export interface GraphNode {
  id: string;
  dependsOn?: readonly string[];
}

export class LaneGraph {
  readonly ids: readonly string[];
  private readonly deps = new Map<string, string[]>();
  private readonly dependents = new Map<string, string[]>();
  private readonly index = new Map<string, number>();

  constructor(nodes: readonly GraphNode[]) {
    this.ids = nodes.map((n) => n.id);
    nodes.forEach((n, i) => {
      this.index.set(n.id, i);
      this.dependents.set(n.id, []);
    });
    for (const n of nodes) {
      const ds = [...new Set(n.dependsOn ?? [])].filter((d) => this.index.has(d));
      this.deps.set(n.id, ds);
      for (const d of ds) this.dependents.get(d)!.push(n.id);
    }
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  dependenciesOf(id: string): readonly string[] {
    return this.deps.get(id) ?? [];
  }

  dependentsOf(id: string): readonly string[] {
    return this.dependents.get(id) ?? [];
  }

  /** Every lane `id` transitively depends on. */
  ancestors(id: string): Set<string> {
    return this.walk(id, (x) => this.dependenciesOf(x));
  }

  /** Every lane that transitively depends on `id`. */
  descendants(id: string): Set<string> {
    return this.walk(id, (x) => this.dependentsOf(x));
  }

  private walk(id: string, next: (x: string) => readonly string[]): Set<string> {
    const seen = new Set<string>();
    const stack = [...next(id)];
    while (stack.length) {
      const x = stack.pop()!;
      if (seen.has(x)) continue;
      seen.add(x);
      stack.push(...next(x));
    }
    return seen;
  }

  /** A cycle as a list of ids where the last depends on the first, or undefined. */
  findCycle(): string[] | undefined {
    const state = new Map<string, 1 | 2>(); // 1 = on stack, 2 = done
    const stack: string[] = [];
    const visit = (id: string): string[] | undefined => {
      state.set(id, 1);
      stack.push(id);
      for (const d of this.dependenciesOf(id)) {
        const s = state.get(d);
        if (s === 1) return stack.slice(stack.indexOf(d));
        if (s === undefined) {
          const c = visit(d);
          if (c) return c;
        }
      }
      stack.pop();
      state.set(id, 2);
      return undefined;
    };
    for (const id of this.ids) {
      if (!state.has(id)) {
        const c = visit(id);
        if (c) {
          // visit() walks dependency edges (c[k] depends on c[k+1]): report in "runs before"
          // order, starting from the lane that comes first in the plan.
          c.reverse();
          const first = c.reduce((best, id, k) => (this.index.get(id)! < this.index.get(c[best]!)! ? k : best), 0);
          return [...c.slice(first), ...c.slice(0, first)];
        }
      }
    }
    return undefined;
  }

  /** Dependencies before dependents; among lanes ready together, plan order. Throws on a cycle. */
  topologicalOrder(): string[] {
    const remaining = new Map(this.ids.map((id) => [id, this.dependenciesOf(id).length]));
    const out: string[] = [];
    const ready = this.ids.filter((id) => remaining.get(id) === 0);
    while (ready.length) {
      ready.sort((a, b) => this.index.get(a)! - this.index.get(b)!);
      const id = ready.shift()!;
      out.push(id);
      for (const d of this.dependentsOf(id)) {
        const n = remaining.get(d)! - 1;
        remaining.set(d, n);
        if (n === 0) ready.push(d);
      }
    }
    if (out.length !== this.ids.length) {
      throw new Error(`dependency cycle: ${(this.findCycle() ?? []).join(' -> ')}`);
    }
    return out;
  }

  /**
   * Lanes that can start now: not finished, not excluded (running, failed, …), and every
   * dependency finished. In plan order.
   */
  ready(finished: ReadonlySet<string>, exclude: ReadonlySet<string> = new Set()): string[] {
    return this.ids.filter(
      (id) => !finished.has(id) && !exclude.has(id) && this.dependenciesOf(id).every((d) => finished.has(d)),
    );
  }

  /** Whether a and b may run at the same time (neither depends on the other, even transitively). */
  independent(a: string, b: string): boolean {
    if (a === b) return false;
    return !this.ancestors(a).has(b) && !this.ancestors(b).has(a);
  }

  /** Every unordered pair of lanes that may run at the same time, in plan order. */
  independentPairs(): [string, string][] {
    const anc = new Map(this.ids.map((id) => [id, this.ancestors(id)]));
    const out: [string, string][] = [];
    for (let i = 0; i < this.ids.length; i++) {
      for (let j = i + 1; j < this.ids.length; j++) {
        const a = this.ids[i]!;
        const b = this.ids[j]!;
        if (!anc.get(a)!.has(b) && !anc.get(b)!.has(a)) out.push([a, b]);
      }
    }
    return out;
  }

  /**
   * The longest chain of dependent lanes, weighted by `weight(id)` (default 1 per lane): the
   * least wall time the plan needs even with unlimited parallelism.
   */
  criticalPath(weight: (id: string) => number = () => 1): { path: string[]; length: number } {
    const best = new Map<string, { length: number; prev?: string }>();
    for (const id of this.topologicalOrder()) {
      let prev: string | undefined;
      let base = 0;
      for (const d of this.dependenciesOf(id)) {
        const b = best.get(d)!.length;
        if (prev === undefined || b > base) {
          base = b;
          prev = d;
        }
      }
      best.set(id, { length: base + weight(id), prev });
    }
    let end: string | undefined;
    for (const id of this.ids) if (end === undefined || best.get(id)!.length > best.get(end)!.length) end = id;
    const path: string[] = [];
    for (let x = end; x !== undefined; x = best.get(x)!.prev) path.unshift(x);
    return { path, length: end === undefined ? 0 : best.get(end)!.length };
  }

  /** Groups of lanes by depth: every lane in wave k depends only on lanes of earlier waves. */
  waves(): string[][] {
    const depth = new Map<string, number>();
    for (const id of this.topologicalOrder()) {
      depth.set(id, Math.max(-1, ...this.dependenciesOf(id).map((d) => depth.get(d)!)) + 1);
    }
    const out: string[][] = [];
    for (const id of this.ids) (out[depth.get(id)!] ??= []).push(id);
    return out;
  }
}
