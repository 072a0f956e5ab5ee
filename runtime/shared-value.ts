import type { DType } from './dtype.js';
import type { NDArray } from './ndarray.js';

/** A place other than JavaScript memory that holds a shared variable's newest value (a compiled function's wasm memory). */
export interface Residence {
  /** A JavaScript copy of the value it holds for `shared`. */
  readBack(shared: SharedValue): NDArray;
}

/**
 * The holder of a shared variable's value. A compiled function that updates the variable may keep
 * the new value in its own wasm memory (so the next call neither copies it in nor out); the value
 * is then read back only when something else asks for it.
 */
export class SharedValue {
  private current: NDArray | undefined;
  private home: Residence | undefined;
  readonly dtype: DType;
  private currentShape: readonly number[];

  constructor(
    readonly name: string,
    value: NDArray,
  ) {
    this.current = value;
    this.dtype = value.dtype;
    this.currentShape = [...value.shape];
  }

  /** The value's shape: `set` may change it (Theano's set_value); compiled functions then recompile. */
  get shape(): readonly number[] {
    return this.currentShape;
  }

  /** The value, read back into JavaScript memory if a compiled function holds the newest one. */
  get value(): NDArray {
    this.current ??= this.home!.readBack(this);
    return this.current;
  }

  /** A new value from JavaScript (already checked against the variable's dtype and rank). */
  set value(v: NDArray) {
    this.current = v;
    this.home = undefined;
    if (v.shape.length !== this.currentShape.length || v.shape.some((d, i) => d !== this.currentShape[i]))
      this.currentShape = [...v.shape];
  }

  /** The value if it is in JavaScript memory, without reading anything back. */
  peek(): NDArray | undefined {
    return this.current;
  }

  /** `home` now holds the newest value; any JavaScript copy is stale. */
  movedTo(home: Residence): void {
    this.current = undefined;
    this.home = home;
  }

  /** Whether `home` holds the newest value. */
  livesIn(home: Residence): boolean {
    return this.home === home;
  }
}
