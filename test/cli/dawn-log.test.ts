// Dawn's native log lines (warnings with build-machine paths) are kept out of the CLI's output and
// shown with --verbose; the filter passes everything else through, progress redraws at once.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DawnLogFilter } from '../../src/cli/dawn-log.js';

const DAWN =
  'Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.\n' +
  ' - While initializing adapter (backend=BackendType::Vulkan)\n' +
  '    at InitializeImpl (/home/runner/work/node-webgpu/node-webgpu/third_party/dawn/src/dawn/native/vulkan/PhysicalDeviceVk.cpp:257)\n' +
  '\n';

/** Feeds `text` in pieces of `size` characters; returns what passed and what came out at each push. */
function feed(text: string, size: number): { out: string; steps: string[] } {
  const f = new DawnLogFilter();
  const steps: string[] = [];
  for (let i = 0; i < text.length; i += size) steps.push(f.push(text.slice(i, i + size)));
  steps.push(f.end());
  return { out: steps.join(''), steps };
}

describe('DawnLogFilter', () => {
  const ours = 'backend: WebGPU on SwiftShader\n';
  const text = `${DAWN}${ours}${DAWN}${DAWN}toma: no such file\n`;
  for (const size of [1, 3, 7, 64, text.length]) {
    it(`drops Dawn's blocks and keeps the rest, fed ${size} characters at a time`, () => {
      assert.equal(feed(text, size).out, `${ours}toma: no such file\n`);
    });
  }

  it('a block without its blank line ends at the next line of ours', () => {
    const f = new DawnLogFilter();
    assert.equal(f.push(`${DAWN.trimEnd()}\n${ours}`), ours);
    assert.equal(f.dropped, 1);
  });

  it('progress redraws (\\r, no newline) pass at once, Dawn block or not before them', () => {
    const f = new DawnLogFilter();
    assert.equal(f.push('\rdense [##----] 1/5'), '\rdense [##----] 1/5');
    assert.equal(f.push(DAWN), '');
    assert.equal(f.push('\rdense [####--] 2/5'), '\rdense [####--] 2/5');
  });

  it("keeps Dawn's errors, Node's warnings and lines that only mention a warning", () => {
    const keep =
      'Error: device lost\n - While calling Queue.submit\n(node:123) Warning: something\ntoma: Warning: x\nWarnings: 3\n';
    assert.equal(feed(keep, 5).out, keep);
  });

  it('holds an incomplete line only while it may still start a block', () => {
    const f = new DawnLogFilter();
    assert.equal(f.push('Warn'), '');
    assert.equal(f.push('ed twice\n'), 'Warned twice\n');
    assert.equal(f.push('Wa'), '');
    assert.equal(f.end(), 'Wa');
  });
});

describe('toma with a Vulkan driver that Dawn rejects', () => {
  const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  // Every Vulkan driver installed is enumerated (not only the SwiftShader tools/run-tests.mjs picks),
  // so a machine with one Dawn rejects (e.g. Mesa's lavapipe) gets its warning.
  const env = { ...process.env };
  delete env.VK_ICD_FILENAMES;
  delete env.VK_DRIVER_FILES;
  delete env.TOMA_VERBOSE;
  const doctor = (extra: string[]) =>
    spawnSync(process.execPath, [main, 'doctor', '--backend', 'webgpu', '--lite', '--no-guard', ...extra], {
      encoding: 'utf8',
      env,
    });
  const verbose = doctor(['--verbose']);
  const provoked = /^Warning: .*\n - While /m.test(verbose.stderr);

  it('shows no Dawn warning without --verbose, and the same report', {
    skip: provoked ? false : 'no Dawn warning on this machine (no adapter, or none rejected)',
  }, () => {
    assert.match(
      verbose.stderr,
      /\(\/home\/runner\/|\.cpp:\d+\)/,
      'verbose shows the warning as Dawn wrote it',
    );
    const r = doctor([]);
    assert.equal(r.status, verbose.status, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^all \d+ checks passed/m);
    // the ms column (and so its rule's width) varies from run to run
    const msAside = (t: string) => t.replace(/ +\d+\n/g, '\n').replace(/ +-+\n/g, '\n');
    assert.equal(msAside(r.stdout), msAside(verbose.stdout), 'same report, ms aside');
  });
});
