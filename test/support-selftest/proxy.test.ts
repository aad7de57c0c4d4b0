// The fault proxy forwards to a real registry (here the TLS variant, so HTTPS upstream), keeps clients on
// the proxy through Location rewriting, and applies each kind of fault exactly as many times as asked.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { request } from 'undici';
import { startFaultProxy, type FaultProxy } from '../support/proxy.js';
import { registryTestHooks } from '../support/registry.js';
import { seedImage, sha256, type SeededImage } from '../support/seed.js';

const registry = registryTestHooks({ variant: 'tls' });

async function get(proxy: FaultProxy, path: string, init: { method?: 'GET' | 'POST' | 'DELETE'; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  const res = await request(`${proxy.url}${path}`, init);
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
}

async function withProxy(rules: Parameters<typeof startFaultProxy>[1], body: (proxy: FaultProxy, image: SeededImage) => Promise<void>,
  opts?: Parameters<typeof startFaultProxy>[2]): Promise<void> {
  const image = await seedImage(registry(), 'proxy/app', 'v1', { layerSizes: [200_000] });
  const proxy = await startFaultProxy(registry(), rules, opts);
  try {
    await body(proxy, image);
  } finally {
    await proxy.stop();
  }
}

const blobPath = (image: SeededImage): string => `/v2/proxy/app/blobs/${image.layerDigests[0]}`;

test('forwards untouched and rewrites upload Locations onto the proxy', () => withProxy([], async (proxy, image) => {
  const blob = await get(proxy, blobPath(image));
  assert.equal(blob.status, 200);
  assert.equal(sha256(blob.body), image.layerDigests[0]);
  const upload = await get(proxy, '/v2/proxy/app/blobs/uploads/', { method: 'POST' });
  assert.equal(upload.status, 202);
  assert.match(String(upload.headers.location), new RegExp(`^${proxy.url}/v2/proxy/app/blobs/uploads/`));
  assert.deepEqual(proxy.hits.map((h) => [h.method, h.status, h.fault]), [['GET', 200, undefined], ['POST', 202, undefined]]);
  assert.deepEqual(JSON.parse(readFileSync(proxy.authFile, 'utf8')), { auths: {} });
}));

test('status faults apply the first K times, with Retry-After', () => withProxy(
  [{ method: 'GET', path: /\/manifests\//, times: 2, action: { kind: 'status', status: 429, retryAfter: 3 } }],
  async (proxy) => {
    // Without Accept, distribution 2.8 tries to down-convert to the disabled schema1 and answers 400.
    const headers = { accept: 'application/vnd.docker.distribution.manifest.v2+json' };
    const first = await get(proxy, '/v2/proxy/app/manifests/v1', { headers });
    assert.equal(first.status, 429);
    assert.equal(first.headers['retry-after'], '3');
    assert.equal(JSON.parse(first.body.toString()).errors[0].code, 'TOOMANYREQUESTS');
    assert.equal((await get(proxy, '/v2/proxy/app/manifests/v1', { headers })).status, 429);
    assert.equal((await get(proxy, '/v2/proxy/app/manifests/v1', { headers })).status, 200);
    assert.deepEqual(proxy.hits.map((h) => h.fault), ['status', 'status', undefined]);
  }));

test('corrupt flips a byte but keeps the length', () => withProxy(
  [{ path: /\/blobs\/sha256:/, times: 1, action: { kind: 'corrupt' } }],
  async (proxy, image) => {
    const bad = await get(proxy, blobPath(image));
    assert.equal(bad.status, 200);
    assert.equal(bad.body.length, Number(bad.headers['content-length']));
    assert.notEqual(sha256(bad.body), image.layerDigests[0]);
    assert.equal(sha256((await get(proxy, blobPath(image))).body), image.layerDigests[0]);
  }));

test('cut drops the connection after B body bytes; Range requests pass through', () => withProxy(
  [{ path: /\/blobs\/sha256:/, times: 1, action: { kind: 'cut', afterBytes: 1000 } }],
  async (proxy, image) => {
    const res = await request(`${proxy.url}${blobPath(image)}`);
    assert.equal(res.statusCode, 200);
    let received = 0;
    await assert.rejects((async () => {
      for await (const chunk of res.body) received += (chunk as Buffer).length;
    })());
    assert.equal(received, 1000);
    const rest = await get(proxy, blobPath(image), { headers: { range: 'bytes=1000-' } });
    assert.equal(rest.status, 206);
    assert.deepEqual(proxy.hits.map((h) => [h.fault, h.range]), [['cut', undefined], [undefined, 'bytes=1000-']]);
  }));

test('delay forwards after waiting', () => withProxy(
  [{ path: /\/v2\/$/, action: { kind: 'delay', ms: 50 } }],
  async (proxy) => {
    assert.equal((await get(proxy, '/v2/')).status, 200);
    assert.equal(proxy.hits[0]?.fault, 'delay');
  }));

test('trickle passes the body on in small doses, complete in the end', () => withProxy(
  [{ path: /\/blobs\/sha256:/, times: 1, action: { kind: 'trickle', bytes: 50_000, everyMs: 20 } }],
  async (proxy, image) => {
    const res = await request(`${proxy.url}${blobPath(image)}`);
    const chunks: Buffer[] = [];
    for await (const chunk of res.body) chunks.push(chunk as Buffer);
    assert.equal(sha256(Buffer.concat(chunks)), image.layerDigests[0]);
    const sizes = chunks.map((c) => c.length);
    assert.ok(sizes.length >= 4 && sizes.every((n) => n <= 50_000), `chunks: ${sizes.join(', ')}`);
    assert.equal(proxy.hits[0]?.fault, 'trickle');
  }));

test('chance applies a fault to about that share of requests, the same ones for the same seed', async () => {
  const faultsOf = async (seed: number) => {
    let faults: (string | undefined)[] = [];
    await withProxy([{ path: /\/v2\/$/, chance: 0.3, action: { kind: 'status', status: 503 } }], async (proxy) => {
      for (let i = 0; i < 200; i++) await get(proxy, '/v2/');
      faults = proxy.hits.map((h) => h.fault);
    }, { seed });
    return faults;
  };
  const first = await faultsOf(7);
  const share = first.filter((f) => f === 'status').length / first.length;
  assert.ok(share > 0.2 && share < 0.4, `share ${share}`);
  assert.deepEqual(await faultsOf(7), first);
  assert.notDeepEqual(await faultsOf(8), first);
});
