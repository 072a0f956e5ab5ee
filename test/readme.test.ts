import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';

// The README is the first thing users run: every ```ts block in it must execute as written.
const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const dir = fileURLToPath(new URL('./.generated/', import.meta.url));

describe('README examples', () => {
  it('has examples', () => expect(blocks.length).toBeGreaterThanOrEqual(2));
  blocks.forEach((code, i) => {
    it(`example ${i + 1} runs`, async () => {
      mkdirSync(dir, { recursive: true });
      const file = `${dir}readme-${i + 1}.ts`;
      writeFileSync(file, code);
      const lines: string[] = [];
      const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.join(' ')));
      try {
        await import(/* @vite-ignore */ file);
      } finally {
        spy.mockRestore();
      }
      expect(lines.length).toBeGreaterThan(0);
      // What each example prints, recognised by what it does.
      if (code.includes('T.einsum')) {
        expect(lines[0]).toBe('2,4 0,0,1,1,2,2 7.416');
      } else if (code.includes('stats.loops')) {
        expect(lines[0]).toBe('run true');
        expect(lines[1]).toBe('2');
      } else if (code.includes('T.grad') || code.includes('RandomStreams')) {
        const [before, , after] = lines[0]!.split(' ').map(Number);
        expect(after).toBeLessThan(before!);
      } else if (code.includes('alpha')) {
        expect(lines[0]).toMatch(/ShapeError: dot\(alpha, beta\): inner dimensions differ/);
      } else if (code.includes('keras.layers.lstm')) {
        expect(Number(lines[0])).toBeGreaterThanOrEqual(0.9);
      } else if (code.includes('printGraph')) {
        expect(lines[0]).toBe('true true');
      } else if (code.includes('tsano/onnx')) {
        expect(lines[0]).toBe('Add Identity MatMul Softmax batch true');
      } else if (code.includes('tsano/export')) {
        expect(lines[0]).toBe('5,3 true');
      } else if (code.includes('tsano/keras')) {
        expect(lines[0]).toBe('2 256,3');
      } else {
        throw new Error(`README example ${i + 1} has no expectation in this test`);
      }
    });
  });
});
