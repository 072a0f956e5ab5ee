/**
 * T.fromFunction: a JavaScript function of numbers, read with acorn, as a tsano graph over tensors.
 * `(x, y) => Math.log(1 + Math.exp(x)) * y` becomes log(add(1, exp(x))) · y, which the optimizer then
 * stabilizes and fuses like any graph (here into softplus, one kernel).
 */
import { parse, type Node as AcornNode } from 'acorn';
import * as B from '../../compiler/ir/build.js';
import { asNode, type TensorLike } from '../../compiler/ir/convert.js';
import type { Node } from '../../compiler/ir/node.js';
import { TsanoError } from '../../runtime/errors.js';
import { declaration, DECLARED_OP_NAMES } from '../../runtime/declared-ops.js';
import { constant } from './variables.js';

type Any = AcornNode & Record<string, unknown> & { loc: { start: { line: number; column: number } } };
/** A value while the body is read: a graph node, or a number known from the source alone. */
type Value = Node | number;

/** A `Math` function with a tsano op: how many arguments it takes and the op it reads as. */
interface MathFunction {
  readonly arity: number;
  readonly graph: (...xs: TensorLike[]) => Node;
}
const unaryMath = (graph: (x: TensorLike) => Node): MathFunction => ({ arity: 1, graph });
const MATH_FUNCTIONS: Readonly<Record<string, MathFunction>> = {
  pow: { arity: 2, graph: B.pow },
  // The declared ops that mean what a `Math` function means (runtime/declared-ops.ts spells which).
  ...Object.fromEntries(
    DECLARED_OP_NAMES.flatMap((op) => {
      const { math, arity } = declaration(op);
      const graph = B.DECLARED_BUILDERS[op] as MathFunction['graph'];
      return math ? [[math, { arity, graph }]] : [];
    }),
  ),
};
const MATH_CONSTANTS: Record<string, number> = {
  PI: Math.PI,
  E: Math.E,
  LN2: Math.LN2,
  LN10: Math.LN10,
  LOG2E: Math.LOG2E,
  LOG10E: Math.LOG10E,
  SQRT2: Math.SQRT2,
  SQRT1_2: Math.SQRT1_2,
};
const BINARY: Record<
  string,
  { graph: (a: TensorLike, b: TensorLike) => Node; numbers: (a: number, b: number) => number }
> = {
  '+': { graph: B.add, numbers: (a, b) => a + b },
  '-': { graph: B.sub, numbers: (a, b) => a - b },
  '*': { graph: B.mul, numbers: (a, b) => a * b },
  '/': { graph: B.div, numbers: (a, b) => a / b },
  // JavaScript's remainder is C's fmod (the sign of the dividend), exact.
  '%': { graph: B.fmod, numbers: (a, b) => a % b },
  '**': { graph: B.pow, numbers: (a, b) => a ** b },
};
const COMPARISONS: Record<string, (a: TensorLike, b: TensorLike) => Node> = {
  '<': B.lt,
  '<=': B.le,
  '>': B.gt,
  '>=': B.ge,
  '===': B.eq,
  '==': B.eq,
  '!==': B.ne,
  '!=': B.ne,
};

export class FromFunctionError extends TsanoError {}

/** The entry of `table` named `key` when the table itself lists it (never an inherited member such as `constructor`). */
const listed = <V>(table: Readonly<Record<string, V>>, key: string): V | undefined =>
  Object.hasOwn(table, key) ? table[key] : undefined;

/**
 * Reads `fn` (a function, or its source) into a builder of tsano expressions: call the result with
 * one tensor (or number) per parameter. Arrow functions and functions of numbers are read: `Math`'s
 * functions and constants, arithmetic (`+ - * / % **`), comparisons, `&& || !` on comparisons, `?:`,
 * and local `const`s before a final `return`. Anything else (loops, assignments, closures over
 * values outside the function, unknown `Math` members) is a FromFunctionError naming the line and
 * column of the source.
 */
