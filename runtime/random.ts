/** The generator's state for `seed` (the wasm kernel starts its stream from the same). */
export const initialState = (seed: number): number => (Math.floor(seed) ^ 0x9e3779b9) >>> 0;

/**
 * A generator's state that outlives any one compiled function (Theano's shared RandomState): every
 * function that draws from it continues the same sequence, and reseeding restarts it.
 */
export class RandomStream {
  private static count = 0;
  readonly uid = ++RandomStream.count;
  state: number;
  constructor(seed: number) {
    this.state = initialState(seed);
  }
  reseed(seed: number): void {
    this.state = initialState(seed);
  }
  /** Graph nodes compare their arguments as JSON: each stream is its own. */
  toJSON(): string {
    return `stream ${this.uid}`;
  }
}

/** Where a random op draws from: its own seed's stream in each function, or a stream shared by all. */
export interface DrawSource {
  readonly seed: number;
  readonly stream?: RandomStream;
}

/** A small seeded generator (mulberry32): reproducible initialisation and dropout masks across runs. */
export class Random {
  private readonly holder: { state: number };
  /** From a seed, or continuing (and advancing) a stream's state. */
  constructor(seed: number | { state: number }) {
    this.holder = typeof seed === 'number' ? { state: initialState(seed) } : seed;
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    const h = this.holder;
    let t = (h.state = (h.state + 0x6d2b79f5) >>> 0);
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
