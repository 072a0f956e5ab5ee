import os from 'node:os';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { TsanoError } from '../errors.js';

/**
 * Worker threads that run kernels of wasm modules sharing one memory with the caller. The caller
 * stays synchronous: it writes a job into a shared control block, wakes the worker with
 * Atomics.notify, works itself, then Atomics.waits for the worker. Modules reach workers as
 * messages that they pull synchronously (receiveMessageOnPort) before running a job.
 *
 * Two kinds of job: one kernel call with its arguments, or a share in a kernel cut into chunks that
 * every thread, the caller included, takes from one counter as it becomes free (so threads that are
 * slower, or busy copying, simply take fewer). A chunk is taken only once the caller has released
 * it (its inputs are in place) and is flagged done when computed.
 */

// Control block layout (Int32): state, module id, kind, then the job: a function index, an argument
// count and the arguments; for chunks also each argument's increase per unit of work, the index of
// the argument that holds the chunk's length, the units per chunk and the total.
const STATE = 0;
const MODULE = 1;
const KIND = 2;
const FN = 3;
const ARG_COUNT = 4;
const ARGS = 5;
const MAX_ARGS = 28;
const STEPS = ARGS + MAX_ARGS;
const LENGTH_ARG = STEPS + MAX_ARGS;
const CHUNK_UNITS = LENGTH_ARG + 1;
const TOTAL_UNITS = LENGTH_ARG + 2;
const CHUNK_COUNT = LENGTH_ARG + 3;
/** Written by the helper: how many modules it holds (instances, and with them memories). */
const HELD = LENGTH_ARG + 4;
const CONTROL_WORDS = LENGTH_ARG + 5;

const IDLE = 0;
const RUNNING = 1;
const DONE = 2;
const FAILED = 3;
const ONE_CALL = 0;
const CHUNKS = 1;

// Chunk state shared by all threads (Int32): the next chunk to take, chunks released, then one flag
// per chunk (1 computed, 2 failed).
const NEXT = 0;
const RELEASED = 1;
const FLAGS = 2;
/** Most chunks one kernel is cut into. */
export const MAX_CHUNKS = 64;

