// Validates the tensor-core WGSL kernels with Dawn's null backend (no GPU needed): every
// specialization used by the launchers and benchmarks must parse, type-check and pass the
// uniformity analysis. Pipelines are not created: the null adapter reports a maximum subgroup
// size of 128 and 16 KiB of workgroup memory, unlike the H100 (32, 48 KiB).
// Usage: npm run build && node dev/validate-sgm.mjs
import { create, globals } from 'webgpu';
import { specialize } from '../dist/src/gpu/shader.js';

Object.assign(globalThis, globals);
const gpu = create(['backend=null', 'enable-dawn-features=allow_unsafe_apis']);
const adapter = await gpu.requestAdapter();
const device = await adapter.requestDevice({
  requiredFeatures: ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix'],
});

let failures = 0;
let count = 0;
async function check(name, params) {
  const code = specialize(name, params);
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  count++;
  const errs = info.messages.filter((m) => m.type !== 'info');
  if (errs.length) {
    const bad = errs.some((m) => m.type === 'error');
    if (bad) failures++;
    console.log(`${bad ? 'FAIL' : 'WARN'} ${name} ${JSON.stringify(params)}`);
    for (const m of errs) console.log(`  ${m.type} line ${m.lineNum}: ${m.message.split('\n')[0]}`);
  }
}

const tiles = [
  { BM: 128, BN: 256, BK: 32, STAGES: 1 },
  { BM: 256, BN: 128, BK: 32, STAGES: 1 },
  { BM: 128, BN: 256, BK: 16, STAGES: 2 },
  { BM: 128, BN: 128, BK: 64, STAGES: 1 },
  { BM: 128, BN: 128, BK: 32, STAGES: 2 },
  { BM: 128, BN: 64, BK: 32, STAGES: 1 },
  { BM: 64, BN: 128, BK: 32, STAGES: 1 },
];
for (const t of tiles)
  for (const PREFETCH of [false, true])
    for (const VEC of [false, true])
      for (const [ACT, BIAS, GATE, RESIDUAL] of [
        [0, false, false, false],
        [1, true, true, true],
        [2, true, false, true],
      ])
        await check('matmul_sgm', { ...t, PREFETCH, VEC, GROUP: 8, ACT, BIAS, GATE, RESIDUAL });
for (const D of [64, 128])
  for (const SG of [8, 4, 2, 1])
    for (const RANGES of [false, true])
      for (const LATE of [false, true])
        await check('attention_sgm', { D, D128: D === 128, SG, THRESH: '14.0', RANGES, LATE, OUTER: false });
// Outer key ranges (streamed per workgroup, masked per subgroup by the fine ranges).
for (const D of [64, 128])
  for (const SG of [8, 4])
    for (const FINE_R of [1, 2, 3])
      for (const LATE of [false, true])
        await check('attention_sgm', { D, D128: D === 128, SG, THRESH: '14.0', RANGES: true, OUTER: true, FINE_R, LATE });
console.log(`${count} specializations checked, ${failures} failed`);
process.exit(failures ? 1 : 0);
