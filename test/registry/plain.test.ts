// Registry client against a real plain-HTTP registry: HTTP fallback, manifests of all four media
// types, blobs (monolithic, chunked), mounts, tags and the errors users see.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { DigestMismatchError, sha256Digest } from '../../src/manifest/digest.js';
import { parseManifest } from '../../src/manifest/manifest.js';
import { RegistryClient, ManifestNotFoundError, RegistryError, type ClientEvent } from '../../src/registry/client.js';
import { startTcpFaultProxy } from '../support/proxy.js';
import { registryTestHooks } from '../support/registry.js';
import { blob, digestOfStream, imageManifest, indexManifest, readAll, streamedBlob } from './helpers.js';

const registry = registryTestHooks({ variant: 'plain' });
const MiB = 1024 * 1024;

function client(events: ClientEvent[] = [], extra: ConstructorParameters<typeof RegistryClient>[0] = {}): RegistryClient {
  return new RegistryClient({ insecure: true, retryBaseDelayMs: 10, onEvent: (e) => events.push(e), ...extra });
}

test('insecure client falls back to plain HTTP once and says so', async () => {
  const events: ClientEvent[] = [];
  const c = client(events);
  try {
    const host = registry().host;
    assert.equal(await c.blobSize(host, 'nothing/here', sha256Digest(Buffer.from('x'))), undefined);
    assert.equal(await c.headManifest({ registry: host, repository: 'nothing/here', tag: 'v1' }), undefined);
    const fallbacks = events.filter((e) => e.type === 'fallback');
    assert.equal(fallbacks.length, 1);
    assert.deepEqual({ ...fallbacks[0], reason: undefined }, { type: 'fallback', registry: host, from: 'https', to: 'http', reason: undefined });
  } finally {
    await c.close();
  }
});

test('a strict client refuses plain HTTP with a hint about --insecure', async () => {
  const c = new RegistryClient({ retries: 0 });
  try {
    await assert.rejects(c.getManifest({ registry: registry().host, repository: 'a/b', tag: 'v1' }), (err: RegistryError) => {
      assert.ok(err instanceof RegistryError);
      assert.match(err.message, /pulling manifest 127\.0\.0\.1:\d+\/a\/b:v1: /);
      assert.match(err.message, /--insecure/);
      return true;
    });
  } finally {
    await c.close();
  }
});

test('manifests of all four media types round-trip byte for byte, digests preserved', async () => {
  const c = client();
  try {
    const host = registry().host;
    const repository = 'roundtrip/app';
    const config = blob('{"architecture":"amd64","os":"linux"}');
    const layer = blob('layer one');
    for (const b of [config, layer]) assert.equal(await c.pushBlobBytes(host, repository, b.bytes), b.digest);

    const docker = imageManifest('docker', config, [layer]);
    const oci = imageManifest('oci', config, [layer]);
    const list = indexManifest('docker', [{ ...docker, platform: 'linux/amd64' }]);
    const index = indexManifest('oci', [{ ...oci, platform: 'linux/arm64/v8' }]);
    for (const [tag, m] of [['docker', docker], ['oci', oci], ['list', list], ['index', index]] as const) {
      const digest = await c.putManifest({ registry: host, repository, tag }, m);
      assert.equal(digest, sha256Digest(m.bytes));
      const byTag = await c.getManifest({ registry: host, repository, tag });
      assert.deepEqual(byTag, { mediaType: m.mediaType, digest, bytes: m.bytes });
      const byDigest = await c.getManifest({ registry: host, repository, digest });
      assert.equal(byDigest.digest, digest);
      assert.deepEqual(await c.headManifest({ registry: host, repository, tag }), { mediaType: m.mediaType, digest, size: m.bytes.length });
      assert.equal(parseManifest(byTag.bytes, byTag.mediaType).mediaType, m.mediaType);
    }
    // A manifest pushed by digest only (as children of lists are).
    const child = imageManifest('oci', config, []);
    const childDigest = sha256Digest(child.bytes);
    assert.equal(await c.putManifest({ registry: host, repository, digest: childDigest }, child), childDigest);
    assert.deepEqual((await c.listTags(host, repository)).sort(), ['docker', 'index', 'list', 'oci']);
  } finally {
    await c.close();
  }
});

