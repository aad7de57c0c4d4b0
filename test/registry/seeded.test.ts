// The client reads images pushed by the independent test harness (raw HTTP), and what the client
// pushes reads back byte for byte over that independent path: both behind Bearer token auth.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CredentialStore } from '../../src/auth/credentials.js';
import { sha256Digest } from '../../src/manifest/digest.js';
import { parseManifest } from '../../src/manifest/manifest.js';
import { MediaTypes } from '../../src/manifest/media-types.js';
import { RegistryClient } from '../../src/registry/client.js';
import { registryTestHooks } from '../support/registry.js';
import { rawGetBlob, rawGetManifest, seedImage } from '../support/seed.js';
import { blob, digestOfStream, imageManifest, indexManifest } from './helpers.js';

const registry = registryTestHooks({ variant: 'token' });

async function withClient(fn: (c: RegistryClient) => Promise<void>): Promise<void> {
  const c = new RegistryClient({ credentials: await CredentialStore.load({ authFile: registry().authFile }), caFiles: [registry().caFile!] });
  try {
    await fn(c);
  } finally {
    await c.close();
  }
}

test('seeded multi-platform Docker list and OCI image: digests, children and blobs as pushed', async () => {
  await withClient(async (c) => {
    const reg = registry();
    const list = await seedImage(reg, 'seeded/multi', 'v1', { format: 'docker', platforms: ['linux/amd64', 'linux/arm64/v8'] });
    const top = await c.getManifest({ registry: reg.host, repository: 'seeded/multi', tag: 'v1' });
    assert.equal(top.digest, list.digest);
    assert.equal(top.mediaType, MediaTypes.dockerManifestList);
    assert.deepEqual(top.bytes, list.manifest);
    const parsed = parseManifest(top.bytes, top.mediaType);
    assert.equal(parsed.kind, 'index');
    assert.deepEqual(parsed.kind === 'index' && parsed.manifests.map((m) => m.digest), list.children!.map((ch) => ch.digest));

    const arm = await c.getManifest({ registry: reg.host, repository: 'seeded/multi', digest: list.children![1]!.digest });
    const image = parseManifest(arm.bytes, arm.mediaType);
    assert.equal(image.kind, 'image');
    if (image.kind !== 'image') return;
    for (const layer of [image.config, ...image.layers]) {
      assert.equal(await c.blobSize(reg.host, 'seeded/multi', layer.digest), layer.size);
      assert.deepEqual(await digestOfStream(await c.getBlob(reg.host, 'seeded/multi', layer.digest, { size: layer.size })),
        { digest: layer.digest, size: layer.size });
    }

    const oci = await seedImage(reg, 'seeded/oci', 'v2', { format: 'oci' });
    assert.deepEqual(await c.headManifest({ registry: reg.host, repository: 'seeded/oci', tag: 'v2' }),
      { mediaType: MediaTypes.ociManifest, digest: oci.digest, size: oci.manifest.length });
  });
});

test('what the client pushes reads back identically over raw HTTP', async () => {
  await withClient(async (c) => {
    const reg = registry();
    const config = blob('{"os":"linux","architecture":"amd64"}');
    const layer = blob('client-pushed layer');
    for (const b of [config, layer]) await c.pushBlobBytes(reg.host, 'client/pushed', b.bytes);
    assert.deepEqual(await rawGetBlob(reg, 'client/pushed', layer.digest), layer.bytes);
    const child = imageManifest('oci', config, [layer]);
    await c.putManifest({ registry: reg.host, repository: 'client/pushed', digest: sha256Digest(child.bytes) }, child);
    const index = indexManifest('oci', [{ ...child, platform: 'linux/amd64' }]);
    const digest = await c.putManifest({ registry: reg.host, repository: 'client/pushed', tag: 'latest' }, index);
    assert.deepEqual(await rawGetManifest(reg, 'client/pushed', 'latest'), { mediaType: index.mediaType, digest, bytes: index.bytes });
  });
});
