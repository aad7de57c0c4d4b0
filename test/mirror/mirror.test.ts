// image mirror against real registries (plain HTTP): digests preserved, filtering, dedupe, re-runs.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { mappingsFromArgs } from '../../src/mirror/mapping.js';
import { executePlan } from '../../src/mirror/execute.js';
import { planMirror } from '../../src/mirror/plan.js';
import { RegistryStores } from '../../src/transport/registry.js';
import { parseManifest, platformString } from '../../src/manifest/manifest.js';
import { RegistryClient } from '../../src/registry/client.js';
import { registryTestHooks } from '../support/registry.js';
import { makeLayer, seedImage } from '../support/seed.js';
import { skopeoInspectRaw } from '../support/skopeo.js';
import { blobExists, mirrorCli, repositoriesOf, sha256, tagsOf } from './helpers.js';

const source = registryTestHooks();
const target = registryTestHooks();

test('a single-arch image arrives with the source digest; stdout names digest and destination', async () => {
  const src = await seedImage(source(), 'single/app', 'v1', { format: 'docker', seed: 'single' });
  const run = await mirrorCli([`${source().host}/single/app:v1`, `${target().host}/single/app`]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, `${src.digest} ${target().host}/single/app:v1\n`);
  assert.equal(sha256(await skopeoInspectRaw(target(), 'single/app:v1')), src.digest);
  for (const layer of src.layerDigests) assert.ok(await blobExists(target(), 'single/app', layer), `layer ${layer} missing`);
  assert.match(run.stderr, /info: images: 1 mirrored \(1 pushed, 0 only tagged\), 0 skipped .*, 0 failed/);
});

for (const format of ['docker', 'oci'] as const) {
  test(`a ${format === 'docker' ? 'Docker manifest list' : 'OCI index'} arrives whole, with the source digest`, async () => {
    const repo = `multi/${format}`;
    const src = await seedImage(source(), repo, 'v1', { format, platforms: ['linux/amd64', 'linux/arm64', 'linux/ppc64le'], seed: format });
    const run = await mirrorCli([`${source().host}/${repo}:v1=${target().host}/${repo}:v1`]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `${src.digest} ${target().host}/${repo}:v1\n`);
    assert.equal(sha256(await skopeoInspectRaw(target(), `${repo}:v1`)), src.digest);
    for (const child of src.children!) {
      assert.equal(sha256(await skopeoInspectRaw(target(), `${repo}@${child.digest}`)), child.digest, child.platform);
    }
  });
}

test('--filter-by-os linux/arm64 pushes only that image and says the digest changed', async () => {
  const src = await seedImage(source(), 'filter/one', 'v1', { platforms: ['linux/amd64', 'linux/arm64'], seed: 'filter-one' });
  const arm = src.children!.find((c) => c.platform === 'linux/arm64')!;
  const run = await mirrorCli([`${source().host}/filter/one:v1`, `${target().host}/filter/one`], { filterByOs: 'linux/arm64' });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, `${arm.digest} ${target().host}/filter/one:v1\n`);
  assert.match(run.stderr, new RegExp(`warning: .*filter/one:v1: the digest changes from ${src.digest} to ${arm.digest}: only linux/arm64 matches`));
  const pushed = await skopeoInspectRaw(target(), 'filter/one:v1');
  assert.equal(sha256(pushed), arm.digest);
  assert.equal(parseManifest(pushed).kind, 'image');
});

test('--filter-by-os keeping two of three entries pushes a new, smaller list; --keep-manifest-list keeps a list of one', async () => {
  await seedImage(source(), 'filter/two', 'v1', { platforms: ['linux/amd64', 'linux/arm64', 'linux/s390x'], seed: 'filter-two' });
  const run = await mirrorCli([`${source().host}/filter/two:v1`, `${target().host}/filter/two`], { filterByOs: '^linux/(amd64|arm64)$' });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /manifest list filtered to linux\/amd64, linux\/arm64 \(2 of 3 entries\)/);
  const list = parseManifest(await skopeoInspectRaw(target(), 'filter/two:v1'));
  assert.equal(list.kind, 'index');
  assert.deepEqual(list.kind === 'index' && list.manifests.map((d) => platformString(d.platform!)), ['linux/amd64', 'linux/arm64']);

  const kept = await mirrorCli([`${source().host}/filter/two:v1`, `${target().host}/filter/kept`], { filterByOs: 's390x', keepManifestList: true });
  assert.equal(kept.code, 0, kept.stderr);
  const one = parseManifest(await skopeoInspectRaw(target(), 'filter/kept:v1'));
  assert.deepEqual(one.kind === 'index' && one.manifests.map((d) => platformString(d.platform!)), ['linux/s390x']);
});

