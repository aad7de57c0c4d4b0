// Segmented archives: a layout filled from a real registry is exported in small segments, read back
// straight from them (and checked with tar and sha256sum as independent readers), damaged, partly
// deleted, extended incrementally, and imported into a second real registry.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CredentialStore } from '../../src/auth/credentials.js';
import { OlmMirrorError } from '../../src/errors.js';
import { DigestMismatchError } from '../../src/manifest/digest.js';
import { MediaTypes } from '../../src/manifest/media-types.js';
import { parseReference } from '../../src/reference/reference.js';
import { RegistryClient } from '../../src/registry/client.js';
import { exportArchive } from '../../src/transport/archive/export.js';
import { parseArchiveSize, readRecord } from '../../src/transport/archive/format.js';
import { ArchiveStore, MissingSegmentError } from '../../src/transport/archive/store.js';
import { OciLayoutStore } from '../../src/transport/oci-layout/store.js';
import { RegistryStore } from '../../src/transport/registry.js';
import { removeOnExit } from '../support/cleanup.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { makeLayer, seedImage, type SeededImage } from '../support/seed.js';
import { skopeoInspectRaw } from '../support/skopeo.js';
import { copyImage, readAll, sha256 } from './helpers.js';

const SEGMENT = 64 * 1024;
let src: TestRegistry;
let client: RegistryClient;
let source: RegistryStore;
let big: SeededImage;
let multi: SeededImage;
let later: SeededImage;
const shared = makeLayer('shared layer', 20_000);

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `olm-mirror-${prefix}-`));
  removeOnExit(dir);
  return dir;
}

const ref = (text: string) => parseReference(text);

before(async () => {
  src = await startRegistry({ variant: 'plain' });
  client = new RegistryClient({ credentials: await CredentialStore.load({ authFile: src.authFile }), insecure: true });
  source = new RegistryStore(client, src.host);
  // A layer of ~200 KB: larger than a segment, so it is split across several.
  big = await seedImage(src, 'ns/big', '1.0', { format: 'oci', layerSizes: [200_000, 3_000], sharedLayers: [shared] });
  multi = await seedImage(src, 'ns/multi', '2.0', { format: 'docker', platforms: ['linux/amd64', 'linux/arm64'], layerSizes: [30_000] });
  later = await seedImage(src, 'ns/later', '3.0', { format: 'oci', layerSizes: [40_000], sharedLayers: [shared] });
});

after(async () => {
  await client?.close();
  await src?.stop();
});

/** A layout holding `images` (under their source references). */
async function layoutWith(dir: string, images: SeededImage[]): Promise<OciLayoutStore> {
  const layout = await OciLayoutStore.open(dir, { create: true });
  for (const image of images) await copyImage(source, ref(image.ref), layout, ref(image.ref));
  await layout.commit();
  return layout;
}

async function exported(images: SeededImage[]): Promise<{ layout: OciLayoutStore; archiveDir: string }> {
  const base = tempDir('archive');
  const layout = await layoutWith(join(base, 'layout'), images);
  const archiveDir = join(base, 'archive');
  await exportArchive(layout, archiveDir, { segmentSize: SEGMENT });
  return { layout, archiveDir };
}

const segmentsIn = (dir: string): string[] => readdirSync(dir).filter((f) => /^mirror_\d{6}\.tar$/.test(f)).sort();

