/**
 * einsum, tensordot and norm, built from the op set when the graph is built: each contraction of two
 * operands is one batched matmul (shared axes batch, summed axes contract, the rest grouped into its
 * rows and columns), diagonals are gathers, and indices no later operand needs are summed first.
 */
import * as B from './build.js';
import { diagonal } from './array-ops.js';
import { asNode, type TensorLike } from './convert.js';
import { arange, dimOf } from './indexing.js';
import type { Node } from './node.js';
import { ShapeError } from '../../runtime/errors.js';

/** An operand with one letter naming each of its axes. */
interface Labelled {
  readonly node: Node;
  readonly letters: readonly string[];
}

const describe = (x: Node) => `${x.name ?? 'a tensor'} [${x.shape.map((d) => d ?? '?').join(', ')}]`;

/** The letters of one operand's subscripts, '...' spread over the axes no letter names (numbered from the right, so they broadcast). */
function lettersOf(term: string, rank: number, subscripts: string, ellipsisRank?: number): string[] {
  const [head, tail, ...more] = term.split('...');
  if (more.length) throw new ShapeError(`einsum('${subscripts}'): '...' twice in '${term}'`);
  const named = (s: string) => {
    for (const c of s)
      if (!/[a-zA-Z]/.test(c))
        throw new ShapeError(`einsum('${subscripts}'): '${c}' is not a letter (use a-z, A-Z or ...)`);
    return [...s];
  };
  named(head!);
  if (tail === undefined) {
    if (ellipsisRank === undefined && head!.length !== rank)
      throw new ShapeError(
        `einsum('${subscripts}'): '${term}' names ${head!.length} axes of an operand of rank ${rank}`,
      );
    return named(head!);
  }
  const explicit = named(head!).length + named(tail).length;
  const spread = ellipsisRank ?? rank - explicit;
  if (spread < 0)
    throw new ShapeError(`einsum('${subscripts}'): '${term}' names ${explicit} axes of an operand of rank ${rank}`);
  return [...named(head!), ...Array.from({ length: spread }, (_, i) => `…${spread - i}`), ...named(tail)];
}

/** The product of sizes, or -1 when one is known only at call time (a reshape may have one). */
const sizeOf = (shape: readonly (number | null)[]) =>
  shape.some((d) => d === null) ? -1 : (shape as number[]).reduce((p, d) => p * d, 1);

/** x with each letter named twice reduced to its diagonal (NumPy's 'ii->i'). */
function takeDiagonals(x: Labelled): Labelled {
  let { node, letters } = x;
  for (;;) {
    const repeated = letters.findIndex((l, i) => letters.indexOf(l) !== i);
    if (repeated < 0) return { node, letters };
    const first = letters.indexOf(letters[repeated]!);
    if (node.shape[first] !== node.shape[repeated])
      throw new ShapeError(
        `einsum: index '${letters[first]}' spans axes of sizes ${node.shape[first]} and ${node.shape[repeated]}`,
      );
    if (node.shape[first] !== null && node.shape[repeated] !== null) {
      node = diagonal(node, 0, first, repeated);
      letters = [...letters.filter((_, i) => i !== first && i !== repeated), letters[first]!];
    } else {
      // Sizes known only at call time: the elements off the diagonal masked out and the second axis summed away.
      const position = (axis: number) => {
        let v = arange(dimOf(node, axis));
        for (let a = 0; a < node.ndim; a++) if (a !== axis) v = B.expandDims(v, a);
        return v;
      };
      node = B.sum(B.where(B.eq(position(first), position(repeated)), node, 0), repeated);
      letters = letters.filter((_, i) => i !== repeated);
    }
  }
}

/** x summed over the letters `keep` does not hold. */
function sumOthers(x: Labelled, keep: ReadonlySet<string>): Labelled {
  const axes = x.letters.flatMap((l, i) => (keep.has(l) ? [] : [i]));
  if (axes.length === 0) return x;
  return { node: B.sum(x.node, axes), letters: x.letters.filter((l) => keep.has(l)) };
}

