import { allocate, type DType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { windowGeometry, type Padding } from '../geometry.js';
import { NDArray } from '../ndarray.js';
import { offsetsOver } from './layout.js';
import { transpose } from './shape.js';

type Pair = readonly [number, number];
export interface ConvParams {
  readonly strides: Pair;
  readonly padding: Padding;
  readonly dilation: Pair;
  readonly dataFormat: 'channelsLast' | 'channelsFirst';
}
export interface PoolParams {
  readonly poolSize: Pair;
  readonly strides: Pair;
  readonly padding: Padding;
  readonly dataFormat: 'channelsLast' | 'channelsFirst';
}

/** softmax or logSoftmax along one axis, max-shifted so no exp overflows. */
export function softmax(x: NDArray, axis: number, dtype: DType, log: boolean): NDArray {
  const others = x.shape.map((_, i) => i).filter((i) => i !== axis);
  const bases = offsetsOver(x.shape, others);
  const along = offsetsOver(x.shape, [axis]);
  const out = allocate(dtype, x.size);
  for (const base of bases) {
    let m = -Infinity;
    for (const o of along) m = Math.max(m, x.data[base + o]!);
    // An all -inf row has no finite maximum; shifting by 0 then gives NaN like the formula, not a fake distribution.
    const shift = Number.isFinite(m) ? m : 0;
    let s = 0;
    for (const o of along) s += Math.exp(x.data[base + o]! - shift);
    const logS = Math.log(s);
    for (const o of along) {
      const z = x.data[base + o]! - shift;
      out[base + o] = log ? z - logS : Math.exp(z) / s;
    }
  }
  return new NDArray(out, x.shape, dtype);
}

const toNHWC = (x: NDArray, format: ConvParams['dataFormat']) =>
  format === 'channelsLast' ? x : transpose(x, [0, 2, 3, 1]);
const fromNHWC = (x: NDArray, format: ConvParams['dataFormat']) =>
  format === 'channelsLast' ? x : transpose(x, [0, 3, 1, 2]);

interface Window {
  n: number;
  h: number;
  w: number;
  c: number;
  oh: number;
  ow: number;
  ph: number;
  pw: number;
}

function windowOf(
  xs: readonly number[],
  kh: number,
  kw: number,
  strides: Pair,
  dilation: Pair,
  padding: Padding,
): Window {
  const [n, h, w, c] = xs as [number, number, number, number];
  const gh = windowGeometry(h, kh, strides[0], dilation[0], padding);
  const gw = windowGeometry(w, kw, strides[1], dilation[1], padding);
  return { n, h, w, c, oh: gh.out, ow: gw.out, ph: gh.padBefore, pw: gw.padBefore };
}

/**
 * Visits every (output position, kernel tap) pair whose input position lies inside the image:
 * visit(outBase, inBase, tapI, tapJ) with element offsets of the pixel (channel 0) in NHWC layout.
 */
function forEachTap(
  win: Window,
  kh: number,
  kw: number,
  strides: Pair,
  dilation: Pair,
  outChannels: number,
  visit: (outPixel: number, inPixel: number, i: number, j: number) => void,
): void {
  for (let b = 0; b < win.n; b++) {
    for (let y = 0; y < win.oh; y++) {
      for (let x = 0; x < win.ow; x++) {
        const outPixel = ((b * win.oh + y) * win.ow + x) * outChannels;
        for (let i = 0; i < kh; i++) {
          const iy = y * strides[0] + i * dilation[0] - win.ph;
          if (iy < 0 || iy >= win.h) continue;
          for (let j = 0; j < kw; j++) {
            const ix = x * strides[1] + j * dilation[1] - win.pw;
            if (ix < 0 || ix >= win.w) continue;
            visit(outPixel, ((b * win.h + iy) * win.w + ix) * win.c, i, j);
          }
        }
      }
    }
  }
}

function checkChannels(x: NDArray, w: NDArray): void {
  if (x.shape[3] !== w.shape[2]) {
    throw new ShapeError(`input has ${x.shape[3]} channels, kernel [${w.shape.join(', ')}] expects ${w.shape[2]}`);
  }
}

export function conv2d(xIn: NDArray, w: NDArray, p: ConvParams, dtype: DType): NDArray {
  const x = toNHWC(xIn, p.dataFormat);
  checkChannels(x, w);
  const [kh, kw, cin, cout] = w.shape as [number, number, number, number];
  const win = windowOf(x.shape, kh, kw, p.strides, p.dilation, p.padding);
  const acc = new Float64Array(win.n * win.oh * win.ow * cout);
  forEachTap(win, kh, kw, p.strides, p.dilation, cout, (op, ip, i, j) => {
    const wBase = (i * kw + j) * cin * cout;
    for (let c = 0; c < cin; c++) {
      const xv = x.data[ip + c]!;
      for (let o = 0; o < cout; o++) acc[op + o]! += xv * w.data[wBase + c * cout + o]!;
    }
  });
  const out = allocate(dtype, acc.length);
  out.set(acc);
  return fromNHWC(new NDArray(out, [win.n, win.oh, win.ow, cout], dtype), p.dataFormat);
}

export function conv2dGradInput(gIn: NDArray, w: NDArray, xRef: NDArray, p: ConvParams): NDArray {
  const g = toNHWC(gIn, p.dataFormat);
  const xShape = toNHWC(xRef, p.dataFormat).shape;
  const [kh, kw, cin, cout] = w.shape as [number, number, number, number];
  const win = windowOf(xShape, kh, kw, p.strides, p.dilation, p.padding);
  const acc = new Float64Array(xRef.size);
  forEachTap(win, kh, kw, p.strides, p.dilation, cout, (op, ip, i, j) => {
    const wBase = (i * kw + j) * cin * cout;
    for (let c = 0; c < cin; c++) {
      let s = 0;
      for (let o = 0; o < cout; o++) s += g.data[op + o]! * w.data[wBase + c * cout + o]!;
      acc[ip + c]! += s;
    }
  });
  const out = allocate(g.dtype, acc.length);
  out.set(acc);
  return fromNHWC(new NDArray(out, xShape, g.dtype), p.dataFormat);
}

export function conv2dGradFilter(xIn: NDArray, gIn: NDArray, wRef: NDArray, p: ConvParams): NDArray {
  const x = toNHWC(xIn, p.dataFormat);
  const g = toNHWC(gIn, p.dataFormat);
  const [kh, kw, cin, cout] = wRef.shape as [number, number, number, number];
  const win = windowOf(x.shape, kh, kw, p.strides, p.dilation, p.padding);
  const acc = new Float64Array(wRef.size);
  forEachTap(win, kh, kw, p.strides, p.dilation, cout, (op, ip, i, j) => {
    const wBase = (i * kw + j) * cin * cout;
    for (let c = 0; c < cin; c++) {
      const xv = x.data[ip + c]!;
      for (let o = 0; o < cout; o++) acc[wBase + c * cout + o]! += xv * g.data[op + o]!;
    }
  });
  const out = allocate(g.dtype, acc.length);
  out.set(acc);
  return new NDArray(out, wRef.shape, g.dtype);
}

/** Calls `visit` for every output pixel with its window's bounds inside the image and its output offset (NHWC). */
function forEachPoolWindow(
  win: Window,
  p: PoolParams,
  visit: (w: { b: number; y0: number; y1: number; x0: number; x1: number; out: number }) => void,
): void {
  const [kh, kw] = p.poolSize;
  for (let b = 0; b < win.n; b++) {
    for (let oy = 0; oy < win.oh; oy++) {
      const y0 = Math.max(0, oy * p.strides[0] - win.ph);
      const y1 = Math.min(win.h, oy * p.strides[0] - win.ph + kh);
      for (let ox = 0; ox < win.ow; ox++) {
        const x0 = Math.max(0, ox * p.strides[1] - win.pw);
        const x1 = Math.min(win.w, ox * p.strides[1] - win.pw + kw);
        visit({ b, y0, y1, x0, x1, out: ((b * win.oh + oy) * win.ow + ox) * win.c });
      }
    }
  }
}

/** Max or average pooling; windows ignore padding (average divides by the pixels inside, as TensorFlow). */
export function pool2d(xIn: NDArray, p: PoolParams, kind: 'max' | 'avg', dtype: DType): NDArray {
  const x = toNHWC(xIn, p.dataFormat);
  const [kh, kw] = p.poolSize;
  const win = windowOf(x.shape, kh, kw, p.strides, [1, 1], p.padding);
  const { c } = win;
  const out = allocate(dtype, win.n * win.oh * win.ow * c);
  const acc = new Float64Array(c);
  forEachPoolWindow(win, p, ({ b, y0, y1, x0, x1, out: o }) => {
    acc.fill(kind === 'max' ? -Infinity : 0);
    for (let y = y0; y < y1; y++) {
      for (let xx = x0; xx < x1; xx++) {
        const base = ((b * win.h + y) * win.w + xx) * c;
        // Math.max propagates NaN, as the reference must.
        if (kind === 'max') for (let ch = 0; ch < c; ch++) acc[ch] = Math.max(acc[ch]!, x.data[base + ch]!);
        else for (let ch = 0; ch < c; ch++) acc[ch]! += x.data[base + ch]!;
      }
    }
    const count = (y1 - y0) * (x1 - x0);
    for (let ch = 0; ch < c; ch++) out[o + ch] = kind === 'max' ? acc[ch]! : acc[ch]! / count;
  });
  return fromNHWC(new NDArray(out, [win.n, win.oh, win.ow, c], dtype), p.dataFormat);
}

/** Gradient of pooling: max routes each output's gradient to the first maximum of its window (row-major scan). */
export function pool2dGrad(xIn: NDArray, gIn: NDArray, p: PoolParams, kind: 'max' | 'avg'): NDArray {
  const x = toNHWC(xIn, p.dataFormat);
  const g = toNHWC(gIn, p.dataFormat);
  const [kh, kw] = p.poolSize;
  const win = windowOf(x.shape, kh, kw, p.strides, [1, 1], p.padding);
  const { c } = win;
  const acc = new Float64Array(x.size);
  // Plain number arrays of one kind keep this loop monomorphic (operands arrive as any typed array).
  const xd = Float64Array.from(x.data);
  const gd = Float64Array.from(g.data);
  forEachPoolWindow(win, p, ({ b, y0, y1, x0, x1, out: o }) => {
    const rowBase = b * win.h;
    for (let ch = 0; ch < c; ch++) {
      const gv = gd[o + ch]!;
      if (kind === 'avg') {
        const share = gv / ((y1 - y0) * (x1 - x0));
        for (let y = y0; y < y1; y++)
          for (let xx = x0; xx < x1; xx++) acc[((rowBase + y) * win.w + xx) * c + ch]! += share;
        continue;
      }
      let best = ((rowBase + y0) * win.w + x0) * c + ch;
      for (let y = y0; y < y1; y++) {
        for (let xx = x0; xx < x1; xx++) {
          const at = ((rowBase + y) * win.w + xx) * c + ch;
          if (xd[at]! > xd[best]!) best = at;
        }
      }
      acc[best]! += gv;
    }
  });
  const out = allocate(g.dtype, acc.length);
  out.set(acc);
  return fromNHWC(new NDArray(out, x.shape, g.dtype), p.dataFormat);
}