test('no segment over the size; tar and sha256sum read them; a split blob reads back verified', async () => {
  const { archiveDir } = await exported([big, multi]);
  const segments = segmentsIn(archiveDir);
  assert.ok(segments.length >= 4, `a 200 KB layer in 64 KiB segments needs several (${segments.length})`);
  for (const segment of segments) assert.ok(statSync(join(archiveDir, segment)).size <= SEGMENT, `${segment} is within the size`);
  execFileSync('sha256sum', ['--quiet', '-c', 'checksums.sha256'], { cwd: archiveDir });

  const record = (await readRecord(archiveDir))!;
  const bigLayer = big.layerDigests[1]!;
  assert.ok(record.blobs[bigLayer]!.extents.length >= 3, 'the big layer is split');

  // Untarred with the system's tar and the parts joined, the segments are the layout (skopeo reads it).
  const untarred = tempDir('untar');
  for (const segment of segments) execFileSync('tar', ['-xf', join(archiveDir, segment), '-C', untarred]);
  const blobsDir = join(untarred, 'blobs/sha256');
  const parts = readdirSync(blobsDir).filter((f) => f.includes('.part-')).sort();
  assert.ok(parts.length >= 3);
  for (const part of parts) {
    const whole = join(blobsDir, part.slice(0, part.indexOf('.part-')));
    writeFileSync(whole, readFileSync(join(blobsDir, part)), { flag: 'a' });
    unlinkSync(join(blobsDir, part));
  }
  assert.deepEqual(await (await OciLayoutStore.open(untarred)).validate(), []);

  const archive = await ArchiveStore.open(archiveDir);
  const content = await readAll(await archive.getBlob({ registry: 'r', repository: 'x' }, bigLayer));
  assert.equal(sha256(content), bigLayer);
  assert.equal(content.length, await archive.blobSize({ registry: 'r', repository: 'x' }, bigLayer));
  for (const image of [big, multi]) assert.deepEqual((await archive.getManifest(ref(image.ref))).bytes, image.manifest);
  assert.deepEqual(await archive.checkSegments(), []);
  await assert.rejects(archive.pushBlobBytes(), (err: unknown) => err instanceof OlmMirrorError && err.kind === 'usage' && /read-only/.test(err.message));
});

test('read straight from the segments into a second real registry: skopeo sees the source digests', async () => {
  const { archiveDir } = await exported([big, multi]);
  const dest = await startRegistry({ variant: 'plain' });
  try {
    const archive = await ArchiveStore.open(archiveDir);
    const target = new RegistryStore(client, dest.host);
    for (const image of [big, multi]) {
      const repository = parseReference(image.ref).repository;
      await copyImage(archive, ref(image.ref), target, { registry: dest.host, repository, tag: parseReference(image.ref).tag });
      assert.deepEqual(await skopeoInspectRaw(dest, `${repository}@${image.digest}`), image.manifest);
    }
  } finally {
    await dest.stop();
  }
});

test('a flipped byte in one segment: an error naming the segment and the blob; the other images read', async () => {
  const { archiveDir } = await exported([big, multi]);
  const record = (await readRecord(archiveDir))!;
  const bigLayer = big.layerDigests[1]!;
  const extent = record.blobs[bigLayer]!.extents[1]!;
  const path = join(archiveDir, extent.segment);
  const bytes = readFileSync(path);
  bytes[extent.offset + 10] = bytes[extent.offset + 10]! ^ 0x01;
  writeFileSync(path, bytes);

  const archive = await ArchiveStore.open(archiveDir);
  const err = await readAll(await archive.getBlob({ registry: 'r', repository: 'x' }, bigLayer)).catch((e: unknown) => e);
  assert.ok(err instanceof DigestMismatchError, String(err));
  assert.ok(err.message.includes(extent.segment) && err.message.includes(bigLayer), err.message);
  assert.ok(archive.segmentsOf(bigLayer).includes(extent.segment));
  assert.deepEqual((await archive.checkSegments()).map((p) => p.segment), [extent.segment]);
  assert.ok((await archive.imagesIn(extent.segment)).includes(big.ref));
  // Every blob of the other image lies outside that segment here and still reads verified.
  const unaffected = [...multi.layerDigests, ...multi.configDigests].filter((d) => !archive.segmentsOf(d).includes(extent.segment));
  assert.ok(unaffected.length > 0);
  for (const digest of unaffected) assert.equal(sha256(await readAll(await archive.getBlob({ registry: 'r', repository: 'x' }, digest))), digest);
});

test('a deleted segment: the blobs in it fail naming the segment, the rest reads', async () => {
  const { archiveDir } = await exported([big, multi]);
  const archive0 = await ArchiveStore.open(archiveDir);
  const bigLayer = big.layerDigests[1]!;
  const gone = archive0.segmentsOf(bigLayer)[1]!;
  unlinkSync(join(archiveDir, gone));
  const archive = await ArchiveStore.open(archiveDir);
  assert.deepEqual(archive.missingSegments(), [gone]);
  assert.deepEqual(await archive.imagesIn(gone), [big.ref], 'only the image with the split layer');
  await assert.rejects(archive.getBlob({ registry: 'r', repository: 'x' }, bigLayer),
    (err: unknown) => err instanceof MissingSegmentError && err.segment === gone && err.message.includes(bigLayer) && err.message.includes(gone));
  assert.equal(await archive.blobSize({ registry: 'r', repository: 'x' }, bigLayer), undefined);
  assert.deepEqual((await archive.getManifest(ref(multi.ref))).bytes, multi.manifest);
});