/** x's axes in the order of `letters`, merged into groups of the given sizes (a group of no axes is an axis of 1). */
function arrange(x: Labelled, groups: readonly (readonly string[])[], keepFirst: number): Node {
  const order = groups.flat().map((l) => x.letters.indexOf(l));
  let node = order.every((a, i) => a === i) ? x.node : B.transpose(x.node, order);
  const sizes = groups.map((g) => g.map((l) => x.node.shape[x.letters.indexOf(l)]!));
  const target = [...sizes.slice(0, keepFirst).flat(), ...sizes.slice(keepFirst).map(sizeOf)];
  const unchanged = sizes.slice(keepFirst).every((g) => g.length === 1);
  if (!unchanged) {
    if (target.filter((d) => d === null || d === -1).length > 1)
      throw new UnknownSizes('einsum: more than one axis of a contraction has a size known only at call time');
    node = B.reshape(
      node,
      target.map((d) => d ?? -1),
    );
  }
  return node;
}

/** A reshape would need two sizes known only at call time. */
class UnknownSizes extends ShapeError {}

/**
 * The contraction of two labelled operands over the letters `later` does not need: one batched
 * matmul, each operand's free axes merged into its rows or columns.
 */
function contract(a: Labelled, b: Labelled, later: ReadonlySet<string>): Labelled {
  const inB = new Set(b.letters);
  const inA = new Set(a.letters);
  const batch = a.letters.filter((l) => inB.has(l) && later.has(l));
  const summed = a.letters.filter((l) => inB.has(l) && !later.has(l));
  const freeA = a.letters.filter((l) => !inB.has(l));
  const freeB = b.letters.filter((l) => !inA.has(l));
  try {
    const left = arrange(a, [...batch.map((l) => [l]), freeA, summed], batch.length);
    const right = arrange(b, [...batch.map((l) => [l]), summed, freeB], batch.length);
    let node = B.matmul(left, right);
    if (freeA.length !== 1 || freeB.length !== 1) {
      const sizes = [...freeA.map((l) => sizeIn(a, l)), ...freeB.map((l) => sizeIn(b, l))];
      const target = [...node.shape.slice(0, batch.length), ...sizes];
      if (target.filter((d) => d === null).length > 1) throw new UnknownSizes('einsum: sizes known only at call time');
      node = B.reshape(
        node,
        target.map((d) => d ?? -1),
      );
    }
    return { node, letters: [...batch, ...freeA, ...freeB] };
  } catch (e) {
    if (!(e instanceof UnknownSizes)) throw e;
    return contractBroadcast(a, b, batch, summed, freeA, freeB);
  }
}

/**
 * The same contraction without merging free axes (their sizes are known only at call time): all but
 * the last free axis of each operand become batch axes of the matmul, of size 1 in the other operand.
 */
function contractBroadcast(
  a: Labelled,
  b: Labelled,
  batch: readonly string[],
  summed: readonly string[],
  freeA: readonly string[],
  freeB: readonly string[],
): Labelled {
  const [aLead, aLast] = [freeA.slice(0, -1), freeA.slice(-1)];
  const [bLead, bLast] = [freeB.slice(0, -1), freeB.slice(-1)];
  const single = (ls: readonly string[]) => ls.map((l) => [l]);
  let left = arrange(a, [...single([...batch, ...aLead, ...aLast]), summed], batch.length + freeA.length);
  for (let k = 0; k < bLead.length; k++) left = B.expandDims(left, batch.length + aLead.length);
  if (!aLast.length) left = B.expandDims(left, -2);
  let right = arrange(b, [...single([...batch, ...bLead]), summed, ...single(bLast)], batch.length + bLead.length);
  for (let k = 0; k < aLead.length; k++) right = B.expandDims(right, batch.length);
  if (!bLast.length) right = B.expandDims(right, -1);
  let node = B.matmul(left, right);
  // The rows' axis is second to last, the columns' last: each added one goes.
  if (!bLast.length) node = B.squeeze(node, -1);
  if (!aLast.length) node = B.squeeze(node, bLast.length ? -2 : -1);
  return { node, letters: [...batch, ...aLead, ...bLead, ...aLast, ...bLast] };
}
const sizeIn = (x: Labelled, l: string) => x.node.shape[x.letters.indexOf(l)]!;

