// The committed embedded model (models/embedded/) must stay loadable by any reader of the original Flux
// release's checkpoint layout: exactly the release's keys and shapes for its config, f16, within the size
// budget, with its class conditioning and its reference input/output pair consistent with it.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { forward } from '../../src/cli/commands/forward.js';
import { Checkpoint } from '../../src/io/safetensors.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../../..');
const dir = join(root, 'models/embedded');

/** The Flux config fields, as the original release names them. */
interface FluxConfig {
  in_channels: number;
  out_channels: number;
  vec_in_dim: number;
  context_in_dim: number;
  hidden_size: number;
  mlp_ratio: number;
  num_heads: number;
  depth: number;
  depth_single_blocks: number;
  axes_dim: number[];
  theta: number;
  qkv_bias: boolean;
  guidance_embed: boolean;
}

const CONFIG_FIELDS = [
  'in_channels',
  'out_channels',
  'vec_in_dim',
  'context_in_dim',
  'hidden_size',
  'mlp_ratio',
  'num_heads',
  'depth',
  'depth_single_blocks',
  'axes_dim',
  'theta',
  'qkv_bias',
  'guidance_embed',
];

/** Every state_dict key of the original Flux model for a config, with its shape, in state_dict order. */
function fluxKeys(c: FluxConfig): [string, number[]][] {
  const h = c.hidden_size;
  const mlp = Math.floor(h * c.mlp_ratio);
  const hd = h / c.num_heads;
  const out: [string, number[]][] = [];
  const linear = (name: string, o: number, i: number, bias = true) => {
    out.push([`${name}.weight`, [o, i]]);
    if (bias) out.push([`${name}.bias`, [o]]);
  };
  const embedder = (name: string, i: number) => {
    linear(`${name}.in_layer`, h, i);
    linear(`${name}.out_layer`, h, h);
  };
  linear('img_in', h, c.in_channels);
  embedder('time_in', 256);
  embedder('vector_in', c.vec_in_dim);
  if (c.guidance_embed) embedder('guidance_in', 256);
  linear('txt_in', h, c.context_in_dim);
  for (let b = 0; b < c.depth; b++) {
    for (const s of ['img', 'txt']) {
      const p = `double_blocks.${b}.${s}`;
      linear(`${p}_mod.lin`, 6 * h, h);
      linear(`${p}_attn.qkv`, 3 * h, h, c.qkv_bias);
      out.push([`${p}_attn.norm.query_norm.scale`, [hd]]);
      out.push([`${p}_attn.norm.key_norm.scale`, [hd]]);
      linear(`${p}_attn.proj`, h, h);
      linear(`${p}_mlp.0`, mlp, h);
      linear(`${p}_mlp.2`, h, mlp);
    }
  }
  for (let b = 0; b < c.depth_single_blocks; b++) {
    const p = `single_blocks.${b}`;
    linear(`${p}.linear1`, 3 * h + mlp, h);
    linear(`${p}.linear2`, h, h + mlp);
    out.push([`${p}.norm.query_norm.scale`, [hd]]);
    out.push([`${p}.norm.key_norm.scale`, [hd]]);
    linear(`${p}.modulation.lin`, 3 * h, h);
  }
  linear('final_layer.linear', c.out_channels, h);
  linear('final_layer.adaLN_modulation.1', 2 * h, h);
  return out;
}

function layoutOf(ck: Checkpoint, prefixFilter: (k: string) => boolean = () => true): [string, number[]][] {
  return ck
    .keys()
    .filter(prefixFilter)
    .map((k): [string, number[]] => [k, ck.info(k).shape]);
}

/** The conformance fixtures (../shared/fixtures), or null: those checks then skip. */
function fixtures(): string | null {
  for (const c of [process.env.TOMA_FIXTURES, join(root, '../shared/fixtures'), '/work/shared/fixtures']) {
    if (c && existsSync(join(c, 'flux-tiny-a.safetensors'))) return c;
  }
  return null;
}

const weightsPath = join(dir, 'flux-embedded.safetensors');
const condPath = join(dir, 'conditioning.safetensors');
const ioPath = join(dir, 'sample-io.safetensors');

