/**
 * The generated ES module that runs an exported function with nothing but a JavaScript engine: it
 * reads model.wasm, weights.bin and manifest.json (beside itself, or bytes the caller passes), sets
 * up the module's memory as the library did (shared variables' homes, random streams, constants,
 * the call tapes) and makes one call to the module's `run` per call. It is checked with acorn at
 * export time (check.ts). Written without template literals, so it can live in this one.
 */
export const LOADER_SOURCE = `const TYPES = { float32: Float32Array, float64: Float64Array, int32: Int32Array, bool: Uint8Array };
const NAMES = ['model.wasm', 'weights.bin', 'manifest.json'];
// One function using f32x4.relaxed_madd: valid only where the engine has relaxed SIMD.
const Z = [253, 12].concat(new Array(16).fill(0));
const BODY = [0].concat(Z, Z, Z, [253, 133, 2, 11]);
const PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, BODY.length + 2, 1, BODY.length].concat(BODY));
const host = globalThis.process;
const inNode = !!(host && host.versions && host.versions.node);

function fail(message) {
  throw new Error('tsano export: ' + message);
}

function bytesOf(data) {
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

const hex = (bytes) => Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');

function manifestOf(bytes) {
  const text = new TextDecoder().decode(bytesOf(bytes));
  try {
    return JSON.parse(text);
  } catch (e) {
    return fail('manifest.json is not JSON (' + (/^\\s*</.test(text) ? 'it starts with <, a web page?' : e.message) + ')');
  }
}

// A damaged or wrong file is named, never run.
function checkFiles(files) {
  const m = files.manifest;
  if (!m || typeof m !== 'object' || m.format !== 'tsano-export-1')
    fail('manifest.json is not a tsano export manifest (format ' + (m && m.format) + ', expected tsano-export-1)');
  const wasm = bytesOf(files.wasm);
  if (wasm.length < 8 || hex(wasm) !== '00 61 73 6d')
    fail('model.wasm is not a WebAssembly module (it starts with ' + hex(wasm) + (wasm[0] === 0x3c ? ', a web page?' : '') + ')');
  const weights = bytesOf(files.weights);
  if (typeof m.weightsBytes === 'number' && weights.length !== m.weightsBytes)
    fail('weights.bin holds ' + weights.length + ' bytes, the manifest declares ' + m.weightsBytes + (weights.length < m.weightsBytes ? ' (truncated?)' : ''));
  return { wasm, weights, manifest: m };
}

async function readFiles(source, relaxed) {
  if (source && source.wasm && source.weights && source.manifest) {
    const m = source.manifest;
    const manifest = m instanceof Object && !ArrayBuffer.isView(m) && !(m instanceof ArrayBuffer) ? m : manifestOf(m);
    const plain = manifest.relaxedSimd && !relaxed;
    if (plain && !source.plainWasm)
      fail('this engine has no relaxed SIMD: pass model.plain.wasm as plainWasm beside wasm');
    return checkFiles({ wasm: plain ? source.plainWasm : source.wasm, weights: source.weights, manifest });
  }
  const base = source && source.url ? new URL('./', source.url) : new URL('./', import.meta.url);
  let read;
  if (base.protocol === 'file:') {
    const fs = await import('node:fs/promises');
    read = (name) => fs.readFile(new URL(name, base)).catch((e) => fail('cannot read ' + name + ' (' + (e.code || e.message) + ')'));
  } else {
    read = async (name) => {
      const response = await fetch(new URL(name, base)).catch((e) => fail('cannot fetch ' + name + ' (' + e.message + ')'));
      if (!response.ok) fail('cannot fetch ' + name + ' (' + response.status + ')');
      return response.arrayBuffer();
    };
  }
  const manifest = manifestOf(await read('manifest.json'));
  const plain = manifest.relaxedSimd && !relaxed;
  if (plain && !manifest.plainModule) fail('this engine has no relaxed SIMD and the export has no module without it');
  const [wasm, weights] = await Promise.all([read(plain ? manifest.plainModule : 'model.wasm'), read('weights.bin')]);
  return checkFiles({ wasm, weights, manifest });
}

// Node: no Liftoff, relaxed SIMD (behind Node 20's flag), before anything compiles.
async function engineHasRelaxedSimd(options) {
  if (inNode) {
    const v8 = await import('node:v8');
    v8.setFlagsFromString('--no-liftoff');
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  }
  return options.simd !== 'plain' && WebAssembly.validate(PROBE);
}

const fmt = (shape) => '[' + shape.map((d) => (d === null ? '?' : d)).join(', ') + ']';
const sizeOf = (shape) => shape.reduce((a, b) => a * b, 1);

export async function load(source, options = {}) {
  const relaxed = await engineHasRelaxedSimd(options);
  const { wasm, weights, manifest: m } = await readFiles(source, relaxed);
  const simd = m.relaxedSimd && relaxed ? 'relaxed' : 'plain';
  const store = weights;
  const memory = new WebAssembly.Memory({ initial: Math.ceil(m.memoryBytes / 65536), maximum: 65536 });
  const parallel = () => fail('a tape split across threads');
  const { instance } = await WebAssembly.instantiate(wasm, { env: { memory, parallel } }).catch((e) =>
    fail('model.wasm cannot be instantiated (' + e.message + ')'),
  );
  const run = instance.exports.run;
  const heap = new Uint8Array(memory.buffer);
  const stored = (at, bytes) => store.subarray(at, at + bytes);
  for (const s of m.shared) heap.set(stored(s.offset, s.bytes), s.ptr);
  for (const s of m.streams) new Int32Array(memory.buffer, s.ptr, 1)[0] = s.state;
  let installed;

  function check(values) {
    if (values.length !== m.inputs.length)
      fail('expected ' + m.inputs.length + ' inputs (' + m.inputs.map((i) => i.name).join(', ') + '), got ' + values.length);
    return values.map((v, k) => {
      const spec = m.inputs[k];
      const where = 'input ' + k + ' (' + spec.name + ')';
      const data = v && ArrayBuffer.isView(v) ? v : v && v.data;
      const shape = v && ArrayBuffer.isView(v) ? [data.length] : v && v.shape;
      if (!(data instanceof TYPES[spec.dtype])) fail(where + ': expected a ' + TYPES[spec.dtype].name + ' of ' + spec.dtype);
      if (!Array.isArray(shape) || shape.length !== spec.shape.length || shape.some((d, a) => spec.shape[a] !== null && d !== spec.shape[a]))
        fail(where + ': expected shape ' + fmt(spec.shape) + ', got ' + (Array.isArray(shape) ? fmt(shape) : String(shape)));
      if (sizeOf(shape) !== data.length) fail(where + ': shape ' + fmt(shape) + ' needs ' + sizeOf(shape) + ' values, got ' + data.length);
      return { data, shape };
    });
  }

  function planFor(values) {
    const plan = m.plans.find((p) => p.inputs.every((s, k) => s.length === values[k].shape.length && s.every((d, a) => d === values[k].shape[a])));
    if (!plan)
      fail('no plan for input shapes ' + values.map((v) => fmt(v.shape)).join(', ') + '; this export runs ' + m.plans.map((p) => p.inputs.map(fmt).join(', ')).join(' or '));
    return plan;
  }

  function read(o, values) {
    if (o.input !== undefined) return { data: values[o.input].data.slice(), shape: o.shape.slice(), dtype: o.dtype };
    const bytes = o.ptr !== undefined ? heap.subarray(o.ptr, o.ptr + o.bytes) : stored(o.offset, o.bytes);
    const copy = new Uint8Array(o.bytes);
    copy.set(bytes);
    return { data: new TYPES[o.dtype](copy.buffer, 0, sizeOf(o.shape)), shape: o.shape.slice(), dtype: o.dtype };
  }

  function runPlan(plan, values) {
    if (installed !== plan) {
      heap.set(stored(plan.tape.offset, plan.tape.bytes), plan.tape.ptr);
      for (const c of plan.constants) heap.set(stored(c.offset, c.bytes), c.ptr);
      installed = plan;
    }
    for (const c of plan.inputsAt) heap.set(bytesOf(values[c.input].data), c.ptr);
    run(plan.tape.ptr);
    for (const c of plan.checks) {
      const status = new Int32Array(memory.buffer, c.ptr, 2);
      if (status[0] !== 0) {
        status[0] = 0;
        fail(c.message.replace('{index}', String(status[1])));
      }
    }
    const outputs = plan.outputs.map((o) => read(o, values));
    // Updates are simultaneous: every new value is read before any is written.
    const updates = plan.updates.map((u) => read(u, values));
    plan.updates.forEach((u, k) => heap.set(bytesOf(updates[k].data), m.shared[u.shared].ptr));
    return outputs;
  }

  const exported = {
    manifest: m,
    simd,
    call(...inputs) {
      const values = check(inputs);
      const outputs = runPlan(planFor(values), values);
      return m.outputs.length === 1 ? outputs[0] : outputs;
    },
    getState() {
      const state = {};
      for (const s of m.shared) state[s.name] = read({ ptr: s.ptr, bytes: s.bytes, dtype: s.dtype, shape: s.shape });
      return state;
    },
    setState(state) {
      for (const name of Object.keys(state)) {
        const s = m.shared.find((v) => v.name === name);
        if (!s) fail('no shared variable ' + name + ' (known: ' + m.shared.map((v) => v.name).join(', ') + ')');
        const data = state[name] && (ArrayBuffer.isView(state[name]) ? state[name] : state[name].data);
        if (!(data instanceof TYPES[s.dtype]) || data.length !== sizeOf(s.shape))
          fail(name + ': expected a ' + TYPES[s.dtype].name + ' of ' + sizeOf(s.shape) + ' values (shape ' + fmt(s.shape) + ')');
        heap.set(bytesOf(data), s.ptr);
      }
    },
  };
  if (m.kind === 'model') {
    // Rows are independent: any batch runs as chunks of the exported one.
    exported.predict = (data, shape) => {
      const spec = m.inputs[0];
      const [value] = check([{ data, shape }]);
      const batch = m.batchSize;
      const rows = value.shape[0];
      const inner = sizeOf(value.shape.slice(1));
      const plan = m.plans[0];
      const out = m.outputs[0];
      const outInner = sizeOf(plan.outputs[0].shape.slice(1));
      const result = new TYPES[out.dtype](rows * outInner);
      const chunk = new TYPES[spec.dtype](batch * inner);
      for (let first = 0; first < rows; first += batch) {
        const n = Math.min(batch, rows - first);
        chunk.fill(0);
        chunk.set(data.subarray(first * inner, (first + n) * inner));
        const [y] = runPlan(plan, [{ data: chunk, shape: [batch].concat(value.shape.slice(1)) }]);
        result.set(y.data.subarray(0, n * outInner), first * outInner);
      }
      return { data: result, shape: [rows].concat(plan.outputs[0].shape.slice(1)), dtype: out.dtype };
    };
  }
  return exported;
}
`;
