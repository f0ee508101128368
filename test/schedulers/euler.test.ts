// SDXL's Euler and Euler-ancestral schedulers against numbers computed independently from the formulas
// (tools/sdxl-scheduler-reference.py, numpy): training sigmas, timesteps and sigmas of each spacing,
// init_noise_sigma, the model-input scale and one step of each sampler on the CPU and WebGPU backends.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import {
  type DiscreteSchedulerConfig,
  discreteSchedulerConfig,
  inferenceTimesteps,
  SchedulerConfigError,
  SDXL_SCHEDULER_CONFIG,
  sigmaSchedule,
  trainingSigmas,
} from '../../src/schedulers/discrete.js';
import { EulerSampler, samplerOfClass, stepCoefficients } from '../../src/schedulers/euler.js';
import { cpu, gpu, noGpu } from '../helpers.js';
import { REFERENCE } from './euler-reference.js';

/** The real release's file (/work/shared/models/configs/stabilityai/stable-diffusion-xl-base-1.0). */
const SDXL_JSON = {
  _class_name: 'EulerDiscreteScheduler',
  _diffusers_version: '0.19.0.dev0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  clip_sample: false,
  interpolation_type: 'linear',
  num_train_timesteps: 1000,
  prediction_type: 'epsilon',
  sample_max_value: 1.0,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  timestep_spacing: 'leading',
  trained_betas: null,
  use_karras_sigmas: false,
};

const close = (a: number, b: number, rel = 1e-12) =>
  assert.ok(Math.abs(a - b) <= rel * Math.max(1, Math.abs(b)), `${a} vs ${b}`);
const allClose = (a: ArrayLike<number>, b: ArrayLike<number>, rel = 1e-12) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) close(a[i]!, b[i]!, rel);
};

describe('discrete schedule (SDXL base)', () => {
  it('parses the release scheduler_config.json to the SDXL defaults', () => {
    assert.deepEqual(discreteSchedulerConfig(SDXL_JSON), SDXL_SCHEDULER_CONFIG);
  });

  it('training sigmas match the reference', () => {
    const s = trainingSigmas(SDXL_SCHEDULER_CONFIG);
    assert.equal(s.length, 1000);
    for (const [t, v] of Object.entries(REFERENCE.trainSigmas)) close(s[Number(t)]!, v);
  });

  for (const [name, ref] of Object.entries(REFERENCE)) {
    const m = /^(leading|linspace|trailing)-(\d+)$/.exec(name);
    if (!m) continue;
    it(`${m[1]} spacing, ${m[2]} steps: timesteps, sigmas and init_noise_sigma`, () => {
      const r = ref as { timesteps: readonly number[]; sigmas: readonly number[]; init: number };
      const c: DiscreteSchedulerConfig = {
        ...SDXL_SCHEDULER_CONFIG,
        timestep_spacing: m[1] as DiscreteSchedulerConfig['timestep_spacing'],
      };
      const s = sigmaSchedule(c, Number(m[2]));
      assert.deepEqual(s.timesteps, [...r.timesteps]);
      allClose(s.sigmas, r.sigmas, 1e-11);
      close(s.initNoiseSigma, r.init, 1e-11);
    });
  }

  it('leading 50 steps: 981 .. 1 by 20, init sigma sqrt(max² + 1)', () => {
    const s = sigmaSchedule(SDXL_SCHEDULER_CONFIG, 50);
    assert.equal(s.timesteps[0], 981);
    assert.equal(s.timesteps.at(-1), 1);
    assert.equal(s.sigmas.length, 51);
    assert.equal(s.sigmas[50], 0);
    close(s.initNoiseSigma, Math.sqrt(s.sigmas[0]! ** 2 + 1));
    for (let i = 1; i < s.sigmas.length; i++) assert.ok(s.sigmas[i]! < s.sigmas[i - 1]!, 'decreasing');
  });

  it('rejects step counts outside 1..num_train_timesteps', () => {
    assert.throws(
      () => inferenceTimesteps(SDXL_SCHEDULER_CONFIG, 0),
      /steps must be an integer in 1\.\.1000/,
    );
    assert.throws(() => inferenceTimesteps(SDXL_SCHEDULER_CONFIG, 1001), /in 1\.\.1000/);
    assert.throws(() => inferenceTimesteps(SDXL_SCHEDULER_CONFIG, 2.5), /got 2\.5/);
  });

  it('rejects unsupported settings, naming the field', () => {
    const bad = (patch: Record<string, unknown>, re: RegExp) =>
      assert.throws(
        () => discreteSchedulerConfig({ ...SDXL_JSON, ...patch }, 'x/scheduler_config.json'),
        (e: Error) =>
          e instanceof SchedulerConfigError && re.test(e.message) && /^x\/scheduler/.test(e.message),
      );
    bad({ prediction_type: 'v_prediction' }, /prediction_type "v_prediction" is not supported/);
    bad({ use_karras_sigmas: true }, /use_karras_sigmas: true is not supported/);
    bad({ interpolation_type: 'log_linear' }, /interpolation_type "log_linear"/);
    bad({ trained_betas: [0.1, 0.2] }, /trained_betas/);
    bad({ beta_schedule: 'squaredcos_cap_v2' }, /beta_schedule "squaredcos_cap_v2"/);
    bad({ timestep_spacing: 'uniform' }, /timestep_spacing "uniform"/);
    bad({ num_train_timesteps: 1e9 }, /num_train_timesteps must be an integer in 2\.\.100000/);
    bad({ steps_offset: -1 }, /steps_offset must be/);
    bad({ beta_start: 0.02, beta_end: 0.01 }, /beta_end 0\.01 is below beta_start 0\.02/);
    bad({ beta_end: '0.012' }, /beta_end must be in \(0, 1\), got "0\.012"/);
  });

  it('takes diffusers defaults for absent fields', () => {
    const c = discreteSchedulerConfig({});
    assert.equal(c.beta_schedule, 'linear');
    assert.equal(c.timestep_spacing, 'linspace');
    assert.equal(c.steps_offset, 0);
    assert.equal(c.class_name, undefined);
  });

  it('the folder class picks the default sampler', () => {
    assert.equal(samplerOfClass('EulerDiscreteScheduler'), 'euler');
    assert.equal(samplerOfClass('EulerAncestralDiscreteScheduler'), 'euler-a');
    assert.equal(samplerOfClass(undefined), 'euler');
  });
});

