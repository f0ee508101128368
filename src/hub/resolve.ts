// resolveModel: from_pretrained's first half. A local folder or file is returned as is; a hub repo id
// becomes a folder of the Hugging Face cache (downloaded on first use, only the files a FLUX.1 pipeline
// reads), so the loaders only ever see local paths.

import { existsSync, statSync } from 'node:fs';
import { mkdir, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { readRegularText } from '../io/regular-file.js';
import {
  COMMIT_RE,
  cachedCommit,
  linkIntoSnapshot,
  presentWithSize,
  repoFolder,
  snapshotGaps,
  writeRef,
} from './cache.js';
import { downloadBlob } from './download.js';
import { hubCacheDir, hubEndpoint, hubToken, offlineFromEnv } from './env.js';
import { formatBytes, HubError, httpError, networkReason } from './errors.js';
import { parseModelRef } from './repo-id.js';
import { FLUX_DIFFUSERS_PATTERNS, selectFiles } from './select.js';

export interface DownloadProgress {
  /** The repo path of the file being downloaded. */
  file: string;
  fileBytes: number;
  fileTotal: number;
  /** Over every file this call downloads (files already cached are not counted). */
  bytes: number;
  total: number;
}

export interface ResolveOptions {
  /** Branch, tag or commit; default "main". */
  revision?: string;
  /** fnmatch patterns of repo paths to fetch (default: the FLUX.1 diffusers folders, see select.ts). */
  allowPatterns?: readonly string[];
  onProgress?: (p: DownloadProgress) => void;
  /** Notices: the cache used because the hub is unreachable, a resumed download, ... */
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** Never touch the network (default: HF_HUB_OFFLINE). */
  offline?: boolean;
  /** Default: HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
  cacheDir?: string;
  /** Default: HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Default: HF_TOKEN, else the token file of `huggingface-cli login`. */
  token?: string;
  /** New attempts after a dropped connection, each resuming where the last stopped (default 5). */
  retries?: number;
  /** A request or transfer silent for this long counts as dropped (default 60 s). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

interface TreeFile {
  path: string;
  size: number;
  oid: string;
  lfs?: { oid: string; size: number };
}

/**
 * A local path for `idOrPath`: the path itself when it exists; for a repo id ("org/name", or
 * "org/name/file.safetensors" for one file) the snapshot folder (or file) in the Hugging Face cache,
 * downloading what is missing. Throws HubError with a one-line message.
 */
export async function resolveModel(idOrPath: string, o: ResolveOptions = {}): Promise<string> {
  const ref = parseModelRef(idOrPath);
  if (ref.kind === 'local') return ref.path;
  const { repo, file } = ref;
  const revision = o.revision ?? 'main';
  const cacheDir = o.cacheDir ?? hubCacheDir();
  const folder = repoFolder(cacheDir, repo);
  const want = { file, patterns: o.allowPatterns };
  const log = o.log ?? (() => {});
  const name = file ? `${repo}/${file}` : repo;

  /** The cached snapshot for the revision, if complete. */
  const fromCache = (): { path: string; gaps: string[] } | null => {
    const commit = cachedCommit(folder, revision);
    if (!commit) return null;
    const dir = join(folder, 'snapshots', commit);
    const gaps = snapshotGaps(dir, want);
    return { path: file ? join(dir, file) : dir, gaps };
  };

  if (o.offline ?? offlineFromEnv()) {
    const c = fromCache();
    if (c && c.gaps.length === 0) return c.path;
    throw new HubError(
      'offline',
      c
        ? `${name}: the cached copy (${dirname(c.path)}) is incomplete, missing ${c.gaps.slice(0, 3).join(', ')}` +
            `${c.gaps.length > 3 ? ` and ${c.gaps.length - 3} more` : ''}, and offline mode is on (HF_HUB_OFFLINE): go online once to finish it`
        : `${name}: not in the cache (${cacheDir}) at revision ${revision}, and offline mode is on (HF_HUB_OFFLINE): ` +
            'run once online to download it, or set HF_HUB_CACHE/HF_HOME to the cache that has it',
    );
  }
  // A commit never changes: a complete snapshot of it needs no network.
  if (COMMIT_RE.test(revision)) {
    const c = fromCache();
    if (c && c.gaps.length === 0) return c.path;
  }

  const endpoint = o.endpoint ?? hubEndpoint();
  const token = o.token ?? hubToken();
  const ctx = { repo, revision, endpoint, hasToken: !!token };
  const baseFetch = o.fetch ?? fetch;
  const timeoutMs = o.timeoutMs ?? 60_000;
  /** The library's requests: token attached, failures turned into HubErrors with the hub's error code. */
  const apiFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    if (token) headers.set('Authorization', `Bearer ${token}`);
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await baseFetch(input, { ...init, headers, signal });
    } catch (e) {
      if (o.signal?.aborted) throw new HubError('aborted', `${name}: cancelled`);
      throw new HubError(
        'unreachable',
        `${name}: cannot reach ${endpoint} (${timeout.aborted ? `no answer in ${timeoutMs / 1000} s` : networkReason(e)})`,
      );
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw httpError(res.status, res.headers.get('x-error-code'), ctx);
    }
    return res;
  }) as typeof fetch;

  const hub = await import('@huggingface/hub');
  let commit: string;
  let files: TreeFile[];
  try {
    const info = await hub.modelInfo({
      name: repo,
      revision,
      hubUrl: endpoint,
      fetch: apiFetch,
      additionalFields: ['sha'],
    });
    commit = String(info.sha ?? '');
    if (!COMMIT_RE.test(commit))
      throw new HubError('bad-response', `${name}: ${endpoint} gave no commit for revision ${revision}`);
    files = [];
    for await (const e of hub.listFiles({
      repo: { type: 'model', name: repo },
      revision: commit,
      recursive: true,
      hubUrl: endpoint,
      fetch: apiFetch,
    }))
      if (e.type === 'file') files.push(e as TreeFile);
  } catch (e) {
    if (!(e instanceof HubError))
      throw new HubError(
        'bad-response',
        `${name}: unexpected answer from ${endpoint} (${(e as Error).message})`,
      );
    if (e.code !== 'unreachable') throw e;
    // huggingface_hub's behaviour: without a connection, a complete cached copy still serves.
    const c = fromCache();
    if (c && c.gaps.length === 0) {
      log(`${e.message}; using the cached copy`);
      return c.path;
    }
    throw new HubError(
      'unreachable',
      `${e.message}, and the cache (${cacheDir}) has no complete copy of ${name} at revision ${revision}`,
    );
  }

  const selected = selectForModel(files, name, want);
  const snapshot = join(folder, 'snapshots', commit);
  await mkdir(join(folder, 'blobs'), { recursive: true });
  await writeRef(folder, revision, commit);

  type Job = { entry: TreeFile; etag: string; blob: string; pointer: string };
  const jobs: Job[] = [];
  for (const entry of selected) {
    if (entry.path.split('/').some((p) => p === '' || p === '.' || p === '..'))
      throw new HubError('bad-response', `${name}: the hub listed an unsafe path "${entry.path}"`);
    const etag = entry.lfs?.oid ?? entry.oid;
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(etag))
      throw new HubError('bad-response', `${name}: the hub listed ${entry.path} without a valid hash`);
    const pointer = join(snapshot, entry.path);
    if (presentWithSize(pointer, entry.size)) continue;
    jobs.push({ entry, etag, blob: join(folder, 'blobs', etag), pointer });
  }
  const toFetch = jobs.filter((j) => !presentWithSize(j.blob, j.entry.size));
  const partial = (j: Job) =>
    existsSync(`${j.blob}.incomplete`) ? statSync(`${j.blob}.incomplete`).size : 0;
  const remaining = toFetch.reduce((s, j) => s + Math.max(0, j.entry.size - partial(j)), 0);
  await checkFreeSpace(folder, remaining, name);

  // model_index.json first: a repo of another pipeline is refused before gigabytes arrive.
  toFetch.sort(
    (a, b) => Number(b.entry.path === 'model_index.json') - Number(a.entry.path === 'model_index.json'),
  );
  const total = toFetch.reduce((s, j) => s + j.entry.size, 0);
  let done = 0;
  for (const j of toFetch) {
    const url = `${endpoint}/${repo}/resolve/${commit}/${j.entry.path.split('/').map(encodeURIComponent).join('/')}`;
    await downloadBlob(
      {
        url,
        file: j.entry.path,
        size: j.entry.size,
        sha256: j.entry.lfs?.oid,
        gitOid: j.entry.lfs ? undefined : j.entry.oid,
        blobPath: j.blob,
      },
      {
        fetch: async (u, init) => {
          const headers = new Headers(init?.headers);
          if (token) headers.set('Authorization', `Bearer ${token}`);
          return baseFetch(u, { ...init, headers });
        },
        signal: o.signal,
        retries: o.retries ?? 5,
        idleTimeoutMs: timeoutMs,
        onBytes: (have) =>
          o.onProgress?.({
            file: j.entry.path,
            fileBytes: have,
            fileTotal: j.entry.size,
            bytes: done + have,
            total,
          }),
        log,
        httpError: (res) =>
          httpError(res.status, res.headers.get('x-error-code'), { ...ctx, file: j.entry.path }),
      },
    );
    done += j.entry.size;
    if (j.entry.path === 'model_index.json' && !o.allowPatterns && !file) checkFluxIndex(j.blob, name);
  }
  for (const j of jobs) await linkIntoSnapshot(j.blob, j.pointer);
  return file ? join(snapshot, file) : snapshot;
}

