// Fetching one blob into the cache: resumable, verified, never half-visible.
// @huggingface/hub's downloadFileToCacheDir restarts every download from byte 0 (it rewrites the
// .incomplete file), reports no progress, checks no hash and takes no AbortSignal; for 10-20 GB
// checkpoints that matters, so the transfer is done here with HTTP Range requests, into the same
// blobs/<etag>.incomplete file Python's huggingface_hub resumes from, and renamed into place only once its
// size and hash match what the hub announced.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { formatBytes, HubError, networkReason } from './errors.js';

export interface BlobJob {
  /** The resolve URL (the hub may redirect it to a CDN). */
  url: string;
  /** The file's path in the repo, for messages. */
  file: string;
  size: number;
  /** The LFS object id (sha256 of the content), when the file is stored with LFS/Xet. */
  sha256?: string;
  /** The git blob id (sha1 of "blob <size>\0" + content), for small files kept in git itself. */
  gitOid?: string;
  /** Final path, blobs/<etag>. */
  blobPath: string;
}

export interface TransferOptions {
  fetch: typeof fetch;
  signal?: AbortSignal;
  /** New attempts after a lost connection, each resuming where the last stopped. */
  retries: number;
  /** A connection that delivers nothing for this long counts as lost. */
  idleTimeoutMs: number;
  /** Called with the bytes of this file now on disk (it can go back to 0 when the server restarts it). */
  onBytes: (have: number) => void;
  log: (line: string) => void;
  /** Turns an HTTP error response into a HubError (repo context lives with the caller). */
  httpError: (res: Response) => HubError;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });

function newHash(job: BlobJob): Hash | null {
  if (job.sha256) return createHash('sha256');
  if (job.gitOid) return createHash('sha1').update(`blob ${job.size}\0`);
  return null;
}

/** Feeds the bytes already on disk to the hash, so a resumed download is verified whole. */
async function hashPrefix(path: string, have: number, h: Hash | null): Promise<void> {
  if (!h || have === 0) return;
  for await (const chunk of createReadStream(path, { start: 0, end: have - 1 })) h.update(chunk as Buffer);
}

/** "bytes 100-199/1000" → [100, 1000]. */
function contentRange(v: string | null): [number, number] | null {
  const m = v && /^bytes (\d+)-\d+\/(\d+)$/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2])] : null;
}

class Retryable extends Error {}

/** The bytes on disk and the hash of exactly those bytes; both move together. */
interface State {
  have: number;
  hash: Hash | null;
}

/** Downloads `job` to its blob path; throws a HubError (the partial file stays for the next call). */
export async function downloadBlob(job: BlobJob, o: TransferOptions): Promise<void> {
  const part = `${job.blobPath}.incomplete`;
  const st: State = { have: existsSync(part) ? statSync(part).size : 0, hash: null };
  if (st.have > job.size) {
    await rm(part, { force: true });
    st.have = 0;
  }
  let restartedAfterMismatch = false;
  for (;;) {
    const resumedFrom = st.have;
    st.hash = newHash(job);
    await hashPrefix(part, st.have, st.hash);
    o.onBytes(st.have);
    for (let attempt = 0; st.have < job.size; attempt++) {
      try {
        await transferOnce(job, part, st, o);
      } catch (e) {
        if (!(e instanceof Retryable)) throw e;
        if (attempt >= o.retries)
          throw new HubError(
            'unreachable',
            `${job.file}: connection lost after ${o.retries + 1} attempt${o.retries ? 's' : ''} (${e.message}) with ` +
              `${formatBytes(st.have)} of ${formatBytes(job.size)} on disk: run again to resume`,
          );
        o.log(
          `${job.file}: connection lost (${e.message}); resuming at ${formatBytes(st.have)} of ${formatBytes(job.size)}`,
        );
        await sleep(Math.min(250 * 2 ** attempt, 5000), o.signal).catch(() => {
          throw aborted(job, st.have);
        });
      }
    }
    if (!existsSync(part)) await (await open(part, 'w')).close(); // an empty file needs no transfer
    const got = st.hash?.digest('hex');
    const want = job.sha256 ?? job.gitOid;
    if (!want || got === want) break;
    await rm(part, { force: true });
    st.have = 0;
    // A prefix left by an earlier run may be what went wrong: one fresh download before giving up.
    if (resumedFrom > 0 && !restartedAfterMismatch) {
      restartedAfterMismatch = true;
      o.log(`${job.file}: the resumed file did not verify; downloading it again from the start`);
      continue;
    }
    throw new HubError(
      'corrupt',
      `${job.file}: the downloaded bytes do not match the hub's ${job.sha256 ? 'sha256' : 'git hash'} ` +
        `(expected ${want.slice(0, 12)}…, got ${got?.slice(0, 12)}…); the file was discarded: run again, ` +
        'and if it repeats, the server or a proxy is altering the file',
    );
  }
  await rename(part, job.blobPath);
}

