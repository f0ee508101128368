// `toma doctor`: what the WebGPU adapter offers, and a self-check of every kernel against the CPU reference.
import type { Backend } from '../../backend.js';
import { createBackend } from '../../backends.js';
import { GpuBackend } from '../../gpu/backend.js';
import { NoAdapterError } from '../../gpu/device.js';
import { type CheckKind, type CheckRow, selfCheck } from '../../selfcheck.js';
import { type Command, choice, parse, table, UsageError } from '../args.js';
import { DOCTOR_GPU_USAGE, GPU_OPTIONS, gpuOptions } from '../gpu-options.js';

const usage = `usage: toma doctor [--backend auto|webgpu|cpu] [--lite] [--robust] [--no-guard]

Reports the WebGPU adapter (features, limits, kernel paths) and the robustness mode, and checks every
kernel against the CPU reference on fresh random inputs, in guard mode: canaries around every buffer,
verified after every launch, so a kernel that writes out of bounds fails its check by name. With
--backend auto (the default) a machine without a WebGPU adapter is told what to install and the CPU
backend is checked instead. Exit status 1 if any check fails.
  --lite         smaller shapes (the default on software adapters)
${DOCTOR_GPU_USAGE}`;

const LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
];

const CHECKED_AGAINST: Record<CheckKind, string> = {
  reference: 'CPU reference',
  'known-answer': 'known answer',
  finite: 'finite only',
};

/**
 * The self-check's summary, saying what "passed" means: on a WebGPU backend every kernel matched the
 * CPU reference; on the CPU backend (the reference itself) only some checks have a known answer, the
 * others only show that the operation ran and gave finite values.
 */
export function checkSummary(rows: CheckRow[]): string {
  const failed = rows.filter((r) => !r.ok).length;
  const count = (k: CheckKind) => rows.filter((r) => r.ok && r.check === k).length;
  const parts: string[] = [];
  if (count('reference')) parts.push(`${count('reference')} match the CPU reference`);
  if (count('known-answer')) parts.push(`${count('known-answer')} match a known answer`);
  if (count('finite')) parts.push(`${count('finite')} ran and gave finite values (no known answer)`);
  if (failed) parts.push(`${failed} FAILED`);
  const head = failed ? `${failed} of ${rows.length} checks FAILED` : `all ${rows.length} checks passed`;
  const tail =
    count('finite') > 0
      ? '\n(the CPU backend is the reference; `toma doctor --backend webgpu` compares every WGSL kernel with it where a WebGPU adapter exists)'
      : '';
  return `${head}: ${parts.join(', ')}${tail}`;
}

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
        'no-guard': { type: 'boolean' },
        ...GPU_OPTIONS,
      },
      usage,
    );
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const name = choice(values.backend, ['auto', 'webgpu', 'cpu'] as const, 'backend', 'auto');
    if (values.guard && values['no-guard'])
      throw new UsageError('--guard and --no-guard contradict each other');
    const gpuOpts = { ...gpuOptions(values), guard: !values['no-guard'] };
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
      console.log(
        `robustness: ${c.robustnessDisabled ? "off (Node's default: no bounds clamps in this project's kernels; --robust turns them on)" : `on (${c.runtime === 'browser' ? 'browsers always' : '--robust or TOMA_ROBUST=1'}: Tint's bounds clamps in every kernel)`}`,
      );
      console.log(
        `guard: ${be.rt.guarded ? `on (${be.rt.guardStats.overheadBytes} canary bytes around every buffer, checked after every launch and copy)` : 'off (--no-guard)'}`,
      );
      console.log(
        `kernel paths: matmul=${be.paths.matmul} attention=${be.paths.attention} conv2d=${be.paths.conv2d}`,
      );
      for (const l of LIMITS) console.log(`  ${l}: ${c.limits[l]}`);
      console.log(`features: ${c.features.join(' ')}`);
      if (c.software && values.lite === undefined) lite = true;
    }
    console.log(`\nself-check${lite ? ' (lite shapes)' : ''}:`);
    const rows = await selfCheck(be, { lite });
    console.log(
      table(
        ['kernel', 'dtype', 'path', 'shape', 'checked against', 'error', 'tolerance', 'result', 'ms'],
        rows.map((r) => [
          r.kernel,
          r.dtype,
          r.path,
          r.shape,
          CHECKED_AGAINST[r.check],
          r.check === 'finite' ? '-' : Number.isFinite(r.error) ? r.error.toExponential(2) : 'inf',
          r.check === 'finite' ? '-' : r.tolerance.toExponential(0),
          r.ok ? 'ok' : `FAIL${r.note ? `: ${r.note}` : ''}`,
          r.ms.toFixed(0),
        ]),
      ),
    );
    const failed = rows.filter((r) => !r.ok).length;
    console.log(`\n${checkSummary(rows)}`);
    if (be instanceof GpuBackend && be.rt.guarded) {
      // A SIMT variant (tensor-core adapters) runs on a runtime of its own, also guarded.
      const variant = be.paths.matmul !== 'simt' || be.paths.attention !== 'simt';
      const broken = rows.filter((r) => r.note?.startsWith('guard:')).length;
      console.log(
        `guard: canaries verified after ${be.rt.guardStats.checks} launches and copies${variant ? ' (plus those of the SIMT variant)' : ''}; ${broken ? `${broken} check(s) found out-of-bounds writes (FAILED rows above)` : 'none changed'}`,
      );
    }
    be.destroy();
    return failed ? 1 : 0;
  },
};
