// The harness itself: every registry variant starts, challenges as a real registry would, accepts seeded
// images that read back identically through raw HTTP and through skopeo, and stop() leaves nothing behind.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { repoRoot } from '../support/paths.js';
import { startRegistry, type RegistryVariant, type TestRegistry } from '../support/registry.js';
import { makeLayer, rawGetManifest, rawBlobExists, seedImage, sha256 } from '../support/seed.js';
import { skopeoCopyAll, skopeoInspectRaw } from '../support/skopeo.js';

async function anonymousGet(reg: TestRegistry, path: string): Promise<{ status: number; wwwAuthenticate?: string; body: string }> {
  const dispatcher = new Agent({ connect: reg.caFile ? { ca: readFileSync(reg.caFile) } : {} });
  try {
    const res = await request(`${reg.url}${path}`, { dispatcher });
    const header = res.headers['www-authenticate'];
    return { status: res.statusCode, wwwAuthenticate: Array.isArray(header) ? header[0] : header, body: await res.body.text() };
  } finally {
    await dispatcher.close();
  }
}

/** Running, as opposed to gone or a zombie (an orphan's exit is reaped by init whenever init gets to it). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false; // reaped in between
  }
}

const expectedChallenge: Record<RegistryVariant, RegExp | undefined> = {
  plain: undefined,
  tls: undefined,
  htpasswd: /^Basic realm="olm-mirror-test"$/,
  token: /^Bearer realm="https:\/\/127\.0\.0\.1:\d+\/token",service="olm-mirror-test-registry"$/,
};

for (const variant of ['plain', 'tls', 'htpasswd', 'token'] as const) {
  test(`${variant} registry: challenge, seed, read back, stop`, async () => {
    const reg = await startRegistry({ variant });
    try {
      assert.equal(reg.url, `${variant === 'plain' ? 'http' : 'https'}://${reg.host}`);
      const v2 = await anonymousGet(reg, '/v2/');
      const challenge = expectedChallenge[variant];
      if (challenge) {
        assert.equal(v2.status, 401);
        assert.match(v2.wwwAuthenticate ?? '', challenge);
        assert.equal(JSON.parse(readFileSync(reg.authFile, 'utf8')).auths[reg.host].auth,
          Buffer.from(`${reg.username}:${reg.password}`).toString('base64'));
      } else {
        assert.equal(v2.status, 200);
        assert.deepEqual(JSON.parse(readFileSync(reg.authFile, 'utf8')), { auths: {} });
      }

      const shared = makeLayer('selftest-shared', 3000);
      const single = await seedImage(reg, 'selftest/single', 'v1', { sharedLayers: [shared] });
      const multi = await seedImage(reg, 'selftest/multi', 'v1', { format: 'oci', platforms: ['linux/amd64', 'linux/arm64/v8'], sharedLayers: [shared] });
      assert.equal(single.ref, `${reg.host}/selftest/single:v1`);
      assert.equal(single.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
      assert.equal(single.layerDigests.length, 3);
      assert.equal(single.layerDigests[0], sha256(shared));
      assert.equal(multi.mediaType, 'application/vnd.oci.image.index.v1+json');
      assert.deepEqual(multi.children?.map((c) => c.platform), ['linux/amd64', 'linux/arm64/v8']);
      assert.equal(multi.layerDigests.length, 5, 'the shared layer is counted once, each platform has 2 own layers');
      assert.ok(await rawBlobExists(reg, 'selftest/multi', sha256(shared)));

      const back = await rawGetManifest(reg, 'selftest/multi', multi.digest);
      assert.equal(back.digest, multi.digest);
      assert.ok(back.bytes.equals(multi.manifest));
      const child = await rawGetManifest(reg, 'selftest/multi', multi.children![1]!.digest);
      assert.equal(child.mediaType, 'application/vnd.oci.image.manifest.v1+json');

      const viaSkopeo = await skopeoInspectRaw(reg, `selftest/single@${single.digest}`);
      assert.equal(sha256(viaSkopeo), single.digest);
      assert.equal(sha256(await skopeoInspectRaw(reg, 'selftest/multi:v1')), multi.digest);
    } finally {
      await reg.stop();
    }
    assert.equal(existsSync(reg.storageDir), false, 'stop() removes the temp dir');
    assert.equal(processAlive(reg.pid), false, 'stop() ends docker-registry');
    await assert.rejects(anonymousGet(reg, '/v2/'));
  });
}

test('seeding is deterministic and big layers stream', async () => {
  const reg = await startRegistry();
  try {
    const a = await seedImage(reg, 'det/a', 'v1', { seed: 'same', layerSizes: [100, 3 * 1024 * 1024] });
    const b = await seedImage(reg, 'det/b', 'v1', { seed: 'same', layerSizes: [100, 3 * 1024 * 1024] });
    const c = await seedImage(reg, 'det/c', 'v1', { seed: 'other', layerSizes: [100, 3 * 1024 * 1024] });
    assert.equal(a.digest, b.digest);
    assert.notEqual(a.digest, c.digest);
    const layers = JSON.parse(a.manifest.toString()).layers as { size: number }[];
    assert.equal(layers[1]!.size, 3 * 1024 * 1024);
  } finally {
    await reg.stop();
  }
});

test('skopeoCopyAll copies every platform between registries with digests preserved', async () => {
  const [src, dest] = await Promise.all([startRegistry({ variant: 'htpasswd' }), startRegistry({ variant: 'plain' })]);
  try {
    const image = await seedImage(src, 'copy/src', 'v1', { platforms: ['linux/amd64', 'linux/s390x'] });
    await skopeoCopyAll(src, 'copy/src:v1', dest, 'copy/dest:v1');
    assert.equal((await rawGetManifest(dest, 'copy/dest', 'v1')).digest, image.digest);
    for (const child of image.children!) assert.equal((await rawGetManifest(dest, 'copy/dest', child.digest)).digest, child.digest);
  } finally {
    await Promise.all([src.stop(), dest.stop()]);
  }
});

test('raw helpers name the request, the status and the registry reply', async () => {
  const reg = await startRegistry();
  try {
    await assert.rejects(rawGetManifest(reg, 'nope/nothing', 'v1'),
      /GET \/v2\/nope\/nothing\/manifests\/v1 on 127\.0\.0\.1:\d+ answered HTTP 404 \(expected 200\): .*"MANIFEST_UNKNOWN"/);
  } finally {
    await reg.stop();
  }
});

test('a process that forgets stop() still leaves no registry or temp dir behind', async () => {
  const registryModule = `${repoRoot}/dist/test/support/registry.js`;
  const script = `const { startRegistry } = await import(${JSON.stringify(registryModule)});
    const reg = await startRegistry({ variant: 'token' });
    console.log(JSON.stringify({ pid: reg.pid, storageDir: reg.storageDir }));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
  const { pid, storageDir } = JSON.parse(stdout) as { pid: number; storageDir: string };
  assert.equal(processAlive(pid), false);
  assert.equal(existsSync(storageDir), false);
});