test('a mapping file with comments and blank lines works; a second run uploads nothing', async () => {
  const a = await seedImage(source(), 'file/a', 'v1', { seed: 'file-a' });
  const b = await seedImage(source(), 'file/b', 'v2', { platforms: ['linux/amd64', 'linux/arm64'], seed: 'file-b' });
  const dir = mkdtempSync(join(tmpdir(), 'olm-mirror-test-'));
  const mapping = join(dir, 'mapping.txt');
  writeFileSync(mapping, [
    '# mirrored for the disconnected cluster',
    '',
    `${source().host}/file/a:v1=${target().host}/file/a:v1   # the app`,
    `${source().host}/file/b:v2   ${target().host}/file/b   ${target().host}/file/b2:stable`,
  ].join('\n'));
  const first = await mirrorCli([], { filename: [mapping] });
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(first.stdout.trim().split('\n').sort(), [
    `${a.digest} ${target().host}/file/a:v1`, `${b.digest} ${target().host}/file/b2:stable`, `${b.digest} ${target().host}/file/b:v2`,
  ].sort());

  const second = await mirrorCli([], { filename: [mapping] });
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stdout, '', 'nothing is pushed again');
  assert.match(second.stderr, /info: images: 0 mirrored .*3 skipped \(3 already present, 0 on request\), 0 failed/);
  assert.match(second.stderr, /info: blobs: 0 uploaded \(0 B\), 0 mounted \(0 B\), 0 already present \(0 B\); 0 manifests pushed/);
});

test('a layer shared by several images is uploaded once per target registry and mounted for the rest', async () => {
  const shared = makeLayer('shared-base', 300_000);
  const images = await Promise.all(['x', 'y', 'z'].map((n) => seedImage(source(), `shared/${n}`, 'v1', { sharedLayers: [shared], seed: `shared-${n}` })));
  const sharedDigest = sha256(shared);
  const client = new RegistryClient({ insecure: true });
  try {
    const mappings = mappingsFromArgs(['x', 'y', 'z'].map((n) => `${source().host}/shared/${n}:v1=${target().host}/dedupe/${n}:v1`));
    const plan = await planMirror(new RegistryStores(client), mappings);
    const forShared = plan.blobs.filter((b) => b.digest === sharedDigest);
    assert.deepEqual(forShared.map((b) => b.action).sort(), ['mount', 'mount', 'upload']);
    const uploadedTo = forShared.find((b) => b.action === 'upload')!.repository;
    for (const b of forShared.filter((x) => x.action === 'mount')) assert.equal(b.mountFrom, uploadedTo);

    const streamed = new Map<string, number>();
    const result = await executePlan(plan, {
      onEvent: (e) => { if (e.type === 'bytes') streamed.set(e.blob.digest, (streamed.get(e.blob.digest) ?? 0) + e.bytes); },
    });
    assert.equal(result.failed.length, 0, result.failed.map((f) => f.error.message).join('\n'));
    assert.equal(result.written.length, 3);
    assert.equal(result.blobsMounted, 2);
    // Progress counts every uploaded byte once, mounted blobs not at all.
    const uploaded = plan.blobs.filter((b) => b.action === 'upload');
    assert.deepEqual([...streamed].sort(), uploaded.map((b) => [b.digest, b.size]).sort());
    assert.equal(result.bytesUploaded, plan.totals.bytesToUpload);
    for (const [i, n] of ['x', 'y', 'z'].entries()) {
      assert.ok(await blobExists(target(), `dedupe/${n}`, sharedDigest), `shared layer in dedupe/${n}`);
      assert.equal(sha256(await skopeoInspectRaw(target(), `dedupe/${n}:v1`)), images[i].digest);
    }
  } finally {
    await client.close();
  }
});

test('a missing source is a clear error and exit 1; a warning and exit 0 under --skip-missing', async () => {
  await seedImage(source(), 'missing/present', 'v1', { seed: 'present' });
  const args = [`${source().host}/missing/present:v1=${target().host}/missing/present:v1`, `${source().host}/missing/absent:v1=${target().host}/missing/absent:v1`];
  const failed = await mirrorCli(args);
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, new RegExp(`error: ${source().host}/missing/absent:v1 -> ${target().host}/missing/absent:v1: .*404`));
  assert.match(failed.stderr, /nothing was mirrored/);
  assert.deepEqual(await tagsOf(target(), 'missing/present'), [], 'nothing is pushed when planning failed');

  const skipped = await mirrorCli(args, { skipMissing: true });
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(skipped.stderr, new RegExp(`warning: ${source().host}/missing/absent:v1 -> .*: skipped, source image ${source().host}/missing/absent:v1 does not exist`));
  assert.deepEqual(await tagsOf(target(), 'missing/present'), ['v1']);
});

test('--continue-on-error mirrors the others and still exits 1', async () => {
  await seedImage(source(), 'cont/ok', 'v1', { seed: 'cont' });
  const run = await mirrorCli([`${source().host}/cont/absent:v1=${target().host}/cont/absent:v1`, `${source().host}/cont/ok:v1=${target().host}/cont/ok:v1`],
    { continueOnError: true });
  assert.equal(run.code, 1);
  assert.deepEqual(await tagsOf(target(), 'cont/ok'), ['v1']);
  assert.match(run.stderr, /1 mirrored .* 1 failed/);
});

