// Telling a local path from a hub repo id, as from_pretrained does: an existing path wins; otherwise
// "org/name" is a repo, and "org/name/some/file.safetensors" names one file of a repo (a single-file
// checkpoint).
import { existsSync } from 'node:fs';
import { HubError } from './errors.js';

export type ModelRef = { kind: 'local'; path: string } | { kind: 'repo'; repo: string; file?: string };

// huggingface_hub's validate_repo_id: word characters, '-', '.', an optional namespace, no "--" or "..".
const PART = /^[A-Za-z0-9_.-]+$/;

export function repoIdProblem(repo: string): string | null {
  const parts = repo.split('/');
  if (parts.length > 2) return 'a repo id is "name" or "org/name"';
  if (parts.some((p) => !PART.test(p))) return 'a repo id uses only letters, digits, "-", "_" and "."';
  if (repo.includes('--') || repo.includes('..')) return 'a repo id contains neither "--" nor ".."';
  if (parts.some((p) => /^[-.]|[-.]$/.test(p)))
    return 'a repo id part neither starts nor ends with "-" or "."';
  if (repo.length > 96) return 'a repo id has at most 96 characters';
  return null;
}

/** Classifies `idOrPath`; throws a HubError when it is neither an existing path nor a valid repo id. */
export function parseModelRef(idOrPath: string): ModelRef {
  if (idOrPath.trim() === '')
    throw new HubError('bad-id', 'model: empty name (give a folder or an org/name repo id)');
  if (existsSync(idOrPath)) return { kind: 'local', path: idOrPath };
  const looksLocal = /^(\.{1,2}[\\/]|[\\/~]|[A-Za-z]:[\\/])/.test(idOrPath) || idOrPath.includes('\\');
  if (looksLocal) throw new HubError('bad-id', `${idOrPath}: no such file or folder`);
  const parts = idOrPath.split('/');
  if (parts.length > 2) {
    const repo = parts.slice(0, 2).join('/');
    const file = parts.slice(2).join('/');
    if (!/\.safetensors$/.test(file) || parts.slice(2).some((p) => p === '' || p === '.' || p === '..'))
      throw new HubError(
        'bad-id',
        `${idOrPath}: no such folder, and not a repo id ("org/name", or "org/name/file.safetensors" for one file)`,
      );
    const problem = repoIdProblem(repo);
    if (problem)
      throw new HubError('bad-id', `${idOrPath}: no such folder, and ${repo} is not a repo id (${problem})`);
    return { kind: 'repo', repo, file };
  }
  const problem = repoIdProblem(idOrPath);
  if (problem) throw new HubError('bad-id', `${idOrPath}: no such folder, and not a repo id (${problem})`);
  return { kind: 'repo', repo: idOrPath };
}