/**
 * Einstein summation (NumPy's einsum, TF.js's einsum): `einsum('ij,jk->ik', a, b)`. Any number of
 * operands, repeated letters within one operand (diagonals), '...' for broadcast axes, and the
 * implicit output (the letters named once, in alphabetical order) when there is no '->'.
 */
export function einsum(subscripts: string, ...operands: TensorLike[]): Node {
  if (typeof subscripts !== 'string') throw new ShapeError('einsum: the first argument is the subscripts string');
  const spec = subscripts.replace(/\s+/g, '');
  const [inputs, output, ...extra] = spec.split('->');
  if (extra.length) throw new ShapeError(`einsum('${subscripts}'): '->' twice`);
  const terms = inputs!.split(',');
  if (terms.length !== operands.length)
    throw new ShapeError(`einsum('${subscripts}'): ${terms.length} operand subscripts for ${operands.length} operands`);
  const nodes = operands.map(asNode);
  const ellipsisRanks = terms.map((t, i) => (t.includes('...') ? nodes[i]!.ndim - t.replace('...', '').length : 0));
  const ellipsisRank = Math.max(0, ...ellipsisRanks);
  let labelled: Labelled[] = terms.map((t, i) => ({
    node: nodes[i]!,
    letters: lettersOf(t, nodes[i]!.ndim, subscripts),
  }));
  const counts = new Map<string, number>();
  for (const l of labelled.flatMap((x) => x.letters)) counts.set(l, (counts.get(l) ?? 0) + 1);
  const broadcastLetters = Array.from({ length: ellipsisRank }, (_, i) => `…${ellipsisRank - i}`);
  const outLetters =
    output === undefined
      ? [
          ...broadcastLetters,
          ...[...counts]
            .filter(([l, c]) => c === 1 && !l.startsWith('…'))
            .map(([l]) => l)
            .sort(),
        ]
      : lettersOf(output, -1, subscripts, ellipsisRank);
  outLetters.forEach((l, i) => {
    if (!counts.has(l)) throw new ShapeError(`einsum('${subscripts}'): output index '${l}' names no operand's axis`);
    if (outLetters.indexOf(l) !== i) throw new ShapeError(`einsum('${subscripts}'): output index '${l}' appears twice`);
  });
  // Sizes of each letter must agree (or be 1 for the '...' axes, which broadcast).
  const sizes = new Map<string, number | null>();
  labelled.forEach((x, k) =>
    x.letters.forEach((l, a) => {
      const d = x.node.shape[a]!;
      const seen = sizes.get(l);
      if (
        seen !== undefined &&
        seen !== null &&
        d !== null &&
        seen !== d &&
        !(l.startsWith('…') && (seen === 1 || d === 1))
      )
        throw new ShapeError(
          `einsum('${subscripts}'): index '${l}' has size ${seen} in one operand and ${d} in operand ${k} (${describe(x.node)})`,
        );
      if (seen === undefined || seen === 1) sizes.set(l, d);
    }),
  );

  labelled = labelled.map(takeDiagonals);
  const needed = (from: number) => new Set([...outLetters, ...labelled.slice(from).flatMap((x) => x.letters)]);
  labelled = labelled.map((x, i) =>
    sumOthers(x, new Set([...outLetters, ...labelled.filter((_, j) => j !== i).flatMap((y) => y.letters)])),
  );
  let acc = labelled[0]!;
  for (let i = 1; i < labelled.length; i++) acc = contract(acc, labelled[i]!, needed(i + 1));
  acc = sumOthers(acc, new Set(outLetters));
  const order = outLetters.map((l) => acc.letters.indexOf(l));
  return order.every((a, i) => a === i) ? acc.node : B.transpose(acc.node, order);
}

