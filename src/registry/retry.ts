// When and how long to wait before trying a registry request again.
import { DigestMismatchError } from '../manifest/digest.js';
import { errorCode, RegistryError } from './errors.js';

/** Transient by nature: throttling, timeouts, server trouble (but a 501 answer never changes). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

/** undici errors that say something about our request, not about the network. */
const NON_TRANSIENT_UNDICI = new Set([
  'UND_ERR_INVALID_ARG', 'UND_ERR_ABORTED', 'UND_ERR_NOT_SUPPORTED', 'UND_ERR_INVALID_RETURN_VALUE',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'UND_ERR_RESPONSE_EXCEEDED_MAX_SIZE', 'UND_ERR_DESTROYED',
]);
const TRANSIENT_NODE = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_TRANSFER_TOO_SLOW' /* SlowTransferError */]);

function isRetryableCode(code: string | undefined): boolean {
  if (code === undefined) return false;
  if (code.startsWith('UND_ERR_')) return !NON_TRANSIENT_UNDICI.has(code);
  return TRANSIENT_NODE.has(code);
}

/** Whether trying the same thing again could succeed. Content that does not match its digest will not. */
export function isRetryableError(err: unknown): boolean {
  if (err instanceof DigestMismatchError) return false;
  if (err instanceof RegistryError) {
    return err.status !== undefined ? isRetryableStatus(err.status) : isRetryableCode(err.code);
  }
  return isRetryableCode(errorCode(err));
}

const OVERLOAD_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT', 'ERR_TRANSFER_TOO_SLOW']);

/** Whether the failure says the registry has more than it can do: 429, 503, or a request that timed out. */
export function isOverloadError(err: unknown): boolean {
  if (err instanceof RegistryError && err.status !== undefined) return err.status === 429 || err.status === 503;
  const code = errorCode(err);
  return code !== undefined && OVERLOAD_CODES.has(code);
}

/** Retry-After as milliseconds: delta-seconds or an HTTP-date (RFC 9110); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export interface BackoffPolicy { baseMs: number; maxMs: number }

/** Exponential backoff with full jitter (uniform in [0, min(max, base * 2^attempt)]), so parallel clients spread out. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(policy.maxMs, policy.baseMs * 2 ** attempt));
}

/** The wait before the next attempt: the server's Retry-After when it gave one (capped), else backoff. */
export function retryDelay(attempt: number, policy: BackoffPolicy, retryAfterMs?: number): number {
  return retryAfterMs !== undefined ? Math.min(retryAfterMs, policy.maxMs) : backoffDelay(attempt, policy);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
