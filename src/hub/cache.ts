// The Hugging Face cache layout, shared with Python's huggingface_hub (a model downloaded by one is found
// by the other):
//   <cache>/models--org--name/blobs/<etag>          file contents, named by sha256 (LFS) or git oid
//   <cache>/models--org--name/blobs/<etag>.incomplete  a download in progress (resumed from its end)
//   <cache>/models--org--name/refs/<revision>       the commit a branch or tag pointed to
//   <cache>/models--org--name/snapshots/<commit>/<path>  relative symlinks into blobs/
import {
  copyFileSync,
  existsSync,
  lstatSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { readRegularText } from '../io/regular-file.js';
import { FLUX_DIFFUSERS_PATTERNS, matchesAny } from './select.js';

export const COMMIT_RE = /^[0-9a-f]{40}$/;

export function repoFolder(cacheDir: string, repo: string): string {
  return join(cacheDir, `models--${repo.split('/').join('--')}`);
}

/** A revision name as a path under refs/ ("main", "v1.0", "refs/pr/1"); never escapes the folder. */
function refPath(folder: string, revision: string): string {
  if (revision.split('/').some((p) => p === '' || p === '.' || p === '..'))
    throw new Error(`revision "${revision}" is not a valid branch, tag or commit name`);
  return join(folder, 'refs', revision);
}

/** The commit a revision resolves to in the cache (a commit hash stands for itself). */
export function cachedCommit(folder: string, revision: string): string | undefined {
  if (COMMIT_RE.test(revision)) return revision;
  const p = refPath(folder, revision);
  if (!existsSync(p)) return undefined;
  const c = readRegularText(p, 256, 'cache ref').trim();
  return COMMIT_RE.test(c) ? c : undefined;
}

export async function writeRef(folder: string, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  const p = refPath(folder, revision);
  await mkdir(dirname(p), { recursive: true });
  writeFileAtomic(p, commit);
}

/**
 * Makes `pointer` (in snapshots/) a relative symlink to `blob`, atomically: a temporary link renamed over
 * the final name, so a reader sees either no file or the whole one. Where links are not allowed (Windows
 * without developer mode) the blob is copied instead, as huggingface_hub does.
 */
export async function linkIntoSnapshot(blob: string, pointer: string): Promise<void> {
  await mkdir(dirname(pointer), { recursive: true });
  const tmp = `${pointer}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  try {
    symlinkSync(relative(dirname(pointer), blob), tmp);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
    copyFileSync(blob, tmp);
  }
  try {
    renameSync(tmp, pointer);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Whether a snapshot path is a file (a link to a present blob, or a copy) of the given size. */
export function presentWithSize(path: string, size: number): boolean {
  try {
    const s = statSync(path);
    return s.isFile() && s.size === size;
  } catch {
    return false;
  }
}

/** Every file path under a snapshot (relative, '/'-separated); dangling links are listed in `broken`. */
function walkSnapshot(dir: string): { files: string[]; broken: string[] } {
  const files: string[] = [];
  const broken: string[] = [];
  const walk = (sub: string) => {
    for (const name of readdirSync(join(dir, sub))) {
      const rel = sub ? `${sub}/${name}` : name;
      const p = join(dir, rel);
      if (lstatSync(p).isDirectory()) walk(rel);
      else if (existsSync(p)) files.push(rel);
      else broken.push(rel);
    }
  };
  walk('');
  return { files, broken };
}

/**
 * What a cached snapshot lacks for the selection (empty when usable offline). Without a network the file
 * list is unknown, so completeness is judged by what the files themselves promise: model_index.json's
 * components each have their folder, every *.safetensors.index.json has all its shards, no link dangles.
 */
export function snapshotGaps(dir: string, want: { file?: string; patterns?: readonly string[] }): string[] {
  if (!existsSync(dir)) return ['the whole snapshot'];
  if (want.file) return isFile(join(dir, want.file)) ? [] : [want.file];
  const { files, broken } = walkSnapshot(dir);
  const gaps = broken.map((b) => `${b} (its blob is missing)`);
  const patterns = want.patterns ?? FLUX_DIFFUSERS_PATTERNS;
  const wanted = files.filter((f) => matchesAny(f, patterns));
  if (wanted.length === 0) return [...gaps, 'every file of the selection'];
  if (!want.patterns) {
    if (!files.includes('model_index.json')) gaps.push('model_index.json');
    for (const d of ['transformer', 'text_encoder', 'text_encoder_2', 'vae', 'tokenizer', 'tokenizer_2'])
      if (!wanted.some((f) => f.startsWith(`${d}/`))) gaps.push(`${d}/`);
    for (const d of ['transformer', 'text_encoder', 'text_encoder_2', 'vae'])
      if (
        wanted.some((f) => f.startsWith(`${d}/`)) &&
        !wanted.some((f) => /^[^/]+\/[^/]+\.safetensors$/.test(f) && f.startsWith(`${d}/`))
      )
        gaps.push(`${d}/*.safetensors`);
  }
  for (const idx of wanted.filter((f) => f.endsWith('.safetensors.index.json'))) {
    const base = idx.includes('/') ? idx.slice(0, idx.lastIndexOf('/') + 1) : '';
    let shards: string[] = [];
    try {
      const j = JSON.parse(readRegularText(join(dir, idx), 64 << 20, 'safetensors index')) as {
        weight_map?: Record<string, string>;
      };
      shards = [...new Set(Object.values(j.weight_map ?? {}))];
    } catch {
      gaps.push(`${idx} (unreadable)`);
    }
    for (const s of shards) if (!files.includes(base + s)) gaps.push(base + s);
  }
  return gaps;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}