test('the catalog: every repository within the page bound, undefined beyond it', async () => {
  const c = client();
  try {
    const host = registry().host;
    for (const repository of ['catalog/a', 'catalog/b']) await c.pushBlobBytes(host, repository, Buffer.from(repository));
    const repositories = await c.listRepositories(host, 1);
    assert.ok(repositories !== undefined && ['catalog/a', 'catalog/b'].every((r) => repositories.includes(r)), String(repositories));
    assert.equal(await c.listRepositories(host, 0), undefined, 'one page is more than none');
  } finally {
    await c.close();
  }
});

test('missing manifests and blobs: undefined from HEAD, clear errors from GET and PUT', async () => {
  const c = client();
  try {
    const host = registry().host;
    await c.pushBlobBytes(host, 'errors/app', Buffer.from('exists'));
    await assert.rejects(c.getManifest({ registry: host, repository: 'errors/app', tag: 'nope' }), (err: Error) => {
      assert.ok(err instanceof ManifestNotFoundError);
      assert.equal(err.message, `image ${host}/errors/app:nope not found (404 MANIFEST_UNKNOWN: manifest unknown)`);
      return true;
    });
    const missing = blob('never pushed');
    const m = imageManifest('docker', missing, []);
    await assert.rejects(c.putManifest({ registry: host, repository: 'errors/app', tag: 'v1' }, m), (err: Error) => {
      assert.ok(err instanceof RegistryError);
      assert.equal(err.status, 400);
      assert.equal(err.code, 'MANIFEST_BLOB_UNKNOWN');
      assert.equal(err.message,
        `pushing manifest ${host}/errors/app:v1: 400 Bad Request: MANIFEST_BLOB_UNKNOWN: blob unknown to registry (${missing.digest})`);
      return true;
    });
    await assert.rejects(c.getBlob(host, 'errors/app', missing.digest), /blob sha256:[0-9a-f]{64} not found in .*errors\/app \(404 BLOB_UNKNOWN: blob unknown to registry\)/);
  } finally {
    await c.close();
  }
});

test('small blob: monolithic upload, HEAD size, verified download', async () => {
  const c = client();
  try {
    const host = registry().host;
    const data = blob('x'.repeat(100_000));
    await c.pushBlob(host, 'blobs/small', data.digest, data.size, async () => Readable.from([data.bytes]));
    assert.equal(await c.blobSize(host, 'blobs/small', data.digest), data.size);
    assert.deepEqual(await readAll(await c.getBlob(host, 'blobs/small', data.digest, { size: data.size })), data.bytes);
  } finally {
    await c.close();
  }
});

test('big blob: chunked upload streamed in slices, downloaded and verified', async () => {
  const c = client([], { uploadChunkBytes: 8 * MiB });
  try {
    const host = registry().host;
    const big = streamedBlob(20 * MiB + 12345, 1);
    let opened = 0;
    await c.pushBlob(host, 'blobs/big', big.digest, big.size, async () => { opened++; return big.open(); });
    assert.equal(opened, 1);
    assert.equal(await c.blobSize(host, 'blobs/big', big.digest), big.size);
    assert.deepEqual(await digestOfStream(await c.getBlob(host, 'blobs/big', big.digest, { size: big.size })),
      { digest: big.digest, size: big.size });
  } finally {
    await c.close();
  }
});

