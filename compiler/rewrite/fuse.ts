import { toposort } from '../ir/graph.js';
import { Node } from '../ir/node.js';
import {
  isElementwise,
  type FusableReduce,
  type FusedArgs,
  type FusedInstr,
  type FusedRef,
  type Op,
  type OpArgs,
} from '../ir/ops.js';
import { withOrigin } from '../ir/origin.js';
import { predictLayout } from '../schedule/kernels.js';
import { recordRewrite, rewriteOf } from './provenance.js';
import type { TensorType } from '../ir/type.js';
import type { RuleCounts } from './engine.js';

/** Most distinct inputs one fused kernel may read (wasm locals and registers stay manageable). */
export const MAX_FUSED_INPUTS = 16;
/**
 * Most ops one fused kernel computes. Each op's vectorized math takes its own wasm locals (a tanh
 * about 25), and V8 refuses a function with more than 50,000; TurboFan's compile time also grows
 * faster than the function. A longer chain becomes several kernels, each one pass over memory.
 */
export const MAX_FUSED_OPS = 128;
const FUSABLE_REDUCE = new Set<Op>(['sum', 'mean', 'max', 'min', 'prod']);

interface Region {
  /** Members in dependency order; the last is the sink. */
  members: Node[];
  reduce?: Node;
}

/**
 * The lanes an op's work runs in: int32 lanes when it reads and makes only int32 and bool values
 * (index arithmetic, as tril's), else float lanes. A region keeps to one kind, so a backend lowers it
 * whole; the other kind's results reach it as inputs (a bool mask, an index).
 */
const lanes = (n: Node) => ([n, ...n.inputs].every((v) => v.dtype === 'int32' || v.dtype === 'bool') ? 'int' : 'float');

/**
 * A fused reduction reads its region's operands along the last axis only (whole, a row, a column or a
 * scalar); an operand broadcast another way (a per-channel bias against NCHW) keeps its op out of the
 * region, so it runs in an elementwise kernel that walks any broadcast.
 */
const readableByReduction = (n: Node, members: ReadonlySet<Node>, domain: TensorType['shape']) =>
  n.inputs.every((i) => members.has(i) || predictLayout(i.shape, domain) !== undefined);

const sameSpelling = (a: TensorType, b: TensorType) =>
  a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);

/**
 * Groups elementwise ops into maximal convex regions (no path leaves a region and comes back) and
 * replaces each by one `fused` node, optionally ending in a reduction. Values used outside a region
 * become extra outputs (read through `fusedOutput`), so nothing is computed twice.
 */
