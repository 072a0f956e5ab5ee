import { toposort } from '../ir/graph.js';
import type { Node } from '../ir/node.js';
import { verifyGraph } from '../ir/verify.js';
import { ConfigError } from '../../runtime/errors.js';
import { rewriteToFixedPoint, type RuleCounts } from './engine.js';
import { fuseElementwise } from './fuse.js';
import type { Rule } from './pattern.js';
import { canonicalize } from './rules/canonicalize.js';
import { specialize } from './rules/specialize.js';
import { EPILOGUE_RULE, fuseConvPooling, fuseMatmulEpilogues, POOL_RULE, type EpilogueSupport } from './epilogue.js';
import { stabilize } from './rules/stabilize.js';
import { decompose } from './rules/decompose.js';

export type OptimizerLevel = 'fast_run' | 'fast_compile' | 'none';

export interface OptimizeOptions {
  readonly level: OptimizerLevel;
  /** Rule or phase names to leave out. */
  readonly exclude: readonly string[];
  /** Keras's epsilon at compile time, for the rules that reproduce Keras's guards. */
  readonly epsilon: number;
  /** Verify graph invariants after every phase (tests turn this on). */
  readonly verify?: boolean;
  /** What the backend can compute inside its matmul kernel (no epilogue fusion without it). */
  readonly epilogues?: EpilogueSupport;
}

export interface PhaseReport {
  readonly phase: string;
  readonly nodesBefore: number;
  readonly nodesAfter: number;
  readonly ms: number;
}

export interface OptimizeResult {
  readonly roots: Node[];
  readonly counts: RuleCounts;
  readonly phases: PhaseReport[];
}

export const PHASES = ['canonicalize', 'stabilize', 'decompose', 'specialize', 'fusion', 'memory'] as const;
/** Every rule name, for validating `exclude` and for documentation. */
export const RULE_NAMES: readonly string[] = [
  ...new Set([...canonicalize, ...stabilize, ...decompose, ...specialize].map((r) => r.name)),
  'elementwise_fusion',
  EPILOGUE_RULE,
  POOL_RULE,
];

function checkExclude(exclude: readonly string[]): void {
  const known = new Set<string>([...PHASES, ...RULE_NAMES]);
  for (const name of exclude) {
    if (!known.has(name))
      throw new ConfigError(`compile: exclude names an unknown rewrite '${name}' (known: ${[...known].join(', ')})`);
  }
}

/** The optimizer: named phases in order, each a fixed point of its rule set. */
export function optimize(roots: readonly Node[], options: OptimizeOptions): OptimizeResult {
  checkExclude(options.exclude);
  const excluded = new Set(options.exclude);
  const counts: RuleCounts = {};
  const phases: PhaseReport[] = [];
  const ctx = { epsilon: options.epsilon };
  let current = [...roots];
  const keep = (rules: readonly Rule[]) => rules.filter((r) => !excluded.has(r.name));
  const phase = (name: string, run: (g: Node[]) => Node[]) => {
    if (excluded.has(name)) return;
    const started = performance.now();
    const before = toposort(current).length;
    current = run(current);
    if (options.verify) verifyGraph(current, name);
    phases.push({
      phase: name,
      nodesBefore: before,
      nodesAfter: toposort(current).length,
      ms: performance.now() - started,
    });
  };
  const rewrite = (rules: readonly Rule[]) => (g: Node[]) => rewriteToFixedPoint(g, keep(rules), ctx, counts);

  // Composite ops become the primitives the backends implement: a lowering, so at every level, after the stability rules saw them.
  const lowerComposites = () => phase('decompose', rewrite(decompose));
  if (options.level === 'none') {
    lowerComposites();
    return { roots: current, counts, phases };
  }
  // One normal form (constants folded and on the right, no-op ops gone), so later patterns match fewer shapes; merging is free (interned nodes).
  phase('canonicalize', rewrite(canonicalize));
  if (options.level === 'fast_compile') {
    lowerComposites();
    return { roots: current, counts, phases };
  }
  // Exact identities before anything reorders arithmetic; canonical rules clean up what they leave (e.g. -(-x)).
  phase('stabilize', rewrite([...stabilize, ...canonicalize]));
  lowerComposites();
  // Cheaper spellings once the math is settled.
  phase('specialize', rewrite([...specialize, ...canonicalize]));
  // Last: fused nodes hide structure from every rule above.
  phase('fusion', (g) => {
    const fused = excluded.has('elementwise_fusion') ? g : fuseElementwise(g, counts);
    if (!options.epilogues || excluded.has(EPILOGUE_RULE)) return fused;
    const withEpilogues = fuseMatmulEpilogues(fused, counts, options.epilogues);
    return excluded.has(POOL_RULE) ? withEpilogues : fuseConvPooling(withEpilogues, counts);
  });
  return { roots: current, counts, phases };
}

/**
 * The cost as `T.grad` differentiates it: canonical and stabilized with Keras's epsilon in force, so the
 * gradient is that of the exact form the compiled value uses (not of an overflowing or clipped spelling).
 */
export function stabilizeForGradient(roots: readonly Node[], epsilon: number, verify = false): Node[] {
  return optimize(roots, { level: 'fast_run', exclude: ['decompose', 'specialize', 'fusion'], epsilon, verify }).roots;
}