test('an upload whose source does not match its digest is never completed', async () => {
  const c = client();
  try {
    const host = registry().host;
    const claimed = blob('what we promised');
    const other = Buffer.from('what the source gave');
    await assert.rejects(c.pushBlob(host, 'blobs/liar', claimed.digest, other.length, async () => Readable.from([other])),
      (err: Error) => err instanceof DigestMismatchError && err.message.includes(`expected ${claimed.digest}, got ${sha256Digest(other)}`));
    const big = streamedBlob(9 * MiB, 2);
    const wrongDigest = sha256Digest(Buffer.from('not it'));
    await assert.rejects(c.pushBlob(host, 'blobs/liar', wrongDigest, big.size, async () => big.open()), DigestMismatchError);
    // A source shorter than announced fails too.
    await assert.rejects(c.pushBlob(host, 'blobs/liar', big.digest, big.size + 1, async () => big.open()), /size mismatch/);
    for (const digest of [claimed.digest, sha256Digest(other), wrongDigest, big.digest]) {
      assert.equal(await c.blobSize(host, 'blobs/liar', digest), undefined);
    }
  } finally {
    await c.close();
  }
});

test('cross-repository mount: true when the blob is there, false (and no dangling upload) when not', async () => {
  const c = client();
  try {
    const host = registry().host;
    const shared = blob('shared layer');
    await c.pushBlobBytes(host, 'mount/source', shared.bytes);
    assert.equal(await c.mountBlob(host, 'mount/target', shared.digest, 'mount/source'), true);
    assert.equal(await c.blobSize(host, 'mount/target', shared.digest), shared.size);
    const absent = blob('absent');
    assert.equal(await c.mountBlob(host, 'mount/other', absent.digest, 'mount/source'), false);
    assert.equal(await c.blobSize(host, 'mount/other', absent.digest), undefined);
  } finally {
    await c.close();
  }
});

test('uploads fed by downloads from the same registry do not starve each other of connections', { timeout: 30_000 }, async () => {
  const c = client([], { maxConnectionsPerRegistry: 2, uploadChunkBytes: 4 * MiB });
  try {
    const host = registry().host;
    const blobs = [streamedBlob(10 * MiB, 11), streamedBlob(10 * MiB, 12), streamedBlob(10 * MiB, 13)];
    await Promise.all(blobs.map((b) => c.pushBlob(host, 'same/source', b.digest, b.size, async () => b.open())));
    // Each copy holds a download open while it uploads: with 2 connections shared by both, they would deadlock.
    await Promise.all(blobs.map((b) => c.pushBlob(host, 'same/copy', b.digest, b.size,
      () => c.getBlob(host, 'same/source', b.digest, { size: b.size }))));
    for (const b of blobs) assert.equal(await c.blobSize(host, 'same/copy', b.digest), b.size);
  } finally {
    await c.close();
  }
});

test('connections are kept open across lookups and uploads: no more than the pools hold', async () => {
  const relay = await startTcpFaultProxy({ target: registry() });
  const c = client([], { maxConnectionsPerRegistry: 2, monolithicUploadMaxBytes: MiB, uploadChunkBytes: MiB });
  try {
    const small = Array.from({ length: 12 }, (_, i) => blob(`keep-alive blob ${i}`));
    const big = streamedBlob(3 * MiB, 21);
    await Promise.all([
      // Each: a HEAD that finds nothing, then POST and PUT.
      ...small.map((b) => c.pushBlobBytes(relay.host, 'keepalive/app', b.bytes)),
      c.pushBlob(relay.host, 'keepalive/app', big.digest, big.size, async () => big.open()),
      c.headManifest({ registry: relay.host, repository: 'keepalive/app', tag: 'missing' }),
    ]);
    for (const b of [...small, big]) assert.equal(await c.blobSize(relay.host, 'keepalive/app', b.digest), b.size);
    // The HTTPS attempt of the first contact, then at most 2 connections for reads and 2 for writes.
    assert.ok(relay.connections <= 5, `${relay.connections} connections`);
  } finally {
    await c.close();
    await relay.stop();
  }
});
