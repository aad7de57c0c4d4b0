// The token variant behaves like a real token-auth registry: Basic credentials on the realm, anonymous
// tokens without access, the OAuth2 POST form with refresh tokens, and tokens the registry accepts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Agent, request } from 'undici';
import { registryTestHooks, type TestRegistry } from '../support/registry.js';
import { seedImage } from '../support/seed.js';

const registry = registryTestHooks({ variant: 'token' });
let dispatcher: Agent | undefined;

function agent(reg: TestRegistry): Agent {
  dispatcher ??= new Agent({ connect: { ca: readFileSync(reg.caFile!) } });
  return dispatcher;
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function call(url: string, init: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; json: Record<string, unknown>; wwwAuthenticate?: string }> {
  const res = await request(url, { ...init, dispatcher: agent(registry()) });
  const text = await res.body.text();
  const header = res.headers['www-authenticate'];
  return { status: res.statusCode, json: text ? JSON.parse(text) as Record<string, unknown> : {}, wwwAuthenticate: Array.isArray(header) ? header[0] : header };
}

const tagsList = (token: unknown): Promise<{ status: number; wwwAuthenticate?: string }> =>
  call(`${registry().url}/v2/tok/app/tags/list`, { headers: { authorization: `Bearer ${String(token)}` } });

function tokenUrl(extra = ''): string {
  const { realm, service } = registry().tokenIssuer!;
  return `${realm}?service=${service}&scope=repository:tok/app:pull${extra}`;
}

test('the token variant', async (t) => {
  const reg = registry();
  await seedImage(reg, 'tok/app', 'v1');

  await t.test('GET with credentials grants the requested scope', async () => {
    const res = await call(tokenUrl(), { headers: { authorization: basic(reg.username!, reg.password!) } });
    assert.equal(res.status, 200);
    assert.equal(res.json.refresh_token, undefined);
    assert.equal((await tagsList(res.json.token)).status, 200);
    const claims = JSON.parse(Buffer.from(String(res.json.token).split('.')[1]!, 'base64url').toString());
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'tok/app', actions: ['pull'] }]);
  });

  await t.test('anonymous tokens grant nothing', async () => {
    const res = await call(tokenUrl());
    assert.equal(res.status, 200);
    const denied = await tagsList(res.json.token);
    assert.equal(denied.status, 401);
    assert.match(denied.wwwAuthenticate ?? '', /error="insufficient_scope"/);
  });

  await t.test('wrong credentials get 401 with a JSON error', async () => {
    const res = await call(tokenUrl(), { headers: { authorization: basic(reg.username!, 'wrong') } });
    assert.equal(res.status, 401);
    assert.deepEqual((res.json.errors as { code: string }[]).map((e) => e.code), ['UNAUTHORIZED']);
  });

  await t.test('offline_token=true returns a refresh token usable with the OAuth2 POST form', async () => {
    const res = await call(tokenUrl('&offline_token=true'), { headers: { authorization: basic(reg.username!, reg.password!) } });
    assert.equal(typeof res.json.refresh_token, 'string');
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: String(res.json.refresh_token), service: reg.tokenIssuer!.service, scope: 'repository:tok/app:pull', client_id: 'selftest' });
    const refreshed = await call(reg.tokenIssuer!.realm, { method: 'POST', body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(refreshed.status, 200);
    assert.equal((await tagsList(refreshed.json.access_token)).status, 200);
  });

  await t.test('OAuth2 POST grant_type=password, access_type=offline', async () => {
    const form = (password: string): string => new URLSearchParams({ grant_type: 'password', username: reg.username!, password, service: reg.tokenIssuer!.service, scope: 'repository:tok/app:pull', client_id: 'selftest', access_type: 'offline' }).toString();
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    const ok = await call(reg.tokenIssuer!.realm, { method: 'POST', body: form(reg.password!), headers });
    assert.equal(ok.status, 200);
    assert.equal(typeof ok.json.refresh_token, 'string');
    assert.equal((await tagsList(ok.json.access_token)).status, 200);
    assert.equal((await call(reg.tokenIssuer!.realm, { method: 'POST', body: form('wrong'), headers })).status, 401);
  });

  await t.test('every token request is recorded', () => {
    const posts = reg.tokenIssuer!.requests.filter((r) => r.method === 'POST');
    assert.deepEqual(posts.map((r) => [r.grantType, r.status, r.account]),
      [['refresh_token', 200, reg.username], ['password', 200, reg.username], ['password', 401, undefined]]);
  });
  await dispatcher?.close();
});
