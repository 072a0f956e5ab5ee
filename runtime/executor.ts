import type { Program, Step } from './program.js';
import { TsanoError, ShapeError } from './errors.js';
import { guardFinite, summarize } from './nan-guard.js';
import { formatProfile, StepTimes, summarizeProfile, type Profile } from './profile.js';
import type { NDArray } from './ndarray.js';
import { Random } from './random.js';
import { REFERENCE_KERNELS, type Kernel, type KernelContext } from './reference/kernels.js';
import type { Op, SharedContainer } from './program.js';
import { callKey, CallRecorder, type CallPlan, type ValueSource } from './call-plan.js';

/** TSANO_DEBUG=steps prints the slowest steps of every call (read when a function is compiled: the environment is slow to read per call). */
const profiling = () => (process.env['TSANO_DEBUG'] ?? '').split(',').includes('steps');

/** Ops whose result's shape depends on operand values, not only on operand shapes: no call plan can fix it. */
const VALUE_SHAPED_OPS: ReadonlySet<Op> = new Set<Op>(['arange', 'dynamicSlice']);

/** Call shapes whose plans a function keeps at once. */
const MAX_PLANS = 16;

const sameShapes = (shapes: readonly (readonly number[])[], inputs: readonly NDArray[]) =>
  inputs.every((x, i) => {
    const s = shapes[i]!;
    return s.length === x.shape.length && s.every((d, a) => d === x.shape[a]);
  });

/** A kernel's error as the user sees it: the step's expression, its operands' shapes and the user's line. */
function stepError(step: Step, shapes: readonly (readonly number[])[], e: unknown): unknown {
  if (!(e instanceof TsanoError)) return e;
  const operands = shapes.map((s, k) => `${step.operandLabels[k]} is ${fmt(s)}`).join(', ');
  const Ctor = e.constructor as new (m: string) => TsanoError;
  return new Ctor(`${step.label}: ${e.message} (at call time: ${operands})${step.where}`);
}

const fmt = (s: readonly (number | null)[]) => `[${s.map((d) => d ?? '?').join(', ')}]`;

/** Runs some steps faster than the reference kernels; returns undefined to let the reference kernel run. */
export interface Accelerator {
  run(step: Step, operands: readonly NDArray[]): NDArray | undefined;
  /** Shared random streams' states into the accelerator's memory before a call, and back out after it. */
  streamsIn(): void;
  streamsOut(): void;
  /** Called before each call's first step; with a recorder when the call records its plan. */
  beginCall(recorder?: CallRecorder): void;
  /** Where a recorded call's tape may go (above everything the call used). */
  readonly tapePtr: number;
  /** Makes a plan's tape and constants present in the accelerator's memory. */
  install(plan: CallPlan): void;
  /** Copies a value from JavaScript to an address of the accelerator's memory. */
  write(ptr: number, data: ArrayBufferView): void;
  /** Runs an installed plan's tape from word `at`. */
  runPlanned(plan: CallPlan, at: number): void;
  /** A planned call's value in the accelerator's memory. */
  view(source: Extract<ValueSource, { kind: 'memory' }>): NDArray;
  /** The bad index a kernel reported at `status`, if any (cleared for the next call). */
  failedAt(status: number): number | undefined;
  /** Lets go of compiled code and memory now; values it holds for shared variables go back to JavaScript. */
  dispose(): void;
  /** True for values in memory the accelerator reuses on the next call (copied before returning). */
  resident(value: NDArray): boolean;
  /** The value a shared variable's slot starts a call with (possibly already in the accelerator's memory). */
  sharedInput(shared: SharedContainer): NDArray;
  /** Brings a shared variable's home in the accelerator's memory up to date, if it has one (what sharedInput does, without a view). */
  refreshShared(shared: SharedContainer): void;
  /** Applies updates; returns, for each, the JavaScript value to assign, or undefined where the accelerator kept it. */
  commit(updates: readonly (readonly [SharedContainer, NDArray])[]): (NDArray | undefined)[];
  /** A slot now holds `value`; `drop` when it no longer does, so memory of dead values is reused within the call. */
  hold(value: NDArray): void;
  drop(value: NDArray): void;
}

