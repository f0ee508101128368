// Deterministic real crops for `toma eval --real`: square crops of the photo pack made by
// tools/train/prepare.py (data/photos/pack, git-ignored), drawn like the embedded model's training crops
// (side U(max(0.3, size/short), 1) x the short side, uniform position, area resize to --size; no flips),
// written as PNGs with a crops.json manifest. Same arguments, same files. Needs a build (npm run build).
//
//   node tools/eval/real-crops.mjs [--set heldout|train] [--size 128] [--per-photo 32] [--seed 0]
//                                  [--pack data/photos/pack] [--out data/real/<set>-<size>]
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { toolArgs } from '../tool-args.mjs';

const { values: a } = toolArgs(import.meta.url, {
  options: {
    set: { type: 'string', default: 'heldout' },
    size: { type: 'string', default: '128' },
    'per-photo': { type: 'string', default: '32' },
    seed: { type: 'string', default: '0' },
    pack: { type: 'string', default: 'data/photos/pack' },
    out: { type: 'string' },
  },
});
const fail = (msg) => {
  console.error(`real-crops: ${msg}`);
  process.exit(2);
};
if (!['heldout', 'train'].includes(a.set)) fail(`--set must be heldout or train, got "${a.set}"`);
const size = Number(a.size);
const perPhoto = Number(a['per-photo']);
const seed = Number(a.seed);
if (!Number.isInteger(size) || size < 4) fail(`--size must be an integer >= 4, got "${a.size}"`);
if (!Number.isInteger(perPhoto) || perPhoto < 1)
  fail(`--per-photo must be a positive integer, got "${a['per-photo']}"`);
if (!Number.isInteger(seed) || seed < 0) fail(`--seed must be a non-negative integer, got "${a.seed}"`);

const dist = new URL('../../dist/src/', import.meta.url);
const { readImageFile, crop, resizeArea } = await import(new URL('eval/image-files.js', dist).href);
const { encodePng } = await import(new URL('io/png.js', dist).href);
const { writeFileAtomic } = await import(new URL('io/atomic.js', dist).href);
const { Rng } = await import(new URL('util/random.js', dist).href);
const src = join(a.pack, a.set);
if (!existsSync(src))
  fail(
    `${src} does not exist: build the photo pack first (apt-get install -y imagemagick; python3 tools/train/prepare.py)`,
  );
const out = a.out ?? join('data', 'real', `${a.set}-${size}`);

// The folder is ours when it holds our manifest: clear the crops it lists, so none are left over.
const manifestPath = join(out, 'crops.json');
if (existsSync(out)) {
  if (existsSync(manifestPath)) {
    for (const c of JSON.parse(readFileSync(manifestPath, 'utf8')).crops)
      rmSync(join(out, c.file), { force: true });
  } else if (readdirSync(out).some((f) => /\.(png|jpe?g)$/i.test(f))) {
    fail(`${out} already holds images that this tool did not write; choose another --out`);
  }
}
mkdirSync(out, { recursive: true });

const photos = readdirSync(src)
  .filter((f) => /\.(png|jpe?g)$/i.test(f))
  .sort();
if (photos.length === 0) fail(`${src} holds no photos`);
const rng = new Rng(seed);
const crops = [];
for (const f of photos) {
  const img = await readImageFile(join(src, f));
  const short = Math.min(img.width, img.height);
  if (short < size) fail(`${f} is ${img.width}x${img.height}, smaller than --size ${size}`);
  const minFrac = Math.max(0.3, size / short);
  for (let k = 0; k < perPhoto; k++) {
    const side = Math.round((minFrac + (1 - minFrac) * rng.uniform()) * short);
    const x = Math.floor(rng.uniform() * (img.width - side + 1));
    const y = Math.floor(rng.uniform() * (img.height - side + 1));
    const c = resizeArea(crop(img, x, y, side, side), size, size);
    const file = `${basename(f, extname(f))}-${String(k).padStart(3, '0')}.png`;
    writeFileAtomic(
      join(out, file),
      encodePng(c.data, size, size, 3, (raw) => deflateSync(raw)),
    );
    crops.push({ file, photo: f, x, y, side });
  }
}
writeFileAtomic(
  manifestPath,
  `${JSON.stringify({ about: 'real crops for toma eval --real (tools/eval/real-crops.mjs)', pack: a.pack, set: a.set, size, perPhoto, seed, crops }, null, 1)}\n`,
);
console.log(`real-crops: ${crops.length} crops of ${photos.length} ${a.set} photos at ${size} px -> ${out}`);