/** NumPy's tensordot: the sum over the last `axes` axes of a and the first of b, or over the listed pairs. */
export function tensordot(
  a: TensorLike,
  b: TensorLike,
  axes: number | readonly [readonly number[], readonly number[]] = 2,
): Node {
  const [x, y] = [asNode(a), asNode(b)];
  const letter = (i: number) => String.fromCharCode(i < 26 ? 97 + i : 65 + i - 26);
  const normalize = (n: Node, list: readonly number[]) =>
    list.map((ax) => {
      if (!Number.isInteger(ax) || ax < -n.ndim || ax >= n.ndim)
        throw new ShapeError(`tensordot(${describe(n)}): axis ${ax} is out of range for rank ${n.ndim}`);
      return ax < 0 ? ax + n.ndim : ax;
    });
  let [ax, bx]: number[][] = [[], []];
  if (typeof axes === 'number') {
    if (!Number.isInteger(axes) || axes < 0 || axes > Math.min(x.ndim, y.ndim))
      throw new ShapeError(`tensordot: axes ${axes} for operands of ranks ${x.ndim} and ${y.ndim}`);
    ax = Array.from({ length: axes }, (_, i) => x.ndim - axes + i);
    bx = Array.from({ length: axes }, (_, i) => i);
  } else {
    [ax, bx] = [normalize(x, axes[0]), normalize(y, axes[1])];
    if (ax.length !== bx.length) throw new ShapeError(`tensordot: ${ax.length} axes of a against ${bx.length} of b`);
  }
  if (x.ndim + y.ndim > 52) throw new ShapeError('tensordot: too many axes');
  const xl = x.shape.map((_, i) => letter(i));
  const yl = y.shape.map((_, i) => letter(x.ndim + i));
  bx.forEach((axis, k) => (yl[axis] = xl[ax[k]!]!));
  const out = [...xl.filter((_, i) => !ax.includes(i)), ...yl.filter((_, i) => !bx.includes(i))];
  return einsum(`${xl.join('')},${yl.join('')}->${out.join('')}`, x, y);
}

type Ord = number | 'fro' | 'euclidean' | 'nuc';

/**
 * The 2-norm (or p-norm) over `axes` without overflow or underflow: the largest magnitude m factored
 * out (through which no gradient flows: the value does not depend on it), m·(Σ(|x|/m)^p)^(1/p).
 */
function scaledNorm(x: Node, axes: readonly number[], p: number, keepdims: boolean): Node {
  const ax = B.abs(x);
  const m = B.stopGradient(B.max(ax, axes, true));
  const safe = B.where(B.and(B.gt(m, 0), B.lt(m, Infinity)), m, 1);
  const ratio = B.div(ax, safe);
  const sum = B.sum(p === 2 ? B.square(ratio) : B.pow(ratio, p), axes, true);
  const root = p === 2 ? B.sqrt(sum) : B.pow(sum, 1 / p);
  const value = B.where(B.eq(m, Infinity), m, B.mul(safe, root));
  return keepdims ? value : B.squeeze(value, axes);
}

