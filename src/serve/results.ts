// Generated images on the server's disk: `<job id>-<index>.png` in one folder, each written through an
// exclusive temporary file renamed into place (writeFileAtomic), so a reader sees a whole file or none,
// and a job run twice (a stalled job retried) replaces its files instead of adding any. Names come only
// from job ids this server made (JOB_ID) and indices, never from a request's text.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/output.js';
import { JOB_ID, type JobInfo, RESULT_FILE } from './queue.js';

export class ResultStore {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  static fileName(id: string, index: number): string {
    if (!JOB_ID.test(id) || !Number.isInteger(index) || index < 0 || index > 99)
      throw new RangeError(`no result file for job "${id}" image ${index}`);
    return `${id}-${index}.png`;
  }

  /** The completed job's files, written if they are not there yet; their names. */
  store(info: JobInfo): string[] {
    const r = info.result;
    if (!r) return [];
    return Array.from({ length: r.count }, (_, i) => {
      const name = ResultStore.fileName(info.id, i);
      const path = join(this.dir, name);
      const b64 = r.images[i];
      if (b64 !== undefined && !existsSync(path)) writeFileAtomic(path, Buffer.from(b64, 'base64'));
      return name;
    });
  }

  /** A result file's bytes by its name, or undefined for a name that is not one (checked, not joined). */
  read(name: string): Buffer | undefined {
    if (!RESULT_FILE.test(name)) return undefined;
    try {
      return readFileSync(join(this.dir, name));
    } catch {
      return undefined;
    }
  }
}
