/** Layers that move data without weights: repeat, permute, pad, crop, upsample, and global max/average pooling. */
import * as T from '../../index.js';
import { imageDataFormat, type DataFormat } from '../../../runtime/config.js';
import { ConfigError, ShapeError } from '../../../runtime/errors.js';
import { axes, snakeFormat } from './conv.js';
import { knownSize, Layer, positiveInt, type LayerArgs, type Shape } from './layer.js';

type Pairs = readonly [readonly [number, number], readonly [number, number]];

/** Keras's spellings of a 2-D amount: n, [rows, cols], or [[top, bottom], [left, right]]. */
function pairs(value: number | readonly number[] | Pairs | undefined, fallback: number, what: string): Pairs {
  const v = value ?? fallback;
  const nonNegative = (n: unknown) => {
    if (!Number.isInteger(n) || (n as number) < 0)
      throw new ConfigError(`${what} must be non-negative integers, got ${JSON.stringify(value)}`);
    return n as number;
  };
  if (typeof v === 'number')
    return [
      [nonNegative(v), v],
      [v, v],
    ];
  if (Array.isArray(v) && v.length === 2 && v.every((p) => typeof p === 'number')) {
    const [r, c] = (v as number[]).map(nonNegative) as [number, number];
    return [
      [r, r],
      [c, c],
    ];
  }
  if (Array.isArray(v) && v.length === 2 && v.every((p) => Array.isArray(p) && p.length === 2)) {
    const [rows, cols] = v as unknown as Pairs;
    return [
      [nonNegative(rows[0]), nonNegative(rows[1])],
      [nonNegative(cols[0]), nonNegative(cols[1])],
    ];
  }
  throw new ConfigError(
    `${what}: expected n, [rows, cols] or [[top, bottom], [left, right]], got ${JSON.stringify(value)}`,
  );
}

/** [batch, d] to [batch, n, d]: each sample repeated n times. */
export class RepeatVector extends Layer {
  private readonly n: number;
  constructor(args: LayerArgs & { n: number }) {
    super('RepeatVector', args);
    this.n = positiveInt(args.n, 'repeatVector: n');
  }
  protected forward(x: T.Node): T.Node {
    return T.mul(T.expandDims(x, 1), T.ones([1, this.n, 1], x.dtype));
  }
  computeOutputShape(s: Shape): Shape {
    return [s[0] ?? null, this.n, s[1] ?? null];
  }
  getConfig() {
    return { name: this.name, n: this.n };
  }
}

/** The non-batch axes reordered: `dims` are 1-based, as in Keras. */
export class Permute extends Layer {
  constructor(private readonly args: LayerArgs & { dims: readonly number[] }) {
    super('Permute', args);
    const sorted = [...(args.dims ?? [])].sort((a, b) => a - b);
    if (!sorted.length || sorted.some((d, i) => d !== i + 1))
      throw new ConfigError(`permute: dims must be a permutation of 1..n, got ${JSON.stringify(args.dims)}`);
  }
  protected forward(x: T.Node): T.Node {
    return T.transpose(x, [0, ...this.args.dims]);
  }
  computeOutputShape(s: Shape): Shape {
    return [s[0] ?? null, ...this.args.dims.map((d) => s[d] ?? null)];
  }
  getConfig() {
    return { name: this.name, dims: this.args.dims };
  }
}

abstract class Spatial2D extends Layer {
  protected readonly format: DataFormat;
  constructor(className: string, args: LayerArgs & { dataFormat?: DataFormat }) {
    super(className, args);
    this.format = args.dataFormat ?? imageDataFormat();
  }
  /** One value per axis of an image: `rows` at the rows' axis, `cols` at the columns', `other` elsewhere. */
  protected perAxis<V>(rows: V, cols: V, other: V): V[] {
    const a = axes(this.format);
    return [0, 1, 2, 3].map((i) => (i === a.h ? rows : i === a.w ? cols : other));
  }
  /** Each axis's new size from its old one: rows and columns by `f`, the rest as they are. */
  protected mapped(s: Shape, f: (d: number, axis: 0 | 1) => number): Shape {
    const a = axes(this.format);
    return s.map((d, i) => (d === null || (i !== a.h && i !== a.w) ? d : f(d, i === a.h ? 0 : 1)));
  }
}

/** Zeros added around the rows and columns of images. */
export class ZeroPadding2D extends Spatial2D {
  private readonly padding: Pairs;
  constructor(args: LayerArgs & { padding?: number | readonly number[] | Pairs; dataFormat?: DataFormat } = {}) {
    super('ZeroPadding2D', args);
    this.padding = pairs(args.padding, 1, 'zeroPadding2d: padding');
  }
  protected forward(x: T.Node): T.Node {
    return T.pad(x, this.perAxis<readonly [number, number]>(this.padding[0], this.padding[1], [0, 0]));
  }
  computeOutputShape(s: Shape): Shape {
    return this.mapped(s, (d, k) => d + this.padding[k][0] + this.padding[k][1]);
  }
  getConfig() {
    return { name: this.name, padding: this.padding, data_format: snakeFormat(this.format) };
  }
}

