import { windowGeometry, type Padding } from '../../runtime/geometry.js';
import type { ConvArgs, DataFormat, PoolArgs } from '../../runtime/program.js';
import { TypeRuleError, type Dim, type Shape } from './type.js';

export type { ConvArgs, DataFormat, PoolArgs };

/** Positions of the height, width and channel axes of a rank-4 image tensor. */
export function imageAxes(format: DataFormat): { h: number; w: number; c: number } {
  return format === 'channelsLast' ? { h: 1, w: 2, c: 3 } : { h: 2, w: 3, c: 1 };
}

function spatial(size: Dim, k: number, s: number, d: number, padding: Padding): Dim {
  if (size === null) return null;
  const { out } = windowGeometry(size, k, s, d, padding);
  if (out <= 0)
    throw new TypeRuleError(
      `window of ${k} (dilation ${d}) does not fit an input of size ${size} with padding '${padding}'`,
    );
  return out;
}

function checkPositive(values: readonly number[], what: string): void {
  if (values.length !== 2 || values.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new TypeRuleError(`${what} must be two positive integers, got [${values.join(', ')}]`);
  }
}

export function convOutputShape(x: Shape, w: Shape, a: ConvArgs): Dim[] {
  checkPositive(a.strides, 'strides');
  checkPositive(a.dilation, 'dilation');
  const ax = imageAxes(a.dataFormat);
  const cin = x[ax.c]!;
  if (cin !== null && w[2] !== null && cin !== w[2]) {
    throw new TypeRuleError(`input has ${cin} channels, kernel expects ${w[2]}`);
  }
  const [kh, kw] = [w[0]!, w[1]!];
  if (kh === null || kw === null) throw new TypeRuleError('kernel height and width must be known');
  const h = spatial(x[ax.h]!, kh, a.strides[0], a.dilation[0], a.padding);
  const wd = spatial(x[ax.w]!, kw, a.strides[1], a.dilation[1], a.padding);
  return a.dataFormat === 'channelsLast' ? [x[0]!, h, wd, w[3]!] : [x[0]!, w[3]!, h, wd];
}

export function poolOutputShape(x: Shape, a: PoolArgs): Dim[] {
  if (x.length !== 4) throw new TypeRuleError(`input must be rank 4, got rank ${x.length}`);
  checkPositive(a.poolSize, 'poolSize');
  checkPositive(a.strides, 'strides');
  const ax = imageAxes(a.dataFormat);
  const out = [...x];
  out[ax.h] = spatial(x[ax.h]!, a.poolSize[0], a.strides[0], 1, a.padding);
  out[ax.w] = spatial(x[ax.w]!, a.poolSize[1], a.strides[1], 1, a.padding);
  return out;
}
