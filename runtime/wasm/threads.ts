import os from 'node:os';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { TsanoError } from '../errors.js';

/**
 * Worker threads that run kernels of wasm modules sharing one memory with the caller. The caller
 * stays synchronous: it writes a job into a shared control block, wakes the worker with
 * Atomics.notify, runs its own share, then Atomics.waits for the worker's. Modules reach workers as
 * messages that they pull synchronously (receiveMessageOnPort) before running a job.
 */

// Control block layout (Int32): state, module id, job count, jobs released, jobs done, then per job
// a function index, an argument count and the arguments.
const STATE = 0;
const MODULE = 1;
const COUNT = 2;
const RELEASED = 3;
const DONE_JOBS = 4;
const JOBS = 5;
const MAX_ARGS = 28;
const JOB_WORDS = 2 + MAX_ARGS;
/** Jobs one helper can be given per call, run in order. */
export const MAX_QUEUED = 4;
const IDLE = 0;
const RUNNING = 1;
const DONE = 2;
const FAILED = 3;

// A helper runs its jobs in order, each once the caller has released it (its inputs are in place),
// and counts the finished ones, so the caller can use a job's output while the next one runs.
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
    for (let q = 0; q < control[${COUNT}]; q++) {
      for (let r = Atomics.load(control, ${RELEASED}); r <= q; r = Atomics.load(control, ${RELEASED})) Atomics.wait(control, ${RELEASED}, r);
      const at = ${JOBS} + q * ${JOB_WORDS};
      fns[control[at]](...Array.from(control.subarray(at + 2, at + 2 + control[at + 1])));
      Atomics.store(control, ${DONE_JOBS}, q + 1);
      Atomics.notify(control, ${DONE_JOBS});
    }
    Atomics.store(control, ${STATE}, ${DONE});
  } catch (e) {
    Atomics.store(control, ${STATE}, ${FAILED});
    Atomics.store(control, ${DONE_JOBS}, ${MAX_QUEUED + 1});
    Atomics.notify(control, ${DONE_JOBS});
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
      const control = new Int32Array(new SharedArrayBuffer((JOBS + MAX_QUEUED * JOB_WORDS) * 4));
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
    const queue = this.start(moduleId, jobs.map((job) => [job]));
    queue.forEach((q) => q.release(1));
    local();
    queue.forEach((q) => q.finish());
  }

  /**
   * Starts helper i on the jobs `queues[i]`, to be run in order, each only once released: the caller
   * releases a job when its inputs are in place, and may wait for a job's output while the helper
   * runs the next. `finish` waits for all of them and reports a failure.
   */
  start(moduleId: number, queues: readonly (readonly (readonly [number, readonly number[]])[])[]): {
    release(count: number): void;
    waitFor(count: number): void;
    finish(): void;
  }[] {
    return queues.map((jobs, i) => {
      const c = this.workers[i]!.control;
      if (jobs.length > MAX_QUEUED || jobs.some(([, args]) => args.length > MAX_ARGS)) throw new Error('internal: too many jobs or kernel arguments for a worker');
      c[MODULE] = moduleId;
      c[COUNT] = jobs.length;
      Atomics.store(c, RELEASED, 0);
      Atomics.store(c, DONE_JOBS, 0);
      jobs.forEach(([fn, args], q) => {
        const at = JOBS + q * JOB_WORDS;
        c[at] = fn;
        c[at + 1] = args.length;
        c.set(args, at + 2);
      });
      Atomics.store(c, STATE, RUNNING);
      Atomics.notify(c, STATE);
      const failed = () => {
        Atomics.store(c, STATE, IDLE);
        throw new TsanoError('wasm backend: a kernel failed on a worker thread');
      };
      return {
        release: (count: number) => {
          Atomics.store(c, RELEASED, count);
          Atomics.notify(c, RELEASED);
        },
        waitFor: (count: number) => {
          for (let d = Atomics.load(c, DONE_JOBS); d < count; d = Atomics.load(c, DONE_JOBS)) Atomics.wait(c, DONE_JOBS, d);
          if (Atomics.load(c, DONE_JOBS) > MAX_QUEUED) failed();
        },
        finish: () => {
          while (Atomics.load(c, STATE) === RUNNING) Atomics.wait(c, STATE, RUNNING);
          const state = Atomics.load(c, STATE);
          Atomics.store(c, STATE, IDLE);
          if (state === FAILED) failed();
        },
      };
    });
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
