/**
 * Replacement kernels for tfjs' WASM backend, where its stock kernels fall off the fast path.
 *
 * Measured (shared/notes/ml-runtime.md): stock wasm trains a small GPT at ~40 tokens/s because
 *  - BatchMatMul only reaches XNNPACK for a plain product with no transpose flags and one batch; autodiff's
 *    gradients use the transposed forms and attention uses batches, which fall into a scalar loop;
 *  - Slice copies the *whole* input out of the wasm heap (readSync) for every slice;
 *  - Sum over leading axes (bias gradients) transposes its input first;
 *  - Identity copies (the autodiff tape clones every tensor it saves).
 * These kernels keep the same semantics: BatchMatMul materialises transposes with the (C++) Transpose
 * kernel and then runs one plain 2-D XNNPACK product per batch on *views* of the heap (temporary tensor
 * ids registered at offsets inside the operands, no copies); Slice reads through a heap view.
 * With the native kernels built (native-kernels.ts) products of 8 rows or more skip all that: they read
 * the operands in the heap, transposed or not, ~4x faster than XNNPACK's wasm SIMD; and GELU becomes one
 * fused kernel each way (FUSED_GELU, used by the model when it is registered), where tfjs composes it of
 * nine elementwise ops forward, more backward, and a scalar tanh; likewise AdamW's update (FUSED_ADAMW,
 * used by training/optim.ts), column sums, dropout (FUSED_DROPOUT: tfjs draws its masks in JavaScript), and the
 * sampler's one-query attention over its KV cache (ATTEND_ONE: tfjs ops build four cache-sized temporaries per layer).
 * Embedding lookups are written as one-hot matmuls by the model (vocab is 128), so no Gather gradient
 * (UnsortedSegmentSum, missing on wasm) is ever needed.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { nativeKernels, type NativeKernels } from './native-kernels.js';

/** The parts of tfjs-backend-wasm's BackendWasm these kernels use (not exported as types by tfjs). */
interface WasmBackend {
  wasm: {
    cwrap(name: string, ret: null, args: string[]): (...args: unknown[]) => void;
    HEAPU8: Uint8Array;
    tfjs: { registerTensor(id: number, size: number, offset: number): void; disposeData(id: number): void };
  };
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  incRef(dataId: object): void;
  disposeData(dataId: object): boolean;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

let installed = false;
/** Temporary C++ tensor ids for heap views; far above tfjs' own counter so they never collide. */
let nextViewId = 1 << 30;

export function installFastWasmKernels(): void {
  if (installed) return;
  installed = true;
  override({ kernelName: 'BatchMatMul', backendName: 'wasm', setupFunc: setupMatMul, kernelFunc: batchMatMul as unknown as KernelFunc });
  override({ kernelName: 'Slice', backendName: 'wasm', kernelFunc: sliceFromHeap as unknown as KernelFunc });
  stockSum = tf.getKernel('Sum', 'wasm')!.kernelFunc;
  override({ kernelName: 'Sum', backendName: 'wasm', kernelFunc: sumLeadingAxes as unknown as KernelFunc });
  override({ kernelName: 'Identity', backendName: 'wasm', kernelFunc: identityShared as unknown as KernelFunc });
  if (nativeKernels()) {
    override({ kernelName: FUSED_GELU, backendName: 'wasm', kernelFunc: nativeGelu as unknown as KernelFunc });
    override({ kernelName: FUSED_GELU_GRAD, backendName: 'wasm', kernelFunc: nativeGeluGrad as unknown as KernelFunc });
    override({ kernelName: FUSED_ADAMW, backendName: 'wasm', kernelFunc: nativeAdamW as unknown as KernelFunc });
    override({ kernelName: SUM_SQUARES, backendName: 'wasm', kernelFunc: nativeSumSquares as unknown as KernelFunc });
    override({ kernelName: FUSED_DROPOUT, backendName: 'wasm', kernelFunc: nativeDropout as unknown as KernelFunc });
    override({ kernelName: ATTEND_ONE, backendName: 'wasm', kernelFunc: nativeAttendOne as unknown as KernelFunc });
  }
}

function override(config: KernelConfig): void {
  if (tf.getKernel(config.kernelName, config.backendName)) tf.unregisterKernel(config.kernelName, config.backendName);
  tf.registerKernel(config);
  // setupFunc runs when a backend registers; ours is already registered, so run it now.
  if (config.setupFunc) config.setupFunc(tf.findBackend('wasm') as never);
}

// --- BatchMatMul --------------------------------------------------------------------------------------

let wasmBatchMatMul: (...args: unknown[]) => void;
let wasmTranspose: KernelFunc | undefined;

function setupMatMul(backend: object): void {
  const b = backend as WasmBackend;
  wasmBatchMatMul = b.wasm.cwrap('BatchMatMul', null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number']);
}

function transposeLastTwo(x: TensorInfo, backend: WasmBackend): TensorInfo {
  wasmTranspose ??= tf.getKernel('Transpose', 'wasm')!.kernelFunc;
  const rank = x.shape.length;
  const perm = [...Array(rank).keys()];
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return wasmTranspose({ inputs: { x }, backend: backend as never, attrs: { perm } }) as TensorInfo;
}

function shapeBytes(shape: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

/** Below this many rows (one-token sampling steps) XNNPACK's cache of packed weights beats packing them again. */
const NATIVE_MIN_ROWS = 8;

function batchMatMul(args: { inputs: { a: TensorInfo; b: TensorInfo }; backend: WasmBackend; attrs: { transposeA: boolean; transposeB: boolean } }): TensorInfo {
  const { backend } = args;
  const { transposeA, transposeB } = args.attrs;
  if (args.inputs.a.dtype !== 'float32' || args.inputs.b.dtype !== 'float32') throw new Error('BatchMatMul: float32 only');
  const { m, k, n } = productDims(args.inputs.a, args.inputs.b, transposeA, transposeB);
  const native = nativeKernels();
  if (native && m >= NATIVE_MIN_ROWS) return nativeBatchMatMul(native, args, { m, k, n });
  const a = transposeA ? transposeLastTwo(args.inputs.a, backend) : args.inputs.a;
  const b = transposeB ? transposeLastTwo(args.inputs.b, backend) : args.inputs.b;
  try {
    const { outer, batch, batchA, batchB } = batches(a, b);
    const out = backend.makeOutput([...outer, m, n], 'float32');
    if (batch === 1) {
      // One plain product: use the operands' own ids, so XNNPACK's packed-weights cache (keyed by the
      // right operand's id) is reused across calls — what keeps one-token sampling steps cheap.
      const id = (t: TensorInfo) => backend.dataIdMap.get(t.dataId).id;
      wasmBatchMatMul(id(a), shapeBytes([1, m, k]), 3, id(b), shapeBytes([1, k, n]), 3, false, false, id(out));
      return out;
    }
    const aOff = backend.dataIdMap.get(a.dataId).memoryOffset;
    const bOff = backend.dataIdMap.get(b.dataId).memoryOffset;
    const outOff = backend.dataIdMap.get(out.dataId).memoryOffset;
    const aShape = shapeBytes([1, m, k]);
    const bShape = shapeBytes([1, k, n]);
    const { registerTensor, disposeData } = backend.wasm.tfjs;
    // A shared right operand is registered once, so XNNPACK packs its weights once for all batches.
    const sharedB = batchB === 1 ? nextViewId++ : -1;
    if (sharedB >= 0) registerTensor(sharedB, k * n, bOff);
    for (let i = 0; i < batch; i++) {
      const aId = nextViewId++;
      const outId = nextViewId++;
      const bId = sharedB >= 0 ? sharedB : nextViewId++;
      registerTensor(aId, m * k, aOff + (batchA === 1 ? 0 : i * m * k * 4));
      if (sharedB < 0) registerTensor(bId, k * n, bOff + i * k * n * 4);
      registerTensor(outId, m * n, outOff + i * m * n * 4);
      wasmBatchMatMul(aId, aShape, 3, bId, bShape, 3, false, false, outId);
      disposeData(aId);
      disposeData(outId);
      if (sharedB < 0) disposeData(bId);
    }
    if (sharedB >= 0) disposeData(sharedB);
    if (nextViewId > 2 ** 31 - 1000) nextViewId = 1 << 30;
    return out;
  } finally {
    if (a !== args.inputs.a) backend.disposeData(a.dataId);
    if (b !== args.inputs.b) backend.disposeData(b.dataId);
  }
}

/** Rows, inner and columns of op(a) · op(b); throws when the inner dimensions differ. */
function productDims(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): { m: number; k: number; n: number } {
  const [m, k] = transposeA ? [a.shape.at(-1)!, a.shape.at(-2)!] : [a.shape.at(-2)!, a.shape.at(-1)!];
  const [k2, n] = transposeB ? [b.shape.at(-1)!, b.shape.at(-2)!] : [b.shape.at(-2)!, b.shape.at(-1)!];
  if (k !== k2) throw new Error(`matMul: inner dimensions ${k} and ${k2} differ (shapes ${a.shape} × ${b.shape})`);
  return { m, k, n };
}

/** The broadcast batch shape of a product and how many matrices each operand holds (all or one). */
function batches(a: TensorInfo, b: TensorInfo): { outer: number[]; batch: number; batchA: number; batchB: number } {
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const outer = tf.backend_util.assertAndGetBroadcastShape(outerA, outerB);
  const batchA = tf.util.sizeFromShape(outerA);
  const batchB = tf.util.sizeFromShape(outerB);
  const batch = tf.util.sizeFromShape(outer);
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) {
    throw new Error('BatchMatMul: only full or single-batch broadcasting is supported');
  }
  return { outer, batch, batchA, batchB };
}

/** The product on the native kernel, straight from and into the wasm heap; transposes are free there. */
function nativeBatchMatMul(
  native: NativeKernels,
  args: { inputs: { a: TensorInfo; b: TensorInfo }; backend: WasmBackend; attrs: { transposeA: boolean; transposeB: boolean } },
  { m, k, n }: { m: number; k: number; n: number },
): TensorInfo {
  const { inputs: { a, b }, backend, attrs: { transposeA, transposeB } } = args;
  const { outer, batch, batchA, batchB } = batches(a, b);
  const out = backend.makeOutput([...outer, m, n], 'float32');
  if (m * n === 0) return out;
  // The view is taken after makeOutput: allocating may grow (and so detach) the heap buffer.
  const heap = new Float32Array(backend.wasm.HEAPU8.buffer);
  const offset = (t: TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset / 4;
  native.gemm(heap, offset(a), offset(b), offset(out), batch, m, n, k, transposeA, transposeB, batchA === 1 ? 0 : m * k, batchB === 1 ? 0 : k * n);
  return out;
}

// --- GELU ---------------------------------------------------------------------------------------------

/** Kernel names of the fused GELU (inputs { x }) and its gradient (inputs { x, dy }); see gpt.ts' gelu. */
export const FUSED_GELU = 'MaestroGelu';
export const FUSED_GELU_GRAD = 'MaestroGeluGrad';

/** Offset in floats of a float32 tensor in the wasm heap. */
function heapOffset(backend: WasmBackend, t: TensorInfo): number {
  if (t.dtype !== 'float32') throw new Error(`native kernels: float32 only (got ${t.dtype})`);
  return backend.dataIdMap.get(t.dataId).memoryOffset / 4;
}

/**
 * A float32 output shaped like `x`, filled by `run` from the wasm heap (skipped for empty tensors). The heap
 * view is taken after makeOutput: allocating may grow (and so detach) the heap buffer.
 */
function elementwiseOutput(backend: WasmBackend, x: TensorInfo, run: (heap: Float32Array, outOffset: number, size: number) => void): TensorInfo {
  const out = backend.makeOutput(x.shape, 'float32');
  const size = tf.util.sizeFromShape(x.shape);
  if (size > 0) run(new Float32Array(backend.wasm.HEAPU8.buffer), heapOffset(backend, out), size);
  return out;
}

function nativeGelu(args: { inputs: { x: TensorInfo }; backend: WasmBackend }): TensorInfo {
  const { inputs: { x }, backend } = args;
  return elementwiseOutput(backend, x, (heap, out, size) => nativeKernels()!.gelu(heap, heapOffset(backend, x), out, size));
}

function nativeGeluGrad(args: { inputs: { x: TensorInfo; dy: TensorInfo }; backend: WasmBackend }): TensorInfo {
  const { inputs: { x, dy }, backend } = args;
  if (!tf.util.arraysEqual(x.shape, dy.shape)) throw new Error(`GELU gradient: shapes ${x.shape} and ${dy.shape} differ`);
  return elementwiseOutput(backend, x, (heap, out, size) => nativeKernels()!.geluGrad(heap, heapOffset(backend, x), heapOffset(backend, dy), out, size));
}

// --- AdamW and the gradient norm (used by training/optim.ts when registered) ---------------------------

/** Inputs { p, g, m, v }, attrs AdamWAttrs; outputs [p', m', v'] (new tensors: inputs are never written). */
export const FUSED_ADAMW = 'MaestroAdamW';
/** Inputs { x }; output a float32 scalar, Σ x² (accumulated in double). */
export const SUM_SQUARES = 'MaestroSumSquares';

export interface AdamWAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  /** Bias corrections 1 − β1^t and 1 − β2^t. */
  bc1: number;
  bc2: number;
  eps: number;
  /** Weight decay (0 for parameters that are not decayed). */
  decay: number;
  /** Applied to g first: gradient clipping and the mean over micro-batches. */
  gradScale: number;
}

function nativeAdamW(args: { inputs: { p: TensorInfo; g: TensorInfo; m: TensorInfo; v: TensorInfo }; backend: WasmBackend; attrs: AdamWAttrs }): TensorInfo[] {
  const { inputs: { p, g, m, v }, backend, attrs: h } = args;
  for (const t of [g, m, v]) if (!tf.util.arraysEqual(t.shape, p.shape)) throw new Error(`AdamW: shapes ${p.shape} and ${t.shape} differ`);
  const outs = [p, m, v].map((t) => backend.makeOutput(t.shape, 'float32'));
  const size = tf.util.sizeFromShape(p.shape);
  if (size > 0) {
    const hyper = new Float32Array([h.lr, h.beta1, h.beta2, h.bc1, h.bc2, h.eps, h.decay, h.gradScale]);
    const [pOut, mOut, vOut] = outs.map((t) => heapOffset(backend, t));
    const heap = new Float32Array(backend.wasm.HEAPU8.buffer);
    nativeKernels()!.adamw(heap, heapOffset(backend, p), heapOffset(backend, g), heapOffset(backend, m), heapOffset(backend, v), pOut, mOut, vOut, size, hyper);
  }
  return outs;
}

function nativeSumSquares(args: { inputs: { x: TensorInfo }; backend: WasmBackend }): TensorInfo {
  const { inputs: { x }, backend } = args;
  const out = backend.makeOutput([], 'float32');
  const sum = nativeKernels()!.sumSquares(new Float32Array(backend.wasm.HEAPU8.buffer), heapOffset(backend, x), tf.util.sizeFromShape(x.shape));
  (backend.typedArrayFromHeap(out) as Float32Array)[0] = sum;
  return out;
}

// --- Dropout ------------------------------------------------------------------------------------------

/**
 * Inputs { x }, attrs DropoutAttrs: x / (1 − rate) where kept, else 0, the mask hashed from (seed, index).
 * The same kernel with the same attrs applied to dy is its gradient (see gpt.ts' dropout).
 */
export const FUSED_DROPOUT = 'MaestroDropout';

export interface DropoutAttrs {
  rate: number;
  /** A non-negative safe integer; the same seed and shape give the same mask. */
  seed: number;
}

function nativeDropout(args: { inputs: { x: TensorInfo }; backend: WasmBackend; attrs: DropoutAttrs }): TensorInfo {
  const { inputs: { x }, backend, attrs: { rate, seed } } = args;
  return elementwiseOutput(backend, x, (heap, out, size) => nativeKernels()!.dropout(heap, heapOffset(backend, x), out, size, seed, rate));
}

// --- Sum ----------------------------------------------------------------------------------------------

let stockSum: KernelFunc;

/**
 * Sums over leading axes (every bias and LayerNorm gradient: [rows, width] → [width]) by adding rows in a
 * heap view (natively when the kernels are built): the stock kernel transposes first and then reduces,
 * ~2.5 ms for 1024 × 256 instead of ~0.7 in JS (both measured with the other core busy).
 * Every other reduction goes to the stock kernel.
 */
function sumLeadingAxes(args: { inputs: { x: TensorInfo }; backend: WasmBackend; attrs: { axis: number | number[]; keepDims: boolean } }): TensorInfo {
  const { inputs: { x }, backend, attrs } = args;
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(attrs.axis, x.shape).sort((p, q) => p - q);
  const leading = x.dtype === 'float32' && axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
  if (!leading || tf.util.sizeFromShape(x.shape) === 0) return stockSum(args as never) as TensorInfo;
  const kept = x.shape.slice(axes.length);
  const inner = tf.util.sizeFromShape(kept);
  const rows = tf.util.sizeFromShape(x.shape) / inner;
  const out = backend.makeOutput(attrs.keepDims ? [...axes.map(() => 1), ...kept] : kept, 'float32');
  const native = nativeKernels();
  if (native) {
    native.columnSums(new Float32Array(backend.wasm.HEAPU8.buffer), heapOffset(backend, x), heapOffset(backend, out), rows, inner);
    return out;
  }
  const src = backend.typedArrayFromHeap(x) as Float32Array; // views after makeOutput (which may grow the heap)
  const acc = new Float64Array(inner);
  for (let r = 0, base = 0; r < rows; r++, base += inner) for (let j = 0; j < inner; j++) acc[j] += src[base + j];
  (backend.typedArrayFromHeap(out) as Float32Array).set(acc);
  return out;
}

// --- Identity -----------------------------------------------------------------------------------------

/**
 * The autodiff tape clones every tensor it saves for the backward pass (tfjs' Engine.clone runs the
 * Identity kernel), and stock wasm's Identity copies the data: ~560 copies per training step, ~5 % of
 * it. tfjs tensors are immutable (as on the cpu backend, whose Identity does the same), so the clone shares
 * the data, counted, as wasm's own Reshape already does.
 */
function identityShared(args: { inputs: { x: TensorInfo }; backend: WasmBackend }): TensorInfo {
  const { inputs: { x }, backend } = args;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

// --- Slice --------------------------------------------------------------------------------------------

function sliceFromHeap(args: { inputs: { x: TensorInfo }; backend: WasmBackend; attrs: { begin: number | number[]; size: number | number[] } }): TensorInfo {
  const { inputs: { x }, backend } = args;
  if (x.dtype === 'string') throw new Error('Slice: string tensors are not supported by Maestro kernels');
  const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, args.attrs.begin, args.attrs.size);
  const out = backend.makeOutput(size, x.dtype);
  // Views are taken after makeOutput: allocating may grow (and so detach) the heap buffer.
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const strides = tf.util.computeStrides(x.shape);
  const rank = x.shape.length;
  if (rank === 0 || tf.slice_util.isSliceContinous(x.shape, begin, size)) {
    const start = rank === 0 ? 0 : tf.slice_util.computeFlatOffset(begin, strides);
    dst.set(src.subarray(start, start + dst.length));
    return out;
  }
  // Copy contiguous runs of the innermost dimension, walking the outer indices like an odometer.
  const inner = size[rank - 1];
  const idx = new Array<number>(rank - 1).fill(0);
  let o = 0;
  for (;;) {
    let off = begin[rank - 1];
    for (let d = 0; d < rank - 1; d++) off += (begin[d] + idx[d]) * strides[d];
    dst.set(src.subarray(off, off + inner), o);
    o += inner;
    let d = rank - 2;
    while (d >= 0 && ++idx[d] === size[d]) idx[d--] = 0;
    if (d < 0) break;
  }
  return out;
}

// --- One-query attention (GPT.step) ---------------------------------------------------------------------

/**
 * y [heads, dim] from q [heads, dim] over a cache in two parts, k0/v0 [heads, keys0, dim] then k1/v1 [heads, keys1, dim],
 * with rows erRow.. of er [M, dim] aligned with the keys; attrs { erRow, scale }.
 */
export const ATTEND_ONE = 'MaestroAttendOne';

export interface AttendOneAttrs {
  erRow: number;
  scale: number;
}

function nativeAttendOne(args: { inputs: { q: TensorInfo; k0: TensorInfo; v0: TensorInfo; k1: TensorInfo; v1: TensorInfo; er: TensorInfo }; backend: WasmBackend; attrs: AttendOneAttrs }): TensorInfo {
  const { inputs: { q, k0, v0, k1, v1, er }, backend, attrs: { erRow, scale } } = args;
  const [heads, keys0, dim] = k0.shape;
  const keys1 = k1.shape[1];
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (k0.shape.length !== 3 || !same(v0.shape, k0.shape) || !same(v1.shape, k1.shape) || !same(k1.shape, [heads, keys1, dim]) ||
      tf.util.sizeFromShape(q.shape) !== heads * dim || er.shape.length !== 2 || er.shape[1] !== dim)
    throw new Error(`${ATTEND_ONE}: shapes q ${q.shape}, k ${k0.shape} + ${k1.shape}, v ${v0.shape} + ${v1.shape}, er ${er.shape} do not fit together`);
  const keys = keys0 + keys1;
  if (!(Number.isInteger(erRow) && erRow >= 0 && erRow + keys <= er.shape[0])) throw new Error(`${ATTEND_ONE}: er rows ${erRow}..${erRow + keys - 1} outside its ${er.shape[0]}`);
  const out = backend.makeOutput([heads, dim], 'float32');
  const heap = new Float32Array(backend.wasm.HEAPU8.buffer);
  const at = (t: TensorInfo) => heapOffset(backend, t);
  nativeKernels()!.attendOne(heap, at(q), at(k0), at(v0), keys0, at(k1), at(v1), keys1, at(er) + erRow * dim, at(out), heads, dim, scale);
  return out;
}