/**
 * Runs a Program: each step on the accelerator when it has a kernel for it (and the operands fit),
 * else on the reference kernels. Random streams live as long as the executor, so each call draws
 * fresh values while a given seed reproduces the same sequence of calls.
 */
export class Executor {
  private readonly streams = new Map<number, Random>();
  /** Call plans by call shape; null for a shape whose calls cannot be planned (they run step by step). */
  private readonly plans = new Map<string, CallPlan | null>();
  /** The plan of the last planned call and its input shapes (a loop calls with the same shapes: no key to build). */
  private lastPlan: { readonly plan: CallPlan; readonly inputs: readonly (readonly number[])[] } | undefined;
  private readonly context: (dtype: KernelContext['dtype']) => KernelContext;
  private readonly profiling = profiling();
  private readonly plannable: boolean;
  /** Steps with an accelerator kernel whose operands did not fit it at call time, over all calls. */
  referenceFallbacks = 0;

  private disposed = false;

  constructor(
    private readonly program: Program,
    private accelerator?: Accelerator,
    private readonly options: { readonly nanGuard?: boolean; readonly keepStreams?: boolean } = {},
  ) {
    this.plannable = !program.steps.some((s) => VALUE_SHAPED_OPS.has(s.op));
    this.context = (dtype) => ({
      dtype,
      random: ({ seed, stream }) => {
        if (stream) return new Random(options.keepStreams ? { state: stream.state } : stream);
        let r = this.streams.get(seed);
        if (!r) this.streams.set(seed, (r = new Random(seed)));
        return r;
      },
    });
  }

