// Signatures go into a mirror to disk and come back from it: from the layout, and from archive segments.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { cp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { mappingsFromArgs } from '../../src/mirror/mapping.js';
import { RegistryClient } from '../../src/registry/client.js';
import { RegistryStores } from '../../src/transport/registry.js';
import { mirrorImages, type DiskOptions } from '../../src/workflows/image-mirror.js';
import { generateCosignKey, pushCosignArtifact, pushCosignSignature } from '../support/cosign.js';
import { registryTestHooks } from '../support/registry.js';
import { seedImage } from '../support/seed.js';
import { skopeoInspectRaw } from '../support/skopeo.js';
import { sha256, tagsOf } from './helpers.js';

const source = registryTestHooks();
const target = registryTestHooks();

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString('utf8');
    callback();
  }
}

async function mirror(args: string[], disk: DiskOptions): Promise<string> {
  const client = new RegistryClient({ insecure: true });
  const streams = { stdout: new Sink(), stderr: new Sink() };
  try {
    const outcome = await mirrorImages(new RegistryStores(client), mappingsFromArgs(args), disk, streams);
    assert.equal(outcome.failures, 0, streams.stderr.text);
    return streams.stderr.text;
  } finally {
    await client.close();
  }
}

for (const archived of [false, true]) {
  test(`signatures of a list and its children go to disk and come back${archived ? ' from archive segments' : ''}`, async () => {
    const repo = `disk/${archived ? 'archived' : 'layout'}`;
    const image = await seedImage(source(), repo, 'v1', { format: 'oci', platforms: ['linux/amd64', 'linux/arm64'], seed: repo });
    const key = generateCosignKey().privateKey;
    const attached = [
      await pushCosignSignature(source(), repo, image.digest, key),
      await pushCosignSignature(source(), repo, image.children![1]!.digest, key),
      await pushCosignArtifact(source(), repo, image.digest, '.sbom', 'text/spdx+json', '{"spdxVersion":"SPDX-2.3"}'),
    ];
    const dir = mkdtempSync(join(tmpdir(), 'olm-mirror-signatures-disk-'));
    const toDisk = await mirror([`${source().host}/${repo}:v1`, `${target().host}/${repo}`], { toDir: dir, ...(archived ? { archiveSize: 1024 * 1024 } : {}) });
    assert.match(toDisk, /attached artifacts among them: 2 signatures, 1 SBOM \(3 mirrored/);

    // The far side: the source registry is not asked (every source is read from the folder).
    const fromDir = archived ? await onlySegments(dir) : dir;
    const fromDisk = await mirror([`${source().host}/${repo}:v1`, `${target().host}/${repo}`], { fromDir });
    assert.match(fromDisk, /attached artifacts among them: 2 signatures, 1 SBOM \(3 mirrored/);
    assert.equal(sha256(await skopeoInspectRaw(target(), `${repo}:v1`)), image.digest);
    for (const a of attached) assert.equal(sha256(await skopeoInspectRaw(target(), `${repo}:${a.tag}`)), a.digest, a.tag);
    assert.deepEqual((await tagsOf(target(), repo)).sort(), ['v1', ...attached.map((a) => a.tag)].sort());
  });
}

/** A folder holding only the archive's segments and records, as carried across the air gap. */
async function onlySegments(dir: string): Promise<string> {
  const carried = mkdtempSync(join(tmpdir(), 'olm-mirror-signatures-carried-'));
  for (const name of await readdir(dir)) {
    if (name !== 'oci-layout' && name !== 'index.json' && name !== 'blobs') await cp(join(dir, name), join(carried, name), { recursive: true });
  }
  return carried;
}
