import * as T from '../index.js';

/** Options of the define-and-compile demo. */
export interface LogisticDemoOptions {
  samples?: number;
  features?: number;
  steps?: number;
  learningRate?: number;
  seed?: number;
  log?: (line: string) => void;
}

/**
 * Logistic regression trained with T.grad and updates on generated, linearly separable data:
 * the smallest complete define-differentiate-compile-train loop. Returns the loss per step and the final accuracy.
 */
export async function runLogisticDemo(
  options: LogisticDemoOptions = {},
): Promise<{ losses: number[]; accuracy: number }> {
  const { samples = 512, features = 8, steps = 30, learningRate = 0.5, seed = 7, log = console.log } = options;
  const trueW = T.randomNormal([features, 1], { seed });
  const xData = T.randomNormal([samples, features], { seed: seed + 1 });
  const yData = T.array(matVec(xData, trueW).map((v) => [v > 0 ? 1 : 0]));

  const x = T.matrix('x');
  const y = T.matrix('y');
  const w = T.shared(T.zeros([features, 1]), 'w');
  const b = T.shared(T.zeros([1]), 'b');
  const p = T.sigmoid(T.dot(x, w).add(b));
  // Binary crossentropy on probabilities, as users write it.
  const loss = T.mean(
    y
      .mul(T.log(p))
      .add(T.sub(1, y).mul(T.log(T.sub(1, p))))
      .neg(),
  );
  const [gw, gb] = T.grad(loss, [w, b]);
  const train = await T.compile([x, y], loss, {
    updates: [
      [w, w.sub(gw!.mul(learningRate))],
      [b, b.sub(gb!.mul(learningRate))],
    ],
  });
  const predict = await T.compile([x], T.gt(p, 0.5));

  const losses: number[] = [];
  for (let step = 1; step <= steps; step++) {
    const value = (train(xData, yData) as T.NDArray).item();
    losses.push(value);
    log(`step ${String(step).padStart(3)}  loss ${value.toFixed(4)}`);
  }
  const predicted = predict(xData) as T.NDArray;
  let correct = 0;
  predicted.data.forEach((v, i) => (correct += v === yData.data[i] ? 1 : 0));
  const accuracy = correct / samples;
  log(`accuracy on the training data: ${(accuracy * 100).toFixed(1)}%`);
  return { losses, accuracy };
}

function matVec(x: T.NDArray, w: T.NDArray): number[] {
  const [n, k] = x.shape as [number, number];
  return Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let j = 0; j < k; j++) s += x.data[i * k + j]! * w.data[j]!;
    return s;
  });
}
