import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { clipTokenizerJson, loadClipTokenizer, loadT5Tokenizer } from '../../src/text/load-tokenizer.js';
import { PromptTokenizer } from '../../src/text/tokenizer.js';

const dir = mkdtempSync(join(tmpdir(), 'toma-tok-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const special = (id: number, content: string) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});

/** A T5-style SentencePiece Unigram tokenizer.json with a 13-piece vocabulary. */
const unigram = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [special(0, '<pad>'), special(1, '</s>'), special(2, '<unk>')],
  normalizer: {
    type: 'Sequence',
    normalizers: [{ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }],
  },
  pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
  post_processor: {
    type: 'TemplateProcessing',
    single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
    pair: [
      { Sequence: { id: 'A', type_id: 0 } },
      { SpecialToken: { id: '</s>', type_id: 0 } },
      { Sequence: { id: 'B', type_id: 0 } },
      { SpecialToken: { id: '</s>', type_id: 0 } },
    ],
    special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
  },
  decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
  model: {
    type: 'Unigram',
    unk_id: 2,
    byte_fallback: false,
    vocab: [
      ['<pad>', 0],
      ['</s>', 0],
      ['<unk>', 0],
      ['▁a', -2],
      ['▁cat', -3],
      ['▁c', -4],
      ['at', -4],
      ['▁', -5],
      ['c', -6],
      ['a', -6],
      ['t', -6],
      ['s', -7],
      ['▁cats', -8],
    ],
  },
};

/** CLIP-style byte-level BPE: vocab and merges (the tokenizer.json is built by clipTokenizerJson). */
const clipVocab = {
  a: 0,
  c: 1,
  t: 2,
  'a</w>': 3,
  't</w>': 4,
  'at</w>': 5,
  'cat</w>': 6,
  '<|startoftext|>': 7,
  '<|endoftext|>': 8,
  s: 9,
  's</w>': 10,
  ca: 11,
};
const clipMerges = '#version: 0.2\na t</w>\nc at</w>\nc a\n';

describe('prompt tokenizers from tokenizer files', () => {
  const t5dir = join(dir, 'tokenizer_2');
  const clipDir = join(dir, 'tokenizer');
  const clipJsonDir = join(dir, 'tokenizer_json');
  for (const d of [t5dir, clipDir, clipJsonDir]) mkdirSync(d, { recursive: true });

  it('T5 (Unigram): Viterbi pieces, </s> appended, padded with <pad> to max length, truncated keeping </s>', () => {
    writeFileSync(join(t5dir, 'tokenizer.json'), JSON.stringify(unigram));
    writeFileSync(
      join(t5dir, 'tokenizer_config.json'),
      JSON.stringify({ pad_token: '<pad>', eos_token: '</s>' }),
    );
    const tok = loadT5Tokenizer(t5dir, 8);
    // "▁cat" (-3) beats "▁c"+"at" (-8); "▁cats" (-8) beats "▁cat"+"s" (-10); "x" is unknown
    const e = tok.encode(['a cat', 'a  cats x']);
    assert.deepEqual([...e.ids], [3, 4, 1, 0, 0, 0, 0, 0, 3, 12, 7, 2, 1, 0, 0, 0]);
    assert.deepEqual([...e.mask], [1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0]);
    const short = loadT5Tokenizer(t5dir, 3).encode(['a cat cats']);
    assert.deepEqual([...short.ids], [3, 4, 1]);
    assert.equal(loadT5Tokenizer(t5dir, 'schnell').maxLength, 256);
    assert.equal(loadT5Tokenizer(t5dir, 'dev').maxLength, 512);
  });

  it('CLIP (byte-level BPE): lowercased, merges by rank, <|startoftext|> … <|endoftext|>, padded with <|endoftext|>', () => {
    writeFileSync(join(clipDir, 'vocab.json'), JSON.stringify(clipVocab));
    writeFileSync(join(clipDir, 'merges.txt'), clipMerges);
    const tok = loadClipTokenizer(clipDir, 6);
    // "cat": c a t</w> -> (a t</w>) first -> c at</w> -> cat</w>; "cats": c a t s</w> -> (c a) -> ca t s</w>
    const e = tok.encode(['A  Cat', 'cats']);
    assert.deepEqual([...e.ids], [7, 3, 6, 8, 8, 8, 7, 11, 2, 10, 8, 8]);
    assert.deepEqual([...e.mask], [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0]);
    assert.deepEqual([...loadClipTokenizer(clipDir, 3).encode(['a cat']).ids], [7, 3, 8]);
    assert.equal(loadClipTokenizer(clipDir).maxLength, 77);
  });

  it('CLIP from a tokenizer.json gives the same ids', () => {
    writeFileSync(
      join(clipJsonDir, 'tokenizer.json'),
      JSON.stringify(clipTokenizerJson(clipVocab, clipMerges)),
    );
    assert.deepEqual([...loadClipTokenizer(clipJsonDir, 6).encode(['A  Cat']).ids], [7, 3, 6, 8, 8, 8]);
  });

  it('clear errors for missing files and missing padding tokens', () => {
    assert.throws(() => loadT5Tokenizer(join(dir, 'nope'), 'dev'), /no tokenizer.json/);
    assert.throws(() => loadClipTokenizer(join(dir, 'nope')), /neither tokenizer.json nor vocab.json/);
    assert.throws(() => new PromptTokenizer(unigram, {}, { maxLength: 8 }), /names no padding token/);
    assert.throws(() => new PromptTokenizer(unigram, {}, { maxLength: 1, padId: 0 }), /no room for text/);
    assert.deepEqual(
      [...new PromptTokenizer(unigram, {}, { maxLength: 3, padId: 0 }).encode(['a']).ids],
      [3, 1, 0],
    );
  });
});
