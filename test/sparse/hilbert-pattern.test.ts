// The AttentionPattern object the model calls.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ForwardInfo } from '../../src/merge/hooks.js';
import { createHilbertPattern } from '../../src/sparse/hilbert-pattern.js';
import { imageLayout } from '../../src/sparse/layout.js';
import { cpu } from '../helpers.js';

const info: ForwardInfo = { step: 0, steps: 1, batch: 2, grid: [64, 64], textTokens: 512 };

describe('createHilbertPattern', () => {
  it('gives the [centre | rest] image order and per-block key ranges the attention op accepts', async () => {
    const p = createHilbertPattern(cpu);
    assert.equal(p.name, 'hilbert');
    assert.deepEqual(p.imageOrder(info), imageLayout(64, 64, 0.0625).order);
    const kr = p.keyRanges('double', 0, info, 4096)!;
    assert.equal(kr.blockSize, 64);
    assert.deepEqual(kr.ranges.shape, [72, 2, 2]);
    assert.equal(kr.ranges.dtype, 'u32');
    const table = await cpu.readU32(kr.ranges);
    assert.deepEqual([table[0], table[1]], [0, 4608], 'text blocks are dense');
    assert.deepEqual(
      [...table.subarray(12 * 4, 12 * 4 + 4)],
      [0, 768 + 256, 0, 0],
      'the first rest block: shared keys + tile 0 in one range',
    );
    p.dispose();
  });

  it('builds one table per phase of the cycle and numbers single blocks after the double blocks', () => {
    const p = createHilbertPattern(cpu, {}, { doubleBlocks: 19 });
    const a = p.keyRanges('double', 1, info, 4096)!;
    assert.equal(p.keyRanges('double', 5, info, 4096), a, 'layers 1 and 5 share a phase');
    assert.notEqual(p.keyRanges('double', 2, info, 4096), a);
    assert.equal(p.keyRanges('single', 2, info, 4096), a, 'single block 2 is layer 21, phase 1');
    assert.equal(p.plan('single', 0, info, 4096).layer, 19);
    p.dispose();
    assert.ok(a.ranges.disposed, 'dispose() frees the tables');
  });

  it('keeps its tables alive across the caller’s tidy scopes', () => {
    const p = createHilbertPattern(cpu);
    const kr = cpu.tidy(() => p.keyRanges('double', 0, info, 4096)!);
    cpu.tidy(() => {
      cpu.zeros([1]);
    });
    assert.ok(!kr.ranges.disposed);
    p.dispose();
  });

  it('validates its configuration and block kinds', () => {
    assert.throws(() => createHilbertPattern(cpu, { tiles: 0 }), /tiles must be a positive integer/);
    assert.throws(() => createHilbertPattern(cpu, {}, { maxBlock: 48 }), /maxBlock must be a power of two/);
    assert.throws(() => createHilbertPattern(cpu, {}, { minBlock: 128 }), /minBlock 128 > maxBlock 64/);
    const p = createHilbertPattern(cpu);
    assert.throws(() => p.keyRanges('triple' as 'double', 0, info, 4096), /block kind/);
    assert.throws(() => p.keyRanges('double', -1, info, 4096), /bad block index/);
    p.dispose();
  });
});