/** Rows and columns cut from the edges of images. */
export class Cropping2D extends Spatial2D {
  private readonly cropping: Pairs;
  constructor(args: LayerArgs & { cropping?: number | readonly number[] | Pairs; dataFormat?: DataFormat } = {}) {
    super('Cropping2D', args);
    this.cropping = pairs(args.cropping, 0, 'cropping2d: cropping');
  }
  protected forward(x: T.Node): T.Node {
    const cut = ([before, after]: readonly [number, number]) => `${before}:${after ? -after : ''}`;
    return T.index(x, ...this.perAxis(cut(this.cropping[0]), cut(this.cropping[1]), ':'));
  }
  computeOutputShape(s: Shape): Shape {
    return this.mapped(s, (d, k) => d - this.cropping[k][0] - this.cropping[k][1]);
  }
  getConfig() {
    return { name: this.name, cropping: this.cropping, data_format: snakeFormat(this.format) };
  }
}

/** Keras's CenterCrop: the central height × width of each image (images at least that large). */
export class CenterCrop extends Spatial2D {
  readonly height: number;
  readonly width: number;
  constructor(args: LayerArgs & { height: number; width: number; dataFormat?: DataFormat }) {
    super('CenterCrop', args);
    this.height = positiveInt(args.height, 'centerCrop: height');
    this.width = positiveInt(args.width, 'centerCrop: width');
  }
  protected forward(x: T.Node): T.Node {
    const a = axes(this.format);
    const cut = (axis: number, size: number, what: string) => {
      const d = knownSize(x.shape[axis], `centerCrop ${this.name}: the images' ${what}`);
      if (d < size)
        throw new ShapeError(
          `centerCrop ${this.name}: images of ${what} ${d} are smaller than the crop's ${size} (Keras would resize them; resize first)`,
        );
      const start = Math.floor((d - size) / 2);
      return `${start}:${start + size}`;
    };
    return T.index(x, ...this.perAxis(cut(a.h, this.height, 'height'), cut(a.w, this.width, 'width'), ':'));
  }
  computeOutputShape(s: Shape): Shape {
    return this.mapped(s, (_d, k) => (k === 0 ? this.height : this.width));
  }
  getConfig() {
    return { name: this.name, height: this.height, width: this.width, data_format: snakeFormat(this.format) };
  }
}

/** Nearest-neighbour upsampling: each row repeated size[0] times, each column size[1] times. */
export class UpSampling2D extends Spatial2D {
  private readonly size: readonly [number, number];
  constructor(
    args: LayerArgs & {
      size?: number | readonly [number, number];
      dataFormat?: DataFormat;
      interpolation?: 'nearest';
    } = {},
  ) {
    super('UpSampling2D', args);
    if (args.interpolation !== undefined && args.interpolation !== 'nearest')
      throw new ConfigError(`upSampling2d: interpolation '${String(args.interpolation)}' is not supported (nearest)`);
    const size = args.size ?? 2;
    this.size = typeof size === 'number' ? [size, size] : size;
    this.size.forEach((v) => positiveInt(v, 'upSampling2d: size'));
  }
  protected forward(x: T.Node): T.Node {
    const a = axes(this.format);
    const s = x.shape.map((d, i) => (i === 0 ? -1 : knownSize(d, `upSampling2d ${this.name}: axis ${i}`)));
    // Each image axis gets a repeat axis after it; multiplying by ones spreads the values over it.
    const spread = s.flatMap((d, i) => (i === a.h || i === a.w ? [d, 1] : [d]));
    const ones = s.flatMap((_, i) => (i === a.h ? [1, this.size[0]] : i === a.w ? [1, this.size[1]] : [1]));
    const grown = T.mul(T.reshape(x, spread), T.ones(ones, x.dtype));
    return T.reshape(
      grown,
      s.map((d, i) => (i === a.h ? d * this.size[0] : i === a.w ? d * this.size[1] : d)),
    );
  }
  computeOutputShape(s: Shape): Shape {
    return this.mapped(s, (d, k) => d * this.size[k]);
  }
  getConfig() {
    return { name: this.name, size: this.size, data_format: snakeFormat(this.format), interpolation: 'nearest' };
  }
}

/** Max or mean over the steps of sequences ([batch, steps, channels]) or the pixels of images. */
abstract class GlobalPooling extends Layer {
  protected readonly format: DataFormat;
  constructor(
    className: string,
    args: LayerArgs & { dataFormat?: DataFormat },
    private readonly rank: 1 | 2,
    private readonly reduce: (x: T.Node, axes: number[]) => T.Node,
  ) {
    super(className, args);
    this.format = args.dataFormat ?? (rank === 1 ? 'channelsLast' : imageDataFormat());
  }
  private reduced(): number[] {
    const first = this.format === 'channelsLast' ? 1 : 2;
    return this.rank === 1 ? [first] : [first, first + 1];
  }
  protected forward(x: T.Node): T.Node {
    return this.reduce(x, this.reduced());
  }
  computeOutputShape(s: Shape): Shape {
    const gone = new Set(this.reduced());
    return s.filter((_, i) => !gone.has(i));
  }
  getConfig() {
    return { name: this.name, data_format: snakeFormat(this.format) };
  }
}

export class GlobalMaxPooling1D extends GlobalPooling {
  constructor(args: LayerArgs & { dataFormat?: DataFormat } = {}) {
    super('GlobalMaxPooling1D', args, 1, (x, a) => T.max(x, a));
  }
}
export class GlobalMaxPooling2D extends GlobalPooling {
  constructor(args: LayerArgs & { dataFormat?: DataFormat } = {}) {
    super('GlobalMaxPooling2D', args, 2, (x, a) => T.max(x, a));
  }
}
export class GlobalAveragePooling1D extends GlobalPooling {
  constructor(args: LayerArgs & { dataFormat?: DataFormat } = {}) {
    super('GlobalAveragePooling1D', args, 1, (x, a) => T.mean(x, a));
  }
}