test('--dry-run prints the plan and touches nothing', async () => {
  await seedImage(source(), 'dry/app', 'v1', { platforms: ['linux/amd64', 'linux/arm64'], seed: 'dry' });
  const before = await repositoriesOf(target());
  const run = await mirrorCli([`${source().host}/dry/app:v1`, `${target().host}/dry/app`], { dryRun: true });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /manifest list sha256:[0-9a-f]{64}: push/);
  assert.match(run.stderr, /linux\/arm64 image sha256:[0-9a-f]{64}: push/);
  assert.match(run.stderr, /blob sha256:[0-9a-f]{64} .*: upload/);
  assert.match(run.stderr, /info: dry run: nothing was written/);
  assert.deepEqual(await repositoriesOf(target()), before);
});

test('a new tag for an image the repository already holds only writes the tag; --force writes everything again', async () => {
  const src = await seedImage(source(), 'retag/app', 'v1', { seed: 'retag' });
  const first = await mirrorCli([`${source().host}/retag/app:v1`, `${target().host}/retag/app:v1`]);
  assert.equal(first.code, 0, first.stderr);
  const client = new RegistryClient({ insecure: true });
  try {
    const retag = await planMirror(new RegistryStores(client), mappingsFromArgs([`${source().host}/retag/app:v1`, `${target().host}/retag/app:stable`]));
    assert.equal(retag.images[0].action, 'tag');
    assert.equal(retag.blobs.length, 0);
    const result = await executePlan(retag);
    assert.deepEqual([result.written.length, result.blobsUploaded, result.manifestsPushed], [1, 0, 1]);
    assert.deepEqual((await tagsOf(target(), 'retag/app')).sort(), ['stable', 'v1']);

    const forced = await planMirror(new RegistryStores(client), mappingsFromArgs([`${source().host}/retag/app:v1`, `${target().host}/retag/app:v1`]), { force: true });
    assert.equal(forced.images[0].action, 'push');
    const again = await executePlan(forced);
    assert.equal(again.blobsUploaded, src.layerDigests.length + 1, 'every layer and the config are uploaded again');
  } finally {
    await client.close();
  }
});

test('a digest-only source to an untagged destination is pushed by digest, without a tag', async () => {
  const src = await seedImage(source(), 'bydigest/app', 'v1', { platforms: ['linux/amd64', 'linux/arm64'], seed: 'bydigest' });
  const run = await mirrorCli([`${source().host}/bydigest/app@${src.digest}`, `${target().host}/bydigest/app`]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, `${src.digest} ${target().host}/bydigest/app\n`);
  assert.equal(sha256(await skopeoInspectRaw(target(), `bydigest/app@${src.digest}`)), src.digest);
  assert.deepEqual(await tagsOf(target(), 'bydigest/app'), []);
});

test('within one registry, blobs are mounted from the source repository instead of uploaded', async () => {
  await seedImage(source(), 'same/app', 'v1', { seed: 'same-registry' });
  const client = new RegistryClient({ insecure: true });
  try {
    const plan = await planMirror(new RegistryStores(client), mappingsFromArgs([`${source().host}/same/app:v1`, `${source().host}/same/copy:v1`]));
    assert.ok(plan.blobs.length > 0 && plan.blobs.every((b) => b.action === 'mount' && b.mountFrom === 'same/app'));
    const result = await executePlan(plan);
    assert.deepEqual([result.failed.length, result.blobsUploaded, result.blobsMounted], [0, 0, plan.blobs.length]);
    const skipMount = await planMirror(new RegistryStores(client), mappingsFromArgs([`${source().host}/same/app:v1`, `${source().host}/same/other:v1`]), { skipMount: true });
    assert.ok(skipMount.blobs.every((b) => b.action === 'upload'));
  } finally {
    await client.close();
  }
});

test('a layer the target already holds in another repository is mounted from there, not uploaded again', async () => {
  const base = makeLayer('known-base', 150_000);
  const baseDigest = sha256(base);
  await seedImage(source(), 'known/old', 'v1', { sharedLayers: [base], seed: 'known-old' });
  const old = `${source().host}/known/old:v1=${target().host}/known/old:v1`;
  assert.equal((await mirrorCli([old])).code, 0);
  await seedImage(source(), 'known/new', 'v1', { sharedLayers: [base], seed: 'known-new' });
  const client = new RegistryClient({ insecure: true });
  try {
    const plan = await planMirror(new RegistryStores(client), mappingsFromArgs([old, `${source().host}/known/new:v1=${target().host}/known/new:v1`]));
    assert.deepEqual(plan.images.map((i) => i.action), ['present', 'push']);
    const forBase = plan.blobs.find((b) => b.digest === baseDigest)!;
    assert.deepEqual([forBase.repository, forBase.action, forBase.mountFrom, forBase.after], ['known/new', 'mount', 'known/old', undefined]);
    const result = await executePlan(plan);
    assert.deepEqual([result.failed.length, result.blobsMounted], [0, 1]);
    assert.ok(await blobExists(target(), 'known/new', baseDigest));
  } finally {
    await client.close();
  }
});
