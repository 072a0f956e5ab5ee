/** The generator's state for `seed` (the wasm kernel starts its stream from the same). */
export const initialState = (seed: number): number => (Math.floor(seed) ^ 0x9e3779b9) >>> 0;

/** A small seeded generator (mulberry32): reproducible initialisation and dropout masks across runs. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = initialState(seed);
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
}

let autoSeed = 1;
/** A seed for callers that did not give one: deterministic per process, different per call. */
export function nextSeed(): number {
  return autoSeed++ * 7919;
}
