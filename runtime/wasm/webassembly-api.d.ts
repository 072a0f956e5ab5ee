// The WebAssembly JS API as Node 20 provides it; TypeScript's own declarations live in the DOM lib,
// which a Node library should not pull in.
export {};

declare global {
  // Node 20's lib types omit WebAssembly's JS API in pure ES lib setups; declare the parts used here.
  namespace WebAssembly {
    class Memory {
      constructor(descriptor: { initial: number; maximum?: number; shared?: boolean });
      readonly buffer: ArrayBuffer | SharedArrayBuffer;
      grow(pages: number): number;
    }
    class Module {
      constructor(bytes: ArrayBufferView | ArrayBuffer);
    }
    class Instance {
      constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
      readonly exports: Record<string, unknown>;
    }
    function validate(bytes: ArrayBufferView | ArrayBuffer): boolean;
    function instantiate(
      bytes: ArrayBufferView | ArrayBuffer,
      imports?: Record<string, Record<string, unknown>>,
    ): Promise<{ module: Module; instance: Instance }>;
  }
}
