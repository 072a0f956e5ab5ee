import { parse, type Node as AcornNode } from 'acorn';
import { TsanoError } from '../../runtime/errors.js';

/**
 * What generated JavaScript may refer to without declaring it: the language's own objects (globalThis
 * too, where a loader asks whether it runs in Node), wasm,
 * typed arrays, fetch, URL and TextDecoder. Node's modules only through `import()` of the listed
 * specifiers (the Node path of a loader), so the same file runs in a browser.
 */
const GLOBALS = new Set([
  'Array',
  'ArrayBuffer',
  'Error',
  'JSON',
  'Math',
  'Number',
  'Object',
  'Promise',
  'RangeError',
  'String',
  'TypeError',
  'undefined',
  'Infinity',
  'NaN',
  'WebAssembly',
  'Float32Array',
  'Float64Array',
  'Int32Array',
  'Uint8Array',
  'Uint16Array',
  'fetch',
  'URL',
  'TextDecoder',
  'globalThis',
]);
const DYNAMIC_IMPORTS = new Set(['node:fs/promises', 'node:v8']);

/** A parsed node's children, whatever its type (ESTree nodes are plain objects). */
function children(node: AcornNode): AcornNode[] {
  const out: AcornNode[] = [];
  for (const [key, value] of Object.entries(node)) {
    if (key === 'type' || key === 'start' || key === 'end' || key === 'loc' || key === 'range') continue;
    const items: unknown[] = Array.isArray(value) ? value : [value];
    for (const v of items)
      if (v && typeof v === 'object' && typeof (v as AcornNode).type === 'string') out.push(v as AcornNode);
  }
  return out;
}

type Any = AcornNode & Record<string, unknown>;

/** Names a pattern declares (parameters, destructuring). */
function patternNames(p: Any | null | undefined, into: Set<string>): void {
  if (!p) return;
  switch (p.type) {
    case 'Identifier':
      into.add(p['name'] as string);
      break;
    case 'ObjectPattern':
      for (const prop of p['properties'] as Any[])
        patternNames((prop.type === 'RestElement' ? prop['argument'] : prop['value']) as Any, into);
      break;
    case 'ArrayPattern':
      for (const e of p['elements'] as (Any | null)[]) patternNames(e, into);
      break;
    case 'RestElement':
      patternNames(p['argument'] as Any, into);
      break;
    case 'AssignmentPattern':
      patternNames(p['left'] as Any, into);
      break;
  }
}

/**
 * Checks generated JavaScript before it is written: it must parse as an ES2020 module and refer to no
 * global outside the allow-list (a name declared anywhere in the file counts as its own: the files
 * checked are generated, so this simple rule is enough). Throws a TsanoError naming what is wrong.
 */
export function checkGeneratedModule(source: string, file: string): void {
  let program: Any;
  try {
    program = parse(source, { ecmaVersion: 2020, sourceType: 'module' }) as unknown as Any;
  } catch (e) {
    throw new TsanoError(`export: the generated ${file} does not parse as an ES2020 module: ${(e as Error).message}`);
  }
  const declared = new Set<string>();
  const referenced: { name: string; at: number }[] = [];
  const problems: string[] = [];
  const visit = (node: Any, parent: Any | undefined): void => {
    // import.meta: where the loader finds the files beside it (in the allow-list).
    if (node.type === 'MetaProperty') return;
    switch (node.type) {
      case 'VariableDeclarator':
        patternNames(node['id'] as Any, declared);
        break;
      case 'FunctionDeclaration':
      case 'FunctionExpression':
      case 'ArrowFunctionExpression':
        if (node['id']) declared.add((node['id'] as Any)['name'] as string);
        for (const p of node['params'] as Any[]) patternNames(p, declared);
        break;
      case 'CatchClause':
        patternNames(node['param'] as Any, declared);
        break;
      case 'ImportDeclaration':
        problems.push(`a static import of '${String((node['source'] as Any)['value'])}'`);
        break;
      case 'ImportExpression': {
        const spec = node['source'] as Any;
        if (spec.type !== 'Literal' || !DYNAMIC_IMPORTS.has(String(spec['value'])))
          problems.push(
            `import() of ${spec.type === 'Literal' ? `'${String(spec['value'])}'` : 'a computed specifier'}`,
          );
        break;
      }
      case 'Identifier': {
        const p = parent;
        const isKey =
          p &&
          ((p.type === 'MemberExpression' && p['property'] === node && !p['computed']) ||
            (p.type === 'Property' && p['key'] === node && !p['computed'] && !p['shorthand']) ||
            (p.type === 'MethodDefinition' && p['key'] === node));
        if (!isKey) referenced.push({ name: node['name'] as string, at: node.start });
        break;
      }
    }
    for (const child of children(node)) visit(child as Any, node);
  };
  visit(program, undefined);
  const line = (at: number) => source.slice(0, at).split('\n').length;
  for (const { name, at } of referenced)
    if (!declared.has(name) && !GLOBALS.has(name)) problems.push(`the global '${name}' (line ${line(at)})`);
  if (problems.length)
    throw new TsanoError(
      `export: the generated ${file} refers to ${[...new Set(problems)].join(', ')}, outside what an exported model may use`,
    );
}
