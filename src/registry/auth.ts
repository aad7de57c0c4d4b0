// Authentication against registries: the /v2/ ping (which also settles HTTPS vs HTTP), WWW-Authenticate
// challenges, Basic credentials and Bearer tokens (cached per registry + scope until they expire).
import type { LookupOptions } from '../transport/store.js';
import type { CredentialMatch, CredentialStore } from '../auth/credentials.js';
import {
  AuthenticationError, describeNetworkError, errorCode, formatErrorDetails, httpError, networkError, parseErrorBody, RegistryError, statusLine,
} from './errors.js';
import { type BackoffPolicy, backoffDelay, isOverloadError, isRetryableStatus, sleep } from './retry.js';
import type { ClientEvent } from './session.js';
import { discard, headerValues, readText, type Headers, type HttpResponse, type Transport } from './transport.js';

export interface Challenge {
  /** Lowercase: `basic`, `bearer`. */
  scheme: string;
  /** Lowercase names: realm, service, scope, error. */
  params: Record<string, string>;
}

/**
 * Parses WWW-Authenticate values (RFC 9110 §11.6.1): several challenges per value, quoted
 * strings with commas and escapes, e.g. `Bearer realm="https://a/token",service="a",scope="repository:x:pull,push"`.
 */
export function parseChallenges(values: readonly string[]): Challenge[] {
  const challenges: Challenge[] = [];
  for (const value of values) {
    let i = 0;
    const skip = (chars: RegExp): void => { while (i < value.length && chars.test(value[i]!)) i++; };
    const token = (): string => {
      const start = i;
      while (i < value.length && !/[\s,="]/.test(value[i]!)) i++;
      return value.slice(start, i);
    };
    while (i < value.length) {
      skip(/[\s,]/);
      const scheme = token();
      if (scheme === '') { i++; continue; }
      const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
      challenges.push(challenge);
      for (;;) {
        skip(/\s/);
        const paramStart = i;
        const name = token();
        skip(/\s/);
        if (name === '' || value[i] !== '=') { i = paramStart; break; }
        i++;
        skip(/\s/);
        let paramValue = '';
        if (value[i] === '"') {
          for (i++; i < value.length && value[i] !== '"'; i++) paramValue += value[i] === '\\' ? value[++i] ?? '' : value[i];
          i++;
        } else {
          paramValue = token();
        }
        challenge.params[name.toLowerCase()] = paramValue;
        skip(/\s/);
        if (value[i] !== ',') break;
        i++;
      }
    }
  }
  return challenges;
}

/** Bearer wins over Basic when a registry offers both (as docker does). */
export function pickChallenge(challenges: readonly Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer' && c.params.realm) ?? challenges.find((c) => c.scheme === 'basic');
}

/** `repository:foo/bar:pull,push`. */
export function repositoryScope(repository: string, actions: 'pull' | 'pull,push'): string {
  return `repository:${repository}:${actions}`;
}

/** forPush: ask for a push token right away, so the check and the writes share one token. */
export function lookupAccess(opts: LookupOptions): 'pull' | 'pull,push' {
  return opts.forPush ? 'pull,push' : 'pull';
}

/** How one registry is reached: the origin after the HTTPS/HTTP decision, and its auth challenge. */
export interface Endpoint {
  /** As in ImageReference (`docker.io`, `127.0.0.1:5000`): the key for credentials. */
  registry: string;
  /** `https://registry-1.docker.io`, `http://127.0.0.1:5000`. */
  origin: string;
  challenge?: Challenge;
}

/** The host serving a registry name: Docker Hub's API lives on registry-1.docker.io. */
export function registryHost(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}

export type FallbackEvent = { type: 'fallback'; registry: string; from: 'https'; to: 'http'; reason: string };
/** Something --insecure allowed that would otherwise have been refused (said once per registry and reason). */
export type InsecureEvent = { type: 'insecure'; registry: string; reason: string };
export type AuthEvent = FallbackEvent | InsecureEvent;

export interface PingPolicy {
  backoff: BackoffPolicy;
  /** Each /v2/ ping attempt waits this long for a connection, and again for the answer's headers. */
  attemptTimeoutMs: number;
  /** Attempts that get no answer at all before the registry counts as unreachable for the rest of the run. */
  attempts: number;
}

/** No answer at all: nothing connected, or nothing was said on the connection. */
const SILENCE_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);
/** The HTTPS attempt got an answer that is not TLS (or nothing listens there): only then is plain HTTP worth a try. */
const NOT_TLS_CODES = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'EPROTO', 'ECONNREFUSED']);

