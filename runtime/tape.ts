/**
 * The call tape: what a compiled module's exported `run` executes, one record after another, in one
 * call from JavaScript. A record is i32 words: an opcode, then its operands. Kernel calls are
 * opcode `TAPE.firstKernel + f` (f the function's index in the module's export list) followed by
 * the function's arguments, so the module's `run` dispatches every record with one `br_table`.
 * The code generator (compiler/codegen/run.ts) and the runtime's recorder read this one table.
 */
export const TAPE = {
  /** [end]: `run` returns. */
  end: 0,
  /** [parallel, words, count, ...count kernel records]: jobs split across threads (the first on the calling thread). */
  parallel: 1,
  /** [copy, dst, src, bytes]: memory.copy (overlapping ranges allowed). */
  copy: 2,
  /** [addFloat32, dst, src, count]: dst[i] += src[i], float32. */
  addFloat32: 3,
  /** [addFloat64, dst, src, count]: dst[i] += src[i], float64. */
  addFloat64: 4,
  /** [store, dst, count, ...count words]: the words copied to dst. */
  store: 5,
  /** [zero, dst, bytes]: memory.fill with zeros. */
  zero: 6,
  /** [bump, count, ...count (address, delta) pairs]: the i32 at each address grows by its delta (a loop's strided tape words). */
  bump: 7,
  /**
   * [repeat, remaining, back, stop]: the end of a loop's body. `remaining` drops by one, in place; while
   * it is not zero and the byte at `stop` is (or `stop` is -1), the tape goes back `back` words.
   */
  repeat: 8,
  /** Opcodes from here on call kernel function (opcode − firstKernel). */
  firstKernel: 16,
} as const;

/** The name under which a module imports the thread split of a `parallel` record from its host. */
export const PARALLEL_IMPORT = 'parallel';
/** The module's export that runs a tape. */
export const RUN_EXPORT = 'run';

/** Builds a tape's words. */
export class TapeWriter {
  readonly words: number[] = [];

  call(fn: number, args: readonly number[]): void {
    this.words.push(TAPE.firstKernel + fn, ...args);
  }

  parallel(jobs: readonly (readonly [number, readonly number[]])[]): void {
    const start = this.words.length;
    this.words.push(TAPE.parallel, 0, jobs.length);
    for (const [fn, args] of jobs) this.call(fn, args);
    this.words[start + 1] = this.words.length - start;
  }

  copy(dst: number, src: number, bytes: number): void {
    if (bytes > 0) this.words.push(TAPE.copy, dst, src, bytes);
  }

  add(dtype: 'float32' | 'float64', dst: number, src: number, count: number): void {
    if (count > 0) this.words.push(dtype === 'float32' ? TAPE.addFloat32 : TAPE.addFloat64, dst, src, count);
  }

  store(dst: number, words: readonly number[]): void {
    this.words.push(TAPE.store, dst, words.length, ...words);
  }

  zero(dst: number, bytes: number): void {
    if (bytes > 0) this.words.push(TAPE.zero, dst, bytes);
  }

  bump(pairs: readonly (readonly [number, number])[]): void {
    if (pairs.length) this.words.push(TAPE.bump, pairs.length, ...pairs.flat());
  }

  /** Closes a loop whose body starts at word `start`, run `count` times (stopping early when the byte at `stop` is set). */
  repeat(start: number, count: number, stop = -1): void {
    this.words.push(TAPE.repeat, count, this.words.length - start, stop);
  }

  end(): void {
    this.words.push(TAPE.end);
  }
}

/** The jobs of the `parallel` record `words` (function index, arguments), given each function's arity. */
export function parallelJobs(words: ArrayLike<number>, arity: (fn: number) => number): [number, number[]][] {
  const count = words[2]!;
  const jobs: [number, number[]][] = [];
  let p = 3;
  for (let j = 0; j < count; j++) {
    const fn = words[p]! - TAPE.firstKernel;
    const n = arity(fn);
    const args = new Array<number>(n);
    for (let i = 0; i < n; i++) args[i] = words[p + 1 + i]!;
    jobs.push([fn, args]);
    p += 1 + n;
  }
  return jobs;
}