export function fromFunction(fn: ((...args: number[]) => unknown) | string): (...args: TensorLike[]) => Node {
  const source = typeof fn === 'function' ? fn.toString() : fn;
  if (typeof source !== 'string') throw new FromFunctionError('fromFunction: expected a function or its source text');
  const lines = source.split('\n');
  const fail = (node: Any, what: string): never => {
    const { line, column } = node.loc.start;
    // The source is read wrapped in parentheses: the first line's columns are one further right.
    const col = line === 1 ? column - 1 : column;
    throw new FromFunctionError(
      `fromFunction: ${what} at line ${line}, column ${col + 1}:\n  ${lines[line - 1] ?? ''}\n  ${' '.repeat(Math.max(0, col))}^`,
    );
  };
  let program: Any;
  try {
    program = parse(`(${source})`, { ecmaVersion: 2020, locations: true }) as unknown as Any;
  } catch (e) {
    throw new FromFunctionError(
      `fromFunction: the source does not parse as a JavaScript function: ${(e as Error).message}`,
    );
  }
  const statements = program['body'] as Any[];
  if (statements.length > 1)
    fail(statements[1]!, 'text follows the function (the source must be one function and nothing else)');
  const statement = statements[0];
  const f = statement?.type === 'ExpressionStatement' ? (statement['expression'] as Any) : undefined;
  if (!f || (f.type !== 'ArrowFunctionExpression' && f.type !== 'FunctionExpression'))
    throw new FromFunctionError('fromFunction: expected an arrow function or a function (its source text also works)');
  if (f['async'] || f['generator']) fail(f, 'an async or generator function is not supported');
  const params = (f['params'] as Any[]).map((p) =>
    p.type === 'Identifier'
      ? (p['name'] as string)
      : fail(p, 'only plain parameters are supported (no defaults, destructuring or rest)'),
  );

  return (...args: TensorLike[]): Node => {
    if (args.length !== params.length)
      throw new FromFunctionError(
        `fromFunction: the function takes ${params.length} arguments (${params.join(', ')}), got ${args.length}`,
      );
    const scope = new Map<string, Value>(params.map((p, i) => [p, asNode(args[i]!)]));
    // Numbers of the source become constants of the arguments' float type (JavaScript computes in
    // float64: with float64 arguments the graph as written gives its bits); number-only parts are computed here.
    const floatType = [...scope.values()].map((v) => (v as Node).dtype).find((d) => d === 'float32' || d === 'float64');
    const node = (v: Value): TensorLike => (typeof v === 'number' ? constant(v, floatType) : v);
    const isBool = (v: Value) => typeof v !== 'number' && v.dtype === 'bool';
    const read = (e: Any): Value => {
      switch (e.type) {
        case 'Literal':
          return typeof e['value'] === 'number'
            ? (e['value'] as number)
            : fail(e, `the literal ${String(e['raw'])} is not a number`);
        case 'Identifier': {
          const name = e['name'] as string;
          if (scope.has(name)) return scope.get(name)!;
          if (name === 'Infinity') return Infinity;
          if (name === 'NaN') return NaN;
          return fail(
            e,
            `'${name}' is not a parameter or a local const of the function (a value it closes over cannot be read from its source: pass it as an argument)`,
          );
        }
        case 'UnaryExpression': {
          const x = read(e['argument'] as Any);
          switch (e['operator']) {
            case '-':
              return typeof x === 'number' ? -x : B.neg(x);
            case '+':
              return x;
            case '!':
              return isBool(x) ? B.not(node(x)) : fail(e, '! needs a comparison (tsano has no truthiness of numbers)');
            default:
              return fail(e, `the operator ${String(e['operator'])} is not supported`);
          }
        }
        case 'BinaryExpression': {
          const op = e['operator'] as string;
          const [a, b] = [read(e['left'] as Any), read(e['right'] as Any)];
          const arithmetic = listed(BINARY, op);
          if (arithmetic)
            return typeof a === 'number' && typeof b === 'number'
              ? arithmetic.numbers(a, b)
              : arithmetic.graph(node(a), node(b));
          const compare = listed(COMPARISONS, op);
          if (compare) return compare(node(a), node(b));
          return fail(e, `the operator ${op} is not supported`);
        }
        case 'LogicalExpression': {
          const [a, b] = [read(e['left'] as Any), read(e['right'] as Any)];
          if (!isBool(a) || !isBool(b)) return fail(e, `${String(e['operator'])} needs comparisons on both sides`);
          if (e['operator'] === '&&') return B.and(node(a), node(b));
          if (e['operator'] === '||') return B.or(node(a), node(b));
          return fail(e, `the operator ${String(e['operator'])} is not supported`);
        }
        case 'ConditionalExpression': {
          const test = read(e['test'] as Any);
          if (!isBool(test)) return fail(e['test'] as Any, 'the condition of ?: must be a comparison');
          return B.where(node(test), node(read(e['consequent'] as Any)), node(read(e['alternate'] as Any)));
        }
        case 'MemberExpression': {
          const name = mathMember(e);
          const known = listed(MATH_CONSTANTS, name);
          if (known !== undefined) return known;
          return fail(e, `Math.${name} is not a constant tsano knows`);
        }
        case 'CallExpression': {
          const callee = e['callee'] as Any;
          if (callee.type !== 'MemberExpression') return fail(e, 'only Math functions can be called');
          const name = mathMember(callee);
          const xs = (e['arguments'] as Any[]).map(read);
          const numbers = xs.every((x): x is number => typeof x === 'number');
          const math = Math as unknown as Record<string, (...v: number[]) => number>;
          const known = listed(MATH_FUNCTIONS, name);
          if (known) {
            if (xs.length !== known.arity)
              return fail(
                e,
                `Math.${name} takes ${known.arity} argument${known.arity > 1 ? 's' : ''} here, got ${xs.length}`,
              );
            return numbers ? math[name]!(...xs) : known.graph(...xs.map(node));
          }
          if ((name === 'max' || name === 'min') && xs.length >= 1) {
            if (numbers) return math[name]!(...xs);
            const combine = name === 'max' ? B.maximum : B.minimum;
            return xs.slice(1).reduce<Value>((acc, x) => combine(node(acc), node(x)), xs[0]!);
          }
          return fail(
            e,
            `Math.${name} has no tsano op (known: ${[...Object.keys(MATH_FUNCTIONS), 'max', 'min'].join(', ')})`,
          );
        }
        default:
          return fail(e, `${describeSyntax(e.type)} is not supported`);
      }
    };
    const mathMember = (e: Any): string => {
      const object = e['object'] as Any;
      const property = e['property'] as Any;
      if (object.type !== 'Identifier' || object['name'] !== 'Math' || e['computed'] || property.type !== 'Identifier')
        return fail(e, 'only members of Math are supported');
      return property['name'] as string;
    };
    const body = f['body'] as Any;
    let result: Value;
    if (body.type !== 'BlockStatement') result = read(body);
    else {
      const statements = body['body'] as Any[];
      const last = statements[statements.length - 1];
      if (!last || last.type !== 'ReturnStatement' || !last['argument'])
        return asNode(fail(last ?? body, 'the function must end with a return of its value'));
      for (const s of statements.slice(0, -1)) {
        if (s.type !== 'VariableDeclaration' || s['kind'] !== 'const')
          fail(s, `${describeSyntax(s.type)} is not supported (only const declarations before the return)`);
        for (const d of s['declarations'] as Any[]) {
          const id = d['id'] as Any;
          if (id.type !== 'Identifier') fail(id, 'only plain names can be declared');
          scope.set(id['name'] as string, read(d['init'] as Any));
        }
      }
      result = read(last['argument'] as Any);
    }
    // A value that depends on no argument is a scalar.
    return asNode(node(result));
  };
}

/** A syntax node's type as words: "ForStatement" → "a for statement". */
function describeSyntax(type: string): string {
  const words = type.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return `${/^[aeiou]/.test(words) ? 'an' : 'a'} ${words}`;
}