/** expiresAt is Infinity while the request is in flight, so concurrent callers share it. */
interface CachedToken { token: Promise<string>; expiresAt: number }

/** How long a token is reused: its lifetime minus a margin for clock skew and request latency. */
export function tokenLifetimeMs(expiresInSeconds: number | undefined): number {
  const seconds = expiresInSeconds !== undefined && expiresInSeconds > 0 ? expiresInSeconds : 60;
  return Math.max(seconds - 10, seconds / 2) * 1000;
}

export interface Authorization {
  /** The Authorization header value, if any. */
  header?: string;
  /** Whether credentials went into it (decides between "authentication failed" and "authentication required"). */
  credentials?: CredentialMatch;
  /** The cache entry of the bearer token sent, so a 401 can drop exactly that token. */
  token?: { key: string; entry: CachedToken };
}

export class Authenticator {
  private readonly endpoints = new Map<string, Promise<Endpoint>>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly insecureWarnings = new Set<string>();
  /** Registries that completed a TLS handshake once: they are never tried over plain HTTP afterwards. */
  private readonly answeredTls = new Set<string>();
  /** Registries that did not answer at all: every later request to them fails at once with this error. */
  private readonly unreachable = new Map<string, RegistryError>();

  constructor(
    private readonly transport: Transport,
    private readonly credentials: CredentialStore | undefined,
    readonly insecure: boolean,
    private readonly emit: (e: ClientEvent) => void,
    private readonly pingPolicy: PingPolicy,
  ) {}

  /**
   * Plain HTTP where the registry was reached over HTTPS (a token realm, a redirect): refused with an
   * error naming `what` unless --insecure, which allows it with a warning (once per registry and `what`).
   */
  allowPlainHttp(registry: string, what: string): void {
    if (!this.insecure) {
      throw new RegistryError(`${registry} is reached over HTTPS, but ${what} is plain HTTP; refusing to send anything there unencrypted `
        + '(pass --insecure to allow it)', { registry, code: 'PLAIN_HTTP_REFUSED' });
    }
    const reason = `${registry} is reached over HTTPS, but ${what} is plain HTTP`;
    if (this.insecureWarnings.has(reason)) return;
    this.insecureWarnings.add(reason);
    this.emit({ type: 'insecure', registry, reason });
  }

  /** Pings the registry once (concurrent callers share the ping); a failed ping is forgotten so the next call retries. */
  endpoint(registry: string): Promise<Endpoint> {
    let endpoint = this.endpoints.get(registry);
    if (!endpoint) {
      endpoint = this.ping(registry);
      this.endpoints.set(registry, endpoint);
      endpoint.catch(() => this.endpoints.delete(registry));
    }
    return endpoint;
  }

  /**
   * Forgets how `registry` is reached after a request to it got no answer at all, so that the next
   * request pings it again: quickly fine, or found unreachable (once, for everyone) within the ping's bounds.
   */
  recheck(registry: string, err: unknown): void {
    if (SILENCE_CODES.has(errorCode(err) ?? '')) this.endpoints.delete(registry);
  }

