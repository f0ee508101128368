import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clipTokenizerJson } from '../../src/text/load-tokenizer.js';
import {
  byteLevelAlphabet,
  syntheticClipTokenizer,
  syntheticT5Tokenizer,
} from '../../src/text/synthetic-tokenizers.js';
import { PromptTokenizer } from '../../src/text/tokenizer.js';

const prompt = 'A photo of a cat, sitting on the mat!';

describe('synthetic tokenizers', () => {
  it('T5 (Unigram): exactly the asked vocabulary, <pad> 0, </s> 1, extra ids at the top', () => {
    for (const n of [356, 1200]) {
      const t = syntheticT5Tokenizer(n);
      const tok = new PromptTokenizer(t.tokenizer, t.config, { maxLength: 64 });
      assert.equal(tok.vocabSize, n);
      assert.equal(tok.padId, 0);
      const ids = tok.tokens(prompt);
      assert.equal(ids.at(-1), 1, 'ends with </s>');
      assert.ok(
        ids.every((id) => id >= 0 && id < n - 100),
        'text pieces below the extra ids',
      );
      assert.equal(tok.decode(ids), prompt);
      const enc = tok.encode([prompt]);
      assert.equal(enc.ids.length, 64);
      assert.equal(enc.ids[63], 0, 'padded with <pad>');
    }
  });

  it('CLIP (byte-level BPE): exactly the asked vocabulary, <|endoftext|> the largest id', () => {
    for (const n of [320, 2000]) {
      const t = syntheticClipTokenizer(n);
      assert.equal(Object.keys(t.vocab).length, n);
      assert.equal(t.vocab['<|endoftext|>'], n - 1);
      assert.equal(t.vocab['<|startoftext|>'], n - 2);
      const tok = new PromptTokenizer(clipTokenizerJson(t.vocab, t.merges), t.config, { maxLength: 77 });
      assert.equal(tok.vocabSize, n);
      assert.equal(tok.padId, n - 1);
      const ids = tok.tokens(prompt);
      assert.equal(ids[0], n - 2);
      assert.equal(ids.at(-1), n - 1);
      assert.equal(tok.decode(ids), prompt.toLowerCase());
    }
  });

  it('the full CLIP size has the 256-byte alphabet and merges that shorten words', () => {
    const t = syntheticClipTokenizer(49408);
    assert.equal(Object.keys(t.vocab).length, 49408);
    for (const c of byteLevelAlphabet()) assert.ok(c in t.vocab && `${c}</w>` in t.vocab);
    assert.equal(t.merges.split('\n').filter((l) => l && !l.startsWith('#')).length, 49408 - 514);
    const tok = new PromptTokenizer(clipTokenizerJson(t.vocab, t.merges), t.config, { maxLength: 77 });
    const letters = prompt.replace(/[^a-z]/gi, '').length;
    assert.ok(tok.tokens(prompt).length - 2 < letters, 'some merges apply');
  });

  it('rejects sizes too small for the base pieces', () => {
    assert.throws(() => syntheticT5Tokenizer(50), /at least/);
    assert.throws(() => syntheticClipTokenizer(20), /at least/);
  });
});