/** The files to fetch: the one named, the caller's patterns, or a FLUX.1 diffusers repo's folders. */
function selectForModel(
  files: TreeFile[],
  name: string,
  want: { file?: string; patterns?: readonly string[] },
): TreeFile[] {
  if (want.file) {
    const f = files.find((e) => e.path === want.file);
    if (!f) throw new HubError('not-found', `${name}: the repo has no such file`);
    return [f];
  }
  if (want.patterns) {
    const s = selectFiles(files, want.patterns);
    if (s.length === 0)
      throw new HubError('not-found', `${name}: no file matches ${want.patterns.join(', ')}`);
    return s;
  }
  if (!files.some((e) => e.path === 'model_index.json')) {
    const single = files
      .filter((e) => !e.path.includes('/') && e.path.endsWith('.safetensors'))
      .map((e) => e.path);
    throw new HubError(
      'not-flux',
      `${name}: no model_index.json, so not a diffusers FLUX.1 folder` +
        (single.length ? `; for a single-file checkpoint name the file: ${name}/${single[0]}` : ''),
    );
  }
  return selectFiles(files, FLUX_DIFFUSERS_PATTERNS);
}

function checkFluxIndex(blob: string, name: string): void {
  let cls: unknown;
  try {
    cls = (JSON.parse(readRegularText(blob, 1 << 20, 'model_index.json')) as { _class_name?: unknown })
      ._class_name;
  } catch {
    throw new HubError('not-flux', `${name}: its model_index.json is not valid JSON`);
  }
  if (typeof cls === 'string' && !/^Flux/.test(cls))
    throw new HubError(
      'not-flux',
      `${name}: model_index.json describes a ${cls}, not a FLUX.1 pipeline (FluxPipeline)`,
    );
}

/** Refuses up front when the disk holding the cache cannot take the download. */
async function checkFreeSpace(folder: string, bytes: number, name: string): Promise<void> {
  if (bytes === 0) return;
  let free: number;
  try {
    const s = await statfs(folder);
    free = s.bavail * s.bsize;
  } catch {
    return; // statfs unsupported: the write itself reports a full disk
  }
  if (free < bytes)
    throw new HubError(
      'disk-full',
      `${name}: needs ${formatBytes(bytes)} but only ${formatBytes(free)} is free under ${folder}: free some space, or set HF_HUB_CACHE to a larger disk`,
    );
}
