// The one error type of the hub module: a readable line naming the repo (or file) and what to do, plus a
// machine-readable `code` so callers (CLI, pipeline API) can react without parsing the text.

export type HubErrorCode =
  | 'bad-id' // not a repo id nor an existing local path
  | 'bad-config' // HF_ENDPOINT or a token file that cannot be used
  | 'not-found' // repo, revision or file absent on the hub
  | 'unauthorized' // 401: gated or private, no (valid) token
  | 'forbidden' // 403: token lacks access (gated terms not accepted)
  | 'unreachable' // network failure and no usable cached copy
  | 'offline' // offline mode and the cache has no (complete) copy
  | 'corrupt' // size or hash differs from what the hub announced
  | 'disk-full' // not enough space for the download
  | 'bad-response' // the server answered something the hub protocol does not allow
  | 'not-flux' // the repo holds another kind of pipeline
  | 'aborted';

export class HubError extends Error {
  readonly code: HubErrorCode;
  /** HTTP status when the error came from a response. */
  readonly status: number | undefined;
  constructor(code: HubErrorCode, message: string, status?: number) {
    super(message);
    this.name = 'HubError';
    this.code = code;
    this.status = status;
  }
}

/** 1234567 → "1.2 MB" (decimal units, as the hub's pages show sizes). */
export function formatBytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1e3;
  let i = 0;
  while (v >= 1e3 && i < units.length - 1) {
    v /= 1e3;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

const SOCKET_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  UND_ERR_SOCKET: 'the server closed the connection',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

/** Why a fetch failed, in words: Node's fetch says only "fetch failed" and keeps the reason in `cause`. */
export function networkReason(e: unknown): string {
  let c: unknown = e;
  let innermost = (e as Error)?.message ?? String(e);
  for (let i = 0; i < 4 && c; i++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$|^UND_ERR/.test(code))
      return SOCKET_ERRORS[code] ? `${SOCKET_ERRORS[code]}, ${code}` : code;
    if (c instanceof Error && c.message) innermost = c.message;
    c = (c as { cause?: unknown }).cause;
  }
  return innermost;
}

/**
 * The error for a failed hub response. `X-Error-Code` (RepoNotFound, RevisionNotFound, EntryNotFound,
 * GatedRepo) tells cases apart that share a status: the hub answers 401 for a missing repo too, so as
 * not to reveal private ones.
 */
export function httpError(
  status: number,
  errorCode: string | null,
  what: { repo: string; revision?: string; file?: string; endpoint: string; hasToken: boolean },
): HubError {
  const { repo, revision, file, endpoint, hasToken } = what;
  const where = endpoint === 'https://huggingface.co' ? 'the Hugging Face hub' : endpoint;
  if (errorCode === 'RevisionNotFound')
    return new HubError('not-found', `${repo}: no revision "${revision}" on ${where}`, status);
  if (errorCode === 'EntryNotFound')
    return new HubError('not-found', `${repo}: no file ${file} at revision ${revision}`, status);
  if (errorCode === 'GatedRepo' || status === 403) {
    const how = hasToken
      ? 'the token in HF_TOKEN has no access: accept the model\u2019s terms on its hub page with that account'
      : 'accept its terms on its hub page, then set HF_TOKEN to an access token of that account';
    return new HubError(
      status === 401 ? 'unauthorized' : 'forbidden',
      `${repo}: access is restricted (gated model, HTTP ${status}): ${how}`,
      status,
    );
  }
  if (status === 401 || status === 404) {
    const auth =
      status === 401 && hasToken
        ? ' (HF_TOKEN was refused: check that it is a valid, unexpired access token)'
        : hasToken
          ? ''
          : ': check the id; if the repo is private or gated, set HF_TOKEN to an access token';
    return new HubError(
      status === 401 && hasToken ? 'unauthorized' : 'not-found',
      `${repo}: no such model repo on ${where}${auth}`,
      status,
    );
  }
  if (status === 429)
    return new HubError(
      'unreachable',
      `${repo}: ${where} is rate-limiting requests (HTTP 429): try again later`,
      429,
    );
  if (status >= 500)
    return new HubError('unreachable', `${repo}: ${where} failed (HTTP ${status}): try again later`, status);
  return new HubError(
    'bad-response',
    `${repo}: ${where} answered HTTP ${status}${file ? ` for ${file}` : ''}`,
    status,
  );
}
