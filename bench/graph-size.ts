/**
 * How graph building and compiling grow with the graph (docs/reliability.md): a chain and a wide
 * graph of 1,000, 10,000 and 100,000 elementwise nodes, built and compiled for the reference
 * interpreter (`mode: 'js'`), so the figures are tsano's own optimizer and scheduler, not V8's wasm
 * compiler. "x linear" is the time per node against the 1,000-node graph's: 1 is linear.
 */
import type * as TsanoModule from '../src/index.js';

type T = typeof TsanoModule;
type Shape = 'chain' | 'wide';

/** A graph of about `nodes` nodes: a chain y = tanh(y * c + d), or a sum of tanh(x * c_i) terms. */
function graphOf(T: T, shape: Shape, nodes: number) {
  const x = T.vector('x');
  let y: TsanoModule.Node = x;
  if (shape === 'chain') for (let i = 0; i < nodes / 3; i++) y = T.tanh(y.mul(1 + i * 1e-6).add(0.1));
  else {
    y = T.tanh(x);
    for (let i = 1; i < nodes / 3; i++) y = y.add(T.tanh(x.mul(1 + i * 1e-6)));
  }
  return { x, y };
}

export async function graphSizeBench(T: T): Promise<void> {
  console.log('\ngraph size: build and compile (mode js), per node against the 1,000-node graph');
  console.log('graph | nodes | build ms | compile ms | build µs/node | compile µs/node | x linear (build, compile)');
  for (const shape of ['chain', 'wide'] as const) {
    let first: { build: number; compile: number } | undefined;
    for (const nodes of [1_000, 10_000, 100_000]) {
      const started = performance.now();
      const { x, y } = graphOf(T, shape, nodes);
      const built = performance.now();
      await T.compile([x], y, { mode: 'js' });
      const compiled = performance.now();
      const perNode = { build: ((built - started) * 1000) / nodes, compile: ((compiled - built) * 1000) / nodes };
      first ??= perNode;
      console.log(
        [
          shape,
          nodes,
          (built - started).toFixed(0),
          (compiled - built).toFixed(0),
          perNode.build.toFixed(1),
          perNode.compile.toFixed(1),
          `${(perNode.build / first.build).toFixed(2)}, ${(perNode.compile / first.compile).toFixed(2)}`,
        ].join(' | '),
      );
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await graphSizeBench(await import('../src/index.js'));
