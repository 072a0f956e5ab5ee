import fc from 'fast-check';
import { size } from './naive.js';

/** Values that break naive numerics: signed zeros, infinities, NaN, huge and tiny magnitudes. */
export const SPECIAL_VALUES = [
  0,
  -0,
  1,
  -1,
  Infinity,
  -Infinity,
  NaN,
  1e30,
  -1e30,
  1e-30,
  -1e-30,
  88.8,
  -103.9,
  710,
  -745,
];

export const anyValue = fc.oneof(
  { weight: 6, arbitrary: fc.double({ min: -10, max: 10, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(...SPECIAL_VALUES) },
);

export const dim = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 4 }) },
  { weight: 1, arbitrary: fc.constant(0) },
);
export const shapeArb = (maxRank = 4) => fc.array(dim, { minLength: 0, maxLength: maxRank });
export const nonEmptyShape = (minRank = 0, maxRank = 4) =>
  fc.array(fc.integer({ min: 1, max: 4 }), { minLength: minRank, maxLength: maxRank });

/** A full shape and `count` operand shapes that broadcast to it (leading axes dropped, some axes set to 1). */
export function broadcastingShapes(count: number) {
  return shapeArb().chain((full) =>
    fc
      .tuple(
        ...Array.from({ length: count }, () =>
          fc.tuple(
            fc.integer({ min: 0, max: full.length }),
            fc.array(fc.boolean(), { minLength: full.length, maxLength: full.length }),
          ),
        ),
      )
      .map((specs) => specs.map(([drop, ones]) => full.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)))),
  );
}

/** Data for a shape drawn from `values`. */
export const dataFor = (shape: readonly number[], values: fc.Arbitrary<number> = anyValue) =>
  fc.array(values, { minLength: size(shape), maxLength: size(shape) });

export const inRange = (lo: number, hi: number) =>
  fc.double({ min: lo, max: hi, noNaN: true, noDefaultInfinity: true });
