// Writes a file atomically: to a temp file beside it, renamed into place (a failed or interrupted write
// leaves no partial file under the final name).
import { renameSync, rmSync, writeFileSync } from 'node:fs';

export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
