// olm-mirror verify: finds a deleted blob and a retagged image at the destination, --repair fixes both.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { registryTestHooks } from '../support/registry.js';
import { rawRequest, seedImage } from '../support/seed.js';
import { skopeoInspectRaw } from '../support/skopeo.js';
import { runCli } from '../support/cli.js';
import { blobExists, sha256 } from '../mirror/helpers.js';

const source = registryTestHooks();
const target = registryTestHooks();

test('verify lists a deleted blob and a retagged image (exit 1); --repair re-mirrors them and verify passes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'olm-mirror-verify-'));
  const app = await seedImage(source(), 'verify/app', 'v1', { layerSizes: [3000, 4000], seed: 'verify-app' });
  const lib = await seedImage(source(), 'verify/lib', 'v1', { platforms: ['linux/amd64', 'linux/arm64'], seed: 'verify-lib' });
  const mapping = join(dir, 'mapping.txt');
  writeFileSync(mapping, [
    `${source().host}/verify/app:v1=${target().host}/verify/app:v1`,
    `${source().host}/verify/lib:v1=${target().host}/verify/lib:v1`,
  ].join('\n'));
  const mirrored = await runCli(['image', 'mirror', '--insecure', '-f', mapping]);
  assert.equal(mirrored.code, 0, mirrored.stderr);

  const intact = await runCli(['verify', '--insecure', dir]);
  assert.equal(intact.code, 0, intact.stderr);
  assert.match(intact.stderr, /verified 2 image\(s\): 2 intact, 0 missing/);

  // Drift: a layer of app disappears; lib:v1 is made to point at something else.
  const lost = app.layerDigests[1]!;
  await rawRequest(target(), 'verify/app', { method: 'DELETE', path: `/v2/verify/app/blobs/${lost}`, expect: [202] });
  const other = await seedImage(target(), 'verify/lib', 'v1', { seed: 'verify-other' });

  const drift = await runCli(['verify', '--insecure', '-f', mapping]);
  assert.equal(drift.code, 1, drift.stderr);
  assert.equal(drift.stdout, [
    `${target().host}/verify/app:v1: blob ${lost} is missing`,
    `${target().host}/verify/lib:v1: holds ${other.digest}, expected ${lib.digest} (from ${source().host}/verify/lib:v1)`,
    '',
  ].join('\n'));
  assert.match(drift.stderr, /verified 2 image\(s\): 0 intact, 2 missing, wrong or incomplete/);

  const repaired = await runCli(['verify', '--insecure', '-f', mapping, '--repair']);
  assert.equal(repaired.code, 0, repaired.stderr);
  assert.match(repaired.stderr, /repairing 2 image\(s\)/);
  assert.match(repaired.stderr, /verified 2 image\(s\): 2 intact/);
  assert.ok(await blobExists(target(), 'verify/app', lost));
  assert.equal(sha256(await skopeoInspectRaw(target(), 'verify/lib:v1')), lib.digest);
  assert.equal(sha256(await skopeoInspectRaw(target(), 'verify/app:v1')), app.digest);
});

test('verify without anything to check is a usage error', async () => {
  const run = await runCli(['verify']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /nothing to verify/);
});
