// How the client settles on HTTPS or plain HTTP and copes with registries that fail to answer: the
// scheme is decided from a completed answer only, the /v2/ ping is retried like any request, a registry that
// answered TLS is never downgraded, and one that does not answer at all is given up once, quickly, for everyone.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RegistryClient, RegistryError, type ClientEvent } from '../../src/registry/client.js';
import { runCli } from '../support/cli.js';
import { startFaultProxy, startTcpFaultProxy, type FaultProxy, type TcpFaultProxy } from '../support/proxy.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { seedImage, type SeededImage } from '../support/seed.js';

const retryReasons = (events: ClientEvent[]) => events.flatMap((e) => (e.type === 'retry' ? [e.reason] : []));

describe('plain-HTTP registry under --insecure', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let image: SeededImage;
  before(async () => {
    registry = await startRegistry({ variant: 'plain' });
    image = await seedImage(registry, 'scheme/app', 'v1');
    proxy = await startFaultProxy(registry);
  });
  after(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  test('a 503 on the plain-HTTP ping is retried like any request, for every image waiting on it, without a hint to pass --insecure', async () => {
    proxy.rules.push({ method: 'GET', path: /^\/v2\/$/, times: 1, action: { kind: 'status', status: 503 } });
    const events: ClientEvent[] = [];
    const c = new RegistryClient({ insecure: true, retryBaseDelayMs: 5, retryMaxDelayMs: 20, onEvent: (e) => events.push(e) });
    try {
      const ref = { registry: proxy.host, repository: 'scheme/app', tag: 'v1' };
      const heads = await Promise.all([1, 2, 3, 4].map(() => c.headManifest(ref)));
      assert.deepEqual(heads.map((h) => h?.digest), [image.digest, image.digest, image.digest, image.digest]);
    } finally {
      await c.close();
    }
    assert.deepEqual(proxy.hits.filter((h) => h.path === '/v2/').map((h) => h.status), [503, 200]);
    const reasons = retryReasons(events);
    assert.ok(reasons.length >= 1 && reasons.every((r) => /contacting registry 127\.0\.0\.1:\d+: 503 Service Unavailable/.test(r)), reasons.join('\n'));
    assert.ok(reasons.every((r) => !r.includes('--insecure')), 'no hint to pass a flag that was passed');
    assert.equal(events.filter((e) => e.type === 'fallback').length, 1);
  });
});

describe('TLS registry', () => {
  let registry: TestRegistry;
  let image: SeededImage;
  before(async () => {
    registry = await startRegistry({ variant: 'tls' });
    image = await seedImage(registry, 'scheme/tls', 'v1');
  });
  after(async () => {
    await registry?.stop();
  });

  test('a reset of the first TLS connection is retried over TLS; --insecure does not switch it to plain HTTP', async () => {
    const relay = await startTcpFaultProxy({ target: registry, resetFirst: 1 });
    const events: ClientEvent[] = [];
    const c = new RegistryClient({ insecure: true, caFiles: [registry.caFile!], retryBaseDelayMs: 5, onEvent: (e) => events.push(e) });
    try {
      const ref = { registry: relay.host, repository: 'scheme/tls', tag: 'v1' };
      assert.equal((await c.getManifest(ref)).digest, image.digest);
      assert.equal((await c.headManifest(ref))?.digest, image.digest);
    } finally {
      await c.close();
      await relay.stop();
    }
    assert.ok(relay.connections >= 2);
    assert.ok(!events.some((e) => e.type === 'fallback'), 'never downgraded to plain HTTP');
    assert.match(retryReasons(events)[0] ?? '', /connection to 127\.0\.0\.1:\d+ was closed unexpectedly \(ECONNRESET\)/);
  });
});

