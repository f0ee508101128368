// Loading CLIP and T5 tokenizers from a model folder: the file system in Node, or any TokenizerFiles (a
// browser's picked folder). T5 (Flux's tokenizer_2/): tokenizer.json (SentencePiece Unigram). CLIP (Flux's
// tokenizer/, SDXL's tokenizer/ and tokenizer_2/): tokenizer.json (byte-level BPE), or where a folder has
// only the slow tokenizer's vocab.json + merges.txt, the equivalent tokenizer.json is built from them.
// The padding token is tokenizer_config.json's pad_token (SDXL's tokenizer_2: "!"), else <|endoftext|>.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FLUX_CLIP_MAX_LENGTH } from '../models/clip/config.js';
import { FLUX_T5_MAX_LENGTH } from '../models/t5/config.js';
import { PromptTokenizer } from './tokenizer.js';

type Json = Record<string, unknown>;

/** Where a tokenizer's files are read from: the file system (below) or a browser's picked folder. */
export interface TokenizerFiles {
  join(dir: string, name: string): string;
  exists(path: string): boolean;
  readText(path: string): string;
}

const nodeFiles: TokenizerFiles = {
  join,
  exists: existsSync,
  readText: (path) => readFileSync(path, 'utf8'),
};

function readJson(files: TokenizerFiles, path: string): Json {
  try {
    return JSON.parse(files.readText(path));
  } catch (e) {
    throw new Error(`${path}: cannot read JSON (${(e as Error).message})`);
  }
}

function readConfig(files: TokenizerFiles, dir: string): Json {
  const p = files.join(dir, 'tokenizer_config.json');
  return files.exists(p) ? readJson(files, p) : {};
}

/** The T5 tokenizer of a Flux model folder's tokenizer_2/ (or any folder with a tokenizer.json). */
export function loadT5Tokenizer(
  dir: string,
  variant: 'dev' | 'schnell' | number,
  files: TokenizerFiles = nodeFiles,
): PromptTokenizer {
  const p = files.join(dir, 'tokenizer.json');
  if (!files.exists(p))
    throw new Error(`${dir}: no tokenizer.json (Flux's T5 tokenizer is in the model folder's tokenizer_2/)`);
  const maxLength = typeof variant === 'number' ? variant : FLUX_T5_MAX_LENGTH[variant];
  return new PromptTokenizer(readJson(files, p), readConfig(files, dir), { maxLength });
}

export interface ClipTokenizerOptions {
  /** The padding token instead of tokenizer_config.json's (a lone CLIP folder as SDXL's second tokenizer: "!"). */
  padToken?: string;
}

/** A CLIP tokenizer folder (Flux's tokenizer/, SDXL's tokenizer/ or tokenizer_2/), padding to maxLength. */
export function loadClipTokenizer(
  dir: string,
  maxLength = FLUX_CLIP_MAX_LENGTH,
  files: TokenizerFiles = nodeFiles,
  o: ClipTokenizerOptions = {},
): PromptTokenizer {
  const p = files.join(dir, 'tokenizer.json');
  const config: Json = { pad_token: '<|endoftext|>', ...readConfig(files, dir) };
  if (o.padToken !== undefined) config.pad_token = o.padToken;
  if (files.exists(p)) return new PromptTokenizer(readJson(files, p), config, { maxLength });
  const vocab = files.join(dir, 'vocab.json');
  const merges = files.join(dir, 'merges.txt');
  if (!files.exists(vocab) || !files.exists(merges))
    throw new Error(
      `${dir}: neither tokenizer.json nor vocab.json + merges.txt (a model folder's CLIP tokenizers are in tokenizer/ and, for SDXL, tokenizer_2/)`,
    );
  const json = clipTokenizerJson(readJson(files, vocab) as Record<string, number>, files.readText(merges));
  return new PromptTokenizer(json, config, { maxLength });
}

/** CLIP's fast-tokenizer description (as in openai/clip-vit-large-patch14's tokenizer.json) over a vocab and merges. */
export function clipTokenizerJson(vocab: Record<string, number>, mergesText: string): Json {
  const bos = '<|startoftext|>';
  const eos = '<|endoftext|>';
  for (const t of [bos, eos])
    if (vocab[t] === undefined) throw new Error(`vocab.json has no ${t}: not a CLIP vocabulary`);
  const merges = mergesText
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#version'))
    .map((l) => l.trim());
  const special = (content: string) => ({
    id: vocab[content],
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: true,
    special: true,
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(bos), special(eos)],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'NFC' },
        { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' },
        { type: 'Lowercase' },
      ],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: {
            Regex:
              "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
          },
          behavior: 'Removed',
          invert: true,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: 'RobertaProcessing',
      sep: [eos, vocab[eos]],
      cls: [bos, vocab[bos]],
      trim_offsets: false,
      add_prefix_space: false,
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: eos,
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}
