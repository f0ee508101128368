// A minimal WebAssembly binary writer: only what the CPU kernels need (i32 and v128 locals, loops,
// loads and stores, a few SIMD operations, one imported memory). The kernels are written against it
// in TypeScript, so they ship without a build tool or a dependency (docs/kernels/cpu.md says why).

/** Value types. */
export const I32 = 0x7f;
export const V128 = 0x7b;
type ValType = typeof I32 | typeof V128;

/** A local variable, by index; create them with FunctionBuilder.param / local. */
export interface Local {
  readonly index: number;
  readonly type: ValType;
}

function uleb(out: number[], v: number): void {
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
}

function sleb(out: number[], v: number): void {
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

function name(out: number[], s: string): void {
  uleb(out, s.length);
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
}

/** SIMD opcodes (after the 0xfd prefix) used by the kernels. */
const SIMD = {
  load: 0x00,
  load32Splat: 0x09,
  store: 0x0b,
  const: 0x0c,
  shuffle: 0x0d,
  i32x4Splat: 0x11,
  f32x4Nearest: 0x6a,
  i32x4Shl: 0xab,
  i32x4Add: 0xae,
  f32x4Add: 0xe4,
  f32x4Sub: 0xe5,
  f32x4Mul: 0xe6,
  f32x4Div: 0xe7,
  f32x4Min: 0xe8,
  f32x4Max: 0xe9,
  i32x4TruncSatF32x4S: 0xf8,
  f32x4RelaxedMadd: 0x105,
} as const;

/** The lane-wise operations (two v128 in, one out, or one in for the conversions) by name. */
export type SimdOp =
  | 'f32x4Add'
  | 'f32x4Sub'
  | 'f32x4Mul'
  | 'f32x4Div'
  | 'f32x4Min'
  | 'f32x4Max'
  | 'f32x4Nearest'
  | 'i32x4TruncSatF32x4S'
  | 'i32x4Add'
  | 'i32x4Shl'
  | 'i32x4Splat';

/**
 * One function's body as a list of instructions. The methods push instructions in stack-machine
 * order, e.g. `f.get(a).get(b).i32Add().set(c)` is c = a + b.
 */
export class FunctionBuilder {
  private readonly code: number[] = [];
  private readonly locals: Local[] = [];
  private readonly nParams: number;

  constructor(readonly params: number) {
    this.nParams = params;
    for (let i = 0; i < params; i++) this.locals.push({ index: i, type: I32 });
  }

  /** The i-th parameter (all parameters are i32). */
  param(i: number): Local {
    return this.locals[i]!;
  }

  local(type: ValType): Local {
    const l = { index: this.locals.length, type };
    this.locals.push(l);
    return l;
  }

  get(l: Local): this {
    return this.op(0x20, l.index);
  }
  set(l: Local): this {
    return this.op(0x21, l.index);
  }
  i32(v: number): this {
    this.code.push(0x41);
    sleb(this.code, v | 0);
    return this;
  }
  i32Add(): this {
    return this.op(0x6a);
  }
  i32Mul(): this {
    return this.op(0x6c);
  }
  i32Ne(): this {
    return this.op(0x47);
  }
  i32LtU(): this {
    return this.op(0x49);
  }
  i32Eq(): this {
    return this.op(0x46);
  }
  /** l += v (an i32 constant or another local). */
  inc(l: Local, v: number | Local): this {
    this.get(l);
    if (typeof v === 'number') this.i32(v);
    else this.get(v);
    return this.i32Add().set(l);
  }

  /** A loop whose body branches back to its start with `brIf(0)` (at the body's top level). */
  loop(body: () => void): this {
    this.code.push(0x03, 0x40);
    body();
    this.code.push(0x0b);
    return this;
  }
  /** if (condition on the stack) { then } else { otherwise } */
  ifElse(then: () => void, otherwise?: () => void): this {
    this.code.push(0x04, 0x40);
    then();
    if (otherwise) {
      this.code.push(0x05);
      otherwise();
    }
    this.code.push(0x0b);
    return this;
  }
  brIf(depth: number): this {
    return this.op(0x0d, depth);
  }

  /** v128 loads and stores; the address is on the stack, `offset` a constant byte offset. */
  v128Load(offset = 0): this {
    return this.simdMem(SIMD.load, 4, offset);
  }
  load32Splat(offset = 0): this {
    return this.simdMem(SIMD.load32Splat, 2, offset);
  }
  v128Store(offset = 0): this {
    return this.simdMem(SIMD.store, 4, offset);
  }
  v128Zero(): this {
    this.simd(SIMD.const);
    for (let i = 0; i < 16; i++) this.code.push(0);
    return this;
  }
  /** Four f32 lanes of the same value. */
  f32x4Const(v: number): this {
    this.simd(SIMD.const);
    const bytes = new Uint8Array(new Float32Array([v, v, v, v]).buffer);
    for (const b of bytes) this.code.push(b);
    return this;
  }
  /** Lanes of a and b (lanes 0-3 of a, 4-7 of b) picked by 32-bit lane index. */
  shuffle32(lanes: [number, number, number, number]): this {
    this.simd(SIMD.shuffle);
    for (const l of lanes) this.code.push(4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3);
    return this;
  }
  v(op: SimdOp): this {
    return this.simd(SIMD[op]);
  }
  f32x4Add(): this {
    return this.simd(SIMD.f32x4Add);
  }
  f32x4Mul(): this {
    return this.simd(SIMD.f32x4Mul);
  }
  /** a * b + c, possibly fused (relaxed SIMD): only where the module is built with relaxed SIMD. */
  f32x4RelaxedMadd(): this {
    return this.simd(SIMD.f32x4RelaxedMadd);
  }

  private op(code: number, imm?: number): this {
    this.code.push(code);
    if (imm !== undefined) uleb(this.code, imm);
    return this;
  }
  private simd(code: number): this {
    this.code.push(0xfd);
    uleb(this.code, code);
    return this;
  }
  private simdMem(code: number, alignLog2: number, offset: number): this {
    this.simd(code);
    uleb(this.code, alignLog2);
    uleb(this.code, offset);
    return this;
  }

  /** The function body as the code section encodes it: locals (run-length by type), code, end. */
  encode(): number[] {
    const groups: [number, ValType][] = [];
    for (const l of this.locals.slice(this.nParams)) {
      const last = groups[groups.length - 1];
      if (last && last[1] === l.type) last[0]++;
      else groups.push([1, l.type]);
    }
    const body: number[] = [];
    uleb(body, groups.length);
    for (const [n, t] of groups) {
      uleb(body, n);
      body.push(t);
    }
    body.push(...this.code, 0x0b);
    const out: number[] = [];
    uleb(out, body.length);
    out.push(...body);
    return out;
  }
}

function section(out: number[], id: number, content: number[]): void {
  out.push(id);
  uleb(out, content.length);
  out.push(...content);
}

/**
 * A module of exported functions (i32 parameters, no results) over one memory imported as
 * env.memory, shared when `sharedMaxPages` is given (then it must be declared with that maximum).
 */
export function encodeModule(
  functions: { name: string; body: FunctionBuilder }[],
  memory: { minPages: number; sharedMaxPages?: number },
): Uint8Array<ArrayBuffer> {
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  // one type per function: (i32 x params) -> ()
  const types: number[] = [];
  uleb(types, functions.length);
  for (const f of functions) {
    types.push(0x60);
    uleb(types, f.body.params);
    for (let i = 0; i < f.body.params; i++) types.push(I32);
    types.push(0);
  }
  section(out, 1, types);
  const imports: number[] = [1];
  name(imports, 'env');
  name(imports, 'memory');
  imports.push(0x02);
  if (memory.sharedMaxPages !== undefined) {
    imports.push(0x03);
    uleb(imports, memory.minPages);
    uleb(imports, memory.sharedMaxPages);
  } else {
    imports.push(0x00);
    uleb(imports, memory.minPages);
  }
  section(out, 2, imports);
  const funcs: number[] = [];
  uleb(funcs, functions.length);
  for (let i = 0; i < functions.length; i++) uleb(funcs, i);
  section(out, 3, funcs);
  const exports: number[] = [];
  uleb(exports, functions.length);
  functions.forEach((f, i) => {
    name(exports, f.name);
    exports.push(0x00);
    uleb(exports, i);
  });
  section(out, 7, exports);
  const code: number[] = [];
  uleb(code, functions.length);
  for (const f of functions) code.push(...f.body.encode());
  section(out, 10, code);
  return new Uint8Array(out);
}
