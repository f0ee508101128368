// The environment variables Python's huggingface_hub reads, with the same meaning, so one cache and one
// login serve both: HF_ENDPOINT (a mirror), HF_TOKEN / HF_TOKEN_PATH / $HF_HOME/token, HF_HUB_OFFLINE,
// and the cache folder (HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub).
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readRegularText } from '../io/regular-file.js';
import { HubError } from './errors.js';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

type Env = Record<string, string | undefined>;

/** The hub's base URL: HF_ENDPOINT (a mirror or a local test server) or huggingface.co. */
export function hubEndpoint(env: Env = process.env): string {
  const e = env.HF_ENDPOINT?.trim();
  if (!e) return DEFAULT_ENDPOINT;
  let u: URL;
  try {
    u = new URL(e);
  } catch {
    throw new HubError('bad-config', `HF_ENDPOINT=${e} is not a URL (expected e.g. https://hf-mirror.com)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new HubError('bad-config', `HF_ENDPOINT=${e} must be an http:// or https:// URL`);
  return e.replace(/\/+$/, '');
}

/** huggingface_hub's truthy spellings: 1, ON, YES, TRUE (any case). */
export function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 'on', 'yes', 'true'].includes(v.trim().toLowerCase());
}

export function offlineFromEnv(env: Env = process.env): boolean {
  return isTrue(env.HF_HUB_OFFLINE);
}

/** HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export function hfHome(env: Env = process.env): string {
  return env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface');
}

/** The hub cache folder (models--org--name/ live here). */
export function hubCacheDir(env: Env = process.env): string {
  return env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE ?? join(hfHome(env), 'hub');
}

/**
 * The access token: HF_TOKEN, else the file `huggingface-cli login` writes (HF_TOKEN_PATH or
 * $HF_HOME/token). Undefined when there is none.
 */
export function hubToken(env: Env = process.env): string | undefined {
  const t = env.HF_TOKEN?.trim() || env.HUGGING_FACE_HUB_TOKEN?.trim();
  if (t) return t;
  const path = env.HF_TOKEN_PATH ?? join(hfHome(env), 'token');
  if (!existsSync(path)) return undefined;
  return readRegularText(path, 4096, 'token file').trim() || undefined;
}