describe('a registry that does not answer at all', () => {
  let hole: TcpFaultProxy;
  let target: TestRegistry;
  before(async () => {
    hole = await startTcpFaultProxy({});
    target = await startRegistry({ variant: 'plain' });
  });
  after(async () => {
    await hole?.stop();
    await target?.stop();
  });

  test('fails within 45 s, once for all its images, naming it', { timeout: 60_000 }, async () => {
    const events: ClientEvent[] = [];
    const c = new RegistryClient({ insecure: true, onEvent: (e) => events.push(e) });
    const started = Date.now();
    try {
      const registry = hole.host;
      const results = await Promise.allSettled([
        c.getManifest({ registry, repository: 'a/one', tag: 'v1' }),
        c.getManifest({ registry, repository: 'a/two', tag: 'v1' }),
        c.headManifest({ registry, repository: 'a/three', tag: 'v1' }),
        c.blobSize(registry, 'a/four', `sha256:${'0'.repeat(64)}`),
      ]);
      const elapsedMs = Date.now() - started;
      process.stderr.write(`black-holed registry failed after ${elapsedMs} ms, ${hole.connections} connections\n`);
      assert.ok(elapsedMs < 45_000, `failed after ${elapsedMs} ms`);
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        const err = (r as PromiseRejectedResult).reason as RegistryError;
        assert.ok(err instanceof RegistryError);
        assert.match(err.message, new RegExp(`^registry ${registry} does not answer: connecting to ${registry} timed out `
          + '\\(3 attempts, up to 30 s\\); nothing more is tried with it in this run$'));
      }
      assert.equal(hole.connections, 3, 'one ping, three attempts, shared by every caller');
      // Remembered: later requests fail at once, without connecting again.
      await assert.rejects(c.headManifest({ registry, repository: 'a/five', tag: 'v1' }), /does not answer/);
      assert.equal(hole.connections, 3);
    } finally {
      await c.close();
    }
    assert.deepEqual(events.filter((e) => e.type === 'retry').map((e) => e.type === 'retry' && `${e.action} ${e.attempt}/${e.maxAttempts}`),
      ['contacting registry 1/3', 'contacting registry 2/3']);
  });

  test('one that stops answering mid-run is checked again with a ping, and then given up for everyone', { timeout: 30_000 }, async () => {
    const relay = await startTcpFaultProxy({ target });
    const image = await seedImage(target, 'hole/dying', 'v1');
    const c = new RegistryClient({ insecure: true, retryBaseDelayMs: 5, requestTimeoutMs: 1000, unreachableAfterMs: 1500 });
    try {
      const ref = { registry: relay.host, repository: 'hole/dying', tag: 'v1' };
      assert.equal((await c.headManifest(ref))?.digest, image.digest);
      relay.silence();
      const results = await Promise.allSettled([c.getManifest(ref), c.headManifest({ ...ref, tag: 'other' })]);
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        assert.match(((r as PromiseRejectedResult).reason as Error).message, new RegExp(`^registry ${relay.host} does not answer: `));
      }
      await assert.rejects(c.blobSize(relay.host, 'hole/dying', image.layerDigests[0]!), /does not answer/);
    } finally {
      await c.close();
      await relay.stop();
    }
  });

  test('image mirror from it: every image fails within 45 s naming the registry, exit 1', { timeout: 60_000 }, async () => {
    const mapping = join(target.storageDir, '..', 'black-hole-mapping.txt');
    writeFileSync(mapping, ['a', 'b', 'c'].map((name) => `${hole.host}/hole/${name}:v1=${target.host}/hole/${name}:v1\n`).join(''));
    const started = Date.now();
    const run = await runCli(['image', 'mirror', '--insecure', '-f', mapping]);
    const elapsedMs = Date.now() - started;
    process.stderr.write(`image mirror from the black-holed registry exited ${run.code} after ${elapsedMs} ms\n`);
    assert.equal(run.code, 1, run.stderr);
    assert.ok(elapsedMs < 45_000, `took ${elapsedMs} ms`);
    for (const name of ['a', 'b', 'c']) {
      assert.match(run.stderr, new RegExp(`error: ${hole.host}/hole/${name}:v1 -> .*registry ${hole.host} does not answer: connecting to ${hole.host} timed out`));
    }
  });
});
