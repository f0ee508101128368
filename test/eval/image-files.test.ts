// Reading real images: PNG and JPEG by signature, the centred square crop and the area resize.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import { crop, fitSquare, readImageDir, readImageFile, resizeArea } from '../../src/eval/image-files.js';
import { encodePng } from '../../src/io/png.js';

const dir = mkdtempSync(join(tmpdir(), 'toma-image-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('image files', () => {
  it('area resize averages the covered source pixels (integer and fractional factors)', () => {
    // 4x2 RGB, channel 0 = 0, 10, 20, 30 / 40, 50, 60, 70
    const img = {
      width: 4,
      height: 2,
      data: Uint8Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? (i / 3) * 10 : 0)),
    };
    const half = resizeArea(img, 2, 1);
    assert.deepEqual([half.data[0], half.data[3]], [(0 + 10 + 40 + 50) / 4, (20 + 30 + 60 + 70) / 4]);
    // 4 -> 3 columns: output 0 covers source 0 fully and a third of source 1
    const three = resizeArea(img, 3, 2);
    assert.ok(Math.abs(three.data[0]! - (0 * 1 + 10 * (1 / 3)) / (4 / 3)) <= 0.5, `${three.data[0]}`);
    assert.ok(Math.abs(three.data[3]! - (10 * (2 / 3) + 20 * (2 / 3)) / (4 / 3)) <= 0.5, `${three.data[3]}`);
    assert.equal(resizeArea(img, 4, 2), img, 'same size: unchanged');
  });

  it('centred square crop then resize; crop checks its bounds', () => {
    const img = { width: 6, height: 2, data: Uint8Array.from({ length: 36 }, (_, i) => Math.floor(i / 3)) };
    const sq = fitSquare(img, 2);
    // the centred 2x2 is columns 2..3
    assert.deepEqual([sq.data[0], sq.data[3], sq.data[6], sq.data[9]], [2, 3, 8, 9]);
    assert.throws(() => crop(img, 5, 0, 2, 2), /outside a 6x2 image/);
  });

  it('reads PNG and JPEG by signature and a folder fitted to one size, sorted by name', async () => {
    const px = Uint8Array.from({ length: 8 * 6 * 3 }, (_, i) => (i * 7) % 256);
    writeFileSync(
      join(dir, 'b.png'),
      encodePng(px, 8, 6, 3, (r) => deflateSync(r)),
    );
    const jpeg = await import('jpeg-js');
    const rgba = new Uint8Array(10 * 10 * 4).fill(128);
    writeFileSync(join(dir, 'a.jpg'), jpeg.encode({ width: 10, height: 10, data: rgba }, 95).data);
    writeFileSync(join(dir, 'notes.txt'), 'ignored');
    const a = await readImageFile(join(dir, 'a.jpg'));
    assert.deepEqual([a.width, a.height, a.data.length], [10, 10, 300]);
    assert.ok(
      a.data.every((v) => Math.abs(v - 128) <= 2),
      'flat grey survives JPEG',
    );
    const b = await readImageFile(join(dir, 'b.png'));
    assert.deepEqual(Array.from(b.data), Array.from(px));
    const set = await readImageDir(dir, 4, 'x');
    assert.deepEqual(set.files, ['a.jpg', 'b.png']);
    assert.equal(set.refitted, 2);
    assert.ok(set.images.every((im) => im.width === 4 && im.height === 4));
    writeFileSync(join(dir, 'c.png'), 'not an image');
    await assert.rejects(readImageFile(join(dir, 'c.png')), /c\.png: neither a PNG nor a JPEG file/);
    await assert.rejects(readImageDir(join(dir, 'nope'), 4), /cannot read the image folder/);
  });
});