function aborted(job: BlobJob, have: number): HubError {
  return new HubError(
    'aborted',
    `${job.file}: download cancelled with ${formatBytes(have)} of ${formatBytes(job.size)} on disk (the next call resumes it)`,
  );
}

/** One HTTP request from byte `st.have`, appending to the partial file until the body ends. */
async function transferOnce(job: BlobJob, part: string, st: State, o: TransferOptions): Promise<void> {
  if (o.signal?.aborted) throw aborted(job, st.have);
  const ctrl = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, ctrl.signal]) : ctrl.signal;
  const idle = setTimeout(() => ctrl.abort(), o.idleTimeoutMs);
  try {
    let res: Response;
    try {
      res = await o.fetch(job.url, { headers: st.have > 0 ? { Range: `bytes=${st.have}-` } : {}, signal });
    } catch (e) {
      if (o.signal?.aborted) throw aborted(job, st.have);
      if (e instanceof HubError) throw e;
      throw new Retryable(
        ctrl.signal.aborted ? `no answer in ${o.idleTimeoutMs / 1000} s` : networkReason(e),
      );
    }
    if (!res.ok) {
      await res.body?.cancel();
      if (res.status >= 500 || res.status === 429)
        throw new Retryable(`the server answered HTTP ${res.status}`);
      throw o.httpError(res);
    }
    if (st.have > 0 && res.status === 206) {
      const r = contentRange(res.headers.get('content-range'));
      if (!r || r[0] !== st.have || r[1] !== job.size) {
        await res.body?.cancel();
        throw new HubError(
          'bad-response',
          `${job.file}: the server answered a resume request with the wrong range (${res.headers.get('content-range')})`,
        );
      }
    } else if (st.have > 0) {
      // 200 to a Range request: the server sends the whole file again.
      st.have = 0;
      st.hash = newHash(job);
    }
    await streamBody(job, part, res, st, o, idle, ctrl);
  } finally {
    clearTimeout(idle);
  }
}

async function streamBody(
  job: BlobJob,
  part: string,
  res: Response,
  st: State,
  o: TransferOptions,
  idle: NodeJS.Timeout,
  ctrl: AbortController,
): Promise<void> {
  const fh = await open(part, st.have > 0 ? 'a' : 'w');
  const reader = res.body!.getReader();
  let finished = false;
  try {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        if (o.signal?.aborted) throw aborted(job, st.have);
        throw new Retryable(
          ctrl.signal.aborted ? `stalled for ${o.idleTimeoutMs / 1000} s` : networkReason(e),
        );
      }
      if (r.done) {
        finished = true;
        break;
      }
      idle.refresh();
      const chunk = r.value;
      if (st.have + chunk.length > job.size)
        throw new HubError(
          'corrupt',
          `${job.file}: the server sent more than the ${formatBytes(job.size)} announced`,
        );
      try {
        await fh.write(chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOSPC')
          throw new HubError(
            'disk-full',
            `${job.file}: the disk is full (${formatBytes(st.have)} of ${formatBytes(job.size)} written to ${part}): ` +
              'free some space and run again to resume',
          );
        throw e;
      }
      st.hash?.update(chunk);
      st.have += chunk.length;
      o.onBytes(st.have);
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
    await fh.close();
  }
  if (st.have < job.size) throw new Retryable('the server ended the file early');
}
