import * as B from '../../ir/build.js';
import { Node } from '../../ir/node.js';
import type { ReduceArgs } from '../../ir/ops.js';
import {
  cap,
  constant,
  constantValue,
  named,
  op,
  rule,
  type Bindings,
  type Pattern,
  type RewriteContext,
  type Rule,
} from '../pattern.js';
import { cannotWiden, isClose, scalarConst, uniformValue } from './helpers.js';

const x = cap('x');
const one = constantValue(1, 'one');
const minusOne = constantValue(-1, 'one');

/** Builds only when the constant `one` cannot widen `x` (so the replacement keeps the node's shape). */
const narrow = (build: (m: Bindings, node: Node) => Node | undefined) => (m: Bindings, node: Node) =>
  (m.one && !cannotWiden(m.one, m.x!)) || (m.c && !cannotWiden(m.c, m.x!)) || m.x!.dtype !== node.dtype
    ? undefined
    : build(m, node);

const axisOf = (n: Node) => (n as Node<'softmax'>).args.axis;
const reduceArgs = (n: Node) => (n as Node<'sum'>).args as ReduceArgs;

/** Keras's clip bounds: epsilon and 1 - epsilon, with epsilon the value in force at compile time. */
const epsilonConst = (name: string) => constant(() => true, name);
const isEpsilon = (c: Node | undefined, ctx: RewriteContext) => {
  const v = c && uniformValue(c);
  return v !== undefined && isClose(v, ctx.epsilon);
};
const isOneMinusEpsilon = (c: Node | undefined, ctx: RewriteContext) => {
  const v = c && uniformValue(c);
  // A quarter of epsilon separates 1 - eps from 1 and absorbs float32 rounding of the constant.
  return v !== undefined && Math.abs(v - (1 - ctx.epsilon)) <= ctx.epsilon / 4;
};

/** sigmoid(z), or Keras's clip(sigmoid(z), eps, 1 - eps). */
const probabilityForms = (inner: Pattern): Pattern[] => [
  inner,
  op('clip', inner, epsilonConst('lo'), epsilonConst('hi')),
];
const clipOk = (m: Bindings, ctx: RewriteContext) =>
  m.lo === undefined || (isEpsilon(m.lo, ctx) && isOneMinusEpsilon(m.hi, ctx));
const epsOk = (m: Bindings, ctx: RewriteContext) => m.eps === undefined || isEpsilon(m.eps, ctx);

/** log(p), log(p + eps), log(1 - p), log(1 - p + eps) for every probability form p of sigmoid(z). */
function binaryCrossentropyRules(): Rule[] {
  const rules: Rule[] = [];
  probabilityForms(op('sigmoid', cap('z'))).forEach((p, k) => {
    const clipped = k === 1 ? '_clipped' : '';
    const logP = [op('log', p), op('log', op('add', p, epsilonConst('eps')))];
    const logQ = [
      op('log', op('sub', constantValue(1), p)),
      op('log', op('add', op('sub', constantValue(1), p), epsilonConst('eps'))),
    ];
    logP.forEach((pattern, e) => {
      const name = `keras_log_sigmoid${clipped}${e ? '_eps' : ''}`;
      // log(clip(sigmoid(z), eps, 1-eps) [+ eps]) -> -softplus(-z): the exact log-probability, no cap at log(eps)
      if (k || e)
        rules.push(
          rule(name, pattern, (m, node, ctx) =>
            clipOk(m, ctx) && epsOk(m, ctx) && m.z!.dtype === node.dtype && sameShape(m.z!, node)
              ? B.neg(B.softplus(B.neg(m.z!)))
              : undefined,
          ),
        );
    });
    logQ.forEach((pattern, e) => {
      const name = `keras_log1m_sigmoid${clipped}${e ? '_eps' : ''}`;
      // log(1 - clip(sigmoid(z), eps, 1-eps) [+ eps]) -> -softplus(z); unclipped, 1 - sigmoid(z) already became sigmoid(-z)
      if (k)
        rules.push(
          rule(name, pattern, (m, node, ctx) =>
            clipOk(m, ctx) && epsOk(m, ctx) && m.z!.dtype === node.dtype && sameShape(m.z!, node)
              ? B.neg(B.softplus(m.z!))
              : undefined,
          ),
        );
    });
  });
  return rules;
}

