/** Timing helpers of the benchmark scripts: medians of repeated calls after a warm-up. */
export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** ms of `f` per call: the median of `repeats` calls after one. */
export function steady(f: () => unknown, repeats = 5): number {
  f();
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    f();
    times.push(performance.now() - t);
  }
  return median(times);
}

/** `steady` for a call that answers with a promise (ONNX Runtime's `run`). */
export async function steadyAsync(f: () => Promise<unknown>, repeats = 5): Promise<number> {
  await f();
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    await f();
    times.push(performance.now() - t);
  }
  return median(times);
}
