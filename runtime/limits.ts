import { ShapeError } from './errors.js';

/**
 * The largest array tsano creates: 2 GiB. Every engine allocates a typed array this big, and it leaves room
 * for operands in a wasm32 memory (4 GiB in all). Anything larger is refused before any work or allocation.
 */
export const MAX_ARRAY_BYTES = 2 ** 31;

const BYTES = { float32: 4, float64: 8, int32: 4, bool: 1 } as const;

/** "8 GiB", "512 MiB", "96 bytes". */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0
    ? `${bytes} bytes`
    : `${v >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(3)} ${units[u]}`;
}

/** 12345, 2.5e9. */
const formatCount = (n: number) => (n < 1e6 ? String(n) : n.toExponential(2).replace(/\.?0*e\+?/, 'e'));

/** Why an array of `elements` of `dtype` cannot be made, or undefined when it can. */
export function oversize(elements: number, dtype: keyof typeof BYTES): string | undefined {
  const bytes = elements * BYTES[dtype];
  if (bytes <= MAX_ARRAY_BYTES) return undefined;
  return `${formatCount(elements)} elements of ${dtype} (${formatBytes(bytes)}), more than one array may hold (${formatBytes(MAX_ARRAY_BYTES)})`;
}

/** The element count of `shape`, after checking it lists non-negative integers and fits in one array. */
export function checkedSize(shape: readonly number[], dtype: keyof typeof BYTES, where: string): number {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(`${where}: shape must list non-negative integers, got ${JSON.stringify(shape)}`);
  }
  const size = shape.reduce((a, b) => a * b, 1);
  const why = oversize(size, dtype);
  if (why) throw new ShapeError(`${where}: shape [${shape.join(', ')}] has ${why}`);
  return size;
}