test('incremental: a second export writes only new blobs; the new segments alone complete an earlier import', async () => {
  const base = tempDir('incremental');
  const layout = await layoutWith(join(base, 'layout'), [big, multi]);
  const archiveDir = join(base, 'archive');
  const first = await exportArchive(layout, archiveDir, { segmentSize: SEGMENT });
  // A killed later export left a segment archive.json does not list: the next export removes it.
  writeFileSync(join(archiveDir, 'mirror_000099.tar'), 'half-written');

  await copyImage(source, ref(later.ref), layout, ref(later.ref));
  const second = await exportArchive(layout, archiveDir, { segmentSize: SEGMENT });
  assert.ok(!readdirSync(archiveDir).includes('mirror_000099.tar'));
  assert.deepEqual(segmentsIn(archiveDir), [...first.segments, ...second.segments].sort());
  const newBlobs = [later.digest, ...later.configDigests, later.layerDigests[1]!];
  assert.equal(second.blobs, newBlobs.length, 'only the new image\'s own blobs (the shared layer is in earlier segments)');
  const entries = second.segments.flatMap((s) => execFileSync('tar', ['-tf', join(archiveDir, s)], { encoding: 'utf8' }).trim().split('\n'));
  // Manifests travel with every export: the new segments alone describe the earlier images too.
  const earlierManifests = [big.digest, multi.digest, ...multi.children!.map((c) => c.digest)];
  assert.equal(second.repeatedManifests, earlierManifests.length);
  assert.deepEqual(entries.sort(), [...newBlobs, ...earlierManifests].map((d) => `blobs/sha256/${d.slice(7)}`).concat('index.json', 'oci-layout').sort());
  const record = (await readRecord(archiveDir))!;
  assert.deepEqual(record.segments.map((s) => s.export), [...first.segments.map(() => 1), ...second.segments.map(() => 2)]);
  execFileSync('sha256sum', ['--quiet', '-c', 'checksums.sha256'], { cwd: archiveDir });

  const dest = await startRegistry({ variant: 'plain' });
  try {
    const target = new RegistryStore(client, dest.host);
    const destRef = (image: SeededImage) => ({ ...ref(image.ref), registry: dest.host });
    // The far side imported the first export earlier ...
    const firstOnly = tempDir('first-only');
    for (const f of ['archive.json', ...first.segments]) copyFileSync(join(archiveDir, f), join(firstOnly, f));
    const v1 = await ArchiveStore.open(firstOnly);
    for (const image of [big, multi]) await copyImage(v1, ref(image.ref), target, destRef(image));
    // ... and now gets only the new segments and the new record.
    const carried = join(tempDir('carried'), 'only-new');
    mkdirSync(carried);
    for (const f of ['archive.json', 'checksums.sha256', ...second.segments]) copyFileSync(join(archiveDir, f), join(carried, f));
    const v2 = await ArchiveStore.open(carried);
    assert.deepEqual(v2.missingSegments(), first.segments);
    // The earlier images' manifests came along: a planner sees the target has them without the old segments.
    assert.deepEqual((await v2.getManifest(ref(big.ref))).bytes, big.manifest);
    // The shared layer is in no carried segment: without the target having it, that is the error naming it.
    await assert.rejects(v2.getBlob(ref(later.ref), sha256(shared)), MissingSegmentError);
    // Into the repository that holds it from the first import, so the target has it (a planner would mount it).
    await copyImage(v2, ref(later.ref), target, { registry: dest.host, repository: 'ns/big', tag: '3.0' });
    assert.deepEqual(await skopeoInspectRaw(dest, `ns/big@${later.digest}`), later.manifest);
  } finally {
    await dest.stop();
  }
});

