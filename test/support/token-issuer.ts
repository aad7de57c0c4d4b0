// A small Docker token-auth server (https://distribution.github.io/distribution/spec/auth/token/) run
// in-process for the 'token' test registry. Distribution 2.8 verifies the JWT with the certificate chain
// in the header's `x5c` against its `rootcertbundle`, so tokens are ES256-signed by a CA-issued key.
import { randomBytes, sign, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TestCertificates } from './certs.js';

export interface TokenIssuerOptions {
  username: string;
  password: string;
  service: string;
  issuer: string;
  certs: TestCertificates;
  /** Lifetime of access tokens (default 300 s); short values let tests exercise token renewal. */
  ttlSeconds?: number;
  /** Serve the realm over plain HTTP (a misconfigured or hostile registry), to test that clients refuse it. */
  plainHttp?: boolean;
}

export interface TokenRequestRecord {
  method: 'GET' | 'POST';
  /** 'password' | 'refresh_token' for the OAuth2 POST form, undefined for GET. */
  grantType?: string;
  /** Who the request authenticated as; undefined when anonymous or rejected. */
  account?: string;
  scopes: string[];
  status: number;
}

export interface TokenIssuer {
  /** The `realm` the registry advertises (https://127.0.0.1:PORT/token). */
  realm: string;
  service: string;
  issuer: string;
  /** Every token request, in order, for assertions (e.g. "the client reused its token"). */
  requests: TokenRequestRecord[];
  stop(): Promise<void>;
}

interface AccessEntry { type: string; name: string; actions: string[] }

const base64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

/** Parses scope strings `type:name:action,action` (several may be space-separated in one value). */
function parseScopes(values: string[]): AccessEntry[] {
  const entries: AccessEntry[] = [];
  for (const scope of values.flatMap((v) => v.split(' ')).filter(Boolean)) {
    const first = scope.indexOf(':');
    const last = scope.lastIndexOf(':');
    if (first < 0 || last === first) continue; // malformed scopes are ignored, as real issuers do
    entries.push({ type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) });
  }
  return entries;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startTokenIssuer(opts: TokenIssuerOptions): Promise<TokenIssuer> {
  const ttl = opts.ttlSeconds ?? 300;
  const signingKey = readFileSync(opts.certs.tokenKeyFile);
  const x5c = [new X509Certificate(readFileSync(opts.certs.tokenCertFile)).raw.toString('base64')];
  const refreshTokens = new Map<string, string>(); // refresh token -> account
  const requests: TokenRequestRecord[] = [];

  function makeToken(account: string | undefined, access: AccessEntry[]): { token: string; issuedAt: Date } {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c };
    const claims = {
      iss: opts.issuer, sub: account ?? '', aud: opts.service,
      iat: now, nbf: now - 5, exp: now + ttl, jti: randomBytes(12).toString('hex'), access,
    };
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    // JWS ES256 wants the raw r||s signature, not DER.
    const signature = sign('sha256', Buffer.from(signingInput), { key: signingKey, dsaEncoding: 'ieee-p1363' });
    return { token: `${signingInput}.${base64url(signature)}`, issuedAt: new Date(now * 1000) };
  }

  function basicAccount(req: IncomingMessage): { account?: string; rejected: boolean } {
    const header = req.headers.authorization;
    if (!header) return { rejected: false };
    const match = /^Basic\s+(.+)$/i.exec(header);
    if (!match) return { rejected: true };
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const ok = colon >= 0 && decoded.slice(0, colon) === opts.username && decoded.slice(colon + 1) === opts.password;
    return ok ? { account: opts.username, rejected: false } : { rejected: true };
  }

  /** The authenticated user gets every action it asks for; anonymous callers get a token granting nothing. */
  const grant = (account: string | undefined, scopes: AccessEntry[]): AccessEntry[] => (account ? scopes : []);

  function unauthorized(res: ServerResponse, record: TokenRequestRecord, message: string): void {
    record.status = 401;
    sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message, detail: null }] },
      { 'www-authenticate': 'Basic realm="olm-mirror test token issuer"' });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://issuer');
    if (url.pathname !== '/token' || (req.method !== 'GET' && req.method !== 'POST')) {
      sendJson(res, 404, { errors: [{ code: 'NOT_FOUND', message: `no such endpoint: ${req.method} ${url.pathname}` }] });
      return;
    }
    if (req.method === 'GET') {
      const scopes = url.searchParams.getAll('scope');
      const record: TokenRequestRecord = { method: 'GET', scopes, status: 200 };
      requests.push(record);
      const { account, rejected } = basicAccount(req);
      if (rejected) return unauthorized(res, record, 'invalid username or password');
      record.account = account;
      const { token, issuedAt } = makeToken(account, grant(account, parseScopes(scopes)));
      const body: Record<string, unknown> = { token, access_token: token, expires_in: ttl, issued_at: issuedAt.toISOString() };
      if (account && url.searchParams.get('offline_token') === 'true') body.refresh_token = newRefreshToken(account);
      return sendJson(res, 200, body);
    }
    const form = new URLSearchParams(await readBody(req));
    const grantType = form.get('grant_type') ?? '';
    const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
    const record: TokenRequestRecord = { method: 'POST', grantType, scopes, status: 200 };
    requests.push(record);
    let account: string | undefined;
    if (grantType === 'password') {
      if (form.get('username') !== opts.username || form.get('password') !== opts.password) {
        return unauthorized(res, record, 'invalid username or password');
      }
      account = opts.username;
    } else if (grantType === 'refresh_token') {
      account = refreshTokens.get(form.get('refresh_token') ?? '');
      if (!account) return unauthorized(res, record, 'invalid refresh token');
    } else {
      record.status = 400;
      return sendJson(res, 400, { error: 'unsupported_grant_type', error_description: `grant_type ${JSON.stringify(grantType)} is not supported` });
    }
    record.account = account;
    const { token, issuedAt } = makeToken(account, grant(account, parseScopes(scopes)));
    const body: Record<string, unknown> = { access_token: token, scope: scopes.join(' '), expires_in: ttl, issued_at: issuedAt.toISOString() };
    if (form.get('access_type') === 'offline') body.refresh_token = grantType === 'refresh_token' ? form.get('refresh_token') : newRefreshToken(account);
    return sendJson(res, 200, body);
  }

  function newRefreshToken(account: string): string {
    const refresh = randomBytes(24).toString('base64url');
    refreshTokens.set(refresh, account);
    return refresh;
  }

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => sendJson(res, 500, { errors: [{ code: 'UNKNOWN', message: String(err) }] }));
  };
  const server = opts.plainHttp
    ? createHttpServer(listener)
    : createServer({ cert: readFileSync(opts.certs.serverCertFile), key: readFileSync(opts.certs.serverKeyFile) }, listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref(); // never keep a test process alive on its own
  const { port } = server.address() as AddressInfo;
  return {
    realm: `${opts.plainHttp ? 'http' : 'https'}://127.0.0.1:${port}/token`, service: opts.service, issuer: opts.issuer, requests,
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
