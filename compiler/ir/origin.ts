import { fileURLToPath } from 'node:url';
import { sep } from 'node:path';

/** Where the user created a node: their file, line and column, taken from the stack at creation. */
export interface Origin {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

// The package root: frames inside our own source folders are ours, the first frame outside is the user's.
const root = fileURLToPath(new URL('../../', import.meta.url)).replace(/[\\/]+$/, '');
const internalDirs = ['src', 'compiler', 'runtime'].map((d) => root + sep + d + sep);
const distDir = root + sep + 'dist' + sep;
if (root.endsWith(sep + 'dist')) internalDirs.push(root + sep);

function isInternal(file: string): boolean {
  return (
    file.startsWith('node:') ||
    file.includes(`${sep}node_modules${sep}`) ||
    file.startsWith(distDir) ||
    internalDirs.some((d) => file.startsWith(d))
  );
}

const FRAME = /\(?((?:file:\/\/)?[^\s()]+):(\d+):(\d+)\)?$/;

let inherited: Origin | undefined;

/**
 * Runs `build` so that every node it creates takes `origin`: a rewrite's replacement keeps pointing at
 * the user line of the expression it replaces, not at the optimizer.
 */
export function withOrigin<T>(origin: Origin | undefined, build: () => T): T {
  const saved = inherited;
  inherited = origin;
  try {
    return build();
  } finally {
    inherited = saved;
  }
}

/** The first stack frame outside tsano itself, or undefined when there is none (e.g. internal rewrites). */
export function captureOrigin(): Origin | undefined {
  if (inherited) return inherited;
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 40;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  for (const line of stack.split('\n').slice(1)) {
    const m = FRAME.exec(line.trim());
    if (!m) continue;
    let file = m[1]!;
    if (file.startsWith('file://')) file = fileURLToPath(file);
    if (isInternal(file)) continue;
    return { file, line: Number(m[2]), column: Number(m[3]) };
  }
  return undefined;
}

export function formatOrigin(origin: Origin | undefined): string {
  return origin ? `${origin.file}:${origin.line}:${origin.column}` : '<unknown>';
}
