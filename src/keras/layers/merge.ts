import * as T from '../../index.js';
import { ShapeError } from '../../../runtime/errors.js';
import { Layer, type LayerArgs, type Shape } from './layer.js';

abstract class Merge extends Layer {
  protected inputsOf(x: T.Node | T.Node[]): T.Node[] {
    if (!Array.isArray(x) || x.length < 2)
      throw new ShapeError(`${this.name}: a merge layer takes an array of at least two tensors`);
    return x;
  }
  computeOutputShape(s: Shape): Shape {
    return s;
  }
  getConfig() {
    return { name: this.name };
  }
}

/** A merge that folds its inputs pairwise with one elementwise op. */
abstract class Fold extends Merge {
  constructor(
    className: string,
    args: LayerArgs,
    private readonly combine: (a: T.Node, b: T.Node) => T.Node,
  ) {
    super(className, args);
  }
  protected forward(x: T.Node | T.Node[]): T.Node {
    return this.inputsOf(x).reduce((a, b) => this.combine(a, b));
  }
}

/** Elementwise sum of its inputs. */
export class Add extends Fold {
  constructor(args: LayerArgs = {}) {
    super('Add', args, T.add);
  }
}

/** Elementwise product of its inputs. */
export class Multiply extends Fold {
  constructor(args: LayerArgs = {}) {
    super('Multiply', args, T.mul);
  }
}

/** Concatenation along `axis` (the last by default). */
export class Concatenate extends Merge {
  constructor(private readonly args: LayerArgs & { axis?: number } = {}) {
    super('Concatenate', args);
  }
  protected forward(x: T.Node | T.Node[]): T.Node {
    return T.concat(this.inputsOf(x), this.args.axis ?? -1);
  }
  override computeOutputShape(s: Shape): Shape {
    return s.map(() => null);
  }
  override getConfig() {
    return { name: this.name, axis: this.args.axis ?? -1 };
  }
}

/** The first input minus the second (exactly two). */
export class Subtract extends Merge {
  constructor(args: LayerArgs = {}) {
    super('Subtract', args);
  }
  protected forward(x: T.Node | T.Node[]): T.Node {
    const inputs = this.inputsOf(x);
    if (inputs.length !== 2)
      throw new ShapeError(`${this.name}: subtract takes exactly two tensors, got ${inputs.length}`);
    return T.sub(inputs[0]!, inputs[1]!);
  }
}

/** Elementwise mean of its inputs. */
export class Average extends Fold {
  constructor(args: LayerArgs = {}) {
    super('Average', args, T.add);
  }
  protected override forward(x: T.Node | T.Node[]): T.Node {
    const inputs = this.inputsOf(x);
    return T.div(super.forward(inputs), inputs.length);
  }
}

/** Elementwise maximum of its inputs. */
export class Maximum extends Fold {
  constructor(args: LayerArgs = {}) {
    super('Maximum', args, T.maximum);
  }
}

/** Elementwise minimum of its inputs. */
export class Minimum extends Fold {
  constructor(args: LayerArgs = {}) {
    super('Minimum', args, T.minimum);
  }
}

/**
 * Keras's Dot: products of samples of two inputs summed over `axes` (one axis each, or one for
 * both), optionally of their L2-normalized values (cosine similarity). Matrices [batch, d] give
 * [batch, 1]; [batch, n, d] with [batch, m, d] over the last axes give [batch, n, m].
 */
export class Dot extends Merge {
  private readonly axes: readonly [number, number];
  constructor(private readonly args: LayerArgs & { axes: number | readonly [number, number]; normalize?: boolean }) {
    super('Dot', args);
    this.axes = typeof args.axes === 'number' ? [args.axes, args.axes] : args.axes;
  }
  protected forward(x: T.Node | T.Node[]): T.Node {
    const inputs = this.inputsOf(x);
    if (inputs.length !== 2) throw new ShapeError(`${this.name}: dot takes exactly two tensors, got ${inputs.length}`);
    let [a, b] = inputs as [T.Node, T.Node];
    const [ia, ib] = this.axes.map((axis, k) => (axis < 0 ? axis + inputs[k]!.ndim : axis)) as [number, number];
    if (this.args.normalize) {
      const unit = (t: T.Node, axis: number) => T.mul(t, T.rsqrt(T.maximum(T.sum(T.square(t), axis, true), 1e-12)));
      [a, b] = [unit(a, ia), unit(b, ib)];
    }
    if (a.ndim === 2 && b.ndim === 2) return T.sum(T.mul(a, b), 1, true);
    if (a.ndim !== 3 || b.ndim !== 3 || ia === 0 || ib === 0)
      throw new ShapeError(`${this.name}: dot supports two matrices or two rank-3 tensors over a non-batch axis`);
    return T.matmul(a, b, { ...(ia === 1 ? { transposeA: true } : {}), ...(ib === 2 ? { transposeB: true } : {}) });
  }
  override computeOutputShape(s: Shape): Shape {
    return s.map(() => null);
  }
  override getConfig() {
    return { name: this.name, axes: this.axes, normalize: this.args.normalize ?? false };
  }
}
