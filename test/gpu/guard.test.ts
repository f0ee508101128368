// Guard mode (src/gpu/guard.ts): canaries around every buffer, checked after every launch and copy.
// The check kernel's "reference" is the verdict a canary should get: intact -> no error; changed ->
// an error naming the launch, the kernel and the binding. Both are tested on fresh random sizes, with
// a deliberately out-of-bounds test kernel (test/gpu/guard_test_kernels.wgsl) and with canaries
// broken by hand.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GpuBackend } from '../../src/gpu/backend.js';
import { wantsGuard, wantsRobust } from '../../src/gpu/device.js';
import { GUARD_CANARY, GUARD_TAIL_BYTES, guardRegion } from '../../src/gpu/guard.js';
import { SHADERS } from '../../src/kernels/shaders.gen.js';
import type { Tensor } from '../../src/tensor.js';
import { assertClose, noGpu, rng } from '../helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
// Test-only shaders are registered here rather than embedded with the engine's kernels.
SHADERS.guard_test_kernels = readFileSync(join(here, '../../../test/gpu/guard_test_kernels.wgsl'), 'utf8');

const MARKER = new Uint32Array(new Float32Array([4242]).buffer)[0]!;

/** Runs the test kernel: y[i] = x[i] + 1 for i < n, then `extra` marker writes past y's end. */
function oobKernel(be: GpuBackend, x: Tensor, y: Tensor, extra: number): number {
  const n = x.size;
  be.rt.launch({
    shader: 'guard_test_kernels',
    params: { MANY: false },
    uniforms: [n, extra],
    buffers: [be.buf(x), be.buf(y)],
    grid: [Math.ceil((n + extra) / 64)],
  });
  return be.rt.launchCount;
}

/** Overwrites one canary word of t's buffer behind the runtime's back (word < 0: before the data). */
function breakCanary(be: GpuBackend, t: Tensor, word: number): void {
  const buf = be.buf(t);
  const r = guardRegion(buf)!;
  const at = word < 0 ? r.offset + 4 * word : r.offset + r.size + 4 * word;
  be.rt.flush();
  be.gpu.device.queue.writeBuffer(buf, at, new Uint32Array([GUARD_CANARY ^ 0x00010000]));
}

function rejectsWith(parts: (string | RegExp)[]) {
  return (e: unknown) => {
    assert.ok(e instanceof Error, 'an Error');
    for (const p of parts) {
      if (typeof p === 'string') assert.ok(e.message.includes(p), `message names ${p}: ${e.message}`);
      else assert.match(e.message, p);
    }
    return true;
  };
}

