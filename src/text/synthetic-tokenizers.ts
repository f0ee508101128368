// Synthetic tokenizers of any vocabulary size, shaped like Flux's two (for random-weight model folders
// and tests): a T5-style SentencePiece Unigram tokenizer.json and CLIP-style byte-level BPE files
// (vocab.json + merges.txt, as Flux's tokenizer/ folder has them). The vocabularies are generated from a
// seed: every prompt tokenizes, but the pieces mean nothing.
import { Rng } from '../util/random.js';

type Json = Record<string, unknown>;

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const PUNCT = '.,!?\'"-:;()0123456789';

function special(id: number, content: string): Json {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

function randomWord(rng: Rng, min: number, max: number): string {
  const n = min + rng.int(max - min + 1);
  let w = '';
  for (let i = 0; i < n; i++) w += LETTERS[rng.int(LETTERS.length)];
  return w;
}

export interface SyntheticT5Tokenizer {
  /** tokenizer.json */
  tokenizer: Json;
  /** tokenizer_config.json */
  config: Json;
}

/**
 * A T5-style Unigram tokenizer with exactly `vocabSize` ids: <pad> 0, </s> 1, <unk> 2, single characters,
 * generated word pieces, and `extraIds` <extra_id_N> tokens at the top (T5: 32000 pieces + 100 = 32100).
 */
export function syntheticT5Tokenizer(
  vocabSize: number,
  o: { extraIds?: number; seed?: number } = {},
): SyntheticT5Tokenizer {
  const extra = o.extraIds ?? 100;
  const chars = [...LETTERS, ...LETTERS.toUpperCase(), ...PUNCT];
  const minSize = 3 + 1 + chars.length * 2 + extra;
  if (!Number.isInteger(vocabSize) || vocabSize < minSize)
    throw new RangeError(`a synthetic T5 tokenizer needs at least ${minSize} ids, got ${vocabSize}`);
  const rng = new Rng(o.seed ?? 5);
  const vocab: [string, number][] = [
    ['<pad>', 0],
    ['</s>', 0],
    ['<unk>', 0],
    ['▁', -2],
  ];
  const seen = new Set(vocab.map(([p]) => p));
  const add = (piece: string, score: number) => {
    if (seen.has(piece)) return false;
    seen.add(piece);
    vocab.push([piece, score]);
    return true;
  };
  for (const c of chars) add(c, -12);
  for (const c of chars) add(`▁${c}`, -11);
  const pieces = vocabSize - extra;
  while (vocab.length < pieces) {
    const rank = vocab.length / pieces;
    const word = randomWord(rng, 2, 8);
    add(rng.uniform() < 0.6 ? `▁${word}` : word, -3 - 7 * rank);
  }
  const extraTokens = Array.from({ length: extra }, (_, i) => special(vocabSize - 1 - i, `<extra_id_${i}>`));
  for (let i = extra - 1; i >= 0; i--) vocab.push([`<extra_id_${i}>`, 0]);
  const meta = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true };
  return {
    tokenizer: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [special(0, '<pad>'), special(1, '</s>'), special(2, '<unk>'), ...extraTokens.reverse()],
      normalizer: {
        type: 'Sequence',
        normalizers: [{ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }],
      },
      pre_tokenizer: meta,
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
      decoder: meta,
      model: { type: 'Unigram', unk_id: 2, byte_fallback: false, vocab },
    },
    config: {
      tokenizer_class: 'T5Tokenizer',
      pad_token: '<pad>',
      eos_token: '</s>',
      unk_token: '<unk>',
      extra_ids: extra,
      model_max_length: 512,
    },
  };
}

/** GPT-2's reversible byte -> printable character map, which byte-level BPE vocabularies are written in. */
export function byteLevelAlphabet(): string[] {
  const direct = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let n = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCharCode(direct(b) ? b : 256 + n++));
  return out;
}

export interface SyntheticClipTokenizer {
  /** vocab.json */
  vocab: Record<string, number>;
  /** merges.txt */
  merges: string;
  /** tokenizer_config.json */
  config: Json;
}

/**
 * A CLIP-style byte-level BPE vocabulary with exactly `vocabSize` ids: the base symbols (all 256 bytes in
 * CLIP's order, "!" first, or for small sizes only letters, digits and some punctuation), each also with
 * "</w>", then one token per generated merge, then <|startoftext|> and <|endoftext|> as the two largest
 * ids (as in CLIP).
 */
export function syntheticClipTokenizer(vocabSize: number, o: { seed?: number } = {}): SyntheticClipTokenizer {
  // in the order CLIP's vocabulary lists them: by character, so the printable bytes come first ("!" is
  // id 0, the padding of SDXL's second tokenizer) and the remapped ones (U+0100...) after
  const full = byteLevelAlphabet().sort();
  const small = [...LETTERS, ...PUNCT];
  const base = vocabSize >= 2 * full.length + 2 + 1000 ? full : small;
  const minSize = 2 * base.length + 2;
  if (!Number.isInteger(vocabSize) || vocabSize < minSize)
    throw new RangeError(`a synthetic CLIP tokenizer needs at least ${minSize} ids, got ${vocabSize}`);
  const rng = new Rng(o.seed ?? 7);
  const vocab: Record<string, number> = {};
  let next = 0;
  const add = (t: string) => {
    if (t in vocab) return false;
    vocab[t] = next++;
    return true;
  };
  for (const c of base) add(c);
  for (const c of base) add(`${c}</w>`);
  const merges: string[] = [];
  // letter-only pieces grow into words; a merge joins an inner piece with an inner or word-final piece
  const inner: string[] = [...LETTERS];
  const finals: string[] = [...LETTERS].map((c) => `${c}</w>`);
  const pick = (a: string[]) => a[Math.min(a.length - 1, Math.floor(rng.uniform() ** 2 * a.length))]!;
  let tries = 0;
  while (next < vocabSize - 2) {
    if (++tries > 50 * vocabSize) throw new Error('synthetic CLIP tokenizer: cannot generate enough merges');
    const a = pick(inner);
    if (a.length > 10) continue;
    const toFinal = rng.uniform() < 0.5;
    const b = toFinal ? pick(finals) : pick(inner);
    const merged = a + b;
    if (!add(merged)) continue;
    merges.push(`${a} ${b}`);
    (toFinal ? finals : inner).push(merged);
  }
  add('<|startoftext|>');
  add('<|endoftext|>');
  return {
    vocab,
    merges: `#version: 0.2\n${merges.join('\n')}\n`,
    config: {
      tokenizer_class: 'CLIPTokenizer',
      bos_token: '<|startoftext|>',
      eos_token: '<|endoftext|>',
      pad_token: '<|endoftext|>',
      unk_token: '<|endoftext|>',
      do_lower_case: true,
      model_max_length: 77,
    },
  };
}
