// The memory plan of a Flux transformer whose parameters do not all fit the device budget: the
// non-block parameters and as many transformer blocks as fit stay resident; the last double-stream and
// the last single-stream blocks are kept on the host (typed arrays read once at load) and written into a
// few device slots just before they run (docs/memory-plan.md).
//
// Ordering on WebGPU: launches are recorded and submitted at flush(), while queue.writeBuffer takes its
// place in the queue at once. Backend.write() therefore submits everything recorded before it first, so
// a slot is overwritten only after all work recorded so far, which includes every block that read the
// slot's previous contents. Correctness does not depend on the number of slots; the upload of the next
// streamed block is issued right after the current block is recorded (leave()), so its host-side copy
// overlaps the GPU's work on the blocks already submitted. On one WebGPU queue the transfer itself is
// ordered with the compute, not concurrent with it.
import type { Backend, StagedData } from '../../backend.js';
import { ggmlBytes, type QuantTypeName } from '../../quant/ggml-types.js';
import { QuantizedMatrix } from '../../quant/quantized-matrix.js';
import { heldBytes, RowSplitMatrix, splitRows, type Weight } from '../../row-split.js';
import type { Tensor } from '../../tensor.js';
import { MemoryLimitError } from '../limits.js';
import type { FluxConfig } from './config.js';

export type BlockKind = 'double' | 'single';

/** The host copy of one device part of a streamed block. */
export interface HostPart {
  /** The parameter's shape ([N, K] for a quantized matrix). */
  shape: number[];
  /** f32 values, f16 bit patterns, or (quant set) the ggml blocks as little-endian u32 words. */
  data: Float32Array | Uint16Array | Uint32Array;
  /** The ggml type of a quantized matrix; absent for dense tensors. */
  quant?: QuantTypeName;
}

/** Which block a device-part name belongs to ("double_blocks.3.img_mlp.0.weight"), if any. */
export function blockOf(name: string): { kind: BlockKind; index: number; local: string } | null {
  const m = /^(double|single)_blocks\.(\d+)\.(.+)$/.exec(name);
  return m ? { kind: m[1] as BlockKind, index: Number(m[2]), local: m[3]! } : null;
}

/** One device part's size, and what decides whether two blocks can share a slot tensor for it. */
export interface PartSize {
  name: string;
  bytes: number;
  /** Equal signatures can share storage ("f16 3072x3072", "Q4_K 12345 words"). */
  signature: string;
}

export interface ResidencyPlan {
  /** Device slots per block kind that has streamed blocks. */
  slots: number;
  /** Streamed block indices, ascending (the last blocks of each kind). */
  double: number[];
  single: number[];
  /** The budget the plan was made for, and what it holds. */
  budgetBytes: number;
  /** Parameters outside the blocks (embedders, final layer): always resident. */
  fixedBytes: number;
  residentBlockBytes: number;
  /** The streaming slots' device memory. */
  slotBytes: number;
  /** Bytes written to the device per forward (the streamed blocks' parameters). */
  streamedBytes: number;
}

/** Slot of a streamed block: its rank among the streamed blocks of its kind, modulo the slots. */
function slotKey(slot: number, local: string, signature: string): string {
  return `${slot}|${local}|${signature}`;
}

/** The slot storage a set of streamed blocks needs (one tensor per slot, local name and signature). */
function slotBytesOf(
  byBlock: Map<string, PartSize[]>,
  kind: BlockKind,
  streamed: number[],
  slots: number,
): number {
  const seen = new Map<string, number>();
  for (const [k, index] of streamed.entries())
    for (const p of byBlock.get(`${kind}:${index}`) ?? [])
      seen.set(slotKey(k % slots, blockOf(p.name)!.local, p.signature), p.bytes);
  let n = 0;
  for (const b of seen.values()) n += b;
  return n;
}

/**
 * Which blocks stay resident under `budgetBytes` of device memory for the parameters: everything when
 * it all fits (no blocks streamed); otherwise the split of resident double and single blocks that keeps
 * the most bytes resident (so the fewest are written per forward) once the slots are paid for. Streamed
 * blocks are the last ones of each kind. Throws a MemoryLimitError when even streaming every block
 * does not fit.
 */