  /**
   * The /v2/ ping. Attempts that get no answer at all are repeated here, a few times within tight time-outs,
   * after which the registry is unreachable for good; any answer (even an error status) goes to the caller's retries.
   */
  private async ping(registry: string): Promise<Endpoint> {
    const known = this.unreachable.get(registry);
    if (known) throw known;
    const { attempts, attemptTimeoutMs, backoff } = this.pingPolicy;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.pingOnce(registry);
      } catch (err) {
        if (!SILENCE_CODES.has(errorCode(err) ?? '')) throw err;
        const host = registryHost(registry);
        if (attempt + 1 >= attempts) {
          const seconds = Math.round((attempts * attemptTimeoutMs) / 1000);
          const unreachable = new RegistryError(`registry ${registry} does not answer: ${describeNetworkError(err, host)} `
            + `(${attempts} attempts, up to ${seconds} s); nothing more is tried with it in this run`, { registry, code: 'REGISTRY_UNREACHABLE', cause: err });
          this.unreachable.set(registry, unreachable);
          throw unreachable;
        }
        const delayMs = backoffDelay(attempt, backoff);
        this.emit({
          type: 'retry', registry, action: 'contacting registry', subject: registry, attempt: attempt + 1, maxAttempts: attempts,
          delayMs, reason: `contacting registry ${registry}: ${describeNetworkError(err, host)}`, overloaded: isOverloadError(err),
        });
        await sleep(delayMs);
      }
    }
  }

  /** HTTPS first; plain HTTP only with --insecure, when HTTPS got an answer that is not TLS, and never once TLS answered. */
  private async pingOnce(registry: string): Promise<Endpoint> {
    const host = registryHost(registry);
    try {
      return await this.pingOrigin(registry, `https://${host}`);
    } catch (httpsError) {
      if (!this.insecure || this.answeredTls.has(registry) || !NOT_TLS_CODES.has(errorCode(httpsError) ?? '')) throw httpsError;
      // From here on, the plain-HTTP answer (or failure) is the one that matters, and the one reported.
      const endpoint = await this.pingOrigin(registry, `http://${host}`);
      this.emit({ type: 'fallback', registry, from: 'https', to: 'http', reason: (httpsError as Error).message });
      return endpoint;
    }
  }

  private async pingOrigin(registry: string, origin: string): Promise<Endpoint> {
    const res = await this.transport.send(new URL('/v2/', origin), 'GET', {}, undefined, { headersTimeoutMs: this.pingPolicy.attemptTimeoutMs });
    if (origin.startsWith('https:')) this.answeredTls.add(registry);
    const ctx = { action: 'contacting registry', subject: registry, registry, method: 'GET' };
    // What a TLS port says to plain HTTP (Go: "Client sent an HTTP request to an HTTPS server"): not a registry to use this way.
    if (res.status === 400 && origin.startsWith('http:')) {
      throw httpError(ctx, res.status, await readText(res), { hint: `${registry} does not speak plain HTTP` });
    }
    if (res.status === 401) {
      await discard(res);
      return { registry, origin, challenge: pickChallenge(parseChallenges(headerValues(res, 'www-authenticate'))) };
    }
    if (isRetryableStatus(res.status)) throw httpError(ctx, res.status, await readText(res));
    // Anything else (200, or a 404 from a registry that hides /v2/) means no auth is asked for up front.
    await discard(res);
    return { registry, origin };
  }

  private lookup(registry: string, repository?: string): CredentialMatch | undefined {
    return this.credentials?.lookupMatch(registry, repository);
  }

  /**
   * The Authorization for a request to `endpoint` needing `scopes`, on behalf of `repository` (whose
   * credentials are used); `purpose` (`pulling manifest x`) goes into token errors.
   */
  async authorize(endpoint: Endpoint, repository: string | undefined, scopes: readonly string[], purpose = ''): Promise<Authorization> {
    const challenge = endpoint.challenge;
    if (!challenge) return {};
    const match = this.lookup(endpoint.registry, repository);
    if (challenge.scheme === 'basic') {
      const cred = match?.credential;
      if (cred?.username === undefined || cred.password === undefined) return {};
      return { header: basicHeader(cred.username, cred.password), credentials: match };
    }
    if (challenge.scheme !== 'bearer') return {};
    const key = [endpoint.registry, challenge.params.realm, challenge.params.service, match?.key ?? '', ...[...scopes].sort()].join(' ');
    let entry = this.tokens.get(key);
    if (!entry || entry.expiresAt <= Date.now()) {
      const fresh: CachedToken = { token: Promise.resolve(''), expiresAt: Infinity };
      fresh.token = this.fetchToken(endpoint, challenge, scopes, match, purpose).then(
        ({ token, expiresIn }) => {
          fresh.expiresAt = Date.now() + tokenLifetimeMs(expiresIn);
          return token;
        },
        (err: unknown) => {
          if (this.tokens.get(key) === fresh) this.tokens.delete(key);
          throw err;
        });
      this.tokens.set(key, fresh);
      entry = fresh;
    }
    return { header: `Bearer ${await entry.token}`, credentials: match, token: { key, entry } };
  }

  /**
   * A 401 arrived. Adopts its challenge and forgets cached tokens of `scopes`, and returns the scopes
   * to ask for next time (the challenge may name a wider scope), or undefined when retrying is pointless.
   */
  challenged(endpoint: Endpoint, res: HttpResponse, scopes: readonly string[], sent: Authorization): string[] | undefined {
    const challenge = pickChallenge(parseChallenges(headerValues(res, 'www-authenticate')));
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic' && sent.credentials && endpoint.challenge?.scheme === 'basic') return undefined;
    // scope and error describe this one request, not the registry.
    const params = { ...challenge.params };
    delete params.scope;
    delete params.error;
    endpoint.challenge = { scheme: challenge.scheme, params };
    if (sent.token && this.tokens.get(sent.token.key) === sent.token.entry) this.tokens.delete(sent.token.key);
    const extra = (challenge.params.scope ?? '').split(' ').filter((s) => s !== '' && !scopes.includes(s));
    return [...scopes, ...extra];
  }

  /** The error for a 401 that survived a fresh challenge round: "failed" with credentials, "required" without. */
  async unauthorizedError(
    endpoint: Endpoint, res: HttpResponse, sent: Authorization, ctx: { action: string; subject: string; repository?: string; method?: string },
  ): Promise<AuthenticationError> {
    const errors = parseErrorBody(await readText(res));
    // The detail of UNAUTHORIZED repeats the requested access as JSON; the hints below say it in words.
    const details = formatErrorDetails(errors, { detail: false });
    const challenge = pickChallenge(parseChallenges(headerValues(res, 'www-authenticate')));
    const head = sent.credentials
      ? `authentication failed for ${endpoint.registry}: ${statusLine(res.status)}${details ? `: ${details}` : ''}`
      : `authentication required by ${endpoint.registry}: ${statusLine(res.status)}${details ? `: ${details}` : ''}`;
    const hints: string[] = [`${ctx.action} ${ctx.subject}`];
    if (sent.credentials) {
      hints.push(challenge?.params.error === 'insufficient_scope'
        ? `the credentials for ${sent.credentials.key} from ${sent.credentials.file} do not grant ${challenge.params.scope ?? 'this access'}`
        : `credentials for ${sent.credentials.key} from ${sent.credentials.file}`);
    } else {
      hints.push(`no credentials for ${endpoint.registry} were found; log in (podman login ${endpoint.registry}) or pass -a/--registry-config`);
    }
    return new AuthenticationError(`${head} (${hints.join('; ')})`, {
      registry: endpoint.registry, repository: ctx.repository, status: res.status, errors, method: ctx.method,
    });
  }

  private async fetchToken(
    endpoint: Endpoint, challenge: Challenge, scopes: readonly string[], match: CredentialMatch | undefined, purpose: string,
  ): Promise<{ token: string; expiresIn?: number }> {
    const registry = endpoint.registry;
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm ?? '');
      if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new Error('not http(s)');
    } catch {
      throw new RegistryError(`registry ${registry} sent an unusable token realm "${challenge.params.realm ?? ''}"`, { registry });
    }
    // The token (and the credentials that get it) would travel in clear text: only with --insecure.
    if (realm.protocol === 'http:' && endpoint.origin.startsWith('https:')) this.allowPlainHttp(registry, `its token realm ${realm.origin}`);
    const cred = match?.credential;
    const service = challenge.params.service;
    const ctx = { action: 'requesting a token for', subject: `${registry} (${scopes.join(' ') || 'no scope'}) from ${realm.host}`, registry };
    let res: HttpResponse;
    try {
      if (cred?.identityToken) {
        // OAuth2 refresh-token grant (what docker does with an identity token); scopes are space-separated in one field.
        const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cred.identityToken, client_id: 'olm-mirror' });
        if (service) form.set('service', service);
        if (scopes.length > 0) form.set('scope', scopes.join(' '));
        res = await this.transport.send(realm, 'POST', { 'content-type': 'application/x-www-form-urlencoded' }, form.toString());
      } else {
        const url = new URL(realm);
        if (service) url.searchParams.set('service', service);
        for (const scope of scopes) url.searchParams.append('scope', scope);
        const headers: Headers = {};
        if (cred?.username !== undefined && cred.password !== undefined) {
          url.searchParams.set('account', cred.username);
          headers.authorization = basicHeader(cred.username, cred.password);
        }
        res = await this.transport.send(url, 'GET', headers);
      }
    } catch (err) {
      throw networkError(ctx, err, realm.host);
    }
    if (res.status === 401 || res.status === 403) {
      const details = formatErrorDetails(parseErrorBody(await readText(res)));
      const who = match ? `credentials for ${match.key} from ${match.file}` : 'anonymous';
      throw new AuthenticationError(
        `authentication failed for ${registry}: ${statusLine(res.status)}${details ? `: ${details}` : ''} (${purpose ? `${purpose}; ` : ''}${who})`,
        { registry, status: res.status },
      );
    }
    if (res.status !== 200) throw httpError(ctx, res.status, await readText(res));
    const text = await readText(res, 1024 * 1024);
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new RegistryError(`${ctx.action} ${ctx.subject}: the token server did not answer with JSON`, { registry });
    }
    const token = typeof body.token === 'string' && body.token !== '' ? body.token : body.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new RegistryError(`${ctx.action} ${ctx.subject}: the token server's answer has no token`, { registry });
    }
    return { token, expiresIn: typeof body.expires_in === 'number' ? body.expires_in : undefined };
  }
}

function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}
