// `toma doctor`: what the WebGPU adapter offers, and a self-check of every kernel against the CPU reference.
import type { Backend } from '../../backend.js';
import { createBackend } from '../../backends.js';
import { GpuBackend } from '../../gpu/backend.js';
import { NoAdapterError } from '../../gpu/device.js';
import { selfCheck } from '../../selfcheck.js';
import { type Command, choice, parse, table } from '../args.js';

const usage = `usage: toma doctor [--backend auto|webgpu|cpu] [--lite] [--unsafe-disable-robustness]

Reports the WebGPU adapter (features, limits, kernel paths) and checks every kernel against the CPU
reference on fresh random inputs. With --backend auto (the default) a machine without a WebGPU
adapter is told what to install and the CPU backend is checked instead. Exit status 1 if any check fails.`;

const LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
];

export const doctor: Command = {
  name: 'doctor',
  summary: 'report the GPU and self-check every kernel',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        backend: { type: 'string' },
        lite: { type: 'boolean' },
        'unsafe-disable-robustness': { type: 'boolean' },
      },
      usage,
    );
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const name = choice(values.backend, ['auto', 'webgpu', 'cpu'] as const, 'backend', 'auto');
    const gpuOpts = { unsafeDisableRobustness: !!values['unsafe-disable-robustness'] };
    let be: Backend;
    try {
      be = await createBackend(name === 'auto' ? 'webgpu' : name, gpuOpts);
    } catch (e) {
      if (!(name === 'auto' && e instanceof NoAdapterError)) throw e;
      console.log(`${e.message}\n\nfalling back to the CPU backend.\n`);
      be = await createBackend('cpu');
    }
    console.log(`backend: ${be.info().description}`);
    let lite = !!values.lite;
    if (be instanceof GpuBackend) {
      const c = be.caps;
      console.log(`runtime: ${c.runtime}${c.software ? ' (software adapter)' : ''}`);
      console.log(
        `adapter: vendor=${c.adapter.vendor || '?'} architecture=${c.adapter.architecture || '?'} description=${c.adapter.description || '?'}`,
      );
      console.log(`shader-f16: ${c.f16 ? 'yes' : 'no'}`);
      console.log(
        `subgroups: ${c.subgroups ? `yes (size ${c.subgroupMinSize}-${c.subgroupMaxSize})` : 'no'}`,
      );
      console.log(`subgroup matrix: ${c.subgroupMatrix ? 'yes' : 'no'}`);
      for (const m of c.subgroupMatrixConfigs)
        console.log(`  config ${m.componentType} -> ${m.resultComponentType} ${m.M}x${m.N}x${m.K}`);
      console.log(`timestamp-query: ${c.timestampQuery ? 'yes' : 'no'}`);
      console.log(`robustness: ${c.robustnessDisabled ? 'DISABLED (unsafe opt-in)' : 'on'}`);
      console.log(`kernel paths: matmul=${be.paths.matmul} attention=${be.paths.attention}`);
      for (const l of LIMITS) console.log(`  ${l}: ${c.limits[l]}`);
      console.log(`features: ${c.features.join(' ')}`);
      if (c.software && values.lite === undefined) lite = true;
    }
    console.log(`\nself-check${lite ? ' (lite shapes)' : ''}:`);
    const rows = await selfCheck(be, { lite });
    console.log(
      table(
        ['kernel', 'dtype', 'path', 'shape', 'error', 'tolerance', 'result', 'ms'],
        rows.map((r) => [
          r.kernel,
          r.dtype,
          r.path,
          r.shape,
          r.note === 'finite' ? '-' : Number.isFinite(r.error) ? r.error.toExponential(2) : 'inf',
          r.tolerance.toExponential(0),
          r.ok
            ? r.note === 'finite'
              ? 'ok (finite; no known answer)'
              : 'ok'
            : `FAIL${r.note ? `: ${r.note}` : ''}`,
          r.ms.toFixed(0),
        ]),
      ),
    );
    const failed = rows.filter((r) => !r.ok).length;
    console.log(
      failed ? `\n${failed} of ${rows.length} checks FAILED` : `\nall ${rows.length} checks passed`,
    );
    be.destroy();
    return failed ? 1 : 0;
  },
};
