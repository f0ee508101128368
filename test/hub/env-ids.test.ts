import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { hubCacheDir, hubEndpoint, hubToken, offlineFromEnv } from '../../src/hub/env.js';
import { HubError } from '../../src/hub/errors.js';
import { startHubMirror } from '../../src/hub/mirror-server.js';
import { parseModelRef } from '../../src/hub/repo-id.js';
import { FLUX_DIFFUSERS_PATTERNS, globToRegExp, matchesAny } from '../../src/hub/select.js';

const tmp = mkdtempSync(join(tmpdir(), 'toma-hub-env-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('hub environment variables, as huggingface_hub reads them', () => {
  it('cache folder: HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub', () => {
    assert.equal(hubCacheDir({ HF_HUB_CACHE: '/c', HF_HOME: '/h' }), '/c');
    assert.equal(hubCacheDir({ HF_HOME: '/h', XDG_CACHE_HOME: '/x' }), join('/h', 'hub'));
    assert.equal(hubCacheDir({ XDG_CACHE_HOME: '/x' }), join('/x', 'huggingface', 'hub'));
  });

  it('HF_ENDPOINT: trailing slashes dropped; not a URL is a one-line error naming it', () => {
    assert.equal(hubEndpoint({}), 'https://huggingface.co');
    assert.equal(hubEndpoint({ HF_ENDPOINT: 'http://127.0.0.1:8090/' }), 'http://127.0.0.1:8090');
    assert.throws(
      () => hubEndpoint({ HF_ENDPOINT: 'mirror' }),
      (e: unknown) => {
        assert.ok(e instanceof HubError && e.code === 'bad-config');
        assert.equal(e.message, 'HF_ENDPOINT=mirror is not a URL (expected e.g. https://hf-mirror.com)');
        return true;
      },
    );
    assert.throws(() => hubEndpoint({ HF_ENDPOINT: 'ftp://x' }), /HF_ENDPOINT=ftp:\/\/x must be an http/);
  });

  it('token: HF_TOKEN, else the login file under HF_HOME; HF_HUB_OFFLINE truthy spellings', () => {
    assert.equal(hubToken({ HF_TOKEN: ' hf_a ', HF_HOME: tmp }), 'hf_a');
    assert.equal(hubToken({ HF_HOME: tmp }), undefined);
    writeFileSync(join(tmp, 'token'), 'hf_saved\n');
    assert.equal(hubToken({ HF_HOME: tmp }), 'hf_saved');
    for (const v of ['1', 'true', 'YES', 'on']) assert.equal(offlineFromEnv({ HF_HUB_OFFLINE: v }), true, v);
    for (const v of [undefined, '0', 'false', ''])
      assert.equal(offlineFromEnv({ HF_HUB_OFFLINE: v }), false, v);
  });
});

describe('repo ids and file patterns', () => {
  it('repo ids, single files, local paths', () => {
    assert.deepEqual(parseModelRef('black-forest-labs/FLUX.1-schnell'), {
      kind: 'repo',
      repo: 'black-forest-labs/FLUX.1-schnell',
    });
    assert.deepEqual(parseModelRef('org/name/sub/flux1-dev.safetensors'), {
      kind: 'repo',
      repo: 'org/name',
      file: 'sub/flux1-dev.safetensors',
    });
    assert.deepEqual(parseModelRef(tmp), { kind: 'local', path: tmp });
    assert.throws(() => parseModelRef('org/name/../x.safetensors'), /not a repo id/);
    assert.throws(() => parseModelRef('-org/name'), /neither starts nor ends with "-" or "\."/);
    assert.throws(() => parseModelRef(''), /empty name/);
  });

  it('fnmatch patterns: * spans folders, ? one character, dots are literal', () => {
    assert.ok(globToRegExp('*.safetensors').test('transformer/a.safetensors'));
    assert.ok(!globToRegExp('*.safetensors').test('a.safetensorsx'));
    assert.ok(globToRegExp('model-?.bin').test('model-1.bin'));
    assert.ok(!globToRegExp('a.json').test('abjson'));
    // The default selection: the diffusers folders, not the single-file release beside them.
    assert.ok(
      matchesAny('transformer/diffusion_pytorch_model-00001-of-00003.safetensors', FLUX_DIFFUSERS_PATTERNS),
    );
    assert.ok(matchesAny('tokenizer_2/spiece.model', FLUX_DIFFUSERS_PATTERNS));
    assert.ok(!matchesAny('flux1-schnell.safetensors', FLUX_DIFFUSERS_PATTERNS));
    assert.ok(!matchesAny('ae.safetensors', FLUX_DIFFUSERS_PATTERNS));
    assert.ok(!matchesAny('text_encoder/pytorch_model.bin', FLUX_DIFFUSERS_PATTERNS));
  });
});

describe('the mirror server answers like the hub', () => {
  it('resolve: git ETag for small files, LFS redirect with X-Linked-Etag/Size, Range → 206', async () => {
    const root = join(tmp, 'repos');
    mkdirSync(join(root, 'o/r'), { recursive: true });
    writeFileSync(join(root, 'o/r/config.json'), '{"a":1}');
    const weights = Buffer.from('0123456789');
    writeFileSync(join(root, 'o/r/w.safetensors'), weights);
    const m = await startHubMirror({ root });
    try {
      const small = await fetch(`${m.url}/o/r/resolve/main/config.json`, { method: 'HEAD' });
      assert.equal(small.status, 200);
      // `git hash-object` of the content: sha1 over "blob <size>\0" + bytes.
      const oid = createHash('sha1').update('blob 7\0{"a":1}').digest('hex');
      assert.equal(small.headers.get('etag'), `"${oid}"`);
      assert.match(small.headers.get('x-repo-commit') ?? '', /^[0-9a-f]{40}$/);
      const big = await fetch(`${m.url}/o/r/resolve/main/w.safetensors`, {
        method: 'HEAD',
        redirect: 'manual',
      });
      assert.equal(big.status, 302);
      const sha = createHash('sha256').update(weights).digest('hex');
      assert.equal(big.headers.get('x-linked-etag'), `"${sha}"`);
      assert.equal(big.headers.get('x-linked-size'), '10');
      const part = await fetch(`${m.url}/o/r/resolve/main/w.safetensors`, { headers: { Range: 'bytes=4-' } });
      assert.equal(part.status, 206);
      assert.equal(part.headers.get('content-range'), 'bytes 4-9/10');
      assert.equal(await part.text(), '456789');
      const missing = await fetch(`${m.url}/o/r/resolve/main/nope.json`);
      assert.equal(missing.status, 404);
      assert.equal(missing.headers.get('x-error-code'), 'EntryNotFound');
    } finally {
      await m.close();
    }
  });
});