export function planResidency(
  config: FluxConfig,
  parts: Iterable<PartSize>,
  budgetBytes: number,
  slots = 2,
): ResidencyPlan {
  if (!Number.isInteger(slots) || slots < 1 || slots > 8)
    throw new RangeError(`streaming slots must be an integer in [1, 8], got ${slots}`);
  if (!(budgetBytes >= 0))
    throw new RangeError(`the parameter budget must be >= 0 bytes, got ${budgetBytes}`);
  const D = config.depth;
  const S = config.depth_single_blocks;
  let fixedBytes = 0;
  const byBlock = new Map<string, PartSize[]>();
  const blockBytes = { double: new Array<number>(D).fill(0), single: new Array<number>(S).fill(0) };
  for (const p of parts) {
    const b = blockOf(p.name);
    if (!b) {
      fixedBytes += p.bytes;
      continue;
    }
    const key = `${b.kind}:${b.index}`;
    const list = byBlock.get(key) ?? [];
    list.push(p);
    byBlock.set(key, list);
    blockBytes[b.kind][b.index]! += p.bytes;
  }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
  const all = fixedBytes + sum(blockBytes.double) + sum(blockBytes.single);
  const plan = (double: number[], single: number[], slotBytes: number): ResidencyPlan => {
    const streamedBytes =
      sum(double.map((i) => blockBytes.double[i]!)) + sum(single.map((i) => blockBytes.single[i]!));
    return {
      slots,
      double,
      single,
      budgetBytes,
      fixedBytes,
      residentBlockBytes: all - fixedBytes - streamedBytes,
      slotBytes,
      streamedBytes,
    };
  };
  if (all <= budgetBytes) return plan([], [], 0);

  // prefix sums: resident blocks are the first `nd` double and `ns` single blocks
  const prefD = [0];
  for (const b of blockBytes.double) prefD.push(prefD.at(-1)! + b);
  const prefS = [0];
  for (const b of blockBytes.single) prefS.push(prefS.at(-1)! + b);
  const slotD = range(0, D + 1).map((nd) => slotBytesOf(byBlock, 'double', range(nd, D), slots));
  const slotS = range(0, S + 1).map((ns) => slotBytesOf(byBlock, 'single', range(ns, S), slots));
  let best: { nd: number; ns: number; resident: number } | null = null;
  for (let nd = 0; nd <= D; nd++)
    for (let ns = 0; ns <= S; ns++) {
      const resident = prefD[nd]! + prefS[ns]!;
      if (fixedBytes + resident + slotD[nd]! + slotS[ns]! > budgetBytes) continue;
      if (!best || resident > best.resident || (resident === best.resident && nd + ns > best.nd + best.ns))
        best = { nd, ns, resident };
    }
  if (!best) {
    const least = fixedBytes + slotD[0]! + slotS[0]!;
    throw new MemoryLimitError(
      `the transformer's parameters need at least ${sizeText(least)} of device memory even with every block streamed (${sizeText(fixedBytes)} outside the blocks + ${slots} slot${slots > 1 ? 's' : ''} per block kind ${sizeText(slotD[0]! + slotS[0]!)}); the budget for them is ${sizeText(budgetBytes)}`,
    );
  }
  return plan(range(best.nd, D), range(best.ns, S), slotD[best.nd]! + slotS[best.ns]!);
}

/** "5.12 GiB", "12.3 MiB", "40.0 KiB": precise enough for budgets of tiny test models too. */
export function sizeText(b: number): string {
  if (b >= 2 ** 30) return `${(b / 2 ** 30).toFixed(2)} GiB`;
  if (b >= 2 ** 20) return `${(b / 2 ** 20).toFixed(1)} MiB`;
  return `${(b / 2 ** 10).toFixed(1)} KiB`;
}

/** "streaming 5/19 double + 12/38 single blocks (1.9 GiB per forward) through 2 slots (540 MiB); 5.1 GiB resident". */
export function describePlan(p: ResidencyPlan, config: FluxConfig): string {
  if (!p.double.length && !p.single.length) return 'all blocks resident';
  return `streaming ${p.double.length}/${config.depth} double + ${p.single.length}/${config.depth_single_blocks} single blocks (${sizeText(p.streamedBytes)} written per forward) through ${p.slots} slot${p.slots > 1 ? 's' : ''} per kind (${sizeText(p.slotBytes)}); ${sizeText(p.fixedBytes + p.residentBlockBytes)} resident`;
}

