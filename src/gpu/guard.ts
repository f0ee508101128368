// Guard mode: canaries around every storage buffer the runtime hands out, verified on the GPU after
// every launch and copy (src/kernels/guard_check.wgsl), so a kernel that writes past its output is
// named at the next sync() or readback instead of silently corrupting a neighbouring tensor. For tests
// and diagnosis (TOMA_GUARD=1, --guard); docs/kernels/robustness.md says what it catches and what not.
//
// Layout of a guarded buffer:  [FRONT canary bytes][tensor data, `size` bytes][TAIL canary bytes]
// Kernels bind {offset: FRONT, size}, so one word written past the data lands in the tail canary. The
// check kernel binds the whole buffer. `size` is the tensor's byte size rounded up to 4 (the binding
// granularity), not to 16 as without guard, so an overrun of one f32 element is caught.
//
// Every submit has its own record: the check kernel updates a small state buffer (which check of the
// submit failed first), which is copied out and cleared just before the submit; sync() and read()
// map those copies and throw for the first failure, naming the kernel, the binding and the launch.

import { cacheKey, type ShaderParams } from './shader.js';

/** The 32-bit pattern of every canary word (f32: -1.6e38; f16 halves: NaN and -5.7e4; no index). */
export const GUARD_CANARY = 0xfeedface;
/** Canary bytes after the data: overruns up to this far are attributed to the launch that made them. */
export const GUARD_TAIL_BYTES = 1024;
/** Buffers per check dispatch (the check kernel has 8 bindings besides its state). */
const MAX_SLOTS = 8;
/** Checks per submit before a flush is forced (keeps the sequence number below 2^27). */
export const GUARD_CHECKS_PER_SUBMIT = 4096;
const STATE_BYTES = 20;

export interface GuardRegion {
  /** Byte offset of the data in the buffer (the front canary's size). */
  offset: number;
  /** Bytes of data kernels see (the binding size). */
  size: number;
}

/** What a check follows: a kernel launch (the Launch itself) or a copy. */
export type GuardSubject = { shader: string; params?: ShaderParams; entry?: string } | 'copy';

interface Slot {
  buffer: GPUBuffer;
  /** How the failure message names it: "binding 2", "the copy's destination". */
  label: string;
}

interface CheckRecord {
  subject: GuardSubject;
  /** The runtime's launch count when the check was recorded (the launch's 1-based number). */
  launch: number;
  slots: { label: string; bytes: number }[];
}

interface Submitted {
  staging: GPUBuffer;
  checks: CheckRecord[];
}

// Shared by every runtime on a device: a buffer keeps its layout whichever runtime binds it.
const regions = new WeakMap<GPUBuffer, GuardRegion>();

export function guardRegion(buf: GPUBuffer): GuardRegion | undefined {
  return regions.get(buf);
}

export class BufferGuard {
  /** Front canary bytes: the data offset, which must be a multiple of minStorageBufferOffsetAlignment. */
  readonly front: number;
  readonly tail = GUARD_TAIL_BYTES;
  readonly maxSlots: number;
  /** The check kernel's state (see guard_check.wgsl); bound to every check. */
  readonly state: GPUBuffer;
  private readonly frontWords: Uint32Array<ArrayBuffer>;
  private readonly tailWords: Uint32Array<ArrayBuffer>;
  /** Every buffer made here and not destroyed, for repairs after a reported failure. */
  private buffers = new Set<GPUBuffer>();
  private current: CheckRecord[] = [];
  private submitted: Submitted[] = [];
  private checked = 0;

