// A strict JSON parser for untrusted headers (safetensors headers, shard indexes).
//
// JSON.parse is not enough there: it keeps the last of two duplicate keys silently (so two readers can
// see different tensors in one file), rounds integers beyond 2^53 (so `2^53 + 1` bytes pass a size
// check they fail), accepts `2.0` and `1e3` where the official reader wants an integer, and puts keys
// like `__proto__` on ordinary objects. This parser follows RFC 8259 exactly and returns:
// objects as Maps (any key is just a key), integers (no fraction, no exponent) as exact bigints, other
// numbers as doubles. Nesting is bounded as it descends, so a header of 10^5 `[` cannot exhaust the
// stack. Errors give the character offset, never the text around it (the input may be anything).

export type JsonValue = null | boolean | string | number | bigint | JsonValue[] | JsonObject;
export type JsonObject = Map<string, JsonValue>;

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    /** What went wrong, for callers that map it to their own rule names. */
    readonly kind: 'syntax' | 'depth' | 'duplicate-key',
    /** Character offset in the text. */
    readonly offset: number,
  ) {
    super(message);
    this.name = 'JsonSyntaxError';
  }
}

export interface StrictJsonOptions {
  /** Deepest nesting of arrays/objects allowed (the top-level value is depth 1). */
  maxDepth: number;
}

/** Parses `text` as exactly one JSON value (surrounding JSON whitespace allowed). */
export function parseStrictJson(text: string, o: StrictJsonOptions): JsonValue {
  const p = new Parser(text, o.maxDepth);
  p.ws();
  const v = p.value(1);
  p.ws();
  if (p.i < text.length) p.fail('unexpected text after the JSON value');
  return v;
}

class Parser {
  i = 0;
  constructor(
    readonly s: string,
    readonly maxDepth: number,
  ) {}

  fail(what: string, kind: JsonSyntaxError['kind'] = 'syntax'): never {
    throw new JsonSyntaxError(`${what} at character ${this.i}`, kind, this.i);
  }

  ws(): void {
    for (;;) {
      const c = this.s.charCodeAt(this.i); // NaN past the end
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      this.i++;
    }
  }

  value(depth: number): JsonValue {
    const c = this.s.charCodeAt(this.i);
    switch (c) {
      case 0x7b: // {
        return this.object(depth);
      case 0x5b: // [
        return this.array(depth);
      case 0x22: // "
        return this.string();
      case 0x74: // t
        return this.literal('true', true);
      case 0x66: // f
        return this.literal('false', false);
      case 0x6e: // n
        return this.literal('null', null);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
        if (Number.isNaN(c)) this.fail('unexpected end of JSON');
        this.fail(`unexpected character ${describeChar(c)}`);
    }
  }