const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const { control: c, chunks: s, port } = workerData;
const modules = new Map();
// A dropped module's memory is shared with the caller's thread: it is freed only once this thread
// has collected its instance too, and this thread makes too little garbage to collect on its own.
require('node:v8').setFlagsFromString('--expose-gc');
const collect = require('node:vm').runInNewContext('gc');
function shareChunks(fn) {
  const count = c[${ARG_COUNT}];
  const args = new Array(count);
  const [length, units, total, chunks] = [c[${LENGTH_ARG}], c[${CHUNK_UNITS}], c[${TOTAL_UNITS}], c[${CHUNK_COUNT}]];
  for (let k = Atomics.add(s, ${NEXT}, 1); k < chunks; k = Atomics.add(s, ${NEXT}, 1)) {
    for (let r = Atomics.load(s, ${RELEASED}); r <= k; r = Atomics.load(s, ${RELEASED})) Atomics.wait(s, ${RELEASED}, r);
    const a = k * units;
    for (let i = 0; i < count; i++) args[i] = c[${ARGS} + i] + a * c[${STEPS} + i];
    args[length] = Math.min(total, a + units) - a;
    try {
      fn(...args);
    } catch (e) {
      Atomics.store(s, ${FLAGS} + k, 2);
      Atomics.notify(s, ${FLAGS} + k);
      throw e;
    }
    Atomics.store(s, ${FLAGS} + k, 1);
    Atomics.notify(s, ${FLAGS} + k);
  }
}
for (;;) {
  for (let state = Atomics.load(c, ${STATE}); state !== ${RUNNING}; state = Atomics.load(c, ${STATE})) Atomics.wait(c, ${STATE}, state);
  let dropped = false;
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
    const { id, module, memory, names, drop } = m.message;
    // A compiled function that was garbage collected: its instance and memory go too.
    if (drop !== undefined) {
      dropped = modules.delete(drop) || dropped;
      continue;
    }
    // Helpers run single kernels, never a tape: the tape's thread split is the caller's alone.
    const parallel = () => { throw new Error('a tape ran on a helper thread'); };
    const instance = new WebAssembly.Instance(module, { env: { memory, parallel } });
    modules.set(id, names.map((n) => instance.exports[n]));
  }
  if (dropped) collect();
  c[${HELD}] = modules.size;
  try {
    const fn = modules.get(c[${MODULE}])[c[${FN}]];
    if (c[${KIND}] === ${CHUNKS}) shareChunks(fn);
    else fn(...Array.from(c.subarray(${ARGS}, ${ARGS} + c[${ARG_COUNT}])));
    Atomics.store(c, ${STATE}, ${DONE});
  } catch (e) {
    Atomics.store(c, ${STATE}, ${FAILED});
  }
  Atomics.notify(c, ${STATE});
}
`;

interface PoolWorker {
  readonly control: Int32Array;
  readonly port: MessagePort;
}

/** A kernel's arguments for units [a, b) of its work: `base[i] + a·step[i]`, except that argument `length` is b − a. */
export interface LinearJob {
  readonly fn: number;
  readonly base: readonly number[];
  readonly step: readonly number[];
  readonly length: number;
}

/** The caller's side of a kernel shared out in chunks. */
export interface SharedChunks {
  /** Chunks [0, count) may be taken (their inputs are in place). */
  release(count: number): void;
  /** The next chunk for the calling thread to compute, or undefined when all are taken. */
  take(): number | undefined;
  /** Whether a helper has finished chunk k (never true for the caller's own chunks). */
  doneByHelper(k: number): boolean;
  /** Waits until a helper has finished chunk k; throws if it failed. */
  waitForHelper(k: number): void;
  /** Waits until every helper has stopped taking chunks; throws if one failed. */
  finish(): void;
}

/** Threads to use: TSANO_THREADS, else every core. */
export function threadCount(): number {
  const env = process.env['TSANO_THREADS'];
  if (env !== undefined) {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new TsanoError(`TSANO_THREADS must be a positive integer, got '${env}'`);
    return n;
  }
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

let nextModuleId = 1;
const workerFailed = () => new TsanoError('wasm backend: a kernel failed on a worker thread');

/** The process-wide helpers (threads - 1 workers; the calling thread does a share of every job). */
class ThreadPool {
  private readonly workers: PoolWorker[] = [];
  private readonly chunks = new Int32Array(new SharedArrayBuffer((FLAGS + MAX_CHUNKS) * 4));

  constructor(helpers: number) {
    for (let i = 0; i < helpers; i++) {
      const control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { control, chunks: this.chunks, port: port2 },
        transferList: [port2],
      });
      // Idle helpers must not keep the process alive.
      worker.unref();
      port1.unref();
      this.workers.push({ control, port: port1 });
    }
  }

  get helpers(): number {
    return this.workers.length;
  }

  /** Modules each helper held after its last job (compiled functions that shared work with it and are still alive, or died since). */
  get heldModules(): number[] {
    return this.workers.map((w) => Atomics.load(w.control, HELD));
  }

  /**
   * Makes a module (instantiated on the shared memory) callable by every helper; returns its id.
   * When `owner` is garbage collected, the helpers drop their instance (and with it the memory) as
   * they pull their next job's messages: without that, every compiled function that ever used
   * threads would keep its memory for the life of the process.
   */
  register(module: WebAssembly.Module, memory: WebAssembly.Memory, names: readonly string[], owner: object): number {
    const id = nextModuleId++;
    // Kernels are called by index into `names`, the same order on every thread.
    for (const w of this.workers) w.port.postMessage({ id, module, memory, names });
    this.owners.register(owner, id, owner);
    return id;
  }

  /** The helpers drop module `id` now (a disposed function), instead of when its owner is collected. */
  unregister(id: number, owner: object): void {
    this.owners.unregister(owner);
    for (const w of this.workers) w.port.postMessage({ drop: id });
  }
  private readonly owners = new FinalizationRegistry<number>((id) => {
    for (const w of this.workers) w.port.postMessage({ drop: id });
  });

  /**
   * Runs `jobs[i]` on helper i and `local` on the calling thread, returning when all are done. Each
   * job is a function index and its i32 arguments.
   */
  run(moduleId: number, local: () => void, jobs: readonly (readonly [number, readonly number[]])[]): void {
    const started = jobs.map(([fn, args], i) => this.launch(i, moduleId, ONE_CALL, fn, args));
    try {
      local();
    } finally {
      started.forEach((w) => this.finish(w));
    }
  }

  /**
   * Shares a kernel's `total` units of work, cut into `chunkCount` chunks of `chunkUnits`, between
   * `helpers` helpers and the caller (which drives it through the returned handle).
   */
  share(moduleId: number, job: LinearJob, chunkUnits: number, total: number, helpers: number): SharedChunks {
    const chunkCount = Math.ceil(total / chunkUnits);
    if (chunkCount > MAX_CHUNKS) throw new Error('internal: too many chunks');
    const s = this.chunks;
    Atomics.store(s, NEXT, 0);
    Atomics.store(s, RELEASED, 0);
    s.fill(0, FLAGS, FLAGS + chunkCount);
    const started = this.workers.slice(0, helpers).map((_, i) =>
      this.launch(i, moduleId, CHUNKS, job.fn, job.base, (c) => {
        c.set(job.step, STEPS);
        c[LENGTH_ARG] = job.length;
        c[CHUNK_UNITS] = chunkUnits;
        c[TOTAL_UNITS] = total;
        c[CHUNK_COUNT] = chunkCount;
      }),
    );
    const flag = (k: number) => Atomics.load(s, FLAGS + k);
    return {
      release: (count) => {
        Atomics.store(s, RELEASED, count);
        Atomics.notify(s, RELEASED);
      },
      take: () => {
        const k = Atomics.add(s, NEXT, 1);
        return k < chunkCount ? k : undefined;
      },
      doneByHelper: (k) => flag(k) !== 0,
      waitForHelper: (k) => {
        while (flag(k) === 0) Atomics.wait(s, FLAGS + k, 0);
        if (flag(k) !== 1) throw workerFailed();
      },
      finish: () => started.forEach((w) => this.finish(w)),
    };
  }

  /** Writes a job into helper i's control block and wakes it; returns the block. */
  private launch(
    i: number,
    moduleId: number,
    kind: number,
    fn: number,
    args: readonly number[],
    more?: (c: Int32Array) => void,
  ): Int32Array {
    const c = this.workers[i]!.control;
    if (args.length > MAX_ARGS) throw new Error('internal: too many kernel arguments for a worker');
    c[MODULE] = moduleId;
    c[KIND] = kind;
    c[FN] = fn;
    c[ARG_COUNT] = args.length;
    c.set(args, ARGS);
    more?.(c);
    Atomics.store(c, STATE, RUNNING);
    Atomics.notify(c, STATE);
    return c;
  }

  /** Waits for a helper to finish its job and reports a failure. */
  private finish(c: Int32Array): void {
    while (Atomics.load(c, STATE) === RUNNING) Atomics.wait(c, STATE, RUNNING);
    const state = Atomics.load(c, STATE);
    Atomics.store(c, STATE, IDLE);
    if (state === FAILED) throw workerFailed();
  }
}

let pool: ThreadPool | undefined;
/** The shared pool, created on first use; undefined when only one thread is wanted. */
export function threadPool(): ThreadPool | undefined {
  const threads = threadCount();
  if (threads <= 1) return undefined;
  pool ??= new ThreadPool(threads - 1);
  return pool;
}
export type { ThreadPool };
