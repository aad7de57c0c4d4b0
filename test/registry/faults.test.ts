// Failure handling against a real registry behind the fault-injecting proxy: retries (5xx, 429 with
// Retry-After), no retries on 4xx, corrupted content, downloads cut midway, uploads failing midway.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { CONFIGS_LABEL } from '../../src/catalog/image/labels.js';
import { pullCatalogImage } from '../../src/catalog/image/pull.js';
import { DigestMismatchError, sha256Digest } from '../../src/manifest/digest.js';
import { MediaTypes } from '../../src/manifest/media-types.js';
import { RegistryStores } from '../../src/transport/registry.js';
import { runCli } from '../support/cli.js';
import { RegistryClient, RegistryError, type ClientEvent, type RegistryClientOptions } from '../../src/registry/client.js';
import { startFaultProxy, type FaultProxy } from '../support/proxy.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { seedImage, type SeededImage } from '../support/seed.js';
import { digestOfStream, readAll, streamedBlob } from './helpers.js';

const MiB = 1024 * 1024;
let registry: TestRegistry;
let proxy: FaultProxy;
let image: SeededImage;
let bigLayer: { digest: string; size: number };
let events: ClientEvent[];

before(async () => {
  registry = await startRegistry({ variant: 'plain' });
  proxy = await startFaultProxy(registry);
  image = await seedImage(registry, 'faults/app', 'v1', { layerSizes: [1024, 3 * MiB] });
  bigLayer = { digest: image.layerDigests[1]!, size: 3 * MiB };
});
after(async () => {
  await proxy?.stop();
  await registry?.stop();
});
beforeEach(() => {
  proxy.rules.length = 0;
  proxy.hits.length = 0;
  events = [];
});

async function withClient(fn: (c: RegistryClient) => Promise<void>, opts: RegistryClientOptions = {}): Promise<void> {
  const c = new RegistryClient({ insecure: true, retryBaseDelayMs: 5, retryMaxDelayMs: 50, onEvent: (e) => events.push(e), ...opts });
  try {
    await fn(c);
  } finally {
    await c.close();
  }
}

const hitsOf = (method: string, path: RegExp) => proxy.hits.filter((h) => h.method === method && path.test(h.path));
const retries = () => events.filter((e): e is Extract<ClientEvent, { type: 'retry' }> => e.type === 'retry');

test('503 and 429 are retried (Retry-After honoured, capped), then the request succeeds', async () => {
  proxy.rules.push(
    { method: 'GET', path: /\/manifests\/v1$/, times: 2, action: { kind: 'status', status: 503 } },
    { method: 'GET', path: /\/manifests\/v1$/, times: 1, action: { kind: 'status', status: 429, retryAfter: 1 } },
  );
  await withClient(async (c) => {
    const m = await c.getManifest({ registry: proxy.host, repository: 'faults/app', tag: 'v1' });
    assert.equal(m.digest, image.digest);
  });
  assert.deepEqual(hitsOf('GET', /\/manifests\/v1$/).map((h) => h.status), [503, 503, 429, 200]);
  assert.deepEqual(retries().map((e) => e.attempt), [1, 2, 3]);
  assert.equal(retries()[2]!.delayMs, 50, 'Retry-After: 1 s, capped at retryMaxDelayMs');
  assert.match(retries()[0]!.reason, /pulling manifest .*faults\/app:v1: 503 Service Unavailable: UNAVAILABLE: fault injected/);
});

test('429: "still after retrying" only on the answer that ends the retries, never on the first', async () => {
  proxy.rules.push({ method: 'GET', path: /\/manifests\/v1$/, action: { kind: 'status', status: 429 } });
  await withClient(async (c) => {
    await assert.rejects(c.getManifest({ registry: proxy.host, repository: 'faults/app', tag: 'v1' }),
      /: 429 Too Many Requests: TOOMANYREQUESTS: fault injected by the test proxy \(HTTP 429\) \(rate limited, still after retrying\)$/);
  }, { retries: 2 });
  assert.equal(retries().length, 2);
  for (const e of retries()) assert.match(e.reason, /: 429 Too Many Requests: TOOMANYREQUESTS: fault injected by the test proxy \(HTTP 429\)$/);
});