describe('Euler and Euler-ancestral steps', () => {
  const ref = REFERENCE.steps30;
  const sched = sigmaSchedule(SDXL_SCHEDULER_CONFIG, 30);

  it('coefficients: sigma_up and sigma_down against the reference; Euler draws no noise', () => {
    for (const [i, r] of Object.entries(ref.at)) {
      const a = stepCoefficients(sched.sigmas, Number(i), 'euler-a');
      close(a.noiseStd, r.up, 1e-11);
      close(a.dt + a.sigma, r.down, 1e-11);
      const e = stepCoefficients(sched.sigmas, Number(i), 'euler');
      assert.equal(e.noiseStd, 0);
      close(e.dt, sched.sigmas[Number(i) + 1]! - sched.sigmas[Number(i)]!);
    }
    // the last step of the ancestral sampler lands on sigma 0 exactly: no noise, down = 0
    const last = stepCoefficients(sched.sigmas, 29, 'euler-a');
    assert.equal(last.noiseStd, 0);
    assert.equal(last.dt, -sched.sigmas[29]!);
    assert.throws(() => stepCoefficients(sched.sigmas, 30, 'euler'), /step 30 is outside 0\.\.29/);
  });

  const backends: [string, Backend | null][] = [
    ['cpu', cpu],
    ['webgpu', gpu],
  ];
  for (const [name, be] of backends) {
    it(`step() on ${name} matches the reference (f32 and an f16 noise estimate)`, {
      skip: !be && noGpu,
    }, async () => {
      const b = be!;
      for (const [i, r] of Object.entries(ref.at)) {
        const step = Number(i);
        const x = b.tensor(ref.x, [1, 7], 'f32');
        for (const dtype of b.supports('f16') ? (['f32', 'f16'] as const) : (['f32'] as const)) {
          const eps = b.tensor(ref.eps, [1, 7], dtype);
          const noiseCalls: number[] = [];
          const euler = new EulerSampler(SDXL_SCHEDULER_CONFIG, 30, 'euler');
          const anc = new EulerSampler(SDXL_SCHEDULER_CONFIG, 30, 'euler-a', (s) => {
            noiseCalls.push(s);
            return Float32Array.from(ref.noise);
          });
          close(euler.inputScale(step), r.scale);
          const e = euler.step(b, x, eps, step);
          const a = anc.step(b, x, eps, step);
          assert.equal(e.dtype, 'f32');
          // eps values are exact in f16 (multiples of 1/8); the rest is f32 arithmetic
          const tol = 1e-6;
          allClose(await e.read(), Float32Array.from(r.euler), tol);
          allClose(await a.read(), Float32Array.from(r.ancestral), tol);
          assert.deepEqual(noiseCalls, [step]);
          const x0 = euler.predictedOriginal(b, x, eps, step);
          allClose(
            await x0.read(),
            Float32Array.from(ref.x.map((v, k) => v - sched.sigmas[step]! * ref.eps[k]!)),
            tol,
          );
          for (const t of [eps, e, a, x0]) t.dispose();
        }
        x.dispose();
      }
    });
  }

  it('the ancestral sampler needs a noise source of the latent size', () => {
    assert.throws(() => new EulerSampler(SDXL_SCHEDULER_CONFIG, 4, 'euler-a'), /needs a noise source/);
    const s = new EulerSampler(SDXL_SCHEDULER_CONFIG, 4, 'euler-a', () => new Float32Array(3));
    const x = cpu.tensor([1, 2], [2], 'f32');
    assert.throws(() => s.step(cpu, x, x, 0), /ancestral noise: 3 values for a latent of 2/);
    x.dispose();
  });
});
