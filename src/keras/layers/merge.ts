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

/** Elementwise sum of its inputs. */
export class Add extends Merge {
  constructor(args: LayerArgs = {}) {
    super('Add', args);
  }
  protected forward(x: T.Node | T.Node[]): T.Node {
    return this.inputsOf(x).reduce((a, b) => T.add(a, b));
  }
}

/** Elementwise product of its inputs. */
export class Multiply extends Merge {
  constructor(args: LayerArgs = {}) {
    super('Multiply', args);
  }
  protected forward(x: T.Node | T.Node[]): T.Node {
    return this.inputsOf(x).reduce((a, b) => T.mul(a, b));
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
export class Average extends Merge {
  constructor(args: LayerArgs = {}) {
    super('Average', args);
  }
  protected forward(x: T.Node | T.Node[]): T.Node {
    const inputs = this.inputsOf(x);
    return T.div(
      inputs.reduce((a, b) => T.add(a, b)),
      inputs.length,
    );
  }
}

/** Elementwise maximum of its inputs. */
export class Maximum extends Merge {
  constructor(args: LayerArgs = {}) {
    super('Maximum', args);
  }
  protected forward(x: T.Node | T.Node[]): T.Node {
    return this.inputsOf(x).reduce((a, b) => T.maximum(a, b));
  }
}

/** Elementwise minimum of its inputs. */
export class Minimum extends Merge {
  constructor(args: LayerArgs = {}) {
    super('Minimum', args);
  }
  protected forward(x: T.Node | T.Node[]): T.Node {
    return this.inputsOf(x).reduce((a, b) => T.minimum(a, b));
  }
}