test('the CLI\'s --retries sets how often a failed request is tried again', async () => {
  proxy.rules.push({ method: 'GET', path: /\/manifests\/v1$/, action: { kind: 'status', status: 503 } });
  const run = await runCli(['image', 'mirror', '--insecure', '--retries', '1', `${proxy.host}/faults/app:v1`, `${proxy.host}/faults/copy:v1`]);
  assert.equal(run.code, 1, run.stderr);
  assert.equal(hitsOf('GET', /\/faults\/app\/manifests\/v1$/).length, 2);
  assert.match(run.stderr, /warning: pulling manifest .*faults\/app:v1: 503 Service Unavailable: .*; attempt 1 of 2 in /);
  const bad = await runCli(['image', 'mirror', '--retries', '101', 'quay.io/a:1', 'mirror.local/a']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--retries <n>' argument '101' is invalid. expected an integer from 0 to 100/);
});

test('retries run out with the last error; 4xx are not retried', async () => {
  proxy.rules.push({ method: 'HEAD', path: /\/manifests\/v1$/, action: { kind: 'status', status: 502 } });
  await withClient(async (c) => {
    await assert.rejects(c.headManifest({ registry: proxy.host, repository: 'faults/app', tag: 'v1' }),
      (err: Error) => err instanceof RegistryError && err.status === 502 && /checking manifest .*: 502 Bad Gateway/.test(err.message));
  }, { retries: 2 });
  assert.equal(hitsOf('HEAD', /\/manifests\/v1$/).length, 3);

  proxy.rules.length = 0;
  proxy.rules.push({ method: 'GET', path: /\/manifests\/v1$/, action: { kind: 'status', status: 403 } });
  await withClient(async (c) => {
    await assert.rejects(c.getManifest({ registry: proxy.host, repository: 'faults/app', tag: 'v1' }),
      /403 Forbidden: DENIED: fault injected by the test proxy \(HTTP 403\) \(access denied: /);
  });
  assert.equal(hitsOf('GET', /\/manifests\/v1$/).length, 1);
});

test('corrupted content fails digest verification', async () => {
  proxy.rules.push({ method: 'GET', path: /\/blobs\/sha256:/, action: { kind: 'corrupt' } });
  await withClient(async (c) => {
    const stream = await c.getBlob(proxy.host, 'faults/app', bigLayer.digest, { size: bigLayer.size });
    await assert.rejects(readAll(stream), (err: Error) => err instanceof DigestMismatchError
      && err.expected === bigLayer.digest && err.message.includes(`blob ${bigLayer.digest} of ${proxy.host}/faults/app: digest mismatch`));
  });
  proxy.rules.push({ method: 'GET', path: /\/manifests\/sha256:/, action: { kind: 'corrupt' } });
  await withClient(async (c) => {
    await assert.rejects(c.getManifest({ registry: proxy.host, repository: 'faults/app', digest: image.digest }), DigestMismatchError);
  });
});

test('a download cut midway resumes with Range and is complete and verified', async () => {
  proxy.rules.push({ method: 'GET', path: new RegExp(`/blobs/${bigLayer.digest}$`), times: 2, action: { kind: 'cut', afterBytes: MiB } });
  await withClient(async (c) => {
    const stream = await c.getBlob(proxy.host, 'faults/app', bigLayer.digest, { size: bigLayer.size });
    assert.deepEqual(await digestOfStream(stream), bigLayer);
  });
  const gets = hitsOf('GET', new RegExp(`/blobs/${bigLayer.digest}$`));
  assert.equal(gets.length, 3);
  assert.equal(gets[0]!.range, undefined);
  assert.equal(gets[1]!.range, `bytes=${MiB}-`);
  assert.equal(gets[2]!.range, `bytes=${2 * MiB}-`);
  assert.deepEqual(gets.map((g) => g.status), [200, 206, 206]);
  const resumes = events.filter((e) => e.type === 'resume');
  assert.deepEqual(resumes.map((e) => e.type === 'resume' && [e.offset, e.restarted]), [[MiB, false], [2 * MiB, false]]);
});

test('a trickling download is abandoned below the minimum rate and resumed with Range, complete and verified', { timeout: 30_000 }, async () => {
  // 1 KiB every 50 ms (20 KiB/s) against a minimum of 200 KiB/s over 1 s.
  proxy.rules.push({ method: 'GET', path: new RegExp(`/blobs/${bigLayer.digest}$`), times: 1, action: { kind: 'trickle', bytes: 1024, everyMs: 50 } });
  await withClient(async (c) => {
    const got = await digestOfStream(await c.getBlob(proxy.host, 'faults/app', bigLayer.digest, { size: bigLayer.size }));
    assert.deepEqual(got, bigLayer);
  }, { minTransferRate: { bytesPerSecond: 200 * 1024, windowMs: 1000 } });
  const gets = hitsOf('GET', new RegExp(`/blobs/${bigLayer.digest}$`));
  assert.equal(gets.length, 2);
  assert.equal(gets[0]!.fault, 'trickle');
  const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? '')?.[1]);
  assert.ok(resumedAt > 0 && resumedAt < 200 * 1024, `resumed at byte ${resumedAt}`);
  const resumes = events.filter((e): e is Extract<ClientEvent, { type: 'resume' }> => e.type === 'resume');
  assert.equal(resumes.length, 1);
  assert.equal(resumes[0]!.offset, resumedAt);
  assert.match(resumes[0]!.reason, /^pulling blob sha256:\w+ of 127\.0\.0\.1:\d+\/faults\/app: abandoned, too slow: 127\.0\.0\.1:\d+ sent \d+ bytes in 1 s, below the minimum transfer rate of 204800 bytes\/s over 1 s$/);
});

