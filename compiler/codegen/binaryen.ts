/** Loads binaryen lazily: it costs ~0.26 s and ~80 MB, so only compiling (never running) code pays for it. */
export type Binaryen = typeof import('binaryen').default;
export type Module = InstanceType<Binaryen['Module']>;
export type Expr = number;

let loading: Promise<Binaryen> | undefined;
let loaded: Binaryen | undefined;
export function loadBinaryen(): Promise<Binaryen> {
  loading ??= import('binaryen').then((m) => (loaded = m.default));
  return loading;
}

/** binaryen once `loadBinaryen()` has resolved (what synchronous compilation needs), else undefined. */
export const loadedBinaryen = (): Binaryen | undefined => loaded;
