/** Running an exported artifact as a user would: in a child node process, with nothing but its own files. */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as T from 'tsano';

export interface Wire {
  dtype: T.DType;
  shape: number[];
  data: string;
}
export const toWire = (a: T.NDArray): Wire => ({
  dtype: a.dtype,
  shape: [...a.shape],
  data: Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).toString('base64'),
});
export const bitsOf = (w: { data: string }) => w.data;

/** The child's program: loads ./export/model.mjs and runs the requested calls, answering in the same wire format. */
const RUNNER = `
import { load } from './export/model.mjs';
import { readFileSync } from 'node:fs';
const TYPES = { float32: Float32Array, float64: Float64Array, int32: Int32Array, bool: Uint8Array };
const request = JSON.parse(readFileSync(new URL('./request.json', import.meta.url), 'utf8'));
const fromWire = (w) => { const b = Buffer.from(w.data, 'base64'); const copy = new Uint8Array(b.length); copy.set(b); return { data: new TYPES[w.dtype](copy.buffer), shape: w.shape }; };
export const toWire = (t) => ({ dtype: t.dtype, shape: t.shape, data: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64') });
const m = await load();
const answers = [];
for (const call of request.calls) {
  try {
    if (request.predict) { const [x] = call.map(fromWire); answers.push([toWire(m.predict(x.data, x.shape))]); }
    else { const out = m.call(...call.map(fromWire)); answers.push((Array.isArray(out) ? out : [out]).map(toWire)); }
  } catch (e) { answers.push({ error: String(e.message) }); }
}
const state = Object.fromEntries(Object.entries(m.getState()).map(([k, v]) => [k, toWire({ ...v, dtype: v.dtype })]));
process.stdout.write(JSON.stringify({ answers, state }));
`;

let runs = 0;
const work = mkdtempSync(path.join(os.tmpdir(), 'tsano-exported-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
/** Copies the export to an empty folder and runs `calls` there in a child node process. */
export function runExported(dir: string, calls: T.NDArray[][], predict = false) {
  const folder = path.join(work, `run-${runs++}`);
  cpSync(dir, path.join(folder, 'export'), { recursive: true });
  writeFileSync(path.join(folder, 'runner.mjs'), RUNNER);
  writeFileSync(path.join(folder, 'request.json'), JSON.stringify({ predict, calls: calls.map((c) => c.map(toWire)) }));
  const out = execFileSync(process.execPath, ['runner.mjs'], { cwd: folder, encoding: 'utf8', env: {} });
  return JSON.parse(out) as { answers: (Wire[] | { error: string })[]; state: Record<string, Wire> };
}
