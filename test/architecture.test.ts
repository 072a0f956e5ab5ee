import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Modules a file loads when it runs: static imports and re-exports that are not type-only. */
function valueImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(?!type\b)([^;]*?)\s+from\s+'([^']+)'/gms)) {
    // `import { type A, type B } from` loads nothing either.
    const names = m[1]!.replace(/[{}\s]/g, '').split(',').filter(Boolean);
    if (names.length > 0 && names.every((n) => n.startsWith('type'))) continue;
    specifiers.push(m[2]!);
  }
  for (const m of text.matchAll(/^import\s+'([^']+)'/gm)) specifiers.push(m[1]!);
  return specifiers;
}

/** Every file (repository-relative) and package reached from `entry` through value imports. */
function closure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    const rel = path.relative(root, file);
    if (files.has(rel)) return;
    files.add(rel);
    for (const spec of valueImports(file)) {
      if (!spec.startsWith('.')) packages.add(spec.startsWith('node:') ? 'node' : spec);
      else visit(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')));
    }
  };
  visit(path.join(root, entry));
  return { files, packages };
}

describe('what runs a compiled function', () => {
  it('the executor and the wasm driver load no graph, optimizer, gradient or code generator module, and not binaryen', () => {
    for (const entry of ['runtime/executor.ts', 'runtime/wasm/accelerator.ts']) {
      const { files, packages } = closure(entry);
      expect(files.size).toBeGreaterThan(3);
      const forbidden = [...files].filter((f) => /^(compiler\/(ir|rewrite|grad|codegen)|src)\//.test(f));
      expect(forbidden, `${entry} loads ${forbidden.join(', ')}`).toEqual([]);
      expect([...packages].filter((p) => p !== 'node')).toEqual([]);
    }
  });
});
