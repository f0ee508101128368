// A local stand-in for the Hugging Face hub: serves folders (<root>/<org>/<name>/...) at the URLs the hub
// uses, with the headers huggingface_hub and @huggingface/hub read, so `HF_ENDPOINT=http://127.0.0.1:PORT`
// makes any hub client download from it. For tests (the hub is unreachable there: gated repos and
// injected faults below) and for serving models on a network without internet access.
//   GET  /api/models/{repo}/revision/{rev}       model info with the commit (sha)
//   GET  /api/models/{repo}/tree/{rev}[/{dir}]   file list: size, git oid, lfs {oid: sha256, size}
//   GET|HEAD /{repo}/resolve/{rev}/{path}        the file; LFS files redirect to /lfs/..., like the CDN
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Transform } from 'node:stream';

export interface MirrorOptions {
  /** Holds one folder per repo: <root>/<org>/<name>/. */
  root: string;
  host?: string;
  /** 0 (default): any free port. */
  port?: number;
  /** Gated repos and the tokens that have access; others get 401 (no token) or 403. */
  gated?: Record<string, string[]>;
  /** Test faults, by repo path ("org/name/transformer/x.safetensors"). */
  faults?: {
    /** Drop the connection once after this many bytes of the file were sent. */
    cutOnce?: Record<string, number>;
    /** Serve the file with one byte changed (every time). */
    corrupt?: string[];
  };
}

export interface MirrorRequest {
  method: string;
  url: string;
  range?: string;
  token?: string;
}

export interface HubMirror {
  /** The endpoint to give as HF_ENDPOINT. */
  url: string;
  /** Every request served, in order. */
  requests: MirrorRequest[];
  close(): Promise<void>;
}

interface RepoFile {
  path: string;
  abs: string;
  size: number;
  /** git blob id of the file as git stores it (the LFS pointer for LFS files). */
  oid: string;
  lfs?: { oid: string; size: number; pointerSize: number };
}

interface Repo {
  commit: string;
  files: RepoFile[];
  dirs: string[];
}

// What the hub's default .gitattributes sends to LFS; large files go there anyway.
const LFS_EXT = /\.(safetensors|bin|pt|pth|ckpt|onnx|gguf|msgpack|h5|model|png|jpe?g|webp)$/i;
const LFS_MIN = 10 << 20;

