/** Index arithmetic shared by shape inference and the kernels, so both always agree. */

/** A Python-style slice resolved against a dimension of size n. */
export interface ResolvedSlice {
  readonly start: number;
  readonly step: number;
  readonly length: number;
}

/** Python/NumPy slice semantics: negative indices count from the end, out-of-range bounds clamp. */
export function resolveSlice(n: number, start: number | null, stop: number | null, step: number): ResolvedSlice {
  if (step > 0) {
    let a = start === null ? 0 : start < 0 ? start + n : start;
    let b = stop === null ? n : stop < 0 ? stop + n : stop;
    a = Math.min(Math.max(a, 0), n);
    b = Math.min(Math.max(b, 0), n);
    return { start: a, step, length: Math.max(0, Math.ceil((b - a) / step)) };
  }
  let a = start === null ? n - 1 : start < 0 ? start + n : start;
  let b = stop === null ? -1 : stop < 0 ? stop + n : stop;
  a = Math.min(Math.max(a, -1), n - 1);
  b = Math.min(Math.max(b, -1), n - 1);
  return { start: a, step, length: Math.max(0, Math.ceil((b - a) / step)) };
}

export type Padding = 'valid' | 'same';

/** Output size and leading padding of one spatial axis of a convolution or pooling window (TensorFlow's rule). */
export function windowGeometry(
  inSize: number,
  kernel: number,
  stride: number,
  dilation: number,
  padding: Padding,
): { out: number; padBefore: number } {
  const effective = (kernel - 1) * dilation + 1;
  if (padding === 'valid') {
    return { out: Math.max(0, Math.floor((inSize - effective) / stride) + 1), padBefore: 0 };
  }
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + effective - inSize, 0);
  return { out, padBefore: Math.floor(total / 2) };
}
