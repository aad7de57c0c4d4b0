// The OCI referrers API: distribution 2.8 has none (the client says so, and the tag schema's fallback is
// used); from a source that has it but no fallback tag, the fallback index is built at the destination.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { executePlan } from '../../src/mirror/execute.js';
import { mappingsFromArgs } from '../../src/mirror/mapping.js';
import { planMirror } from '../../src/mirror/plan.js';
import { MediaTypes } from '../../src/manifest/media-types.js';
import { parseReference, type ImageReference } from '../../src/reference/reference.js';
import { RegistryClient } from '../../src/registry/client.js';
import { parseReferrersIndex } from '../../src/registry/referrers.js';
import { RegistryStore, RegistryStores } from '../../src/transport/registry.js';
import type { ReferrerDescriptor } from '../../src/transport/store.js';
import { pushReferrer, tagFor } from '../support/cosign.js';
import { registryTestHooks } from '../support/registry.js';
import { rawGetManifest, seedImage } from '../support/seed.js';
import { blobExists, sha256, tagsOf } from './helpers.js';

const source = registryTestHooks();
const target = registryTestHooks();

test('distribution 2.8 has no referrers API: the client answers undefined', async () => {
  const image = await seedImage(source(), 'noapi/app', 'v1', { format: 'oci', seed: 'noapi' });
  const client = new RegistryClient({ insecure: true });
  try {
    assert.equal(await client.referrers(parseReference(`${source().host}/noapi/app@${image.digest}`)), undefined);
  } finally {
    await client.close();
  }
});

/**
 * A source registry that has the referrers API. distribution 2.8 has none, so this store answers it
 * for the one subject the test pushed, as an OCI 1.1 registry would; everything else is the real registry.
 */
class ReferrersApiStore extends RegistryStore {
  constructor(client: RegistryClient, registry: string, private readonly answers: ReadonlyMap<string, ReferrerDescriptor[]>) {
    super(client, registry);
  }

  override async referrers(ref: ImageReference): Promise<ReferrerDescriptor[]> {
    return this.answers.get(ref.digest!) ?? [];
  }
}

test('from a source with the referrers API and no fallback tag, the fallback index is written at the destination', async () => {
  const repo = 'api/app';
  const image = await seedImage(source(), repo, 'v1', { format: 'oci', seed: 'referrers-api' });
  const artifactType = 'application/vnd.example.signature.v1';
  const referrer = await pushReferrer(source(), repo, { digest: image.digest, mediaType: image.mediaType, size: image.manifest.length },
    artifactType, '{"signed":true}', { fallbackTag: false });
  assert.deepEqual(await tagsOf(source(), repo), ['v1'], 'the source has no fallback tag');

  const client = new RegistryClient({ insecure: true });
  try {
    const answers = new Map([[image.digest, [{ mediaType: MediaTypes.ociManifest, digest: referrer.digest, size: referrer.bytes.length, artifactType }]]]);
    const apiStore = new ReferrersApiStore(client, source().host, answers);
    const registries = new RegistryStores(client);
    const stores = { source: () => apiStore, destination: (ref: ImageReference) => registries.destination(ref) };
    const mappings = mappingsFromArgs([`${source().host}/${repo}:v1`, `${target().host}/${repo}`]);
    const plan = await planMirror(stores, mappings);
    assert.deepEqual(plan.failed, []);
    assert.deepEqual(plan.images.map((i) => [i.attachment, i.mapping.destination.tag]), [[undefined, 'v1'], ['referrer', tagFor(image.digest)]]);
    const result = await executePlan(plan);
    assert.deepEqual(result.failed, []);

    const fallback = await rawGetManifest(target(), repo, tagFor(image.digest));
    assert.deepEqual(JSON.parse(fallback.bytes.toString('utf8')), {
      schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [{ mediaType: MediaTypes.ociManifest, digest: referrer.digest, size: referrer.bytes.length, artifactType }],
    });
    assert.equal(sha256((await rawGetManifest(target(), repo, referrer.digest)).bytes), referrer.digest);
    for (const blob of referrer.blobDigests) assert.ok(await blobExists(target(), repo, blob), blob);

    // Again: the destination's fallback tag already is the built index.
    const again = await planMirror(stores, mappings);
    assert.deepEqual(again.images.map((i) => i.action), ['present', 'present']);
  } finally {
    await client.close();
  }
});

test('a referrers answer that is not an image index of descriptors is refused with the registry named', () => {
  const parse = (text: string) => parseReferrersIndex(text, 'listing referrers of r.example/a@sha256:…', 'r.example');
  assert.deepEqual(parse('{"schemaVersion":2,"manifests":[]}'), []);
  assert.throws(() => parse('<html>'), /listing referrers of r\.example\/a@sha256:…: the registry's answer is not JSON/);
  assert.throws(() => parse('{"schemaVersion":2}'), /is not an image index \(no "manifests" array\)/);
  assert.throws(() => parse('{"manifests":[{"mediaType":"x","size":1}]}'), /has no mediaType, digest and size in manifests\[0\]/);
  assert.throws(() => parse('{"manifests":[{"mediaType":"x","size":1,"digest":"sha256:12"}]}'), /has an invalid digest in manifests\[0\]/);
});
