// One request to a registry, done properly: endpoint + auth, one re-challenge on 401, manual
// redirects (no Authorization to other origins), retries with backoff, errors with full context.
import { type AuthEvent, type Authenticator, type Authorization, registryHost } from './auth.js';
import { errorCode, type HttpErrorContext, httpError, networkError, RegistryError } from './errors.js';
import { DigestMismatchError } from '../manifest/digest.js';
import { type BackoffPolicy, isOverloadError, isRetryableError, isRetryableStatus, parseRetryAfter, retryDelay, sleep } from './retry.js';
import { discard, header, readText, type Headers, type HttpMethod, type HttpResponse, type RequestBody, type Transport } from './transport.js';

/** Things worth telling a user watching progress (never credentials or signed URLs). */
export type ClientEvent =
  /** `overloaded`: the registry answered 429 or 503, or timed out (fewer requests at once may help). */
  | { type: 'retry'; registry: string; action: string; subject: string; attempt: number; maxAttempts: number; delayMs: number; reason: string; overloaded: boolean }
  | { type: 'redirect'; registry: string; action: string; subject: string; toHost: string }
  | { type: 'resume'; registry: string; subject: string; offset: number; restarted: boolean; reason: string }
  | AuthEvent;

export interface CallSpec {
  registry: string;
  /** Whose credentials to use (credentials may be scoped to a namespace) and for messages. */
  repository?: string;
  /** Token scopes (`repository:x:pull`); empty for registry-wide requests. */
  scopes: readonly string[];
  method: HttpMethod;
  /** A path on the registry (`/v2/…`) or an absolute URL (an upload Location). */
  target: string | URL;
  headers?: Headers;
  body?: RequestBody;
  /** Statuses handed back to the caller; any other becomes a RegistryError. */
  expect: readonly number[];
  /** For messages: `pulling manifest`, and the image or blob it concerns. */
  action: string;
  subject: string;
  followRedirects?: boolean;
  /** false: never resend (the body is a stream, or resending is unsafe); the caller decides about retries. */
  retry?: boolean;
}

const MAX_REDIRECTS = 5;

/** `retriedOut`: this answer ends the retries (it is what the caller gets, not a reason to try again). */
function statusHint(status: number, spec: CallSpec, retriedOut: boolean): string | undefined {
  switch (status) {
    case 403:
      return `access denied: the credentials used for ${spec.registry} lack permission${spec.repository ? ` on ${spec.repository}` : ''}, or the registry forbids this operation`;
    case 405:
      return `${spec.registry} does not allow ${spec.method} here (a read-only registry or a pull-through mirror?)`;
    case 413:
      return `${spec.registry} or a proxy in front of it refuses requests this large`;
    case 429:
      return retriedOut ? 'rate limited, still after retrying' : undefined;
    default:
      return undefined;
  }
}

export class Session {
  constructor(
    readonly transport: Transport,
    readonly auth: Authenticator,
    readonly retries: number,
    readonly backoff: BackoffPolicy,
    readonly emit: (e: ClientEvent) => void,
  ) {}

  /** Sends the request, retrying transient failures; resolves with a response whose status is in `spec.expect`. */
  call(spec: CallSpec): Promise<HttpResponse> {
    return this.request(spec, async (res) => res);
  }