  constructor(private readonly device: GPUDevice) {
    this.front = Math.max(256, device.limits.minStorageBufferOffsetAlignment);
    this.maxSlots = Math.max(1, Math.min(MAX_SLOTS, device.limits.maxStorageBuffersPerShaderStage - 1));
    this.frontWords = new Uint32Array(this.front / 4).fill(GUARD_CANARY);
    this.tailWords = new Uint32Array(this.tail / 4).fill(GUARD_CANARY);
    this.state = device.createBuffer({
      label: 'guard state',
      size: STATE_BYTES,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
  }

  /** Bytes a buffer takes besides its data. */
  get overhead(): number {
    return this.front + this.tail;
  }

  /** Launches and copies whose buffers were checked since this guard was made (doctor reports it). */
  get checks(): number {
    return this.checked;
  }

  /** Counts one launch or copy as checked (after its check dispatches are recorded). */
  countChecked(): void {
    this.checked++;
  }

  /** Checks recorded in the submit being built. */
  get pendingChecks(): number {
    return this.current.length;
  }

  /** A new buffer for `size` data bytes (a multiple of 4), its canaries written. */
  create(size: number, usage: GPUBufferUsageFlags): GPUBuffer {
    const buf = this.device.createBuffer({ size: this.front + size + this.tail, usage });
    regions.set(buf, { offset: this.front, size });
    this.buffers.add(buf);
    this.writeCanaries(buf);
    return buf;
  }

  /** Before a buffer made here is destroyed. */
  forget(buf: GPUBuffer): void {
    this.buffers.delete(buf);
  }

  private writeCanaries(buf: GPUBuffer): void {
    const r = regions.get(buf)!;
    this.device.queue.writeBuffer(buf, 0, this.frontWords);
    this.device.queue.writeBuffer(buf, r.offset + r.size, this.tailWords);
  }

  /** The slots to check after a launch or copy: guarded buffers, each once, in groups of maxSlots. */
  groups(buffers: readonly (GPUBuffer | undefined)[], label: (i: number) => string): Slot[][] {
    const seen = new Set<GPUBuffer>();
    const slots: Slot[] = [];
    buffers.forEach((b, i) => {
      if (b && !seen.has(b) && regions.has(b)) {
        seen.add(b);
        slots.push({ buffer: b, label: label(i) });
      }
    });
    const out: Slot[][] = [];
    for (let i = 0; i < slots.length; i += this.maxSlots) out.push(slots.slice(i, i + this.maxSlots));
    return out;
  }

  /** Specialization of guard_check.wgsl for n slots. */
  params(n: number): Record<string, number | boolean> {
    const p: Record<string, number | boolean> = {
      FRONT: this.front / 4,
      TAIL: this.tail / 4,
      CANARY: GUARD_CANARY,
      SLOTS: n,
    };
    for (let s = 1; s < MAX_SLOTS; s++) p[`S${s}`] = s < n;
    return p;
  }

  /** Notes a check dispatch just recorded (its sequence number is its place in this submit). */
  recorded(subject: GuardSubject, launch: number, slots: Slot[]): void {
    this.current.push({
      subject,
      launch,
      slots: slots.map((s) => ({ label: s.label, bytes: regions.get(s.buffer)!.size })),
    });
  }

  /** Called with the encoder of a submit, after its last command: copies the state out and clears it. */
  beforeSubmit(encoder: GPUCommandEncoder): void {
    if (!this.current.length) return;
    const staging = this.device.createBuffer({
      size: STATE_BYTES,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    encoder.copyBufferToBuffer(this.state, 0, staging, 0, STATE_BYTES);
    encoder.clearBuffer(this.state, 0, STATE_BYTES);
    this.submitted.push({ staging, checks: this.current });
    this.current = [];
  }

  /**
   * Reads the records of every submit so far (their work must be done: call after the queue drained)
   * and throws for the first failure. The canaries are then rewritten, so the runtime stays usable.
   */
  async verify(): Promise<void> {
    const subs = this.submitted.splice(0);
    let failure: string | null = null;
    for (const s of subs) {
      try {
        if (failure === null) {
          await s.staging.mapAsync(GPUMapMode.READ);
          const st = new Uint32Array(s.staging.getMappedRange().slice(0));
          if (st[1] !== 0) failure = describe(s.checks, st);
        }
      } finally {
        s.staging.destroy();
      }
    }
    if (failure !== null) {
      for (const b of this.buffers) this.writeCanaries(b);
      throw new Error(failure);
    }
  }

  destroy(): void {
    for (const s of this.submitted.splice(0)) s.staging.destroy();
    this.state.destroy();
    this.buffers.clear();
  }
}

function describe(checks: CheckRecord[], st: Uint32Array): string {
  const code = ~st[1]! >>> 0;
  const seq = code >>> 5;
  const slot = (code >>> 1) & 15;
  const after = (code & 1) === 1;
  const rec = checks[seq];
  if (!rec)
    return `guard: a canary changed, but check ${seq} of the submit was not recorded (state ${[...st]})`;
  const s = rec.slots[slot];
  const subj = rec.subject;
  const what =
    subj === 'copy'
      ? `a buffer copy recorded after launch #${rec.launch}`
      : `launch #${rec.launch}, kernel ${cacheKey(subj.shader, subj.params ?? {})}${(subj.entry ?? 'main') === 'main' ? '' : ` (entry ${subj.entry})`}`;
  const side = after
    ? `after its end (reaching ${st[3]} word${st[3] === 1 ? '' : 's'} past it)`
    : `before its start (reaching ${st[4]} word${st[4] === 1 ? '' : 's'} before it)`;
  return (
    `guard: out-of-bounds write found after ${what}: ${s?.label ?? `slot ${slot}`} ` +
    `(${s?.bytes ?? '?'} bytes) has changed canary words ${side}; ${st[2]} changed word${st[2] === 1 ? '' : 's'} ` +
    'in all. Canaries are checked after every launch and copy, so this is the first one after which they ' +
    'were found changed. See docs/kernels/robustness.md.'
  );
}
