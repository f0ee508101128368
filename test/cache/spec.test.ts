// Cache specs, forced schedules and method x cache configurations: parsing, canonical forms, labels and
// the errors for bad input.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCache } from '../../src/cache/create.js';
import {
  cacheLabel,
  cacheSpecString,
  parseCacheSpec,
  resolveSchedule,
  scheduleString,
} from '../../src/cache/spec.js';
import { configLabel, configString, createMethod, parseConfig } from '../../src/pipeline/methods.js';
import { cpu } from '../helpers.js';

describe('cache specs', () => {
  it('parses every method with its defaults and writes the canonical form back', () => {
    assert.deepEqual(parseCacheSpec('fbcache:0.12'), { method: 'fbcache', threshold: 0.12 });
    assert.deepEqual(parseCacheSpec(' teacache:0.3 '), { method: 'teacache', threshold: 0.3 });
    assert.deepEqual(parseCacheSpec('taylorseer:4'), {
      method: 'taylorseer',
      interval: 4,
      order: 1,
      warmup: 3,
    });
    assert.deepEqual(parseCacheSpec('taylorseer:4:2'), {
      method: 'taylorseer',
      interval: 4,
      order: 2,
      warmup: 3,
    });
    assert.deepEqual(parseCacheSpec('taylorseer:5:0:1'), {
      method: 'taylorseer',
      interval: 5,
      order: 0,
      warmup: 1,
    });
    assert.deepEqual(parseCacheSpec('fora:3'), { method: 'fora', interval: 3 });
    assert.equal(parseCacheSpec('none'), null);
    for (const s of [
      'fbcache:0.12',
      'teacache:0',
      'taylorseer:4',
      'taylorseer:4:2',
      'taylorseer:6:1:1',
      'fora:3',
    ])
      assert.equal(cacheSpecString(parseCacheSpec(s)!), s);
    assert.equal(cacheLabel(parseCacheSpec('taylorseer:4:2')!), 'taylorseer 4:2');
    assert.equal(cacheLabel(parseCacheSpec('fbcache:0.12')!), 'fbcache 0.12');
  });

  it('rejects bad specs and ranges with the expected forms', () => {
    const cases: [string, RegExp][] = [
      ['fbcache', /fbcache takes 1 argument\(s\), got 0/],
      ['fbcache:', /the threshold is missing/],
      ['fbcache:-0.1', /the threshold must be >= 0/],
      ['teacache:abc', /"abc" is not a number/],
      ['teacache:0.1:2', /takes 1 argument/],
      ['taylorseer:0', /the interval must be an integer >= 1, got 0/],
      ['taylorseer:2.5', /the interval must be an integer/],
      ['taylorseer:4:7', /the order must be an integer in 0\.\.4, got 7/],
      ['taylorseer:4:1:0', /the warm-up must be an integer >= 1/],
      ['fora:0', /the interval must be an integer >= 1/],
      ['magcache:0.1', /unknown cache method "magcache"/],
    ];
    for (const [spec, want] of cases) {
      assert.throws(
        () => parseCacheSpec(spec),
        (e: Error) =>
          e instanceof RangeError && want.test(e.message) && e.message.includes('expected fbcache:T'),
        spec,
      );
    }
  });

  it('resolves forced schedules: a list of full steps or one boolean per step; step 0 must be full', () => {
    assert.deepEqual(resolveSchedule('full=0,1,4', 6), [true, true, false, false, true, false]);
    assert.deepEqual(resolveSchedule('full=0', 2), [true, false]);
    assert.deepEqual(resolveSchedule([true, false, true], 3), [true, false, true]);
    assert.equal(scheduleString([true, true, false, false, true, false]), 'full=0,1,4');
    assert.throws(() => resolveSchedule('full=1,2', 4), /step 0 must be computed in full/);
    assert.throws(() => resolveSchedule('full=0,9', 4), /step 9 is not in 0\.\.3/);
    assert.throws(() => resolveSchedule('0,1,2', 4), /expected full=STEP,STEP/);
    assert.throws(() => resolveSchedule([true, false], 3), /expected 3 booleans/);
  });

  it('createCache makes each method (none makes nothing) and refuses options of another method', () => {
    assert.equal(createCache('none'), null);
    for (const [spec, probe] of [
      ['fbcache:0.1', 'first-block'],
      ['teacache:0.3', 'modulated-input'],
      ['taylorseer:4:2', 'none'],
      ['fora:2', 'none'],
    ] as const) {
      const c = createCache(spec)!;
      assert.equal(c.spec, spec);
      assert.equal(c.probe, probe);
      assert.equal(c.replay, false);
      c.dispose();
    }
    assert.equal(createCache('fora:2', { schedule: 'full=0,3' })!.replay, true);
    assert.throws(
      () => createCache('fbcache:0.1', { coefficients: [1, 0] }),
      /coefficients are a TeaCache option/,
    );
    assert.throws(() => createCache('teacache:0.1', { coefficients: [1, Number.NaN] }), /finite numbers/);
  });
});

