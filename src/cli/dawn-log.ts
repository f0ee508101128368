// Dawn's own log lines kept out of normal output. Dawn (the WebGPU implementation inside the `webgpu`
// package) prints warnings from native code straight to file descriptor 2, e.g. for every Vulkan
// driver it enumerates and rejects:
//
//   Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.
//    - While initializing adapter (backend=BackendType::Vulkan)
//       at InitializeImpl (/home/runner/work/node-webgpu/.../PhysicalDeviceVk.cpp:257)
//   <blank line>
//
// The `webgpu` package offers no logging option and Node cannot redirect a descriptor, so the CLI
// runs itself as a child with stderr piped and drops these blocks here (docs/cli-output.md). Dawn's
// errors ("Error: ...") are kept: they may explain a failure.

/** A line that starts a Dawn log block (Dawn writes "<Severity>: <message>"). */
const BLOCK_START = /^(Warning|Info|Debug): /;
const PREFIXES = ['Warning: ', 'Info: ', 'Debug: '];
/** A line that continues a block: its error context (" - While ...") and source location ("    at ..."). */
const CONTINUATION = /^[ \t]/;

/**
 * A streaming filter for stderr text: push() each chunk, write what it returns; end() returns what
 * was held back. Text is held only while it could still be the start of a Dawn block, so progress
 * bars redrawn with \r pass through at once.
 */
export class DawnLogFilter {
  private held = '';
  private inBlock = false;
  /**
   * Where the text passed through last ended: at a line's start (''), inside a line of ours (the rest
   * of it is ours too), or after a progress redraw ("\r<bar>", no newline), which Dawn may follow.
   */
  private midLine: '' | 'text' | 'redraw' = '';
  /** Blocks dropped so far. */
  dropped = 0;

  push(chunk: string): string {
    let text = this.held + chunk;
    this.held = '';
    let out = '';
    for (;;) {
      const nl = text.indexOf('\n');
      if (nl < 0) break;
      const l = text.slice(0, nl + 1);
      out += this.midLine === 'text' ? l : this.line(l);
      this.midLine = '';
      text = text.slice(nl + 1);
    }
    if (text === '') return out;
    // an incomplete line: hold it while it may still turn out to be Dawn's
    const mayBeDawn =
      this.midLine !== 'text' &&
      ((this.inBlock && CONTINUATION.test(text)) ||
        BLOCK_START.test(text) ||
        PREFIXES.some((p) => p.startsWith(text)));
    if (mayBeDawn) this.held = text;
    else {
      this.inBlock = false;
      this.midLine = text.includes('\r') || this.midLine === 'redraw' ? 'redraw' : 'text';
      out += text;
    }
    return out;
  }

  end(): string {
    const rest = this.held;
    this.held = '';
    return rest === '' ? '' : this.line(rest);
  }

  /** One complete line (with its newline): '' when it belongs to a Dawn block. */
  private line(l: string): string {
    if (this.inBlock) {
      if (l === '\n') {
        this.inBlock = false;
        return '';
      }
      if (CONTINUATION.test(l)) return '';
      this.inBlock = false;
    }
    if (BLOCK_START.test(l)) {
      this.inBlock = true;
      this.dropped++;
      return '';
    }
    return l;
  }
}
