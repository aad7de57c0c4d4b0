// image mirror to and from disk: an OCI layout under source references, read back with digests
// intact; layouts written by skopeo; a run killed with SIGKILL completes on the next run.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ensureDiskSpace } from '../../src/mirror/disk-space.js';
import { executePlan } from '../../src/mirror/execute.js';
import { mappingsFromArgs } from '../../src/mirror/mapping.js';
import { planMirror } from '../../src/mirror/plan.js';
import { RegistryClient } from '../../src/registry/client.js';
import { RegistryStores } from '../../src/transport/registry.js';
import { MirrorStores } from '../../src/transport/resolve.js';
import { OciLayoutStore } from '../../src/transport/oci-layout/store.js';
import { cliPath, runCli } from '../support/cli.js';
import { registryTestHooks } from '../support/registry.js';
import { seedImage } from '../support/seed.js';
import { skopeoInspectRaw } from '../support/skopeo.js';
import { blobExists, sha256 } from './helpers.js';

const source = registryTestHooks();
const target = registryTestHooks();
const folder = (name: string) => mkdtempSync(join(tmpdir(), `olm-mirror-disk-${name}-`));

test('a layout written by skopeo is read with --from-dir', async () => {
  const image = await seedImage(source(), 'skopeo/app', 'v3', { format: 'oci', platforms: ['linux/amd64', 'linux/s390x'], seed: 'skopeo-layout' });
  const dir = folder('skopeo');
  await promisify(execFile)('skopeo', ['--insecure-policy', 'copy', '--all', '--quiet', '--src-tls-verify=false',
    `docker://${source().host}/skopeo/app:v3`, `oci:${dir}:v3`]);
  const run = await runCli(['image', 'mirror', '--insecure', '--from-dir', dir, `${source().host}/skopeo/app:v3`, `${target().host}/from-skopeo/app:v3`]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(sha256(await skopeoInspectRaw(target(), 'from-skopeo/app:v3')), image.digest);
});

test('SIGKILL during a mirror to disk: the same command completes it, writing only what was missing', async () => {
  const MiB = 1024 * 1024;
  const image = await seedImage(source(), 'kill/app', 'v1', { layerSizes: [2 * MiB, 96 * MiB], seed: 'kill' });
  const dir = folder('kill');
  const args = [cliPath, 'image', 'mirror', '--insecure', '--to-dir', dir, `${source().host}/kill/app:v1`, `${target().host}/kill/app:v1`];
  const authFile = join(dir, '..', `${dir.split('/').pop()}-auth.json`);
  writeFileSync(authFile, '{"auths":{}}');
  const child = spawn(process.execPath, args, { stdio: 'ignore', env: { ...process.env, REGISTRY_AUTH_FILE: authFile } });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const firstLayer = join(dir, 'blobs', 'sha256', image.layerDigests[0]!.slice(7));
  const secondLayer = join(dir, 'blobs', 'sha256', image.layerDigests[1]!.slice(7));
  // Killed once the small layer is complete and while the big one streams: one blob in, one not.
  const killed = await new Promise<boolean>((resolve) => {
    const poll = setInterval(() => {
      const done = [firstLayer, secondLayer].filter((f) => existsSync(f)).length;
      if (done === 1) {
        child.kill('SIGKILL');
        clearInterval(poll);
        resolve(true);
      } else if (done === 2 || child.exitCode !== null) {
        clearInterval(poll);
        resolve(false);
      }
    }, 5);
  });
  await exited;
  assert.ok(killed, 'the run was killed between its two layers');

  const again = await runCli(['image', 'mirror', '--insecure', '--to-dir', dir, `${source().host}/kill/app:v1`, `${target().host}/kill/app:v1`]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /blobs: [12] uploaded \(96\.\d+ MiB\)/, 'only the missing layer (and the config, if it was not in) were written again');
  const layout = await OciLayoutStore.open(dir);
  assert.deepEqual(await layout.validate(), [], 'every blob verifies and the image is complete');
  assert.equal(sha256((await layout.getManifest({ registry: source().host, repository: 'kill/app', tag: 'v1' })).bytes), image.digest);
  assert.equal(await blobExists(target(), 'kill/app', image.layerDigests[0]!), false, 'the destination registry was never written');
});

test('into a folder, a blob that came across frees its source connection while it is synced and named', async () => {
  await seedImage(source(), 'free/app', 'v1', { layerSizes: [300_000, 200_000], seed: 'free-slot' });
  const layout = await OciLayoutStore.open(folder('free'), { create: true });
  let copies = 0;
  let secondStarted!: () => void;
  const second = new Promise<void>((resolve) => { secondStarted = resolve; });
  let overlapped: boolean | undefined;
  const push = layout.pushBlob.bind(layout);
  // The first copy, with every byte written, waits before it returns (as a slow sync would) until another copy starts.
  layout.pushBlob = async (...args) => {
    const copy = ++copies;
    if (copy === 2) secondStarted();
    await push(...args);
    if (copy === 1) overlapped = await Promise.race([second.then(() => true), delay(5000).then(() => false)]);
  };
  const client = new RegistryClient({ insecure: true });
  try {
    const stores = new MirrorStores(new RegistryStores(client), { destination: layout });
    const plan = await planMirror(stores, mappingsFromArgs([`${source().host}/free/app:v1`, `${target().host}/free/app:v1`]));
    const result = await executePlan(plan, { maxPerRegistry: 1 });
    assert.deepEqual(result.failed.map((f) => f.error.message), []);
    assert.equal(copies, 3, 'config and two layers');
    assert.equal(overlapped, true, 'with one connection, the next copy started while the first one was being finished');
  } finally {
    await layout.close();
    await client.close();
  }
});

test('a mirror whose filesystem lacks the room fails before writing, saying how much is needed and free', async () => {
  const dir = folder('space');
  await assert.rejects(ensureDiskSpace(dir, Number.MAX_SAFE_INTEGER), /not enough room in .*: the mirror needs .* the filesystem has .* free; nothing was written/);
  await ensureDiskSpace(dir, 1);
});

// Last: it stops the source registry.
test('--to-dir keeps each source under its own reference; --from-dir, with the source stopped, mirrors them on with the same digests', async () => {
  const app = await seedImage(source(), 'disk/app', 'v1', { format: 'oci', seed: 'disk-app' });
  const multi = await seedImage(source(), 'disk/multi', 'v2', { format: 'oci', platforms: ['linux/amd64', 'linux/arm64'], seed: 'disk-multi' });
  const dir = folder('layout');
  const mapping = join(dir, '..', `${dir.split('/').pop()}-mapping.txt`);
  writeFileSync(mapping, [
    `${source().host}/disk/app:v1=${target().host}/mirrored/app:v1`,
    `${source().host}/disk/multi@${multi.digest}=${target().host}/mirrored/multi`,
  ].join('\n'));

  const plan = await runCli(['image', 'mirror', '--insecure', '-f', mapping, '--to-dir', dir, '--dry-run']);
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(plan.stderr, /blobs: \d+ to upload \(\d+(\.\d+)? KiB\)/, 'the dry run says how much will be written');
  assert.deepEqual(readdirSync(join(dir, 'blobs', 'sha256')), [], 'a dry run writes no blob');

  const toDisk = await runCli(['image', 'mirror', '--insecure', '-f', mapping, '--to-dir', dir]);
  assert.equal(toDisk.code, 0, toDisk.stderr);
  // One line per image as it is finished: in the order they finish.
  assert.deepEqual(toDisk.stdout.split('\n').sort(), ['', `${app.digest} ${source().host}/disk/app:v1`, `${multi.digest} ${source().host}/disk/multi`].sort());
  // skopeo reads them from the layout by their source references.
  const inspect = (ref: string) => promisify(execFile)('skopeo', ['inspect', '--raw', `oci:${dir}:${ref}`], { encoding: 'buffer' }).then((r) => r.stdout);
  assert.equal(sha256(await inspect(`${source().host}/disk/app:v1`)), app.digest);
  assert.equal(sha256(await inspect(`${source().host}/disk/multi@${multi.digest}`)), multi.digest);
  assert.deepEqual(await (await OciLayoutStore.open(dir)).validate(), []);

  await source().stop();
  const fromDisk = await runCli(['image', 'mirror', '--insecure', '-f', mapping, '--from-dir', dir]);
  assert.equal(fromDisk.code, 0, fromDisk.stderr);
  assert.equal(sha256(await skopeoInspectRaw(target(), 'mirrored/app:v1')), app.digest);
  assert.equal(sha256(await skopeoInspectRaw(target(), `mirrored/multi@${multi.digest}`)), multi.digest);
  for (const child of multi.children!) assert.equal(sha256(await skopeoInspectRaw(target(), `mirrored/multi@${child.digest}`)), child.digest);
});
