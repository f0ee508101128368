import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runComponent } from '../../src/cli/components.js';
import { Checkpoint, type TensorToWrite, writeSafetensors } from '../../src/io/safetensors.js';
import { cpu, gpu, noGpu } from '../helpers.js';
import { FIXTURES, noFixtures, relativeError } from '../models/fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'toma-components-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Copies some keys of a fixture into a new file (optionally leaving keys out or replacing them). */
function subset(
  name: string,
  keep: (k: string) => boolean,
  replace: Record<string, TensorToWrite> = {},
): string {
  const src = Checkpoint.open(join(FIXTURES!, `${name}.safetensors`));
  const t: Record<string, TensorToWrite> = {};
  for (const k of src.keys())
    if (keep(k)) t[k] = { dtype: 'F32', shape: src.info(k).shape, data: src.readF32(k) };
  src.close();
  const path = join(
    tmp,
    `${name}-${Object.keys(t).length}-${Object.keys(replace).join('+') || 'plain'}.safetensors`,
  );
  writeSafetensors(path, { ...t, ...replace });
  return path;
}

describe('runComponent on the fixtures (end to end through safetensors files)', { skip: noFixtures }, () => {
  const cases = [
    ['ae', 'ae-golden-a', ['out']],
    ['clip', 'clip-golden-a', ['out.last_hidden_state', 'out.pooler_output']],
    ['t5', 't5-golden-a', ['out.last_hidden_state']],
  ] as const;
  for (const [component, name, keys] of cases) {
    it(`${component}: writes ${keys.join(', ')} matching the fixture within 1e-4 (CPU)`, async () => {
      const ckpt = join(FIXTURES!, `${name}.safetensors`);
      const out = join(tmp, `${component}-out.safetensors`);
      const lines: string[] = [];
      await runComponent(component, {
        checkpoint: ckpt,
        inputs: ckpt,
        out,
        backend: cpu,
        log: (l) => lines.push(l),
      });
      const got = Checkpoint.open(out);
      const want = Checkpoint.open(ckpt);
      assert.deepEqual(got.keys().sort(), [...keys].sort());
      for (const k of keys) {
        assert.deepEqual(got.info(k).shape, want.info(k).shape, k);
        const err = relativeError(got.readF32(k), want.readF32(k));
        assert.ok(err <= 1e-4, `${k}: relative error ${err}`);
      }
      assert.equal(got.metadata.component, component);
      assert.ok(lines.some((l) => l.startsWith('loaded')));
      got.close();
      want.close();
    });
  }

  it('t5 on WebGPU', { skip: noGpu }, async () => {
    const ckpt = join(FIXTURES!, 't5-golden-a.safetensors');
    const out = join(tmp, 't5-gpu.safetensors');
    await runComponent('t5', { checkpoint: ckpt, inputs: ckpt, out, backend: gpu! });
    const got = Checkpoint.open(out);
    const want = Checkpoint.open(ckpt);
    assert.ok(
      relativeError(got.readF32('out.last_hidden_state'), want.readF32('out.last_hidden_state')) <= 1e-4,
    );
    got.close();
    want.close();
  });

  it('a checkpoint of another model family is named in the error', async () => {
    const clip = join(FIXTURES!, 'clip-golden-a.safetensors');
    const t5 = join(FIXTURES!, 't5-golden-a.safetensors');
    const ae = join(FIXTURES!, 'ae-golden-a.safetensors');
    const out = join(tmp, 'never.safetensors');
    await assert.rejects(
      runComponent('t5', { checkpoint: clip, inputs: t5, out, backend: cpu }),
      /is not a T5 encoder checkpoint: it looks like a CLIP text encoder \(e\.g\. "text_model\./,
    );
    await assert.rejects(
      runComponent('ae', { checkpoint: t5, inputs: ae, out, backend: cpu }),
      /is not a Flux autoencoder checkpoint: it looks like a T5 encoder/,
    );
    await assert.rejects(
      runComponent('clip', { checkpoint: ae, inputs: clip, out, backend: cpu }),
      /is not a CLIP text encoder checkpoint: it looks like a Flux autoencoder/,
    );
  });

  it('missing weights, missing inputs and wrong shapes give errors that name the key', async () => {
    const out = join(tmp, 'never.safetensors');
    const noWo = subset('t5-golden-a', (k) => k !== 'encoder.block.1.layer.1.DenseReluDense.wo.weight');
    await assert.rejects(
      runComponent('t5', { checkpoint: noWo, inputs: noWo, out, backend: cpu }),
      /"encoder\.block\.1\.layer\.1\.DenseReluDense\.wo\.weight" is missing/,
    );
    const badShape = subset('clip-golden-a', (k) => k !== 'text_model.encoder.layers.1.mlp.fc2.weight', {
      'text_model.encoder.layers.1.mlp.fc2.weight': {
        dtype: 'F32',
        shape: [64, 127],
        data: new Float32Array(64 * 127),
      },
    });
    await assert.rejects(
      runComponent('clip', {
        checkpoint: badShape,
        inputs: badShape,
        out,
        backend: cpu,
        config: { num_attention_heads: 4 },
      }),
      /"text_model\.encoder\.layers\.1\.mlp\.fc2\.weight" has shape \[64, 127\], expected \[64, 128\]/,
    );
    const ae = join(FIXTURES!, 'ae-golden-a.safetensors');
    const noZ = subset('ae-golden-a', (k) => k !== 'in.z');
    await assert.rejects(
      runComponent('ae', { checkpoint: ae, inputs: noZ, out, backend: cpu }),
      /input "in\.z" is missing/,
    );
    const wrongZ = subset('ae-golden-a', (k) => k.startsWith('decoder.'), {
      'in.z': { dtype: 'F32', shape: [1, 5, 8, 8], data: new Float32Array(320) },
    });
    await assert.rejects(
      runComponent('ae', { checkpoint: ae, inputs: wrongZ, out, backend: cpu }),
      /in\.z has 5 channels, the autoencoder takes 4/,
    );
  });
});