  /** Releases the accelerator (its module and memory) at once; later calls are an error. */
  dispose(): void {
    this.accelerator?.dispose();
    this.accelerator = undefined;
    this.streams.clear();
    this.disposed = true;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /**
   * Computes outputs and update values from already-validated inputs; the caller applies updates.
   * With the accelerator, the first call of each input shape runs step by step and records its plan;
   * later calls of that shape run the plan (one call into wasm). The NaN guard and profiles need
   * every step's value, so they always run step by step.
   */
  run(inputs: readonly NDArray[], times?: StepTimes): { outputs: NDArray[]; updates: NDArray[] } {
    const accelerator = this.accelerator;
    if (!accelerator) return this.runCall(inputs, times);
    accelerator.streamsIn();
    try {
      return this.runCall(inputs, times);
    } finally {
      if (!this.options.keepStreams) accelerator.streamsOut();
    }
  }

  private runCall(inputs: readonly NDArray[], times?: StepTimes): { outputs: NDArray[]; updates: NDArray[] } {
    const accelerator = this.accelerator;
    const planning =
      accelerator !== undefined && this.plannable && this.options.nanGuard !== true && !times && !this.profiling;
    let recorder: CallRecorder | undefined;
    let key = '';
    if (planning) {
      const last = this.lastPlan;
      if (last && sameShapes(last.inputs, inputs)) return this.runPlan(accelerator, last.plan, inputs);
      key = callKey(inputs);
      const plan = this.plans.get(key);
      if (plan) this.lastPlan = { plan, inputs: inputs.map((x) => x.shape) };
      if (plan) return this.runPlan(accelerator, plan, inputs);
      if (plan === undefined) {
        // A function called with ever new shapes keeps the plans of its recent ones.
        if (this.plans.size >= MAX_PLANS) (this.plans.clear(), (this.lastPlan = undefined));
        recorder = new CallRecorder(accelerator);
      }
    }
    const result = this.runSteps(inputs, times, recorder);
    if (recorder) this.plans.set(key, recorder.finish(result.outputs, result.updates, accelerator!.tapePtr) ?? null);
    const detach = (v: NDArray) => (this.accelerator?.resident(v) ? v.clone() : v);
    // Update values stay where they are: commit decides whether they leave the accelerator's memory.
    return { outputs: result.outputs.map(detach), updates: result.updates };
  }

  /** The plan calls with these inputs' shapes run by, once one has been recorded (null: they run step by step). */
  planFor(inputs: readonly NDArray[]): CallPlan | null | undefined {
    return this.plans.get(callKey(inputs));
  }

  /** A call by its plan: inputs copied in, the tape run (reference steps between its segments), outputs read. */
  private runPlan(
    accelerator: Accelerator,
    plan: CallPlan,
    inputs: readonly NDArray[],
  ): { outputs: NDArray[]; updates: NDArray[] } {
    const shared = this.program.shared;
    for (let i = 0; i < shared.length; i++) accelerator.refreshShared(shared[i]!.container);
    accelerator.install(plan);
    // Results of reference steps by slot; most plans have none (then no map is made).
    let computed: Map<number, NDArray> | undefined;
    for (const item of plan.items) {
      if (item.kind === 'wasm') {
        for (const c of item.copyIns) accelerator.write(c.ptr, this.planned(c.source, inputs, computed).data);
        accelerator.runPlanned(plan, item.at);
        for (const check of item.checks) {
          const bad = accelerator.failedAt(check.ptr);
          if (bad !== undefined) throw stepError(check.step, check.shapes, check.error(bad));
        }
      } else {
        const { step } = item;
        const operands = item.operands.map((o) => this.planned(o, inputs, computed));
        const result = this.atStep(step, operands, () =>
          (REFERENCE_KERNELS[step.op] as Kernel<Op>)(operands, step.args, this.context(step.dtype)),
        );
        (computed ??= new Map()).set(step.out, result.dtype === step.dtype ? result : result.astype(step.dtype));
      }
    }
    this.referenceFallbacks += plan.fallbacks;
    const outputs = new Array<NDArray>(plan.outputs.length);
    for (let k = 0; k < outputs.length; k++) {
      const source = plan.outputs[k]!;
      // Outputs in wasm memory are copied out: the next call overwrites them.
      outputs[k] = source.kind === 'memory' ? accelerator.view(source).clone() : this.planned(source, inputs, computed);
    }
    return { outputs, updates: plan.updates.map((u) => this.planned(u, inputs, computed)) };
  }

  /** A planned call's value, wherever its plan says it is. */
  private planned(
    source: ValueSource,
    inputs: readonly NDArray[],
    computed: Map<number, NDArray> | undefined,
  ): NDArray {
    switch (source.kind) {
      case 'memory':
        return this.accelerator!.view(source);
      case 'input':
        return source.shape ? inputs[source.index]!.reshape(source.shape) : inputs[source.index]!;
      case 'constant':
        return source.shape ? source.value.reshape(source.shape) : source.value;
      case 'step':
        return computed!.get(source.slot)!;
    }
  }

  /** Runs `compute` for `step`, naming the step and its operands' shapes in any error it raises. */
  private atStep(step: Step, operands: readonly NDArray[], compute: () => NDArray): NDArray {
    try {
      return compute();
    } catch (e) {
      throw stepError(
        step,
        operands.map((o) => o.shape),
        e,
      );
    }
  }

  private runSteps(
    inputs: readonly NDArray[],
    times: StepTimes | undefined,
    recorder: CallRecorder | undefined,
  ): { outputs: NDArray[]; updates: NDArray[] } {
    const p = this.program;
    this.accelerator?.beginCall(recorder);
    if (recorder) {
      inputs.forEach((x, index) => recorder.source(x, { kind: 'input', index }));
      for (const c of p.constants) recorder.source(c.value, { kind: 'constant', value: c.value });
    }
    const slots: (NDArray | undefined)[] = new Array(p.slotCount);
    p.inputSlots.forEach((slot, i) => (slots[slot] = inputs[i]));
    for (const c of p.constants) slots[c.slot] = c.value;
    for (const s of p.shared)
      slots[s.slot] = this.accelerator ? this.accelerator.sharedInput(s.container) : s.container.value;
    // A shared variable is read where the accelerator keeps it (a plan cannot follow a value in JavaScript).
    if (recorder) for (const s of p.shared) recorder.locate(slots[s.slot]!);
    const guard = this.options.nanGuard === true;
    if (guard) {
      for (const c of p.constants)
        guardFinite(c.value, `a constant (${c.label}, folded or written) holds`, () => c.where);
      for (const s of p.shared) guardFinite(slots[s.slot]!, `the shared variable ${s.container.name} holds`);
    }
    const timed = times ?? (this.profiling ? new StepTimes(p.steps.length) : undefined);
    if (timed) timed.calls++;
    for (let index = 0; index < p.steps.length; index++) {
      const step = p.steps[index]!;
      const started = timed ? performance.now() : 0;
      const operands = step.inputs.map((i) => slots[i]!);
      if (recorder) recorder.operandShapes = operands.map((o) => o.shape);
      let onReference = false;
      const result = this.atStep(step, operands, () => {
        const accelerated = step.kernel !== undefined ? this.accelerator?.run(step, operands) : undefined;
        if (accelerated) return accelerated;
        // An empty operand is no work (the reference kernel gives the empty or identity result), not a fallback.
        if (step.kernel !== undefined && this.accelerator && !operands.some((o) => o.size === 0)) {
          this.referenceFallbacks++;
          if (recorder) recorder.fallbacks++;
        }
        onReference = true;
        return (REFERENCE_KERNELS[step.op] as Kernel<Op>)(operands, step.args, this.context(step.dtype));
      });
      if (result.ndim !== step.shape.length || step.shape.some((d, i) => d !== null && d !== result.shape[i])) {
        throw new ShapeError(
          `${step.label}: result has shape ${fmt(result.shape)}, but the graph declares ${fmt(step.shape)}${step.where}`,
        );
      }
      const value = result.dtype === step.dtype ? result : result.astype(step.dtype);
      if (recorder) {
        if (onReference) recorder.reference(step, operands, value);
        else if (value !== result) recorder.fail('a wasm result was converted in JavaScript');
        else recorder.locate(value);
      }
      if (guard) {
        guardFinite(
          value,
          `${step.label} produced`,
          () =>
            `; its operands: ${operands.map((o, k) => `${step.operandLabels[k]} is ${summarize(o)}`).join('; ')}${step.where}`,
        );
      }
      slots[step.out] = value;
      this.accelerator?.hold(value);
      for (const r of step.release) {
        const dead = slots[r];
        slots[r] = undefined;
        if (dead) this.accelerator?.drop(dead);
      }
      timed?.record(index, step, operands, value, performance.now() - started);
    }
    if (timed && !times)
      console.error(
        `tsano: ${formatProfile(
          this.profileOf(
            timed,
            timed.ms.reduce((a, b) => a + b, 0),
          ),
          12,
        )}`,
      );
    return { outputs: p.outputSlots.map((s) => slots[s]!), updates: p.updates.map((u) => slots[u.slot]!) };
  }

  /** The profile of the calls whose step times `times` gathered. */
  profileOf(times: StepTimes, totalMs: number): Profile {
    return summarizeProfile(this.program, times, totalMs, (step) =>
      step.kernel !== undefined && this.accelerator ? 'wasm' : 'reference',
    );
  }

  /** Gives each updated shared variable its new value (values already checked); call after `run`, before the next one. */
  commit(values: readonly NDArray[]): void {
    const pairs = this.program.updates.map((u, i) => [u.container, values[i]!] as const);
    const assign = this.accelerator ? this.accelerator.commit(pairs) : values;
    pairs.forEach(([shared], i) => {
      const v = assign[i];
      if (v) shared.value = v;
    });
  }
}
