// SDXL's two CLIP tokenizers: one BPE vocabulary (here the synthetic full-size one, 49408 ids with "!" at
// id 0 and <|startoftext|>, <|endoftext|> at 49406, 49407 as in OpenAI's), the release's tokenizer
// configs: tokenizer/ pads with <|endoftext|>, tokenizer_2/ with "!" (id 0); both 77 tokens, truncated
// to [bos, 75 text tokens, eos].
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadClipTokenizer } from '../../src/text/load-tokenizer.js';
import { syntheticClipTokenizer } from '../../src/text/synthetic-tokenizers.js';

const tmp = mkdtempSync(join(tmpdir(), 'toma-sdxl-tok-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const RELEASE = new URL('../../../models/configs/stable-diffusion-xl-base-1.0/', import.meta.url);
const vocab = syntheticClipTokenizer(49408, { seed: 3 });

function folder(name: string, config: 'tokenizer' | 'tokenizer_2' | null): string {
  const d = join(tmp, name);
  mkdirSync(d);
  writeFileSync(join(d, 'vocab.json'), JSON.stringify(vocab.vocab));
  writeFileSync(join(d, 'merges.txt'), vocab.merges);
  if (config)
    writeFileSync(
      join(d, 'tokenizer_config.json'),
      readFileSync(new URL(`${config}/tokenizer_config.json`, RELEASE), 'utf8'),
    );
  return d;
}

const BOS = 49406;
const EOS = 49407;

describe('SDXL tokenizers', () => {
  const one = loadClipTokenizer(folder('tokenizer', 'tokenizer'), 77);
  const two = loadClipTokenizer(folder('tokenizer_2', 'tokenizer_2'), 77);

  it('the same text ids; tokenizer pads with <|endoftext|>, tokenizer_2 with "!" (id 0)', () => {
    assert.equal(vocab.vocab['!'], 0);
    assert.equal(one.padId, EOS);
    assert.equal(two.padId, 0);
    const a = one.encode(['a photo of a cat', '']);
    const b = two.encode(['a photo of a cat', '']);
    assert.equal(a.length, 77);
    const text = one.tokens('a photo of a cat');
    assert.equal(text[0], BOS);
    assert.equal(text.at(-1), EOS);
    assert.ok(text.length > 2);
    assert.deepEqual([...a.ids.subarray(0, text.length)], text);
    assert.deepEqual([...b.ids.subarray(0, text.length)], text);
    assert.ok(a.ids.subarray(text.length, 77).every((v) => v === EOS));
    assert.ok(b.ids.subarray(text.length, 77).every((v) => v === 0));
    // the empty prompt: bos, eos, then padding
    assert.deepEqual([...a.ids.subarray(77, 80)], [BOS, EOS, EOS]);
    assert.deepEqual([...b.ids.subarray(77, 80)], [BOS, EOS, 0]);
    assert.deepEqual([...a.mask.subarray(77, 80)], [1, 1, 0]);
  });

  it('truncates a long prompt to bos + 75 tokens + eos', () => {
    const long = Array.from({ length: 120 }, (_, i) => `word${i}`).join(' ');
    for (const t of [one, two]) {
      const ids = t.encode([long]).ids;
      assert.equal(ids.length, 77);
      assert.equal(ids[0], BOS);
      assert.equal(ids[76], EOS);
      assert.ok(ids.subarray(1, 76).every((v) => v !== EOS && v !== BOS));
    }
    assert.deepEqual([...one.encode([long]).ids], [...two.encode([long]).ids]);
  });

  it('a lone CLIP folder with pad "!" tokenizes as tokenizer_2', () => {
    const lone = loadClipTokenizer(folder('lone', null), 77, undefined, { padToken: '!' });
    assert.equal(lone.padId, 0);
    assert.deepEqual(lone.encode(['a red fox']).ids, two.encode(['a red fox']).ids);
  });

  it('a padding token missing from the vocabulary is an error naming it', () => {
    assert.throws(
      () => loadClipTokenizer(folder('bad-pad', null), 77, undefined, { padToken: '<pad>' }),
      /the padding token "<pad>" \(pad_token\) is not in the vocabulary/,
    );
  });
});
