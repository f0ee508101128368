// A GpuBackend on Dawn's null backend (validates and records everything, executes nothing): measures
// the CPU cost of recording a forward pass without a GPU. Usage: after a build,
//   node dev/null-backend.mjs [--embedded] [--steps N]
import { create, globals } from 'webgpu';
import { GpuBackend } from '../dist/src/gpu/backend.js';
import { FluxModel } from '../dist/src/models/flux/model.js';
import { FLUX_PRESETS } from '../dist/src/models/flux/index.js';

Object.assign(globalThis, globals);
const toggles = ['allow_unsafe_apis', ...(process.env.TOGGLES ? process.env.TOGGLES.split(',') : [])];
const gpu = create(['backend=null', `enable-dawn-features=${toggles.join(',')}`]);
const adapter = await gpu.requestAdapter();
const requiredLimits = {};
for (const k in adapter.limits) if (typeof adapter.limits[k] === 'number') requiredLimits[k] = adapter.limits[k];
const device = await adapter.requestDevice({ requiredFeatures: ['shader-f16', 'subgroups', 'timestamp-query'], requiredLimits });
const limits = { ...requiredLimits };
const caps = {
  runtime: 'node', adapter: { vendor: 'null', architecture: '', device: '', description: 'null' }, software: false,
  f16: true, subgroups: true, subgroupMinSize: 32, subgroupMaxSize: 32, subgroupMatrix: false, subgroupMatrixConfigs: [],
  timestampQuery: false, robustnessDisabled: true, limits, features: [],
};
const handle = { device, caps, lostReason: null, lost: new Promise(() => {}) };
const be = new GpuBackend(handle);
const args = process.argv.slice(2);
const cfgName = args.includes('--embedded') ? null : 'flux-dev';
const config = cfgName ? { ...FLUX_PRESETS['flux-dev'], hidden_size: 256, num_heads: 2 , axes_dim: [16, 56, 56]} : {
  in_channels: 12, out_channels: 12, vec_in_dim: 64, context_in_dim: 64, hidden_size: 192, mlp_ratio: 4, num_heads: 3,
  depth: 2, depth_single_blocks: 4, axes_dim: [8, 28, 28], theta: 10000, qkv_bias: true, guidance_embed: false };
const model = FluxModel.random(be, config, { dtype: 'f16', seed: 0 });
const side = cfgName ? 64 : 64;
const B = cfgName ? 1 : 2;
const T = cfgName ? 512 : 8;
const positions = model.positions({ batch: B, rows: side, cols: side, textTokens: T });
const img = be.random([B, side * side, config.in_channels], 'f16', { seed: 1 });
const txt = be.random([B, T, config.context_in_dim], 'f16', { seed: 2 });
const y = be.random([B, config.vec_in_dim], 'f16', { seed: 3 });
const inputs = { img, txt, y, timesteps: new Array(B).fill(0.5), guidance: new Array(B).fill(3.5), positions };
const reps = args.includes('--reps') ? Number(args[args.indexOf('--reps') + 1]) : 20;
for (let i = 0; i < 3; i++) { model.forward(inputs).dispose(); await be.sync(); }
const times = [];
for (let i = 0; i < reps; i++) {
  const l0 = be.rt.launchCount;
  const t0 = performance.now();
  const out = model.forward(inputs);
  be.flush();
  times.push([performance.now() - t0, be.rt.launchCount - l0]);
  out.dispose();
  await be.sync();
}
times.sort((a, b) => a[0] - b[0]);
const [ms, n] = times[times.length >> 1];
console.log(`${cfgName ?? 'embedded'}: record ${ms.toFixed(2)} ms for ${n} launches = ${((ms / n) * 1000).toFixed(1)} us/launch`);
process.exit(0);
