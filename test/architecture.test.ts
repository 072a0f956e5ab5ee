import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const LAYERS = ['src', 'compiler', 'runtime'] as const;

/**
 * Modules a file loads when it runs: static imports and re-exports that are not type-only, side-effect
 * imports, and dynamic `import()` with a literal specifier.
 */
function valueImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(?!type\b)([^;]*?)\s+from\s+'([^']+)'/gms)) {
    // `import { type A, type B } from` loads nothing either.
    const names = m[1]!
      .replace(/[{}\s]/g, '')
      .split(',')
      .filter(Boolean);
    if (names.length > 0 && names.every((n) => n.startsWith('type'))) continue;
    specifiers.push(m[2]!);
  }
  for (const m of text.matchAll(/^import\s+'([^']+)'/gm)) specifiers.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) specifiers.push(m[1]!);
  return specifiers;
}

/** Every relative module a file names in an import or re-export, type-only ones included. */
function allImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [
    ...text.matchAll(/^(?:import|export)\s[^;]*?\s+from\s+'(\.[^']+)'/gms),
    ...text.matchAll(/\bimport\(\s*'(\.[^']+)'\s*\)/g),
  ].map((m) => m[1]!);
}

const resolve = (from: string, spec: string) =>
  path.relative(root, path.resolve(path.dirname(path.join(root, from)), spec.replace(/\.js$/, '.ts')));

/** Every TypeScript file of the library (repository-relative). */
function libraryFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(rel);
    }
  };
  LAYERS.forEach(walk);
  return out;
}

/** Every file (repository-relative) and package reached from `entry` through value imports. */
function closure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of valueImports(path.join(root, file))) {
      if (!spec.startsWith('.')) packages.add(spec.startsWith('node:') ? 'node' : spec);
      else visit(resolve(file, spec));
    }
  };
  visit(entry);
  return { files, packages };
}

describe('layering', () => {
  it('the executor and the wasm driver load no graph, optimizer, gradient or code generator module, and not binaryen', () => {
    for (const entry of ['runtime/executor.ts', 'runtime/wasm/accelerator.ts']) {
      const { files, packages } = closure(entry);
      expect(files.size).toBeGreaterThan(3);
      const forbidden = [...files].filter((f) => /^(compiler\/(ir|rewrite|grad|codegen)|src)\//.test(f));
      expect(forbidden, `${entry} loads ${forbidden.join(', ')}`).toEqual([]);
      expect([...packages].filter((p) => p !== 'node')).toEqual([]);
    }
  });

  it('no runtime module loads the compiler or the API, statically or with import(); code generation is the compiler side', () => {
    const offenders = libraryFiles()
      .filter((f) => f.startsWith('runtime/'))
      .flatMap((f) =>
        valueImports(path.join(root, f))
          .filter((s) => s.startsWith('.'))
          .map((s) => [f, resolve(f, s)] as const),
      )
      .filter(([, target]) => /^(compiler|src)\//.test(target))
      .map(([f, target]) => `${f} -> ${target}`);
    expect(offenders).toEqual([]);
    const binaryen = libraryFiles().filter((f) => valueImports(path.join(root, f)).includes('binaryen'));
    expect(binaryen).toEqual(['compiler/codegen/binaryen.ts']);
  });

  it('the runtime names nothing of the compiler or the API, not even a type: the program it runs is declared in runtime/program.ts', () => {
    const offenders = libraryFiles()
      .filter((f) => f.startsWith('runtime/'))
      .flatMap((f) => allImports(path.join(root, f)).map((s) => [f, resolve(f, s)] as const))
      .filter(([, target]) => /^(compiler|src)\//.test(target))
      .map(([f, target]) => `${f} -> ${target}`);
    expect(offenders).toEqual([]);
  });

  it('no import circles among the modules that load each other', () => {
    const files = libraryFiles();
    const edges = new Map(
      files.map((f) => [
        f,
        valueImports(path.join(root, f))
          .filter((s) => s.startsWith('.'))
          .map((s) => resolve(f, s)),
      ]),
    );
    const circles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, 'open');
      stack.push(f);
      for (const next of edges.get(f) ?? []) {
        if (state.get(next) === 'open') circles.push([...stack.slice(stack.indexOf(next)), next].join(' -> '));
        else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(f, 'done');
    };
    files.forEach((f) => state.has(f) || visit(f));
    expect(circles).toEqual([]);
  });
});