export function fuseElementwise(roots: readonly Node[], counts: RuleCounts): Node[] {
  const order = toposort(roots);
  const position = new Map(order.map((n, i) => [n, i]));
  const consumers = new Map<Node, Node[]>(order.map((n) => [n, []]));
  for (const n of order) for (const i of new Set(n.inputs)) consumers.get(i)!.push(n);
  const isRoot = new Set(roots);
  const regionOf = new Map<Node, Region>();
  const fusable = (n: Node) => isElementwise(n.op) && !regionOf.has(n);

  /** Does any path from `start` (outside the region) reach a region member? */
  const reachesRegion = (start: Node, region: Set<Node>, limit: number): boolean => {
    const stack = [start];
    const seen = new Set<Node>();
    while (stack.length) {
      const n = stack.pop()!;
      if (region.has(n)) return true;
      if (seen.has(n) || position.get(n)! > limit) continue;
      seen.add(n);
      stack.push(...consumers.get(n)!);
    }
    return false;
  };

  /** No value leaves the region and flows back into it. */
  const isConvex = (members: Set<Node>, reduce: Node | undefined): boolean => {
    const limit = Math.max(...[...members].map((m) => position.get(m)!));
    return [...members].every((m) =>
      consumers.get(m)!.every((c) => members.has(c) || c === reduce || !reachesRegion(c, members, limit)),
    );
  };

  const externalInputs = (members: Set<Node>) =>
    new Set([...members].flatMap((m) => m.inputs.filter((i) => !members.has(i))));

  const grow = (sink: Node, reduce: Node | undefined) => {
    const members = new Set<Node>([sink]);
    const sinkType = sink.type;
    const frontier = [...sink.inputs];
    while (frontier.length && members.size < MAX_FUSED_OPS) {
      const p = frontier.pop()!;
      if (members.has(p) || !fusable(p) || lanes(p) !== lanes(sink)) continue;
      if (reduce && !readableByReduction(p, members, sinkType.shape)) continue;
      const outside = consumers.get(p)!.filter((c) => !members.has(c) && c !== reduce);
      // A value that leaves the region is an extra output: it must span the region's whole loop domain.
      if ((outside.length > 0 || isRoot.has(p)) && (reduce !== undefined || !sameSpelling(p.type, sinkType))) continue;
      members.add(p);
      if (!isConvex(members, reduce) || externalInputs(members).size > MAX_FUSED_INPUTS) {
        members.delete(p);
        continue;
      }
      frontier.push(...p.inputs);
    }
    const sorted = [...members].sort((a, b) => position.get(a)! - position.get(b)!);
    // A lone op gains nothing from fusion unless it carries a reduction.
    if (sorted.length < 2 && !reduce) return;
    const region: Region = { members: sorted, reduce };
    for (const m of sorted) regionOf.set(m, region);
    if (reduce) regionOf.set(reduce, region);
  };

  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k]!;
    if (regionOf.has(n)) continue;
    if (FUSABLE_REDUCE.has(n.op)) {
      const producer = n.inputs[0]!;
      const alone = consumers.get(producer)!.length === 1 && !isRoot.has(producer);
      if (fusable(producer) && alone && readableByReduction(producer, new Set(), producer.shape)) grow(producer, n);
    } else if (fusable(n)) {
      grow(n, undefined);
    }
  }

  // Each region is convex, yet two can still feed each other in a circle (one value from A into B,
  // another from B back into A): then one region of the circle is dissolved, its ops left unfused.
  for (let region = regionInCycle(order, regionOf); region; region = regionInCycle(order, regionOf)) {
    for (const m of region.members) regionOf.delete(m);
    if (region.reduce) regionOf.delete(region.reduce);
    counts['fusion_cycle_dissolved'] = (counts['fusion_cycle_dissolved'] ?? 0) + 1;
  }

  // Rebuild: every region becomes one fused node; its outside users read fusedOutput nodes.
  const mapped = new Map<Node, Node>();
  const built = new Map<Region, { fused: Node; outputIndex: Map<Node, number> }>();
  const buildRegion = (region: Region) => {
    const existing = built.get(region);
    if (existing) return existing;
    const members = new Set(region.members);
    const inputs: Node[] = [];
    const instrIndex = new Map<Node, number>();
    const ref = (n: Node): FusedRef => {
      if (instrIndex.has(n)) return { from: 'instr', index: instrIndex.get(n)! };
      let i = inputs.indexOf(n);
      if (i < 0) i = inputs.push(n) - 1;
      return { from: 'input', index: i };
    };
    const instrs: FusedInstr[] = region.members.map((m, i) => {
      instrIndex.set(m, i);
      const instr = { op: m.op, args: m.args, inputs: m.inputs.map(ref), dtype: m.dtype };
      const rule = rewriteOf(m);
      return rule ? recordRewrite(instr, rule) : instr;
    });
    const sink = region.members[region.members.length - 1]!;
    const escaping = region.members.filter(
      (m) => m !== sink && (isRoot.has(m) || consumers.get(m)!.some((c) => !members.has(c) && c !== region.reduce)),
    );
    const outputs = [sink, ...escaping];
    const reduceArgs = region.reduce ? (region.reduce.args as OpArgs['sum']) : undefined;
    const args: FusedArgs = {
      instrs,
      outputs: outputs.map((o) => instrIndex.get(o)!),
      outputTypes: [region.reduce ? region.reduce.type : sink.type, ...escaping.map((e) => e.type)],
      ...(region.reduce
        ? { reduce: { op: region.reduce.op as FusableReduce, axes: reduceArgs!.axes, keepdims: reduceArgs!.keepdims } }
        : {}),
    };
    const fused = recordRewrite(
      withOrigin(sink.origin, () => Node.make('fused', inputs.map(resolve), args)),
      'elementwise_fusion',
    );
    counts['elementwise_fusion'] = (counts['elementwise_fusion'] ?? 0) + 1;
    const outputIndex = new Map(outputs.map((o, i) => [o, i]));
    const result = { fused, outputIndex };
    built.set(region, result);
    return result;
  };
  function resolve(node: Node): Node {
    const done = mapped.get(node);
    if (done) return done;
    let result: Node;
    const region = regionOf.get(node);
    if (region) {
      const { fused, outputIndex } = buildRegion(region);
      const k = node === region.reduce ? 0 : outputIndex.get(node);
      if (k === undefined) throw new Error('internal: a fused region member is used outside its region');
      result =
        k === 0
          ? fused
          : withOrigin(node.origin, () => Node.make('fusedOutput', [fused], { index: k, type: node.type }));
    } else {
      const inputs = node.inputs.map(resolve);
      result = inputs.some((x, i) => x !== node.inputs[i])
        ? Node.make(node.op, inputs, node.args as OpArgs[Op], node.origin)
        : node;
    }
    mapped.set(node, result);
    return result;
  }
  // Resolve in dependency order so recursion stays shallow: a region when its last node is reached (its
  // inputs all come before it), so a long chain of regions never recurses through the chain.
  for (const n of order) {
    const region = regionOf.get(n);
    if (!region || n === (region.reduce ?? region.members[region.members.length - 1])) resolve(n);
  }
  return roots.map(resolve);
}

/** A region on a cycle of the graph with each region taken as one node, or undefined when there is none. */
function regionInCycle(order: readonly Node[], regionOf: ReadonlyMap<Node, Region>): Region | undefined {
  type Unit = Node | Region;
  const unitOf = (n: Node): Unit => regionOf.get(n) ?? n;
  const edges = new Map<Unit, Set<Unit>>();
  for (const n of order) {
    const to = unitOf(n);
    for (const i of n.inputs) {
      const from = unitOf(i);
      if (from === to) continue;
      let out = edges.get(from);
      if (!out) edges.set(from, (out = new Set()));
      out.add(to);
    }
  }
  const state = new Map<Unit, 'open' | 'done'>();
  for (const start of new Set(order.map(unitOf))) {
    if (state.has(start)) continue;
    // Iterative depth-first search; the path is the stack of open units.
    const path: Unit[] = [start];
    const pending: Unit[][] = [[...(edges.get(start) ?? [])]];
    state.set(start, 'open');
    while (path.length) {
      const next = pending[pending.length - 1]!.pop();
      if (next === undefined) {
        state.set(path.pop()!, 'done');
        pending.pop();
        continue;
      }
      const seen = state.get(next);
      if (seen === 'open') {
        const circle = path.slice(path.indexOf(next));
        return circle.find((u): u is Region => !(u instanceof Node));
      }
      if (seen === 'done') continue;
      state.set(next, 'open');
      path.push(next);
      pending.push([...(edges.get(next) ?? [])]);
    }
  }
  return undefined;
}