function hashFile(path: string, algo: string, prefix = ''): string {
  const h = createHash(algo).update(prefix);
  const buf = Buffer.allocUnsafe(1 << 20);
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

const gitOid = (data: string | Buffer) =>
  createHash('sha1')
    .update(`blob ${Buffer.byteLength(data)}\0`)
    .update(data)
    .digest('hex');

function scanRepo(dir: string): Repo {
  const files: RepoFile[] = [];
  const dirs: string[] = [];
  const walk = (sub: string) => {
    for (const name of readdirSync(join(dir, sub)).sort()) {
      if (name.startsWith('.')) continue;
      const rel = sub ? `${sub}/${name}` : name;
      const abs = join(dir, rel);
      const s = statSync(abs);
      if (s.isDirectory()) {
        dirs.push(rel);
        walk(rel);
      } else if (s.isFile()) {
        if (LFS_EXT.test(name) || s.size >= LFS_MIN) {
          const sha = hashFile(abs, 'sha256');
          const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\nsize ${s.size}\n`;
          files.push({
            path: rel,
            abs,
            size: s.size,
            oid: gitOid(pointer),
            lfs: { oid: sha, size: s.size, pointerSize: pointer.length },
          });
        } else files.push({ path: rel, abs, size: s.size, oid: hashFile(abs, 'sha1', `blob ${s.size}\0`) });
      }
    }
  };
  walk('');
  const commit = createHash('sha1')
    .update(files.map((f) => `${f.path} ${f.oid}\n`).join(''))
    .digest('hex');
  return { commit, files, dirs };
}

export async function startHubMirror(o: MirrorOptions): Promise<HubMirror> {
  const repos = new Map<string, Repo | null>();
  const requests: MirrorRequest[] = [];
  const cutDone = new Set<string>();

  const repoOf = (name: string): Repo | null => {
    if (!repos.has(name)) {
      let r: Repo | null = null;
      try {
        if (/^[\w.-]+\/[\w.-]+$/.test(name) && statSync(join(o.root, name)).isDirectory())
          r = scanRepo(join(o.root, name));
      } catch {}
      repos.set(name, r);
    }
    return repos.get(name)!;
  };

  const fail = (res: ServerResponse, status: number, code: string, message: string) => {
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'X-Error-Code': code,
      'X-Error-Message': message,
    });
    res.end(JSON.stringify({ error: message }));
  };

  /** The repo if the request may see it; otherwise answers as the hub does and returns null. */
  const access = (res: ServerResponse, name: string, token: string | undefined): Repo | null => {
    const repo = repoOf(name);
    if (!repo) {
      // The hub answers 401 to anonymous requests for absent repos, so private ones stay hidden.
      fail(res, token ? 404 : 401, 'RepoNotFound', 'Repository not found');
      return null;
    }
    const allowed = o.gated?.[name];
    if (allowed && !(token && allowed.includes(token))) {
      fail(
        res,
        token ? 403 : 401,
        'GatedRepo',
        `Access to model ${name} is restricted. You must have access to it and be authenticated to access it.`,
      );
      return null;
    }
    return repo;
  };

  const sendFile = (
    req: IncomingMessage,
    res: ServerResponse,
    f: RepoFile,
    key: string,
    headers: Record<string, string>,
  ) => {
    let start = 0;
    let end = f.size - 1;
    let status = 200;
    const range = req.headers.range;
    if (range) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range);
      if (m && (m[1] || m[2])) {
        if (m[1]) {
          start = Number(m[1]);
          if (m[2]) end = Math.min(end, Number(m[2]));
        } else start = Math.max(0, f.size - Number(m[2]));
        if (start >= f.size || start > end) {
          res.writeHead(416, { 'Content-Range': `bytes */${f.size}` });
          res.end();
          return;
        }
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${f.size}`;
      }
    }
    res.writeHead(status, {
      ...headers,
      'Accept-Ranges': 'bytes',
      'Content-Length': String(f.size === 0 ? 0 : end - start + 1),
      'Content-Type': 'application/octet-stream',
    });
    if (req.method === 'HEAD' || f.size === 0) {
      res.end();
      return;
    }
    const cut = o.faults?.cutOnce?.[key];
    const cutNow = cut !== undefined && !cutDone.has(key) && start < cut && cut <= end;
    if (cutNow) cutDone.add(key);
    const stream = createReadStream(f.abs, { start, end: cutNow ? cut - 1 : end });
    let body: NodeJS.ReadableStream = stream;
    if (o.faults?.corrupt?.includes(key)) {
      const at = Math.floor(f.size / 2);
      let pos = start;
      body = stream.pipe(
        new Transform({
          transform(chunk: Buffer, _enc, cb) {
            if (at >= pos && at < pos + chunk.length) {
              chunk = Buffer.from(chunk);
              chunk[at - pos] = chunk[at - pos]! ^ 0xff;
            }
            pos += chunk.length;
            cb(null, chunk);
          },
        }),
      );
    }
    if (cutNow) {
      body.on('end', () => res.socket?.end()); // flushes what was written, then closes mid-body
      body.pipe(res, { end: false });
    } else body.pipe(res);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://mirror');
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    requests.push({
      method: req.method ?? 'GET',
      url: url.pathname + url.search,
      range: req.headers.range,
      token,
    });
    const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);
    const revisionOk = (repo: Repo, rev: string) => rev === 'main' || rev === repo.commit;

    if (parts[0] === 'api' && parts[1] === 'models' && parts.length >= 6) {
      const name = `${parts[2]}/${parts[3]}`;
      const repo = access(res, name, token);
      if (!repo) return;
      const rev = parts[5]!;
      if (!revisionOk(repo, rev)) return fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      res.setHeader('Content-Type', 'application/json');
      if (parts[4] === 'revision') {
        return res.end(
          JSON.stringify({
            _id: createHash('sha1').update(name).digest('hex').slice(0, 24),
            id: name,
            sha: repo.commit,
            private: false,
            gated: o.gated?.[name] ? 'manual' : false,
            downloads: 0,
            likes: 0,
            lastModified: new Date(0).toISOString(),
            siblings: repo.files.map((f) => ({ rfilename: f.path })),
          }),
        );
      }
      if (parts[4] === 'tree') {
        const dir = parts.slice(6).join('/');
        const recursive = url.searchParams.get('recursive') === 'true';
        const under = (p: string) =>
          dir === ''
            ? recursive || !p.includes('/')
            : p.startsWith(`${dir}/`) && (recursive || !p.slice(dir.length + 1).includes('/'));
        const entries = [
          ...repo.dirs.filter(under).map((p) => ({ type: 'directory', oid: gitOid(p), size: 0, path: p })),
          ...repo.files
            .filter((f) => under(f.path))
            .map((f) => ({
              type: 'file',
              oid: f.oid,
              size: f.size,
              path: f.path,
              ...(f.lfs && { lfs: f.lfs }),
            })),
        ];
        return res.end(JSON.stringify(entries));
      }
    }
    if (parts[2] === 'resolve' && parts.length >= 5) {
      const name = `${parts[0]}/${parts[1]}`;
      const repo = access(res, name, token);
      if (!repo) return;
      const rev = parts[3]!;
      if (!revisionOk(repo, rev)) return fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      const path = parts.slice(4).join('/');
      const f = repo.files.find((x) => x.path === path);
      if (!f) return fail(res, 404, 'EntryNotFound', `${path} does not exist on "${rev}"`);
      const common = { 'X-Repo-Commit': repo.commit };
      if (f.lfs) {
        res.writeHead(302, {
          ...common,
          Location: `/lfs/${name}/${f.lfs.oid}?path=${encodeURIComponent(path)}`,
          ETag: `"${f.lfs.oid}"`,
          'X-Linked-Etag': `"${f.lfs.oid}"`,
          'X-Linked-Size': String(f.size),
        });
        return res.end();
      }
      return sendFile(req, res, f, `${name}/${path}`, { ...common, ETag: `"${f.oid}"` });
    }
    if (parts[0] === 'lfs' && parts.length === 4) {
      const name = `${parts[1]}/${parts[2]}`;
      const f = repoOf(name)?.files.find((x) => x.lfs?.oid === parts[3]);
      if (!f) return fail(res, 404, 'EntryNotFound', 'no such object');
      return sendFile(req, res, f, `${name}/${f.path}`, { ETag: `"${f.lfs!.oid}"` });
    }
    fail(res, 404, 'NotFound', `no route for ${url.pathname}`);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => resolve());
  });
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `http://${host}:${a.port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