  /**
   * Like call(), with `consume` (reading the body) inside the retries: a connection that breaks while a
   * small body is read is retried like one that broke before the headers.
   */
  async request<T>(spec: CallSpec, consume: (res: HttpResponse) => Promise<T>): Promise<T> {
    const replayable = spec.body === undefined || typeof spec.body === 'string' || spec.body instanceof Uint8Array || Array.isArray(spec.body);
    const maxRetries = spec.retry === false || !replayable ? 0 : this.retries;
    const state = { scopes: [...spec.scopes], rechallenged: !replayable };
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.attempt(spec, state, maxRetries > 0 && attempt >= maxRetries);
        try {
          return await consume(res);
        } catch (err) {
          res.body.destroy();
          const raw = !(err instanceof RegistryError) && errorCode(err) !== undefined;
          throw raw ? networkError(this.context(spec), err, res.url.host) : err;
        }
      } catch (err) {
        this.auth.recheck(spec.registry, err);
        // Content that does not match its digest was (most likely) damaged on the way: fetching it again can help.
        if (attempt >= maxRetries || !(isRetryableError(err) || err instanceof DigestMismatchError)) throw err;
        const delayMs = retryDelay(attempt, this.backoff, err instanceof RegistryError ? err.retryAfterMs : undefined);
        this.emit({
          type: 'retry', registry: spec.registry, action: spec.action, subject: spec.subject,
          attempt: attempt + 1, maxAttempts: maxRetries + 1, delayMs, reason: (err as Error).message, overloaded: isOverloadError(err),
        });
        await sleep(delayMs);
      }
    }
  }

  /** The error context of a spec, for callers building their own errors from a response. */
  context(spec: Pick<CallSpec, 'action' | 'subject' | 'registry' | 'repository' | 'method'>): HttpErrorContext {
    return { action: spec.action, subject: spec.subject, registry: spec.registry, repository: spec.repository, method: spec.method };
  }

  private async attempt(spec: CallSpec, state: { scopes: string[]; rechallenged: boolean }, lastAttempt: boolean): Promise<HttpResponse> {
    const ctx = this.context(spec);
    let endpoint;
    try {
      endpoint = await this.auth.endpoint(spec.registry);
    } catch (err) {
      throw err instanceof RegistryError ? err : networkError(ctx, err, registryHost(spec.registry));
    }
    let url = typeof spec.target === 'string' ? new URL(spec.target, endpoint.origin) : spec.target;
    for (let redirects = 0; ;) {
      // Credentials only ever go to the registry's own origin, never to a redirect target or foreign upload URL.
      const sameOrigin = url.origin === endpoint.origin;
      let auth: Authorization = {};
      let res: HttpResponse;
      try {
        if (sameOrigin) auth = await this.auth.authorize(endpoint, spec.repository, state.scopes, `${spec.action} ${spec.subject}`);
        const headers = auth.header ? { ...spec.headers, authorization: auth.header } : spec.headers;
        res = await this.transport.send(url, spec.method, headers, spec.body);
      } catch (err) {
        throw err instanceof RegistryError ? err : networkError(ctx, err, url.host);
      }
      if (res.status === 401 && sameOrigin) {
        const scopes = this.auth.challenged(endpoint, res, state.scopes, auth);
        if (scopes && !state.rechallenged) {
          state.rechallenged = true;
          state.scopes = scopes;
          await discard(res);
          continue;
        }
        throw await this.auth.unauthorizedError(endpoint, res, auth, ctx);
      }
      const location = header(res, 'location');
      if (spec.followRedirects && res.status >= 300 && res.status < 400 && location) {
        await discard(res);
        if (++redirects > MAX_REDIRECTS) throw new RegistryError(`${spec.action} ${spec.subject}: more than ${MAX_REDIRECTS} redirects`, ctx);
        const next = new URL(location, url);
        if (url.protocol === 'https:' && next.protocol === 'http:') this.auth.allowPlainHttp(spec.registry, `the redirect of ${spec.action} ${spec.subject} to ${next.host}`);
        url = next;
        this.emit({ type: 'redirect', registry: spec.registry, action: spec.action, subject: spec.subject, toHost: url.host });
        continue;
      }
      if (spec.expect.includes(res.status)) return res;
      const retryAfterMs = isRetryableStatus(res.status) ? parseRetryAfter(header(res, 'retry-after')) : undefined;
      throw httpError(ctx, res.status, await readText(res), { hint: statusHint(res.status, spec, lastAttempt), retryAfterMs });
    }
  }
}