test('the segments can sit in the layout\'s own folder: both read', async () => {
  const dir = join(tempDir('same-folder'), 'mirror');
  const layout = await layoutWith(dir, [multi]);
  const summary = await exportArchive(layout, dir, { segmentSize: SEGMENT });
  assert.ok(summary.segments.length > 0);
  assert.deepEqual(await (await OciLayoutStore.open(dir)).validate(), []);
  assert.deepEqual((await (await ArchiveStore.open(dir)).getManifest(ref(multi.ref))).bytes, multi.manifest);
  const again = await exportArchive(layout, dir, { segmentSize: SEGMENT });
  assert.deepEqual(again, { segments: [], blobs: 0, bytes: 0, skippedBlobs: summary.blobs, repeatedManifests: 0 }, 'nothing new, nothing written');
  await copyImage(source, ref(multi.ref), layout, { ...ref(multi.ref), tag: 'another-tag' });
  const retagged = await exportArchive(layout, dir, { segmentSize: SEGMENT });
  assert.deepEqual({ blobs: retagged.blobs, segments: retagged.segments.length }, { blobs: 0, segments: 1 }, 'a new tag only: one segment with the index');
  assert.ok(await (await ArchiveStore.open(dir)).headManifest({ ...ref(multi.ref), tag: 'another-tag' }));
});

test('a blob the layout holds damaged is never archived', async () => {
  const base = tempDir('damaged-layout');
  const layout = await layoutWith(join(base, 'layout'), [multi]);
  const layer = multi.layerDigests[0]!;
  const path = join(layout.dir, 'blobs/sha256', layer.slice(7));
  const bytes = readFileSync(path);
  bytes[0] = bytes[0]! ^ 0xff;
  writeFileSync(`${path}.new`, bytes);
  renameSync(`${path}.new`, path);
  await assert.rejects(exportArchive(layout, join(base, 'archive'), { segmentSize: SEGMENT }),
    (err: unknown) => err instanceof OlmMirrorError && err.kind === 'integrity' && err.message.includes(layer));
  assert.equal(await readRecord(join(base, 'archive')), undefined, 'no record of a failed export');
});

test('a sha512 blob: its long name goes through a pax header that tar reads, and it reads back verified', async () => {
  const base = tempDir('sha512');
  const layout = await OciLayoutStore.open(join(base, 'layout'), { create: true });
  // 10 KB: split over several 4 KiB segments, each part's name a pax record too.
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { pad: 'x'.repeat(10_000) } }, rootfs: { type: 'layers', diff_ids: [] } }));
  const digest = `sha512:${createHash('sha512').update(config).digest('hex')}`;
  const target = ref('quay.io/ns/sha512:1');
  await layout.pushBlob(target, digest, config.length, async () => Readable.from([config]));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: { mediaType: MediaTypes.ociConfig, digest, size: config.length }, layers: [],
  }));
  await layout.putManifest(target, { mediaType: MediaTypes.ociManifest, bytes: manifest });
  assert.deepEqual(await layout.validate(), []);
  const archiveDir = join(base, 'archive');
  const summary = await exportArchive(layout, archiveDir, { segmentSize: 4096 });
  const listed = summary.segments.flatMap((s) => execFileSync('tar', ['-tf', join(archiveDir, s)], { encoding: 'utf8' }).trim().split('\n'));
  assert.ok(listed.includes(`blobs/sha512/${digest.slice(7)}.part-000003`), listed.join(' '));
  for (const segment of segmentsIn(archiveDir)) assert.ok(statSync(join(archiveDir, segment)).size <= 4096);
  const archive = await ArchiveStore.open(archiveDir);
  assert.deepEqual(await readAll(await archive.getBlob(target, digest)), config);
  assert.deepEqual((await archive.getManifest(target)).bytes, manifest);
});

test('archive sizes: binary units, whole bytes, a minimum', () => {
  assert.equal(parseArchiveSize('4GiB'), 4 * 1024 ** 3);
  assert.equal(parseArchiveSize('700MiB'), 700 * 1024 ** 2);
  assert.equal(parseArchiveSize('1.5G'), 1.5 * 1024 ** 3);
  assert.equal(parseArchiveSize('65536'), 65536);
  assert.equal(parseArchiveSize('64k'), 65536);
  assert.throws(() => parseArchiveSize('lots'), (err: unknown) => err instanceof OlmMirrorError && err.kind === 'usage');
  assert.throws(() => parseArchiveSize('1KiB'), /below the minimum/);
});
