// Prompt tokenization as Flux does it: a Hugging Face tokenizer.json run by @huggingface/tokenizers
// (pure JS: Node and browsers), then Flux's padding="max_length" + truncation: the text's tokens are cut
// so that they and the special tokens (CLIP: <|startoftext|> … <|endoftext|>; T5: … </s>) fit
// maxLength, and the rest is padding. T5: max length 512 (dev) or 256 (schnell), pad <pad>;
// CLIP: 77, pad <|endoftext|>.
import { Tokenizer } from '@huggingface/tokenizers';

export interface PromptTokenizerOptions {
  maxLength: number;
  /** Padding id; default from tokenizer_config.json's pad_token, else tokenizer.json's padding.pad_id. */
  padId?: number;
}

export interface TokenizedPrompts {
  /** [B·L] row-major. */
  ids: Int32Array;
  /** [B·L], 1 for tokens (special ones included), 0 for padding. */
  mask: Uint8Array;
  batch: number;
  length: number;
}

type Json = Record<string, unknown>;

function tokenName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string')
    return (v as Json).content as string;
  return undefined;
}

export class PromptTokenizer {
  readonly maxLength: number;
  readonly padId: number;
  private readonly tok: Tokenizer;
  /** Special tokens the post-processor puts before and after the text. */
  private readonly prefix: number[];
  private readonly suffix: number[];

  /** tokenizerJson: the parsed tokenizer.json; tokenizerConfig: the parsed tokenizer_config.json, if any. */
  constructor(tokenizerJson: Json, tokenizerConfig: Json = {}, opts: PromptTokenizerOptions) {
    if (!Number.isInteger(opts.maxLength) || opts.maxLength < 1)
      throw new RangeError(`maxLength must be a positive integer, got ${opts.maxLength}`);
    if (!tokenizerJson || typeof tokenizerJson !== 'object' || !tokenizerJson.model)
      throw new Error('not a tokenizer.json: it has no "model"');
    this.tok = new Tokenizer(tokenizerJson, tokenizerConfig);
    this.maxLength = opts.maxLength;
    let pad = opts.padId;
    const padName = tokenName(tokenizerConfig.pad_token);
    if (pad === undefined && padName !== undefined) {
      pad = this.tok.token_to_id(padName);
      if (pad === undefined)
        throw new Error(`the padding token ${JSON.stringify(padName)} (pad_token) is not in the vocabulary`);
    }
    const padding = tokenizerJson.padding as Json | null | undefined;
    if (pad === undefined && padding && typeof padding.pad_id === 'number') pad = padding.pad_id;
    if (pad === undefined)
      throw new Error(
        'the tokenizer names no padding token (tokenizer_config.json pad_token or tokenizer.json padding.pad_id); give padId',
      );
    this.padId = pad;
    // where the post-processor puts its special tokens, found by encoding a probe with and without them
    const probe = 'a';
    const bare = this.tok.encode(probe, { add_special_tokens: false }).ids;
    const full = this.tok.encode(probe, { add_special_tokens: true }).ids;
    let at = -1;
    for (let i = 0; i + bare.length <= full.length && at < 0; i++)
      if (bare.every((id: number, j: number) => full[i + j] === id)) at = i;
    if (at < 0) throw new Error('cannot locate the text inside the post-processed encoding of the tokenizer');
    this.prefix = full.slice(0, at);
    this.suffix = full.slice(at + bare.length);
    if (this.prefix.length + this.suffix.length >= this.maxLength)
      throw new RangeError(`maxLength ${this.maxLength} leaves no room for text between the special tokens`);
  }

  /** The token ids of one text with special tokens, truncated to maxLength (no padding). */
  tokens(text: string): number[] {
    const room = this.maxLength - this.prefix.length - this.suffix.length;
    const body = this.tok.encode(text, { add_special_tokens: false }).ids.slice(0, room);
    return [...this.prefix, ...body, ...this.suffix];
  }

  encode(texts: string[]): TokenizedPrompts {
    const L = this.maxLength;
    const ids = new Int32Array(texts.length * L).fill(this.padId);
    const mask = new Uint8Array(texts.length * L);
    texts.forEach((t, b) => {
      const row = this.tokens(t);
      ids.set(row, b * L);
      mask.fill(1, b * L, b * L + row.length);
    });
    return { ids, mask, batch: texts.length, length: L };
  }

  /** Ids the tokenizer can produce: 1 + the largest id of its vocabulary and added tokens. */
  get vocabSize(): number {
    let max = -1;
    for (const id of this.tok.get_vocab(true).values()) max = Math.max(max, id);
    return max + 1;
  }

  decode(ids: number[]): string {
    return this.tok.decode(ids, { skip_special_tokens: true });
  }
}
