import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { deflateSync, inflateSync } from 'node:zlib';
import { crc32, encodePng, toUint8 } from '../../src/io/png.js';

describe('png', () => {
  it('crc32 matches the standard check value', () => {
    assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  });

  it('encodes pixels that decode back to the same bytes', () => {
    const w = 5;
    const h = 3;
    const px = new Uint8Array(w * h * 3).map((_, i) => (i * 37) % 256);
    const png = encodePng(px, w, h, 3, (r) => deflateSync(r));
    assert.deepEqual(Array.from(png.subarray(0, 8)), [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    // walk the chunks, check each CRC, and inflate IDAT
    let o = 8;
    let idat: Uint8Array | null = null;
    const dv = new DataView(png.buffer, png.byteOffset);
    while (o < png.length) {
      const len = dv.getUint32(o);
      const type = String.fromCharCode(...png.subarray(o + 4, o + 8));
      assert.equal(dv.getUint32(o + 8 + len), crc32(png.subarray(o + 4, o + 8 + len)), `crc of ${type}`);
      if (type === 'IDAT') idat = png.subarray(o + 8, o + 8 + len);
      o += 12 + len;
    }
    const raw = inflateSync(idat!);
    for (let y = 0; y < h; y++) {
      assert.equal(raw[y * (w * 3 + 1)], 0);
      assert.deepEqual(
        Array.from(raw.subarray(y * (w * 3 + 1) + 1, (y + 1) * (w * 3 + 1))),
        Array.from(px.subarray(y * w * 3, (y + 1) * w * 3)),
      );
    }
    // and an independent decoder agrees when one is installed (python3 with zlib is enough to parse)
    const dir = mkdtempSync(join(tmpdir(), 'png-'));
    writeFileSync(join(dir, 'a.png'), png);
    const py = `import zlib,struct\nb=open('${join(dir, 'a.png')}','rb').read()\nassert b[12:16]==b'IHDR'\nw,h=struct.unpack('>II',b[16:24])\nprint(w,h)`;
    assert.equal(execFileSync('python3', ['-c', py]).toString().trim(), `${w} ${h}`);
  });

  it('maps [-1, 1] to [0, 255] with clamping', () => {
    assert.deepEqual(Array.from(toUint8(new Float32Array([-1, 0, 1, 2, -3]))), [0, 128, 255, 255, 0]);
  });
});
