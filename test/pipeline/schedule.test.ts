import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fluxMu, fluxSchedule, timeShift } from '../../src/pipeline/schedule.js';

describe('flux schedules', () => {
  it('schnell is the uniform grid from 1 to 0', () => {
    assert.deepEqual(fluxSchedule(4, 4096, 'schnell'), [1, 0.75, 0.5, 0.25, 0]);
  });
  it('dev shifts by mu(seq len): 0.5 at 256 tokens, 1.15 at 4096', () => {
    assert.ok(Math.abs(fluxMu(256) - 0.5) < 1e-12);
    assert.ok(Math.abs(fluxMu(4096) - 1.15) < 1e-12);
    const s = fluxSchedule(4, 4096, 'dev');
    assert.equal(s[0], 1);
    assert.equal(s[4], 0);
    assert.ok(Math.abs(s[2]! - timeShift(1.15, 1, 0.5)) < 1e-12);
    assert.ok(s[2]! > 0.5, 'shifted towards noise');
    for (let i = 1; i < s.length; i++) assert.ok(s[i]! < s[i - 1]!, 'decreasing');
  });
  it('rejects a bad step count', () => {
    assert.throws(() => fluxSchedule(0, 16), /steps must be an integer in 1\.\.10000, got 0/);
  });
});
