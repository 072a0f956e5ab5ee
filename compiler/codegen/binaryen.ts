/** Loads binaryen lazily: it costs ~0.26 s and ~80 MB, so only compiling (never running) code pays for it. */
export type Binaryen = typeof import('binaryen').default;
export type Module = InstanceType<Binaryen['Module']>;
export type Expr = number;

let loading: Promise<Binaryen> | undefined;
export function loadBinaryen(): Promise<Binaryen> {
  loading ??= import('binaryen').then((m) => m.default);
  return loading;
}