describe('guard mode', { skip: noGpu }, () => {
  let be: GpuBackend;
  before(async () => {
    be = await GpuBackend.create({ guard: true, robust: false });
  });
  after(() => be?.destroy());

  it('reports the options it was made with', () => {
    assert.equal(be.rt.guarded, true);
    assert.equal(be.caps.robustnessDisabled, true);
  });

  it('the test kernel within bounds passes and matches the CPU reference', async () => {
    const r = rng();
    for (let trial = 0; trial < 3; trial++) {
      const n = 2 * r.int(200) + 1;
      const xs = r.normals(n);
      const x = be.tensor(xs, [n]);
      const y = be.empty([n]);
      oobKernel(be, x, y, 0);
      const got = await y.read(); // read() verifies the canaries of everything run so far
      assertClose(
        got,
        xs.map((v) => v + 1),
        1e-6,
        `n=${n}`,
      );
      await be.sync();
      x.dispose();
      y.dispose();
    }
  });

  it('a kernel writing one element past its output is named, with the binding and the launch', async (t) => {
    const r = rng();
    for (const extra of [1, 3]) {
      const n = 2 * r.int(200) + 1;
      const x = be.tensor(r.normals(n), [n]);
      const y = be.empty([n]);
      const launch = oobKernel(be, x, y, extra);
      // SwiftShader (and Dawn without robustness) really writes past the binding: the marker is in
      // the first tail canary word, where guard mode must find it.
      const raw = await be.rt.readRaw(be.buf(y));
      const end = (guardRegion(be.buf(y))!.offset + 4 * n) / 4;
      if (raw[end] !== MARKER && !raw.includes(MARKER, end)) {
        // The write never left the binding: the driver kept it inside (NVIDIA's Vulkan driver on the
        // H100, 2026-12-06: out-of-range writes are dropped below Dawn even with disable_robustness).
        // Nothing escaped, so guard mode must not report anything; detection itself is pinned by the
        // canaries broken by hand below and by SwiftShader in CI, where such writes do land.
        await be.sync();
        t.diagnostic(`this adapter kept an out-of-bounds write inside its binding (${extra} past ${n})`);
        for (const v of [x, y]) v.dispose();
        continue;
      }
      assert.equal(raw[end], MARKER, 'the out-of-bounds write landed just past the data');
      await assert.rejects(
        be.sync(),
        rejectsWith([
          'guard_test_kernels(MANY=false)',
          `launch #${launch},`,
          'binding 2 ',
          `(${4 * n} bytes)`,
          `reaching ${extra} word${extra === 1 ? '' : 's'} past it`,
          `${extra} changed word`,
        ]),
      );
      // Reported once, canaries rewritten: the runtime stays usable.
      const z = be.scale(y, 2);
      await z.read();
      const again = await be.rt.readRaw(be.buf(y));
      assert.equal(again[end], GUARD_CANARY, 'canary repaired');
      for (const t of [x, y, z]) t.dispose();
    }
  });

  it('the check gives the expected verdict for canaries broken by hand, before or after any binding', async () => {
    const r = rng();
    for (let trial = 0; trial < 6; trial++) {
      const n = 2 * r.int(100) + 1;
      const a = be.tensor(r.normals(n), [n]);
      const b = be.tensor(r.normals(n), [n]);
      // intact: no error
      const ok = be.add(a, b);
      await be.sync();
      const victim = r.int(2); // binding 1 (a) or 2 (b)
      const beforeData = r.int(2) === 1;
      const word = beforeData ? -1 - r.int(64) : r.int(GUARD_TAIL_BYTES / 4);
      breakCanary(be, victim ? b : a, word);
      const sum = be.add(a, b);
      const launch = be.rt.launchCount;
      await assert.rejects(
        be.sync(),
        rejectsWith([
          `launch #${launch}, kernel binary(`,
          `binding ${victim + 1} (${4 * n} bytes)`,
          beforeData
            ? `before its start (reaching ${-word} word`
            : `after its end (reaching ${word + 1} word`,
          '1 changed word in all',
        ]),
      );
      // repaired: the next launch binding the same buffers passes
      const sum2 = be.add(a, b);
      await sum2.read();
      for (const t of [a, b, ok, sum, sum2]) t.dispose();
    }
  });

  it('a launch with more buffers than one check holds is checked in several dispatches', async () => {
    const r = rng();
    const n = 2 * r.int(50) + 1;
    const data = Array.from({ length: 9 }, () => r.normals(n));
    const ins = data.map((d) => be.tensor(d, [n]));
    const y = be.empty([n]);
    const run = () =>
      be.rt.launch({
        shader: 'guard_test_kernels',
        params: { MANY: true },
        uniforms: [n, 0],
        buffers: [...ins.map((t) => be.buf(t)), be.buf(y)],
        grid: [Math.ceil(n / 64)],
      });
    run();
    const want = new Float32Array(n);
    for (const d of data) for (let i = 0; i < n; i++) want[i]! += d[i]!;
    assertClose(await y.read(), want, 1e-5, 'sum of nine');
    for (const victim of [7, 9]) {
      breakCanary(be, victim === 9 ? y : ins[victim]!, 0);
      run();
      await assert.rejects(be.sync(), rejectsWith(['MANY=true', `binding ${victim + 1} (`]));
    }
    for (const t of [...ins, y]) t.dispose();
  });

  it('write, read, copy and fill respect the data offset; copies past the data are refused', async () => {
    const r = rng();
    const n = 2 * r.int(100) + 1;
    const u = Uint32Array.from({ length: n }, () => r.nextU32());
    const t = be.tensor(u, [n], 'u32');
    assert.deepEqual(await be.readU32(t), u);
    const c = be.cast(be.tensor(r.normals(n), [n]), 'f32'); // same dtype: a runtime copy
    await c.read();
    const buf = be.buf(t);
    assert.throws(() => be.rt.copy(buf, 4, be.buf(c), 0, 4 * n), /copy\(\): .* bytes from offset 4/);
    assert.throws(() => be.rt.write(buf, new Uint32Array(n + 1)), /write\(\): /);
    be.rt.fill(buf, 7);
    assert.deepEqual(await be.readU32(t), new Uint32Array(n).fill(7));
    const raw = await be.rt.readRaw(buf);
    const reg = guardRegion(buf)!;
    assert.ok(
      raw.subarray(0, reg.offset / 4).every((w) => w === GUARD_CANARY),
      'front canary',
    );
    assert.ok(
      raw.subarray((reg.offset + reg.size) / 4).every((w) => w === GUARD_CANARY),
      'tail canary',
    );
    t.dispose();
    c.dispose();
  });

  it('pooled buffers come back with their canaries, and memory() counts tensor bytes', async () => {
    be.trim();
    const m0 = be.memory();
    const n = 13; // 52 bytes: a multiple of 4, not of 16
    const t = be.tensor(new Float32Array(n).fill(1), [n]);
    assert.equal(be.memory().liveBytes - m0.liveBytes, 4 * n);
    const buf = be.buf(t);
    t.dispose();
    assert.equal(be.memory().pooledBytes - m0.pooledBytes, 4 * n);
    const t2 = be.tensor(new Float32Array(n).fill(2), [n]);
    assert.equal(be.buf(t2), buf, 'the pooled buffer is reused');
    const t3 = be.scale(t2, 3);
    assert.deepEqual(Array.from(await t3.read()), new Array(n).fill(6));
    t2.dispose();
    t3.dispose();
    be.trim();
    assert.equal(be.memory().pooledBytes, 0);
  });

  it('copies are checked too', async () => {
    const n = 5;
    const a = be.tensor([1, 2, 3, 4, 5], [n]);
    const b = be.empty([n]);
    breakCanary(be, b, 2);
    be.rt.copy(be.buf(a), 0, be.buf(b), 0, 4 * n);
    await assert.rejects(
      be.sync(),
      rejectsWith(['a buffer copy recorded after launch #', "the copy's destination"]),
    );
    a.dispose();
    b.dispose();
  });
});

