// The executor when the target changes under it or refuses part of the work: content that went
// missing after planning is written again, and a failed upload does not take its mounts down with it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { executePlan, type MirrorEvent } from '../../src/mirror/execute.js';
import { mappingsFromArgs } from '../../src/mirror/mapping.js';
import { planMirror } from '../../src/mirror/plan.js';
import { RegistryClient } from '../../src/registry/client.js';
import { RegistryStores } from '../../src/transport/registry.js';
import { startFaultProxy } from '../support/proxy.js';
import { registryTestHooks } from '../support/registry.js';
import { makeLayer, rawRequest, seedImage } from '../support/seed.js';
import { skopeoInspectRaw } from '../support/skopeo.js';
import { blobExists, mirrorCli, sha256, tagsOf } from './helpers.js';

const source = registryTestHooks();
const target = registryTestHooks();

test('a blob deleted from the target after planning is uploaded again and the manifest written', async () => {
  const shared = makeLayer('recovery-shared', 30_000);
  await seedImage(source(), 'recover/app', 'v1', { sharedLayers: [shared], seed: 'recover-v1' });
  const v2 = await seedImage(source(), 'recover/app', 'v2', { sharedLayers: [shared], seed: 'recover-v2' });
  const first = await mirrorCli([`${source().host}/recover/app:v1`, `${target().host}/recover/app`]);
  assert.equal(first.code, 0, first.stderr);

  const client = new RegistryClient({ insecure: true });
  try {
    const plan = await planMirror(new RegistryStores(client), mappingsFromArgs([`${source().host}/recover/app:v2`, `${target().host}/recover/app`]));
    const sharedDigest = v2.layerDigests[0]!;
    assert.equal(plan.blobs.find((b) => b.digest === sharedDigest)?.action, 'present', 'the plan relies on the layer being there');
    // Another party (garbage collection, a second run) removes it before the manifest is written.
    await rawRequest(target(), 'recover/app', { method: 'DELETE', path: `/v2/recover/app/blobs/${sharedDigest}`, expect: [202] });
    assert.equal(await blobExists(target(), 'recover/app', sharedDigest), false);

    const events: MirrorEvent[] = [];
    const result = await executePlan(plan, { onEvent: (e) => events.push(e) });
    assert.deepEqual(result.failed.map((f) => f.error.message), []);
    assert.equal(result.written.length, 1);
    assert.ok(events.some((e) => e.type === 'warning' && /MANIFEST_BLOB_UNKNOWN|blob unknown/i.test(e.message)), 'the retry is said');
    assert.ok(await blobExists(target(), 'recover/app', sharedDigest), 'the layer is back');
    assert.equal(sha256(await skopeoInspectRaw(target(), 'recover/app:v2')), v2.digest);
  } finally {
    await client.close();
  }
});

test('when the upload a mount waits for fails for good, the other repository uploads the blob itself', async () => {
  const image = await seedImage(source(), 'fallback/app', 'v1', { layerSizes: [20_000], seed: 'fallback' });
  // Repository "denied/app" refuses every upload (403 is not retried); "open/app" works.
  const proxy = await startFaultProxy(target(), [
    { method: 'POST', path: /^\/v2\/denied\/app\/blobs\/uploads/, action: { kind: 'status', status: 403 } },
  ]);
  const client = new RegistryClient({ insecure: true });
  try {
    // Planned as a whole, blobs are decided in mapping order: denied/app uploads, open/app mounts after it.
    const plan = await planMirror(new RegistryStores(client), mappingsFromArgs([
      `${source().host}/fallback/app:v1=${proxy.host}/denied/app:v1`,
      `${source().host}/fallback/app:v1=${proxy.host}/open/app:v1`,
    ]));
    assert.ok(plan.blobs.some((b) => b.repository === 'open/app' && b.action === 'mount' && b.after?.repository === 'denied/app'));
    const events: MirrorEvent[] = [];
    const result = await executePlan(plan, { continueOnError: true, onEvent: (e) => events.push(e) });
    assert.deepEqual(result.failed.map((f) => f.image.mapping.destination.repository), ['denied/app'], 'one image failed');
    assert.match(result.failed[0]!.error.message, /403/);
    assert.ok(events.some((e) => e.type === 'warning' && /uploading it into open\/app instead of mounting it/.test(e.message)));
    assert.deepEqual(result.written.map((i) => i.root.digest), [image.digest]);
    assert.equal(sha256(await skopeoInspectRaw(target(), 'open/app:v1')), image.digest);
    for (const layer of image.layerDigests) assert.ok(await blobExists(target(), 'open/app', layer));
    assert.deepEqual(await tagsOf(target(), 'denied/app'), []);
  } finally {
    await client.close();
    await proxy.stop();
  }
});
