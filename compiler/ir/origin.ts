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

/** The first frame of `stack` (V8's text) outside tsano itself. */
function userFrame(stack: string): Origin | undefined {
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

/**
 * An origin read from a stack only when something asks for it. Capturing V8's structured frames costs
 * little; formatting them as text (through source maps, where a loader installed them) cost 20 µs a
 * node, most of building a graph, and almost no node's origin is ever read.
 */
class CapturedOrigin implements Origin {
  private frame: Origin | null | undefined;
  constructor(private readonly trace: { stack?: string }) {}
  /** The user's frame, or null when the stack holds none (a node built by tsano itself). */
  located(): Origin | null {
    return (this.frame ??= userFrame(this.trace.stack ?? '') ?? null);
  }
  get file(): string {
    return this.located()?.file ?? '<unknown>';
  }
  get line(): number {
    return this.located()?.line ?? 0;
  }
  get column(): number {
    return this.located()?.column ?? 0;
  }
  toJSON(): Origin | null {
    return this.located();
  }
}

/** Where the user built a node: the first stack frame outside tsano itself, read from the stack when first asked. */
export function captureOrigin(): Origin | undefined {
  if (inherited) return inherited;
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 40;
  const trace: { stack?: string } = {};
  Error.captureStackTrace(trace, captureOrigin);
  Error.stackTraceLimit = limit;
  return new CapturedOrigin(trace);
}

/** `origin` when it names a place in the user's code, else undefined (a node tsano built for itself). */
export function located(origin: Origin | undefined): Origin | undefined {
  return origin instanceof CapturedOrigin ? (origin.located() ?? undefined) : origin;
}

export function formatOrigin(origin: Origin | undefined): string {
  const where = located(origin);
  return where ? `${where.file}:${where.line}:${where.column}` : '<unknown>';
}
