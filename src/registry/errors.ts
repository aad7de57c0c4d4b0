// Errors of registry operations: what was being done, to which image, the HTTP status and the
// registry's own error codes and messages. Never credentials, never signed redirect URLs.
import { STATUS_CODES } from 'node:http';
import { OlmMirrorError, type ErrorKind } from '../errors.js';

/** One entry of the distribution spec's `{"errors":[{code,message,detail}]}` body. */
export interface RegistryErrorDetail { code: string; message: string; detail?: unknown }

export interface RegistryErrorInit {
  registry: string;
  repository?: string;
  status?: number;
  /** The registry's first error code (MANIFEST_UNKNOWN, ...) or the network error code (ECONNREFUSED, ...). */
  code?: string;
  method?: string;
  errors?: RegistryErrorDetail[];
  /** The server's Retry-After, for whoever retries this. */
  retryAfterMs?: number;
  cause?: unknown;
}

export class RegistryError extends OlmMirrorError {
  /** Subclasses say whether this is a failure of the registry or an answer that something does not exist. */
  protected static readonly errorKind: ErrorKind = 'transport';
  status?: number;
  code?: string;
  registry: string;
  repository?: string;
  method?: string;
  errors: RegistryErrorDetail[];
  retryAfterMs?: number;

  constructor(message: string, init: RegistryErrorInit) {
    super((new.target as typeof RegistryError).errorKind, message, init.cause === undefined ? undefined : { cause: init.cause });
    this.registry = init.registry;
    this.repository = init.repository;
    this.status = init.status;
    this.code = init.code ?? (init.errors?.[0]?.code || undefined);
    this.method = init.method;
    this.errors = init.errors ?? [];
    this.retryAfterMs = init.retryAfterMs;
  }
}

/** The manifest (or the whole repository) does not exist: 404 MANIFEST_UNKNOWN / NAME_UNKNOWN. */
export class ManifestNotFoundError extends RegistryError {
  protected static override readonly errorKind: ErrorKind = 'not-found';
}

/** The blob does not exist in that repository: 404 BLOB_UNKNOWN. */
export class BlobNotFoundError extends RegistryError {
  protected static override readonly errorKind: ErrorKind = 'not-found';
}

/** 401 that credentials did not (or could not, there being none) resolve. */
export class AuthenticationError extends RegistryError {}

/** `404 Not Found`. */
export function statusLine(status: number): string {
  const text = STATUS_CODES[status];
  return text ? `${status} ${text}` : `${status}`;
}

const MAX_TEXT = 300;

function clip(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_TEXT ? `${oneLine.slice(0, MAX_TEXT)}…` : oneLine;
}

/** The errors of a registry error body; a non-JSON body becomes one entry with its (clipped) text. */
export function parseErrorBody(text: string): RegistryErrorDetail[] {
  if (text.trim() === '') return [];
  try {
    const json = JSON.parse(text) as { errors?: unknown; error?: unknown; error_description?: unknown };
    if (Array.isArray(json.errors)) {
      return json.errors
        .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null)
        .map((e) => ({ code: String(e.code ?? 'UNKNOWN'), message: String(e.message ?? ''), detail: e.detail }));
    }
    // OAuth2 token endpoints (RFC 6749 §5.2).
    if (typeof json.error === 'string') {
      return [{ code: json.error, message: typeof json.error_description === 'string' ? json.error_description : '' }];
    }
  } catch {
    // not JSON: fall through to the raw text (proxies and CDNs answer with HTML or plain text)
  }
  return [{ code: '', message: clip(text) }];
}

/**
 * `MANIFEST_BLOB_UNKNOWN: blob unknown to registry (sha256:…)`, several joined with `; `.
 * `detail: false` leaves the registry's detail out, for messages that already say what it
 * repeats (the tag or digest of a 404, the access requested in a 401).
 */
export function formatErrorDetails(errors: readonly RegistryErrorDetail[], opts: { detail?: boolean } = {}): string {
  return errors.map((e) => {
    const head = [e.code, e.message].filter((s) => s !== '').join(': ');
    if (opts.detail === false || e.detail === undefined || e.detail === null || e.detail === '') return head;
    const detail = typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail);
    return `${head} (${clip(detail)})`;
  }).join('; ');
}

export interface HttpErrorContext {
  /** What was being done, e.g. `pushing manifest`. */
  action: string;
  /** The image or blob it was done to, e.g. `127.0.0.1:5000/foo/bar:v1`. */
  subject: string;
  registry: string;
  repository?: string;
  method?: string;
}

/** `pushing manifest 127.0.0.1:5000/foo/bar:v1: 400 Bad Request: MANIFEST_BLOB_UNKNOWN: blob unknown to registry (sha256:…)` */
export function httpError(
  ctx: HttpErrorContext, status: number, bodyText: string, extra: { hint?: string; retryAfterMs?: number } = {},
): RegistryError {
  const errors = parseErrorBody(bodyText);
  const details = formatErrorDetails(errors);
  const hint = extra.hint ? ` (${extra.hint})` : '';
  const message = `${ctx.action} ${ctx.subject}: ${statusLine(status)}${details ? `: ${details}` : ''}${hint}`;
  return new RegistryError(message, {
    registry: ctx.registry, repository: ctx.repository, method: ctx.method, status, errors, retryAfterMs: extra.retryAfterMs,
  });
}

/** The first error code in an error chain (undici and node put it on `cause` sometimes). */
export function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

const TLS_TRUST_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_UNTRUSTED', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
]);

/** Words for a network-level failure, with the flag that fixes it when there is one. */
export function describeNetworkError(err: unknown, host: string): string {
  const code = errorCode(err);
  const raw = err instanceof Error ? err.message : String(err);
  if (code !== undefined && TLS_TRUST_CODES.has(code)) {
    return `the TLS certificate of ${host} is not trusted (${code}); pass --certificate-authority <ca.pem> with the registry's CA, or --insecure`;
  }
  switch (code) {
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `the TLS certificate of ${host} is not valid for that name (${raw}); pass --insecure to accept it anyway`;
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return `TLS handshake with ${host} failed (${code}); if it serves plain HTTP, pass --insecure`;
    case 'ECONNREFUSED':
      return `cannot connect to ${host}: connection refused`;
    case 'ENOTFOUND':
      return `cannot resolve host name of ${host}`;
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `connecting to ${host} timed out`;
    case 'UND_ERR_HEADERS_TIMEOUT':
      return `${host} did not answer in time`;
    case 'UND_ERR_BODY_TIMEOUT':
      return `${host} stopped sending data`;
    case 'ERR_TRANSFER_TOO_SLOW':
      return `abandoned, too slow: ${raw}`;
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
      return `connection to ${host} was closed unexpectedly (${code})`;
    default:
      return `request to ${host} failed: ${raw}${code && !raw.includes(code) ? ` (${code})` : ''}`;
  }
}

export function networkError(ctx: HttpErrorContext, err: unknown, host: string): RegistryError {
  const code = errorCode(err);
  return new RegistryError(`${ctx.action} ${ctx.subject}: ${describeNetworkError(err, host)}`, {
    registry: ctx.registry, repository: ctx.repository, method: ctx.method, code, cause: err,
  });
}
