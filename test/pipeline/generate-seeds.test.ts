// generate({ seeds }): one noise seed per image, so an image does not depend on the rest of its batch.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadEmbedded } from '../../src/pipeline/embedded.js';
import { generate } from '../../src/pipeline/generate.js';
import { cpu } from '../helpers.js';

describe('generate() with per-image seeds', () => {
  const { model, conditioning } = loadEmbedded(cpu, 'f32');
  const base = { model, conditioning, width: 8, height: 8, steps: 1, seed: 0, cfg: 4 };

  it('image i of a batch equals the same seed and class generated alone', async () => {
    const batch = await generate({ ...base, classes: [1, 2], seeds: [5, 7] });
    const alone = await generate({ ...base, classes: [2], seeds: [7] });
    const plain = await generate({ ...base, classes: [2], seed: 7 });
    assert.deepEqual(Array.from(batch.images[1]!), Array.from(alone.images[0]!));
    assert.deepEqual(
      Array.from(plain.images[0]!),
      Array.from(alone.images[0]!),
      'seeds: [s] is seed: s for one image',
    );
    assert.notDeepEqual(Array.from(batch.images[0]!), Array.from(batch.images[1]!));
  });

  it('wants one non-negative integer seed per class', async () => {
    await assert.rejects(
      generate({ ...base, classes: [1, 2], seeds: [5] }),
      /seeds must be 2 non-negative integers/,
    );
    await assert.rejects(
      generate({ ...base, classes: [1], seeds: [-1] }),
      /seeds must be 1 non-negative integers/,
    );
  });
});