describe('embedded model (models/embedded)', () => {
  it('the key generator reproduces the official flux-tiny-a checkpoint exactly', {
    skip: fixtures() ? false : 'no fixtures',
  }, () => {
    const f = fixtures()!;
    const meta = JSON.parse(readFileSync(join(f, 'flux-tiny-a.json'), 'utf8')) as { config: FluxConfig };
    const ck = Checkpoint.open(join(f, 'flux-tiny-a.safetensors'));
    const official = layoutOf(ck, (k) => !k.startsWith('in.') && k !== 'out');
    ck.close();
    // The fixture's header is sorted by name; ours is written in state_dict order (checked below).
    const byName = (a: [string, number[]], b: [string, number[]]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
    assert.deepEqual(fluxKeys(meta.config).sort(byName), official.sort(byName));
  });

  it('has exactly the original Flux keys and shapes for its config, all f16, within 15 MB', () => {
    assert.ok(statSync(weightsPath).size <= 15_000_000, `${weightsPath} is over 15 MB`);
    const ck = Checkpoint.open(weightsPath);
    const config = JSON.parse(ck.metadata.config ?? 'null') as FluxConfig;
    assert.ok(config, '__metadata__.config is missing');
    assert.deepEqual(Object.keys(config), CONFIG_FIELDS);
    assert.equal(config.hidden_size / config.num_heads, 64, 'head dim 64');
    assert.equal(
      config.axes_dim.reduce((a, b) => a + b, 0),
      64,
      'axes_dim sums to the head dim',
    );
    assert.equal(config.guidance_embed, false);
    assert.equal(config.in_channels, 12, 'pixel space: 3 channels x 2x2 patch');
    assert.deepEqual(layoutOf(ck), fluxKeys(config));
    for (const k of ck.keys()) assert.equal(ck.info(k).dtype, 'F16', k);
    // Trained weights, not zeros or garbage: finite everywhere, and the output layer is not all zero.
    for (const k of ck.keys()) {
      const v = ck.readF32(k);
      assert.ok(
        v.every((x) => Number.isFinite(x)),
        `${k} has non-finite values`,
      );
    }
    assert.ok(ck.readF32('final_layer.linear.weight').some((x) => x !== 0));
    const model = JSON.parse(ck.metadata['toma.model'] ?? 'null') as {
      patch_size: number;
      native_size: number;
    };
    assert.equal(model.patch_size, 2);
    assert.equal(model.native_size, 128);
    ck.close();
  });

  it('has conditioning for every class in the shapes the config expects', () => {
    const w = Checkpoint.open(weightsPath);
    const config = JSON.parse(w.metadata.config!) as FluxConfig;
    w.close();
    const ck = Checkpoint.open(condPath);
    const classes = JSON.parse(ck.metadata.classes ?? '[]') as string[];
    assert.equal(classes[0], 'null');
    assert.equal(new Set(classes).size, classes.length, 'class names are unique');
    const txt = ck.info('txt').shape;
    assert.equal(txt.length, 3);
    assert.equal(txt[0], classes.length);
    assert.equal(txt[2], config.context_in_dim);
    assert.deepEqual(ck.info('y').shape, [classes.length, config.vec_in_dim]);
    // The model card names every class.
    const card = readFileSync(join(dir, 'MODEL_CARD.md'), 'utf8');
    for (const name of classes.slice(1))
      assert.ok(card.includes(name), `MODEL_CARD.md does not name class ${name}`);
    ck.close();
  });

  it('has a reference input/output pair built from its own conditioning and Flux positions', () => {
    assert.ok(statSync(ioPath).size < 200_000, 'sample-io stays small');
    const w = Checkpoint.open(weightsPath);
    const config = JSON.parse(w.metadata.config!) as FluxConfig;
    w.close();
    const io = Checkpoint.open(ioPath);
    const [gh, gw] = JSON.parse(io.metadata.grid_tokens_hw!) as [number, number];
    const rows = JSON.parse(io.metadata.conditioning_rows!) as number[];
    const b = rows.length;
    const n = gh * gw;
    assert.deepEqual(io.info('in.img').shape, [b, n, config.in_channels]);
    assert.deepEqual(io.info('out').shape, [b, n, config.out_channels]);
    assert.deepEqual(io.info('in.timesteps').shape, [b]);
    assert.ok(!io.has('in.guidance'), 'no guidance input: guidance_embed is false');
    const ids = io.readF32('in.img_ids');
    for (let i = 0; i < b; i++) {
      for (let t = 0; t < n; t++) {
        const o = (i * n + t) * 3;
        assert.deepEqual(
          [ids[o], ids[o + 1], ids[o + 2]],
          [0, Math.floor(t / gw), t % gw],
          `img_ids[${i}, ${t}]`,
        );
      }
    }
    assert.ok(io.readF32('in.txt_ids').every((x) => x === 0));
    const cond = Checkpoint.open(condPath);
    const [, tokens, ctx] = cond.info('txt').shape as [number, number, number];
    const all = cond.readF32('txt');
    const txt = io.readF32('in.txt');
    rows.forEach((r, i) => {
      const want = all.subarray(r * tokens * ctx, (r + 1) * tokens * ctx);
      const got = txt.subarray(i * tokens * ctx, (i + 1) * tokens * ctx);
      assert.deepEqual(got, want, `in.txt[${i}] is conditioning row ${r}`);
    });
    cond.close();
    const out = io.readF32('out');
    assert.ok(out.every((x) => Number.isFinite(x)));
    assert.ok(
      out.some((x) => Math.abs(x) > 0.1),
      'output is not trivially small',
    );
    io.close();
  });

  it('the project Flux runtime (CPU backend) reproduces sample-io from the checkpoint unchanged', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'toma-embedded-')), 'out.safetensors');
    const args = ['--backend', 'cpu', '--checkpoint', weightsPath, '--inputs', ioPath, '--out', out];
    assert.equal(await forward.run(args), 0);
    const got = Checkpoint.open(out);
    const io = Checkpoint.open(ioPath);
    const a = got.readF32('out');
    const b = io.readF32('out');
    assert.equal(a.length, b.length);
    let num = 0;
    let den = 0;
    for (let i = 0; i < a.length; i++) {
      num += (a[i]! - b[i]!) ** 2;
      den += b[i]! ** 2;
    }
    const rel = Math.sqrt(num / den);
    // PyTorch f32 on the CPU vs the f64-accumulating reference backend: measured 4.7e-7.
    assert.ok(rel < 1e-5, `relative error ${rel}`);
    got.close();
    io.close();
  });
});
