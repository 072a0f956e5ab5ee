/** float32 agreement: same NaN positions and infinities, finite values within a few float32 ulps of scale. */
export function agreeF32(wasm: ArrayLike<number>, js: ArrayLike<number>, rtol = 1e-4, atol = 1e-5): string | undefined {
  if (wasm.length !== js.length) return `lengths differ: wasm ${wasm.length}, js ${js.length}`;
  for (let i = 0; i < js.length; i++) {
    const [a, b] = [wasm[i]!, js[i]!];
    if (Number.isNaN(a) || Number.isNaN(b) || !Number.isFinite(a) || !Number.isFinite(b)) {
      if (!(Object.is(a, b) || a === b || (Number.isNaN(a) && Number.isNaN(b)))) return `at ${i}: wasm ${a}, js ${b}`;
      continue;
    }
    if (Math.abs(a - b) > rtol * Math.abs(b) + atol) return `at ${i}: wasm ${a}, js ${b}`;
  }
  return undefined;
}