  enter(depth: number): void {
    if (depth > this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth} levels`, 'depth');
  }

  object(depth: number): JsonObject {
    this.enter(depth);
    this.i++;
    const out: JsonObject = new Map();
    this.ws();
    if (this.s.charCodeAt(this.i) === 0x7d) {
      this.i++;
      return out;
    }
    for (;;) {
      if (this.s.charCodeAt(this.i) !== 0x22) this.fail('expected a string key');
      const at = this.i;
      const key = this.string();
      if (out.has(key)) {
        this.i = at;
        this.fail(`duplicate key ${quoteForMessage(key)}`, 'duplicate-key');
      }
      this.ws();
      if (this.s.charCodeAt(this.i) !== 0x3a) this.fail("expected ':' after a key");
      this.i++;
      this.ws();
      out.set(key, this.value(depth + 1));
      this.ws();
      const c = this.s.charCodeAt(this.i);
      this.i++;
      if (c === 0x7d) return out;
      if (c !== 0x2c) {
        this.i--;
        this.fail("expected ',' or '}' in an object");
      }
      this.ws();
    }
  }

  array(depth: number): JsonValue[] {
    this.enter(depth);
    this.i++;
    const out: JsonValue[] = [];
    this.ws();
    if (this.s.charCodeAt(this.i) === 0x5d) {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s.charCodeAt(this.i);
      this.i++;
      if (c === 0x5d) return out;
      if (c !== 0x2c) {
        this.i--;
        this.fail("expected ',' or ']' in an array");
      }
      this.ws();
    }
  }

  literal<T>(word: string, v: T): T {
    if (!this.s.startsWith(word, this.i)) this.fail('unexpected word');
    this.i += word.length;
    return v;
  }

  number(): number | bigint {
    const start = this.i;
    const s = this.s;
    if (s.charCodeAt(this.i) === 0x2d) this.i++;
    const d0 = s.charCodeAt(this.i);
    if (d0 === 0x30) this.i++;
    else if (d0 >= 0x31 && d0 <= 0x39) this.digits();
    else this.fail('a number needs digits');
    let integer = true;
    if (s.charCodeAt(this.i) === 0x2e) {
      integer = false;
      this.i++;
      if (!this.digits()) this.fail('a number needs digits after the decimal point');
    }
    const e = s.charCodeAt(this.i);
    if (e === 0x65 || e === 0x45) {
      integer = false;
      this.i++;
      const sign = s.charCodeAt(this.i);
      if (sign === 0x2b || sign === 0x2d) this.i++;
      if (!this.digits()) this.fail('a number needs digits in its exponent');
    }
    const text = s.slice(start, this.i);
    return integer ? BigInt(text) : Number(text);
  }

  /** Skips digits; whether there was at least one. */
  digits(): boolean {
    const start = this.i;
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c < 0x30 || c > 0x39) break;
      this.i++;
    }
    return this.i > start;
  }

  string(): string {
    const s = this.s;
    this.i++; // opening quote
    let out = '';
    let run = this.i;
    for (;;) {
      if (this.i >= s.length) this.fail('unterminated string');
      const c = s.charCodeAt(this.i);
      if (c === 0x22) {
        out += s.slice(run, this.i);
        this.i++;
        return out;
      }
      if (c < 0x20) this.fail('control character in a string');
      if (c !== 0x5c) {
        this.i++;
        continue;
      }
      out += s.slice(run, this.i);
      this.i++;
      const esc = s.charCodeAt(this.i);
      this.i++;
      switch (esc) {
        case 0x22:
          out += '"';
          break;
        case 0x5c:
          out += '\\';
          break;
        case 0x2f:
          out += '/';
          break;
        case 0x62:
          out += '\b';
          break;
        case 0x66:
          out += '\f';
          break;
        case 0x6e:
          out += '\n';
          break;
        case 0x72:
          out += '\r';
          break;
        case 0x74:
          out += '\t';
          break;
        case 0x75: {
          const u = this.hex4();
          if (u >= 0xd800 && u <= 0xdbff) {
            // a high surrogate must be followed by an escaped low one (the text must stay valid Unicode)
            if (s.charCodeAt(this.i) !== 0x5c || s.charCodeAt(this.i + 1) !== 0x75)
              this.fail('unpaired surrogate in a \\u escape');
            this.i += 2;
            const lo = this.hex4();
            if (lo < 0xdc00 || lo > 0xdfff) this.fail('unpaired surrogate in a \\u escape');
            out += String.fromCharCode(u, lo);
          } else if (u >= 0xdc00 && u <= 0xdfff) {
            this.fail('unpaired surrogate in a \\u escape');
          } else {
            out += String.fromCharCode(u);
          }
          break;
        }
        default:
          this.i--;
          this.fail('invalid escape in a string');
      }
      run = this.i;
    }
  }

  hex4(): number {
    const h = this.s.slice(this.i, this.i + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail('a \\u escape needs 4 hex digits');
    this.i += 4;
    return Number.parseInt(h, 16);
  }
}

function describeChar(c: number): string {
  return c >= 0x21 && c <= 0x7e
    ? `'${String.fromCharCode(c)}'`
    : `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** A key or value for an error message: quoted, escaped (one line) and cut to a readable length. */
export function quoteForMessage(s: string, max = 80): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);
}
