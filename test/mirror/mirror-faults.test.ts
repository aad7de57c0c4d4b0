// image mirror when the source misbehaves (fault proxy in front of a real registry): corrupted
// content is refused and never reaches the target; broken downloads and 503s are survived.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startFaultProxy } from '../support/proxy.js';
import { registryTestHooks } from '../support/registry.js';
import { seedImage } from '../support/seed.js';
import { skopeoInspectRaw } from '../support/skopeo.js';
import { blobExists, mirrorCli, sha256, tagsOf } from './helpers.js';

const source = registryTestHooks();
const target = registryTestHooks();

test('a blob served corrupted is refused and never pushed: no blob, no tag at the target', async () => {
  const image = await seedImage(source(), 'corrupt/app', 'v1', { layerSizes: [200_000], seed: 'corrupt' });
  const layer = image.layerDigests[0];
  const proxy = await startFaultProxy(source(), [{ method: 'GET', path: new RegExp(`/blobs/${layer}`), action: { kind: 'corrupt' } }]);
  try {
    const run = await mirrorCli([`${proxy.host}/corrupt/app:v1`, `${target().host}/corrupt/app`]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`error: ${proxy.host}/corrupt/app:v1 -> ${target().host}/corrupt/app:v1: .*${layer}.*digest mismatch`));
    assert.equal(run.stdout, '');
    assert.ok(proxy.hits.some((h) => h.fault === 'corrupt'), 'the fault was applied');
    assert.equal(await blobExists(target(), 'corrupt/app', layer), false, 'the corrupted layer must not be in the target');
    assert.deepEqual(await tagsOf(target(), 'corrupt/app'), []);
  } finally {
    await proxy.stop();
  }
});

test('a download cut midway and a 503 are survived: the image arrives intact', async () => {
  const image = await seedImage(source(), 'flaky/app', 'v1', { layerSizes: [400_000, 2048], seed: 'flaky' });
  const [big, small] = image.layerDigests;
  const proxy = await startFaultProxy(source(), [
    { method: 'GET', path: new RegExp(`/blobs/${big}`), times: 1, action: { kind: 'cut', afterBytes: 100_000 } },
    { method: 'GET', path: new RegExp(`/blobs/${small}`), times: 1, action: { kind: 'status', status: 503 } },
  ]);
  try {
    const run = await mirrorCli([`${proxy.host}/flaky/app:v1`, `${target().host}/flaky/app`]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `${image.digest} ${target().host}/flaky/app:v1\n`);
    assert.equal(sha256(await skopeoInspectRaw(target(), 'flaky/app:v1')), image.digest);
    assert.ok(await blobExists(target(), 'flaky/app', big));
    assert.equal(proxy.hits.filter((h) => h.fault).length, 2, 'both faults were applied');
  } finally {
    await proxy.stop();
  }
});
