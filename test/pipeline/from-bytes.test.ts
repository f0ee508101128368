// The browser's loading path: the embedded model and its class conditioning parsed from bytes in
// memory must give exactly what the Node file path gives.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { parseSafetensors } from '../../src/io/safetensors-bytes.js';
import { FluxModel } from '../../src/models/flux/model.js';
import { conditioningFrom } from '../../src/pipeline/conditioning.js';
import { embeddedDir, loadConditioning } from '../../src/pipeline/embedded.js';
import { cpu } from '../helpers.js';

const dir = embeddedDir();

describe('loading from bytes in memory', () => {
  it('FluxModel.load(parseSafetensors(bytes)) holds the same parameters as loading the file', async () => {
    const file = `${dir}flux-embedded.safetensors`;
    const fromFile = FluxModel.load(cpu, file, { dtype: 'f32' });
    const fromBytes = FluxModel.load(cpu, parseSafetensors(readFileSync(file), 'flux-embedded'), {
      dtype: 'f32',
    });
    try {
      assert.deepEqual(fromBytes.config, fromFile.config);
      const a = fromFile.params;
      const b = fromBytes.params;
      assert.deepEqual([...b.tensors.keys()].sort(), [...a.tensors.keys()].sort());
      for (const k of a.tensors.keys()) assert.deepEqual(await b.dense(k).read(), await a.dense(k).read(), k);
    } finally {
      fromFile.dispose();
      fromBytes.dispose();
    }
  });

  it('conditioningFrom(parseSafetensors(bytes)) equals loadConditioning(file)', () => {
    const file = `${dir}conditioning.safetensors`;
    const a = loadConditioning(file);
    const b = conditioningFrom(parseSafetensors(readFileSync(file), 'conditioning'));
    assert.deepEqual(b, a);
    assert.equal(a.names.length, 39);
    assert.equal(a.names[a.nullClass], 'null');
  });

  it('conditioningFrom names what is wrong with a file that is not class conditioning', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'toma-cond-'));
    const write = (
      name: string,
      tensors: Parameters<typeof writeSafetensors>[1],
      meta?: Record<string, string>,
    ) => {
      const p = join(tmp, name);
      writeSafetensors(p, tensors, meta);
      return parseSafetensors(readFileSync(p), name);
    };
    const txt = { dtype: 'F32' as const, shape: [2, 1, 3], data: new Float32Array(6) };
    const y = { dtype: 'F32' as const, shape: [2, 3], data: new Float32Array(6) };
    assert.throws(() => conditioningFrom(write('no-y', { txt })), /no-y: no "y" tensor/);
    assert.throws(
      () => conditioningFrom(write('names', { txt, y }, { classes: '["null"]' })),
      /names: 1 class names, 2 txt rows and 2 y rows disagree/,
    );
    assert.throws(
      () => conditioningFrom(write('nul', { txt, y }, { classes: '["null","a"]', null_class: '5' })),
      /nul: null_class 5 is not one of the 2 classes/,
    );
    assert.equal(conditioningFrom(write('ok', { txt, y }, { classes: '["null","a"]' })).names[1], 'a');
  });
});