describe('method x cache configurations', () => {
  it('parses METHOD[:RATIO][+CACHE] and labels it', () => {
    const cases: [string, string, string][] = [
      ['dense', 'dense', 'dense'],
      ['fbcache:0.1', 'fbcache:0.1', 'fbcache 0.1'],
      ['toma:0.5+fbcache:0.1', 'toma:0.5+fbcache:0.1', 'toma 0.5 + fbcache 0.1'],
      ['toma+hilbert:0.5+teacache:0.3', 'toma+hilbert:0.5+teacache:0.3', 'toma+hilbert 0.5 + teacache 0.3'],
      ['hilbert+taylorseer:4:2', 'hilbert+taylorseer:4:2', 'hilbert + taylorseer 4:2'],
      ['todo+none', 'todo', 'todo'],
      ['toma', 'toma', 'toma'],
    ];
    for (const [text, canonical, label] of cases) {
      const k = parseConfig(text);
      assert.equal(configString(k), canonical, text);
      assert.equal(configLabel(k), label, text);
    }
    assert.deepEqual(parseConfig('toma+hilbert:0.25+fora:3'), {
      method: 'toma+hilbert',
      ratio: 0.25,
      cache: { method: 'fora', interval: 3 },
    });
  });

  it('parses a per-configuration merge schedule (@every, @exempt, @reuse, @tile)', () => {
    const k = parseConfig('toma:0.5@every=3@exempt=1/2+fbcache:0.1');
    assert.deepEqual(k, {
      method: 'toma',
      ratio: 0.5,
      cache: { method: 'fbcache', threshold: 0.1 },
      schedule: { mergeEvery: 3, exemptDouble: 1, exemptSingle: 2 },
    });
    assert.equal(configString(k), 'toma:0.5@every=3@exempt=1/2+fbcache:0.1');
    assert.equal(configLabel(k), 'toma 0.5 every 3 exempt 1/2 + fbcache 0.1');
    assert.deepEqual(parseConfig(configString(k)), k);
    assert.deepEqual(parseConfig('toma:0.25@exempt=-/3@reuse=2').schedule, {
      exemptSingle: 3,
      reuseSteps: 2,
    });
    assert.deepEqual(parseConfig('toma:0.5@temp=30').schedule, { temperature: 30 });
    assert.equal(configString(parseConfig('toma:0.5@temp=30')), 'toma:0.5@temp=30');
    assert.throws(() => parseConfig('toma:0.5@temp=-1'), /@temp must be a positive number/);
    assert.throws(() => parseConfig('toma:0.5@every=0'), /@every must be an integer >= 1, got "0"/);
    assert.throws(() => parseConfig('toma:0.5@often=2'), /unknown schedule part "@often=2"/);
    assert.throws(() => parseConfig('toma:0.5@exempt=2'), /@exempt must be DOUBLE\/SINGLE/);
    assert.throws(() => parseConfig('@every=2+fbcache:0.1'), /a merge schedule needs a method/);
    // UNet options: which levels reduce, and where a merge acts
    const u = parseConfig('toma:0.5@levels=1,2@scope=self-attention');
    assert.deepEqual(u.schedule, { levels: [1, 2], unetScope: 'self-attention' });
    assert.equal(configString(u), 'toma:0.5@levels=1,2@scope=self-attention');
    assert.equal(configLabel(u), 'toma 0.5 levels 1,2 scope self-attention');
    assert.deepEqual(parseConfig(configString(u)), u);
    assert.throws(() => parseConfig('toma:0.5@levels=1,x'), /@levels must be an integer >= 0, got "x"/);
    assert.throws(
      () => parseConfig('toma:0.5@scope=mlp'),
      /@scope must be block or self-attention, got "mlp"/,
    );
  });

  it('rejects unknown methods, misplaced ratios and two caches', () => {
    assert.throws(() => parseConfig('tome:0.5'), /unknown method "tome:0.5"/);
    assert.throws(() => parseConfig('hilbert:0.5'), /hilbert takes no merge ratio/);
    assert.throws(() => parseConfig('toma:1.5'), /merge ratio must be in \(0, 1\), got "1.5"/);
    assert.throws(() => parseConfig('toma:0.5+fbcache:0.1+fora:2'), /one cache at most/);
    assert.throws(() => parseConfig('toma:0.5+fbcache:x'), /"x" is not a number/);
  });

  it('createMethod attaches the cache, names the pair and disposes both', () => {
    const m = createMethod(cpu, 'toma', { ratio: 0.5 }, 2, { cache: 'fbcache:0.12' });
    assert.equal(m.name, 'toma 0.5 + fbcache 0.12');
    assert.equal(m.cache?.spec, 'fbcache:0.12');
    m.dispose();
    const d = createMethod(cpu, 'dense', {}, 2, { cache: 'teacache:0.3' });
    assert.equal(d.name, 'teacache 0.3');
    assert.equal(createMethod(cpu, 'dense', {}, 2, { cache: 'none' }).cache, undefined);
  });
});
