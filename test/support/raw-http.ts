// Minimal raw registry HTTP for the test harness, deliberately independent of src/registry (the code under
// test): undici `request` with the test CA, Basic auth for htpasswd, and for the token variant a token fetched
// straight from the harness's own issuer. Errors name the request, the HTTP status and the registry's reply.
import { Agent, request, type Dispatcher } from 'undici';
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { TestRegistry } from './registry.js';

const agents = new WeakMap<TestRegistry, Agent>();
const tokens = new Map<string, { token: string; expiresAt: number }>();

function agentFor(reg: TestRegistry): Agent {
  let agent = agents.get(reg);
  if (!agent) {
    agent = new Agent({ connect: reg.caFile ? { ca: readFileSync(reg.caFile) } : {} });
    agents.set(reg, agent);
  }
  return agent;
}

function basic(reg: TestRegistry): string {
  return `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString('base64')}`;
}

async function bearer(reg: TestRegistry, repository: string): Promise<string> {
  const issuer = reg.tokenIssuer!;
  const scope = `repository:${repository}:pull,push,delete`;
  const key = `${issuer.realm} ${scope}`;
  const cached = tokens.get(key);
  if (cached && cached.expiresAt > Date.now()) return cached.token;
  const url = `${issuer.realm}?service=${encodeURIComponent(issuer.service)}&scope=${encodeURIComponent(scope)}`;
  const res = await request(url, { dispatcher: agentFor(reg), headers: { authorization: basic(reg) } });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`test token request for ${scope} failed: HTTP ${res.statusCode}: ${text}`);
  const body = JSON.parse(text) as { token: string; expires_in: number };
  // Renew a little early so a token never expires between this check and the registry's.
  tokens.set(key, { token: body.token, expiresAt: Date.now() + (body.expires_in - 2) * 1000 });
  return body.token;
}

async function authorization(reg: TestRegistry, repository: string): Promise<Record<string, string>> {
  if (reg.variant === 'htpasswd') return { authorization: basic(reg) };
  if (reg.variant === 'token') return { authorization: `Bearer ${await bearer(reg, repository)}` };
  return {};
}

export interface RawResponse { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

export interface RawRequest {
  method: Dispatcher.HttpMethod;
  /** Path under the registry (e.g. /v2/foo/manifests/latest) or an absolute upload Location. */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  /** Statuses that count as success; anything else throws with the registry's reply. */
  expect: number[];
}

/** One authenticated request against `repository` on the test registry. */
export async function rawRequest(reg: TestRegistry, repository: string, req: RawRequest): Promise<RawResponse> {
  const url = new URL(req.path, reg.url);
  const res = await request(url, {
    method: req.method, body: req.body, dispatcher: agentFor(reg),
    headers: { ...(await authorization(reg, repository)), ...req.headers },
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  if (!req.expect.includes(res.statusCode)) {
    throw new Error(`test harness: ${req.method} ${url.pathname} on ${reg.host} answered HTTP ${res.statusCode} `
      + `(expected ${req.expect.join('/')}): ${body.toString('utf8').slice(0, 500)}`);
  }
  return { status: res.statusCode, headers: res.headers, body };
}

export function header(res: RawResponse, name: string): string {
  const value = res.headers[name];
  const single = Array.isArray(value) ? value[0] : value;
  if (single === undefined) throw new Error(`test harness: registry reply lacks the ${name} header`);
  return single;
}
