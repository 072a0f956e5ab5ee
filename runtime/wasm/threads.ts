import os from 'node:os';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { TsanoError } from '../errors.js';

/**
 * Worker threads that run kernels of wasm modules sharing one memory with the caller. The caller
 * stays synchronous: it writes a job into a shared control block, wakes the worker with
 * Atomics.notify, runs its own share, then Atomics.waits for the worker's. Modules reach workers as
 * messages that they pull synchronously (receiveMessageOnPort) before running a job.
 */

// Control block layout (Int32): state, module id, function index, argument count, arguments…
const STATE = 0;
const MODULE = 1;
const FN = 2;
const ARGC = 3;
const ARGS = 4;
const MAX_ARGS = 28;
const IDLE = 0;
const RUNNING = 1;
const DONE = 2;
const FAILED = 3;

const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const { control, port } = workerData;
const modules = new Map();
for (;;) {
  for (let s = Atomics.load(control, ${STATE}); s !== ${RUNNING}; s = Atomics.load(control, ${STATE})) Atomics.wait(control, ${STATE}, s);
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
    const { id, module, memory, names } = m.message;
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    modules.set(id, names.map((n) => instance.exports[n]));
  }
  try {
    const fns = modules.get(control[${MODULE}]);
    const args = Array.from(control.subarray(${ARGS}, ${ARGS} + control[${ARGC}]));
    fns[control[${FN}]](...args);
    Atomics.store(control, ${STATE}, ${DONE});
  } catch (e) {
    Atomics.store(control, ${STATE}, ${FAILED});
  }
  Atomics.notify(control, ${STATE});
}
`;

interface PoolWorker {
  readonly control: Int32Array;
  readonly port: MessagePort;
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

/** The process-wide helpers (threads - 1 workers; the calling thread does a share of every job). */
class ThreadPool {
  private readonly workers: PoolWorker[] = [];

  constructor(helpers: number) {
    for (let i = 0; i < helpers; i++) {
      const control = new Int32Array(new SharedArrayBuffer((ARGS + MAX_ARGS) * 4));
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { control, port: port2 }, transferList: [port2] });
      // Idle helpers must not keep the process alive.
      worker.unref();
      port1.unref();
      this.workers.push({ control, port: port1 });
    }
  }

  get helpers(): number {
    return this.workers.length;
  }

  /** Makes a module (instantiated on the shared memory) callable by every helper; returns its id. */
  register(module: WebAssembly.Module, memory: WebAssembly.Memory, names: readonly string[]): number {
    const id = nextModuleId++;
    // Kernels are called by index into `names`, the same order on every thread.
    for (const w of this.workers) w.port.postMessage({ id, module, memory, names });
    return id;
  }

  /**
   * Runs `jobs[0]` on the calling thread and `jobs[i]` on helper i-1, returning when all are done.
   * Each job is a function index and its i32 arguments.
   */
  run(moduleId: number, local: () => void, jobs: readonly (readonly [number, readonly number[]])[]): void {
    const started = jobs.map(([fn, args], i) => {
      const c = this.workers[i]!.control;
      if (args.length > MAX_ARGS) throw new Error('internal: too many kernel arguments for a worker job');
      c[MODULE] = moduleId;
      c[FN] = fn;
      c[ARGC] = args.length;
      c.set(args, ARGS);
      Atomics.store(c, STATE, RUNNING);
      Atomics.notify(c, STATE);
      return c;
    });
    local();
    for (const c of started) {
      while (Atomics.load(c, STATE) === RUNNING) Atomics.wait(c, STATE, RUNNING);
      const state = Atomics.load(c, STATE);
      Atomics.store(c, STATE, IDLE);
      if (state === FAILED) throw new TsanoError('wasm backend: a kernel failed on a worker thread');
    }
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