describe('guard mode with robustness on', { skip: noGpu }, () => {
  it("Tint's clamps keep the same out-of-bounds write inside the binding: no canary changes", async () => {
    const be = await GpuBackend.create({ guard: true, robust: true });
    try {
      assert.equal(be.caps.robustnessDisabled, false);
      const n = 37;
      const x = be.tensor(new Float32Array(n).fill(1), [n]);
      const y = be.empty([n]);
      oobKernel(be, x, y, 1);
      const got = await y.read(); // no guard error
      assert.deepEqual(Array.from(got.subarray(0, n - 1)), new Array(n - 1).fill(2));
      // The clamped write lands on the last element (racing the in-bounds write there).
      assert.ok(got[n - 1] === 2 || got[n - 1] === 4242, `last element ${got[n - 1]}`);
      const raw = await be.rt.readRaw(be.buf(y));
      assert.equal(raw[(guardRegion(be.buf(y))!.offset + 4 * n) / 4], GUARD_CANARY);
    } finally {
      be.destroy();
    }
  });
});

describe('robustness and guard options', () => {
  it('robust wins, the deprecated alias still works, contradictions are refused', () => {
    const env = process.env.TOMA_ROBUST;
    try {
      delete process.env.TOMA_ROBUST;
      assert.equal(wantsRobust({}), false, 'Node default: robustness off');
      assert.equal(wantsRobust({ robust: true }), true);
      assert.equal(wantsRobust({ unsafeDisableRobustness: true }), false);
      assert.equal(wantsRobust({ unsafeDisableRobustness: false }), true);
      assert.throws(() => wantsRobust({ robust: false, unsafeDisableRobustness: false }), /contradicts/);
      process.env.TOMA_ROBUST = '1';
      assert.equal(wantsRobust({}), true, 'TOMA_ROBUST=1');
      assert.equal(wantsRobust({ robust: false }), false, 'the option wins over the environment');
      process.env.TOMA_ROBUST = 'maybe';
      assert.throws(() => wantsRobust({}), /TOMA_ROBUST=maybe/);
    } finally {
      if (env === undefined) delete process.env.TOMA_ROBUST;
      else process.env.TOMA_ROBUST = env;
    }
    const g = process.env.TOMA_GUARD;
    try {
      process.env.TOMA_GUARD = '0';
      assert.equal(wantsGuard({}), false);
      assert.equal(wantsGuard({ guard: true }), true);
      process.env.TOMA_GUARD = '1';
      assert.equal(wantsGuard({}), true);
    } finally {
      if (g === undefined) delete process.env.TOMA_GUARD;
      else process.env.TOMA_GUARD = g;
    }
  });
});