/** x - mean(x), captured as `c` (both uses must be the same node). */
const centered = named('c', op('sub', cap('v'), op('mean', cap('v'))));

const sameShape = (a: Node, b: Node) => a.ndim === b.ndim && a.shape.every((d, i) => d === b.shape[i]);

/** Exact identities that turn overflowing or cancelling float expressions into stable forms. */
export const stabilize: readonly Rule[] = [
  // Keras's epsilon-clipped forms first: they are more specific than the generic log rules below.
  // log(clip(softmax(z), eps, 1 - eps)) -> logSoftmax(z): Keras's categorical crossentropy on probabilities, without the cap at -log(eps)
  rule(
    'keras_log_softmax_clipped',
    op('log', op('clip', op('softmax', cap('z')), epsilonConst('lo'), epsilonConst('hi'))),
    (m, node, ctx) =>
      clipOk(m, ctx) && sameShape(m.z!, node) ? B.logSoftmax(m.z!, axisOf(node.inputs[0]!.inputs[0]!)) : undefined,
  ),
  // log(clip(p / sum(p, axis, keepdims), eps, 1 - eps)) with p = softmax(z) -> logSoftmax(z) (Keras 2 normalises first)
  rule(
    'keras_log_softmax_normalized',
    op(
      'log',
      op(
        'clip',
        op('div', op('softmax', cap('z')), op('sum', op('softmax', cap('z')))),
        epsilonConst('lo'),
        epsilonConst('hi'),
      ),
    ),
    (m, node, ctx) => {
      const softmax = node.inputs[0]!.inputs[0]!.inputs[0]!;
      const a = reduceArgs(node.inputs[0]!.inputs[0]!.inputs[1]!);
      const axis = axisOf(softmax);
      return clipOk(m, ctx) && a.keepdims && a.axes.length === 1 && a.axes[0] === axis && sameShape(m.z!, node)
        ? B.logSoftmax(m.z!, axis)
        : undefined;
    },
  ),
  ...binaryCrossentropyRules(),
  // log(1 + x) -> log1p(x)
  rule(
    'log1p',
    op('log', op('add', x, one)),
    narrow((m) => B.log1p(m.x!)),
  ),
  // log(1 - x) -> log1p(-x)
  rule(
    'log1p_of_sub',
    op('log', op('sub', one, x)),
    narrow((m) => B.log1p(B.neg(m.x!))),
  ),
  // exp(x) - 1 -> expm1(x)
  rule(
    'expm1',
    op('sub', op('exp', x), one),
    narrow((m) => B.expm1(m.x!)),
  ),
  // exp(x) + (-1) -> expm1(x)
  rule(
    'expm1_of_add',
    op('add', op('exp', x), minusOne),
    narrow((m) => B.expm1(m.x!)),
  ),
  // log1p(exp(x)) -> softplus(x)   (log(1 + exp(x)) arrives here through log1p)
  rule('softplus', op('log1p', op('exp', x)), (m) => B.softplus(m.x!)),
  // log1p(-exp(x)) -> log1mexp(x)
  rule('log1mexp', op('log1p', op('neg', op('exp', x))), (m) => B.log1mexp(m.x!)),
  // log(sigmoid(x)) -> -softplus(-x)
  rule('log_sigmoid', op('log', op('sigmoid', x)), (m) => B.neg(B.softplus(B.neg(m.x!)))),
  // log1p(-sigmoid(x)) -> -softplus(x)   (log(1 - sigmoid(x)) arrives here through log1p_of_sub)
  rule('log1m_sigmoid', op('log1p', op('neg', op('sigmoid', x))), (m) => B.neg(B.softplus(m.x!))),
  // 1 - sigmoid(x) -> sigmoid(-x)
  rule(
    'one_minus_sigmoid',
    op('sub', one, op('sigmoid', x)),
    narrow((m) => B.sigmoid(B.neg(m.x!))),
  ),
  // exp(x) / (1 + exp(x)) -> sigmoid(x)
  rule(
    'sigmoid_of_exp_ratio',
    op('div', op('exp', x), op('add', constantValue(1, 'one'), op('exp', x))),
    narrow((m) => B.sigmoid(m.x!)),
  ),
  // 1 / (1 + exp(-x)) -> sigmoid(x)
  rule(
    'sigmoid_of_reciprocal',
    op('div', constantValue(1, 'c'), op('add', one, op('exp', op('neg', x)))),
    narrow((m) => B.sigmoid(m.x!)),
  ),
  // 1 / (1 + exp(x)) -> sigmoid(-x)
  rule(
    'sigmoid_neg_of_reciprocal',
    op('div', constantValue(1, 'c'), op('add', one, op('exp', x))),
    narrow((m) => B.sigmoid(B.neg(m.x!))),
  ),
  // log(softmax(x)) -> logSoftmax(x)
  rule('log_softmax', op('log', op('softmax', x)), (m, node) => B.logSoftmax(m.x!, axisOf(node.inputs[0]!))),
  // exp(x) / sum(exp(x), axis, keepdims) -> softmax(x, axis)
  rule('softmax_of_exp_ratio', op('div', op('exp', x), op('sum', op('exp', x))), (m, node) => {
    const a = reduceArgs(node.inputs[1]!);
    return a.axes.length === 1 && a.keepdims && sameShape(m.x!, node) ? B.softmax(m.x!, a.axes[0]!) : undefined;
  }),
  // log(sum(exp(x))) -> logsumexp(x)   (max-shifted; all -inf gives -inf)
  rule('logsumexp', op('log', op('sum', op('exp', x))), (m, node) => {
    const a = reduceArgs(node.inputs[0]!);
    return B.logsumexp(m.x!, a.axes, a.keepdims);
  }),
  // log(exp(x)) -> x: exact where exp overflows, and where exp(x) rounds to 1 (tiny x) it keeps x, not 0
  rule('log_exp', op('log', op('exp', x)), (m, node) => (m.x!.dtype === node.dtype ? m.x : undefined)),
  // exp(log(x)) -> where(x >= 0, x, NaN)
  rule('exp_log', op('exp', op('log', x)), (m, node) =>
    m.x!.dtype === node.dtype ? B.where(B.ge(m.x!, 0), m.x!, scalarConst(NaN, node.dtype)) : undefined,
  ),
  // exp(log1p(x)) -> where(x >= -1, 1 + x, NaN)
  rule('exp_log1p', op('exp', op('log1p', x)), (m, node) =>
    m.x!.dtype === node.dtype ? B.where(B.ge(m.x!, -1), B.add(m.x!, 1), scalarConst(NaN, node.dtype)) : undefined,
  ),
  // x / sqrt(sum(square(x))) -> x * rsqrt(maximum(sum(square(x)), eps)), as Keras's l2_normalize (0 instead of 0/0)
  rule('l2_normalize_epsilon', op('div', x, op('sqrt', op('sum', op('square', x)))), (m, node, ctx) => {
    const ss = node.inputs[1]!.inputs[0]!;
    return B.mul(m.x!, B.rsqrt(B.maximum(ss, scalarConst(ctx.epsilon, ss.dtype))));
  }),
  // c / sqrt(mean(square(c))) with c = x - mean(x) -> c / sqrt(mean(square(c)) + eps): (x - mean) / std, as Keras's normalization layers
  rule('std_epsilon', op('div', centered, op('sqrt', op('mean', op('square', centered)))), (m, node, ctx) => {
    const ms = node.inputs[1]!.inputs[0]!;
    return B.div(m.c!, B.sqrt(B.add(ms, scalarConst(ctx.epsilon, ms.dtype))));
  }),
];
