import * as T from 'tsano';

/**
 * Theano's logistic regression step, as its tutorial writes it: softmax, its negative log-likelihood,
 * and SGD updates of W [features, classes] and b (a graph with shared variables and updates).
 */
export async function logisticStep(features = 4, classes = 3) {
  const x = T.matrix('x');
  const y = T.ivector('y');
  const w = T.shared(T.zeros([features, classes]), 'W');
  const b = T.shared(T.zeros([classes]), 'b');
  const p = T.softmax(T.add(T.dot(x, w), b));
  const cost = T.neg(T.mean(T.log(T.index(p, T.arange(T.shape(p, 0)), y))));
  const [gw, gb] = T.grad(cost, [w, b]);
  return T.compile([x, y], cost, {
    updates: [
      [w, T.sub(w, T.mul(gw!, 0.1))],
      [b, T.sub(b, T.mul(gb!, 0.1))],
    ],
  });
}