test('a trickling manifest is abandoned and fetched again', { timeout: 30_000 }, async () => {
  proxy.rules.push({ method: 'GET', path: /\/manifests\/v1$/, times: 1, action: { kind: 'trickle', bytes: 10, everyMs: 100 } });
  await withClient(async (c) => {
    assert.equal((await c.getManifest({ registry: proxy.host, repository: 'faults/app', tag: 'v1' })).digest, image.digest);
  }, { minTransferRate: { bytesPerSecond: 1000, windowMs: 500 } });
  assert.deepEqual(hitsOf('GET', /\/manifests\/v1$/).map((h) => h.fault), ['trickle', undefined]);
  assert.match(retries()[0]!.reason, /pulling manifest .*faults\/app:v1: abandoned, too slow: /);
});

test('a manifest body cut midway is fetched again', async () => {
  proxy.rules.push({ method: 'GET', path: /\/manifests\/v1$/, times: 1, action: { kind: 'cut', afterBytes: 10 } });
  await withClient(async (c) => {
    assert.equal((await c.getManifest({ registry: proxy.host, repository: 'faults/app', tag: 'v1' })).digest, image.digest);
  });
  assert.equal(hitsOf('GET', /\/manifests\/v1$/).length, 2);
});

test('a chunked upload failing midway is cancelled and restarted from a fresh source', async () => {
  const big = streamedBlob(12 * MiB, 7);
  proxy.rules.push({ method: 'PATCH', path: /\/blobs\/uploads\//, times: 1, action: { kind: 'status', status: 500 } });
  let opened = 0;
  await withClient(async (c) => {
    await c.pushBlob(proxy.host, 'faults/upload', big.digest, big.size, async () => { opened++; return big.open(); });
    assert.equal(await c.blobSize(proxy.host, 'faults/upload', big.digest), big.size);
  }, { uploadChunkBytes: 4 * MiB });
  assert.equal(opened, 2);
  const sequence = proxy.hits.filter((h) => h.path.includes('/blobs/uploads/')).map((h) => `${h.method} ${h.status}`);
  // The last of the three chunks goes in the PUT that completes the upload.
  assert.deepEqual(sequence, ['POST 202', 'PATCH 500', 'DELETE 204', 'POST 202', 'PATCH 202', 'PATCH 202', 'PUT 201']);
  assert.ok(proxy.hits.find((h) => h.method === 'PUT')!.path.includes(`digest=${encodeURIComponent(big.digest)}`));
  assert.equal(retries().length, 1);
});

test('a failed monolithic PUT is retried; a 400 on upload is not', async () => {
  const small = Buffer.from('small blob for the retry test');
  proxy.rules.push({ method: 'PUT', path: /\/blobs\/uploads\//, times: 1, action: { kind: 'status', status: 503 } });
  await withClient(async (c) => {
    const digest = await c.pushBlobBytes(proxy.host, 'faults/upload', small);
    assert.equal(await c.blobSize(proxy.host, 'faults/upload', digest), small.length);
  });
  assert.deepEqual(proxy.hits.filter((h) => h.path.includes('/blobs/uploads/')).map((h) => `${h.method} ${h.status}`),
    ['POST 202', 'PUT 503', 'DELETE 204', 'POST 202', 'PUT 201']);

  proxy.hits.length = 0;
  proxy.rules.push({ method: 'PUT', path: /\/blobs\/uploads\//, times: 1, action: { kind: 'status', status: 400 } });
  await withClient(async (c) => {
    await assert.rejects(c.pushBlobBytes(proxy.host, 'faults/upload', Buffer.from('another')), /pushing blob sha256:\w+ to .*faults\/upload: 400 Bad Request/);
  });
  assert.equal(proxy.hits.filter((h) => h.method === 'POST').length, 1);
});

test('an upload fed by a corrupted download is cancelled, never completed: monolithic and chunked', async () => {
  proxy.rules.push({ method: 'GET', path: new RegExp(`/blobs/${bigLayer.digest}`), action: { kind: 'corrupt' } });
  const cases = [
    { repository: 'faults/copy-monolithic', opts: { retries: 2 }, requests: ['POST 202', 'DELETE'], puts: 0 },
    // The last chunk's PUT starts, but its final bytes wait for the check, so the registry never answers it.
    { repository: 'faults/copy-chunked', opts: { retries: 2, monolithicUploadMaxBytes: MiB, uploadChunkBytes: MiB }, requests: ['POST 202', 'PATCH 202', 'PATCH 202', 'DELETE'], puts: 1 },
  ];
  for (const { repository, opts, requests, puts } of cases) {
    proxy.hits.length = 0;
    proxy.received.length = 0;
    let opened = 0;
    let streamed = 0;
    await withClient(async (c) => {
      // The download verifies the digest itself, so the upload does not hash again: its failure must still stop the upload.
      const open = async () => { opened++; return c.getBlob(proxy.host, 'faults/app', bigLayer.digest, { size: bigLayer.size }); };
      await assert.rejects(c.pushBlob(proxy.host, repository, bigLayer.digest, bigLayer.size, open, (n) => { streamed += n; }),
        (err: Error) => err instanceof DigestMismatchError && err.message.includes(`digest mismatch: expected ${bigLayer.digest}`));
      assert.equal(await c.blobSize(proxy.host, repository, bigLayer.digest), undefined, `${repository} must not have the blob`);
    }, opts);
    assert.equal(opened, 3, 'a damaged download is fetched again from scratch, as often as retries allow');
    assert.equal(streamed, 3 * bigLayer.size, 'every byte was read before the mismatch showed, each time');
    // The cancelling DELETE finds the upload (204) or not (404: the registry dropped it on the cut PUT); either way it is gone.
    assert.deepEqual(proxy.hits.filter((h) => h.path.includes('/blobs/uploads/')).map((h) => (h.method === 'DELETE' ? h.method : `${h.method} ${h.status}`)),
      [...requests, ...requests, ...requests], repository);
    assert.equal(proxy.received.filter((r) => r.method === 'PUT').length, 3 * puts, repository);
    assert.deepEqual(proxy.hits.filter((h) => h.method === 'PUT' && h.status < 300), [], `${repository}: no upload completed`);
  }
});

test('one damaged response is fetched again from scratch: blob upload, manifest by digest and by tag', async () => {
  proxy.rules.push(
    { method: 'GET', path: new RegExp(`/blobs/${bigLayer.digest}$`), times: 1, action: { kind: 'corrupt' } },
    { method: 'GET', path: /\/manifests\/sha256:/, times: 1, action: { kind: 'corrupt' } },
    { method: 'GET', path: /\/manifests\/v1$/, times: 1, action: { kind: 'corrupt' } },
  );
  let opened = 0;
  await withClient(async (c) => {
    const open = async () => { opened++; return c.getBlob(proxy.host, 'faults/app', bigLayer.digest, { size: bigLayer.size }); };
    await c.pushBlob(proxy.host, 'faults/refetched', bigLayer.digest, bigLayer.size, open);
    assert.deepEqual(await digestOfStream(await c.getBlob(proxy.host, 'faults/refetched', bigLayer.digest)), bigLayer);
    assert.equal((await c.getManifest({ registry: proxy.host, repository: 'faults/app', digest: image.digest })).digest, image.digest);
    assert.equal((await c.getManifest({ registry: proxy.host, repository: 'faults/app', tag: 'v1' })).digest, image.digest);
  });
  assert.equal(opened, 2);
  assert.deepEqual(proxy.hits.filter((h) => h.method === 'GET' && /\/manifests\//.test(h.path)).map((h) => h.fault),
    ['corrupt', undefined, 'corrupt', undefined]);
  assert.deepEqual(retries().map((e) => e.reason.replace(/sha256:\w+/g, 'D').replace(/127\.0\.0\.1:\d+/g, 'H')), [
    'blob D of H/faults/app: digest mismatch: expected D, got D',
    'manifest of H/faults/app@D: digest mismatch: expected D, got D',
    'manifest of H/faults/app:v1 (digest reported by the registry): digest mismatch: expected D, got D',
  ]);
});

test('a catalog image whose layer arrives damaged once is extracted from scratch again', async () => {
  const p = pack();
  p.entry({ name: 'configs/pkg/catalog.json' }, '{"schema":"olm.package","name":"pkg"}');
  p.finalize();
  const tar = await readAll(p as unknown as Readable);
  const layer = gzipSync(tar);
  const work = await mkdtemp(join(tmpdir(), 'olm-mirror-faults-'));
  try {
    await withClient(async (c) => {
      const ref = { registry: proxy.host, repository: 'faults/catalog', tag: 'v1' };
      const layerDigest = await c.pushBlobBytes(ref.registry, ref.repository, layer);
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { [CONFIGS_LABEL]: '/configs' } },
        rootfs: { type: 'layers', diff_ids: [sha256Digest(tar)] } }));
      const configDigest = await c.pushBlobBytes(ref.registry, ref.repository, config);
      await c.putManifest(ref, { mediaType: MediaTypes.ociManifest, bytes: Buffer.from(JSON.stringify({
        schemaVersion: 2, mediaType: MediaTypes.ociManifest,
        config: { mediaType: MediaTypes.ociConfig, digest: configDigest, size: config.length },
        layers: [{ mediaType: MediaTypes.ociLayerGzip, digest: layerDigest, size: layer.length }],
      })) });
      proxy.hits.length = 0;
      proxy.rules.push({ method: 'GET', path: new RegExp(`/blobs/${layerDigest}$`), times: 1, action: { kind: 'corrupt' } });
      const pulled = await pullCatalogImage(new RegistryStores(c).source(ref), ref, { workDir: join(work, 'catalog') });
      assert.equal(await readFile(join(pulled.localPath, 'pkg', 'catalog.json'), 'utf8'), '{"schema":"olm.package","name":"pkg"}');
      assert.deepEqual(hitsOf('GET', new RegExp(`/blobs/${layerDigest}$`)).map((h) => h.fault), ['corrupt', undefined]);
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('an upload that fails for good abandons its source download quietly: no "resuming" from it', async () => {
  proxy.rules.push({ method: 'PATCH', path: /\/blobs\/uploads\//, action: { kind: 'status', status: 400 } });
  await withClient(async (c) => {
    const open = () => c.getBlob(proxy.host, 'faults/app', bigLayer.digest, { size: bigLayer.size });
    await assert.rejects(c.pushBlob(proxy.host, 'faults/abandoned', bigLayer.digest, bigLayer.size, open), /400 Bad Request/);
    // Let an abandoned download act, if it were to.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }, { monolithicUploadMaxBytes: MiB, uploadChunkBytes: MiB });
  assert.deepEqual(events.filter((e) => e.type === 'resume'), []);
  assert.equal(hitsOf('GET', new RegExp(`/blobs/${bigLayer.digest}$`)).length, 1, 'the source was not fetched again');
});

test('a verified download of another blob is not taken for the claimed one', async () => {
  const claimed = sha256Digest(Buffer.from('a blob nobody has'));
  await withClient(async (c) => {
    const small = { digest: image.layerDigests[0]!, size: (await c.blobSize(proxy.host, 'faults/app', image.layerDigests[0]!))! };
    await assert.rejects(c.pushBlob(proxy.host, 'faults/claimed', claimed, small.size, () => c.getBlob(proxy.host, 'faults/app', small.digest, { size: small.size })),
      (err: Error) => err instanceof DigestMismatchError && err.message.includes(`expected ${claimed}, got ${small.digest}`));
    assert.equal(await c.blobSize(proxy.host, 'faults/claimed', claimed), undefined);
    assert.equal(await c.blobSize(proxy.host, 'faults/claimed', small.digest), undefined);
  });
  assert.equal(proxy.hits.filter((h) => h.method === 'PUT').length, 0);
});

test('a damaged small blob that arrives before anyone reads it fails the reader, not the process', async () => {
  const small = { digest: image.layerDigests[0]!, size: 1024 };
  proxy.rules.push({ method: 'GET', path: new RegExp(`/blobs/${small.digest}$`), times: 1, action: { kind: 'corrupt' } });
  await withClient(async (c) => {
    const download = await c.getBlob(proxy.host, 'faults/app', small.digest, { size: (await c.blobSize(proxy.host, 'faults/app', small.digest))! });
    // The reader is busy elsewhere (an upload starting) while the whole blob arrives and fails its check.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await assert.rejects(readAll(download), (err: Error) => err instanceof DigestMismatchError && err.message.includes(`expected ${small.digest}`));
  });
});