/** Whether a device-part name belongs to a block the plan streams. */
export function isStreamed(plan: ResidencyPlan | null, name: string): boolean {
  if (!plan) return false;
  const b = blockOf(name);
  return b !== null && (b.kind === 'double' ? plan.double : plan.single).includes(b.index);
}

/**
 * Keeps the streamed blocks' host copies and their device slots, and writes a block into its slot before
 * it runs. `views` maps every streamed part name to the weight over its slot storage, for the module
 * tree; the tree of a streamed block never changes, only the slot's contents.
 */
export class BlockStreamer {
  /** Streamed part name -> the weight its block's tree uses (over slot storage). */
  readonly views = new Map<string, Weight>();
  /** Blocks written and bytes uploaded since construction (tests, benchmarks). */
  uploads = 0;
  uploadedBytes = 0;

  private readonly slotTensors = new Map<string, Tensor[]>();
  /** Per streamed part name: its slot tensors (one per row piece) and host data pieces. */
  private readonly parts = new Map<string, { tensors: Tensor[]; staged: StagedData[] }[]>();
  /** What each slot holds now: "double:3" or null. */
  private readonly holds = new Map<string, string | null>();
  /** Streamed blocks in execution order. */
  private readonly order: { kind: BlockKind; index: number }[];

  constructor(
    readonly be: Backend,
    readonly plan: ResidencyPlan,
    host: Map<string, HostPart>,
    /** The largest tensor one binding can hold (be.maxTensorBytes()); larger matrices are row-split. */
    maxTensorBytes = be.maxTensorBytes(),
  ) {
    this.order = [
      ...plan.double.map((index) => ({ kind: 'double' as const, index })),
      ...plan.single.map((index) => ({ kind: 'single' as const, index })),
    ];
    const rank = new Map<string, number>();
    for (const [k, i] of plan.double.entries()) rank.set(`double:${i}`, k);
    for (const [k, i] of plan.single.entries()) rank.set(`single:${i}`, k);
    try {
      for (const [name, part] of host) {
        const b = blockOf(name);
        const k = b ? rank.get(`${b.kind}:${b.index}`) : undefined;
        if (!b || k === undefined) throw new Error(`internal: host part ${name} is not in a streamed block`);
        const slot = k % plan.slots;
        const pieces = splitHostPart(part, maxTensorBytes);
        const key = slotKey(slot, b.local, signatureOf(part));
        let tensors = this.slotTensors.get(key);
        if (!tensors) {
          tensors = pieces.map((p) => this.be.keep(this.be.empty(deviceShape(p), deviceDtype(p))));
          this.slotTensors.set(key, tensors);
        }
        const staged = pieces.map((p) => this.be.stage(p.data, deviceDtype(p)));
        const entry = { tensors, staged };
        const list = this.parts.get(`${b.kind}:${b.index}`) ?? [];
        list.push(entry);
        this.parts.set(`${b.kind}:${b.index}`, list);
        this.views.set(name, weightOver(part, pieces, tensors));
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** Device bytes of the slots. */
  get slotBytes(): number {
    let n = 0;
    for (const ts of this.slotTensors.values()) for (const t of ts) n += heldBytes(t);
    return n;
  }

  private slotOf(kind: BlockKind, index: number): string {
    const list = kind === 'double' ? this.plan.double : this.plan.single;
    return `${kind}:${list.indexOf(index) % this.plan.slots}`;
  }

  private streamed(kind: BlockKind, index: number): boolean {
    return this.parts.has(`${kind}:${index}`);
  }

  /** Writes a streamed block into its slot unless the slot holds it already; no-op for resident blocks. */
  enter(kind: BlockKind, index: number): void {
    if (!this.streamed(kind, index)) return;
    const slot = this.slotOf(kind, index);
    const id = `${kind}:${index}`;
    if (this.holds.get(slot) === id) return;
    this.holds.set(slot, null); // a failed write leaves the slot unknown
    for (const { tensors, staged } of this.parts.get(id)!)
      staged.forEach((s, j) => {
        this.be.writeStaged(tensors[j]!, s);
        this.uploadedBytes += s.bytes;
      });
    this.uploads++;
    this.holds.set(slot, id);
  }

  /**
   * Called once a block's launches are recorded: writes the next streamed block in execution order
   * (wrapping to the next forward's first) into its slot, so the host copy overlaps the GPU's work.
   */
  leave(kind: BlockKind, index: number): void {
    if (!this.order.length) return;
    const at = execPos(kind, index);
    const next = this.order.find((b) => execPos(b.kind, b.index) > at) ?? this.order[0]!;
    if (next.kind === kind && next.index === index) return;
    this.enter(next.kind, next.index);
  }

  dispose(): void {
    for (const ts of this.slotTensors.values()) for (const t of ts) t.dispose();
    this.slotTensors.clear();
    for (const list of this.parts.values()) for (const p of list) for (const s of p.staged) s.dispose();
    this.parts.clear();
    this.views.clear();
    this.holds.clear();
  }
}

function signatureOf(p: HostPart): string {
  return p.quant
    ? `${p.quant} ${p.shape.join('x')}`
    : `${p.data instanceof Float32Array ? 'f32v' : 'f16b'} ${p.shape.join('x')}`;
}

function deviceDtype(p: HostPart): 'f32' | 'f16' | 'u32' {
  if (p.quant) return 'u32';
  return p.data instanceof Uint16Array ? 'f16' : 'f32';
}

function deviceShape(p: HostPart): number[] {
  return p.quant ? [p.data.length] : p.shape;
}

/** The host part as row pieces that each fit one binding (itself when it fits). */
export function splitHostPart(p: HostPart, maxTensorBytes: number): HostPart[] {
  const bytesPerValue = p.data instanceof Uint16Array ? 2 : 4;
  if (p.shape.length !== 2 || p.data.byteLength <= maxTensorBytes) return [p];
  const [N, K] = p.shape as [number, number];
  if (p.quant) {
    const rowBytes = ggmlBytes(p.quant, K);
    const bytes = new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength);
    return splitRows(N, rowBytes, maxTensorBytes).map(([r0, r1]) => {
      const words = new Uint32Array(Math.ceil(((r1 - r0) * rowBytes) / 4));
      new Uint8Array(words.buffer).set(bytes.subarray(r0 * rowBytes, r1 * rowBytes));
      return { shape: [r1 - r0, K], data: words, quant: p.quant };
    });
  }
  return splitRows(N, K * bytesPerValue, maxTensorBytes).map(([r0, r1]) => ({
    shape: [r1 - r0, K],
    data: p.data.subarray(r0 * K, r1 * K),
  }));
}

/** Execution order of the blocks: every double-stream block before every single-stream one. */
function execPos(kind: BlockKind, index: number): number {
  return kind === 'double' ? index : 1e6 + index;
}

/** Uploads one part (row-split when larger than one binding) and returns the weight over it. */
export function uploadPart(be: Backend, p: HostPart, maxTensorBytes = be.maxTensorBytes()): Weight {
  const pieces = splitHostPart(p, maxTensorBytes);
  const tensors: Tensor[] = [];
  try {
    for (const h of pieces) {
      const t = be.empty(deviceShape(h), deviceDtype(h));
      tensors.push(be.keep(t));
      be.write(t, h.data);
    }
  } catch (e) {
    for (const t of tensors) t.dispose();
    throw e;
  }
  return weightOver(p, pieces, tensors);
}

/** The weight a block's tree holds for a part: over one slot tensor, or row pieces of several. */
function weightOver(p: HostPart, pieces: HostPart[], tensors: Tensor[]): Weight {
  const one = (h: HostPart, t: Tensor) =>
    h.quant ? new QuantizedMatrix(h.quant, [h.shape[0]!, h.shape[1]!], t) : t;
  if (pieces.length === 1) return one(pieces[0]!, tensors[0]!);
  return new RowSplitMatrix(
    [p.shape[0]!, p.shape[1]!],
    pieces.map((h, j) => one(h, tensors[j]!)),
  );
}