function vectorNorm(x: Node, ord: Ord, axis: number, keepdims: boolean): Node {
  const ax = B.abs(x);
  if (ord === 2 || ord === 'euclidean' || ord === 'fro') return scaledNorm(x, [axis], 2, keepdims);
  if (ord === Infinity) return B.max(ax, axis, keepdims);
  if (ord === -Infinity) return B.min(ax, axis, keepdims);
  if (ord === 1) return B.sum(ax, axis, keepdims);
  if (ord === 0) return B.sum(B.cast(B.ne(x, 0), x.dtype === 'float64' ? 'float64' : 'float32'), axis, keepdims);
  if (typeof ord === 'number' && ord > 0) return scaledNorm(x, [axis], ord, keepdims);
  if (typeof ord === 'number') return B.pow(B.sum(B.pow(ax, ord), axis, keepdims), 1 / ord);
  throw new ShapeError(`norm: ord '${ord}' is a matrix norm; give two axes`);
}

function matrixNorm(x: Node, ord: Ord, rows: number, cols: number, keepdims: boolean): Node {
  const ax = B.abs(x);
  const squeezeBoth = (v: Node) => (keepdims ? v : B.squeeze(v, [rows, cols]));
  if (ord === 'fro' || ord === 'euclidean') return scaledNorm(x, [rows, cols], 2, keepdims);
  // Column sums' largest (1) or row sums' (inf), NumPy's induced norms; the negative orders take the smallest.
  if (ord === 1 || ord === -1) {
    const sums = B.sum(ax, rows, true);
    return squeezeBoth(ord === 1 ? B.max(sums, cols, true) : B.min(sums, cols, true));
  }
  if (ord === Infinity || ord === -Infinity) {
    const sums = B.sum(ax, cols, true);
    return squeezeBoth(ord === Infinity ? B.max(sums, rows, true) : B.min(sums, rows, true));
  }
  throw new ShapeError(
    `norm: the matrix norm ord ${String(ord)} needs singular values, which tsano does not compute yet (use 'fro', 1, -1, Infinity or -Infinity)`,
  );
}

/**
 * Vector and matrix norms (NumPy's norm, TF.js's norm): `ord` 2 / 'euclidean' (default), 1, ±Infinity,
 * 0 (the count of non-zeros), any p; over two axes 'fro', ±1, ±Infinity. No axis: the 2-norm of all
 * elements ('euclidean', 'fro'), else the vector or matrix norm of a vector or matrix. The 2-norms
 * factor out the largest magnitude, so they stay finite where Σx² would overflow.
 */
export function norm(
  x: TensorLike,
  ord: Ord = 'euclidean',
  axis?: number | readonly [number, number],
  keepdims = false,
): Node {
  const node = asNode(x);
  if (
    typeof ord === 'string' ? !['fro', 'euclidean', 'nuc'].includes(ord) : typeof ord !== 'number' || Number.isNaN(ord)
  )
    throw new ShapeError(
      `norm: ord ${JSON.stringify(ord)} is not a norm (use a number, ±Infinity, 'euclidean', 'fro' or 'nuc')`,
    );
  const fix = (a: number) => {
    if (!Number.isInteger(a) || a < -node.ndim || a >= node.ndim)
      throw new ShapeError(`norm(${describe(node)}): axis ${a} is out of range for rank ${node.ndim}`);
    return a < 0 ? a + node.ndim : a;
  };
  if (axis === undefined) {
    if (ord === 'euclidean' || ord === 'fro' || (ord === 2 && node.ndim !== 2))
      return scaledNorm(
        node,
        node.shape.map((_, i) => i),
        2,
        keepdims,
      );
    if (node.ndim === 1) return vectorNorm(node, ord, 0, keepdims);
    if (node.ndim === 2) return matrixNorm(node, ord, 0, 1, keepdims);
    throw new ShapeError(`norm(${describe(node)}): ord ${String(ord)} needs a vector or a matrix, or an axis`);
  }
  if (typeof axis === 'number') return vectorNorm(node, ord, fix(axis), keepdims);
  const [r, c] = [fix(axis[0]), fix(axis[1])];
  if (r === c) throw new ShapeError(`norm(${describe(node)}): the two axes are both ${r}`);
  return matrixNorm(node, ord, r, c, keepdims);
}
