// User-facing options of HilbertA sparse attention, their defaults and validation.
// (The lead will fold this into the public options type of src/merge/options.ts.)

export interface HilbertOptions {
  method: 'hilbert';
  /** G: tiles the image curve is cut into; each image query attends to its own tile (plus the shared region). */
  tiles: number;
  /** C: the tile partition slides by 1/C of a tile per layer and repeats every C layers. */
  cycle: number;
  /** Fraction of the image area in the shared central rectangle (0 for none). 0.0625 = a quarter of each side. */
  center: number;
}

/** The HilbertA authors' settings for Flux at 1024² and 2048². */
export const HILBERT_DEFAULTS: Readonly<HilbertOptions> = Object.freeze({
  method: 'hilbert',
  tiles: 16,
  cycle: 4,
  center: 0.0625,
});

const KEYS = Object.keys(HILBERT_DEFAULTS);

/** Fills in defaults and checks every field, throwing an error that names the bad one. */
export function resolveHilbertOptions(options: Partial<HilbertOptions> = {}): HilbertOptions {
  for (const k of Object.keys(options)) {
    if (!KEYS.includes(k))
      throw new TypeError(`hilbert options: unknown option "${k}" (expected ${KEYS.join(', ')})`);
  }
  const o = { ...HILBERT_DEFAULTS, ...options };
  if (o.method !== 'hilbert')
    throw new TypeError(`hilbert options: method must be "hilbert", got "${o.method}"`);
  if (!Number.isInteger(o.tiles) || o.tiles < 1) {
    throw new RangeError(`hilbert options: tiles must be a positive integer, got ${o.tiles}`);
  }
  if (!Number.isInteger(o.cycle) || o.cycle < 1) {
    throw new RangeError(`hilbert options: cycle must be a positive integer, got ${o.cycle}`);
  }
  if (typeof o.center !== 'number' || !Number.isFinite(o.center) || o.center < 0 || o.center >= 1) {
    throw new RangeError(
      `hilbert options: center must be a fraction of the image in [0, 1), got ${o.center}`,
    );
  }
  return o;
}
