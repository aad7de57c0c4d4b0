// catalog mirror across an air gap: to disk on the connected side, the source registry stopped and
// the folder moved, from disk on the far side. The far side's manifests directory equals a direct
// run's, every image arrives with its source digest, and no source registry is asked for anything.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { parseManifest } from '../../src/manifest/manifest.js';
import { parseReference } from '../../src/reference/reference.js';
import { OciLayoutStore } from '../../src/transport/oci-layout/store.js';
import type { ArchiveRecord } from '../../src/transport/archive/format.js';
import type { CliRun } from '../support/cli.js';
import type { TestRegistry } from '../support/registry.js';
import { seedImage, sha256 } from '../support/seed.js';
import {
  olmMirror, readMappingFile, remoteDigest, seedCatalogImage, seedPackageManifests, sqliteLine, startRegistries, testDir, transcript, yamlDocuments,
  type MappingLine,
} from './helpers.js';

const dir = testDir('catalog-airgap');
let source: TestRegistry;
let direct: TestRegistry;
let far: TestRegistry;
let farSegments: TestRegistry;
let farDamaged: TestRegistry;
let catalogV1: string;
let catalogV2: string;
/** Source digest of every image, read before the source is stopped. */
const sourceDigests = new Map<string, string>();
let directLines: MappingLine[];
const directManifests = join(dir, 'manifests-direct');
const layoutDir = join(dir, 'near', 'mirror');
const archiveDir = join(dir, 'near-archive', 'mirror');
const SEGMENT_SIZE = 8192;
const filteredDir = join(dir, 'near-filtered', 'mirror');
let rerun: CliRun;
/** What a carrier takes across after the first export, and after the second (only what is new). */
const carriedV1 = join(dir, 'carried-v1');
const carriedV2 = join(dir, 'carried-v2');
let v1Segments: string[];
let v2Segments: string[];

const segmentsIn = (folder: string) => readdirSync(folder).filter((n) => /^mirror_\d+\.tar$/.test(n)).sort();

function carry(files: readonly string[], to: string): void {
  mkdirSync(to, { recursive: true });
  for (const f of files) copyFileSync(join(archiveDir, f), join(to, f));
}

const RECORDS = ['archive.json', 'checksums.sha256', 'olm-mirror.json'];

before(async () => {
  [source, direct, far, farSegments, farDamaged] = await startRegistries('plain', 'plain', 'plain', 'plain', 'plain') as TestRegistry[] as
    [TestRegistry, TestRegistry, TestRegistry, TestRegistry, TestRegistry];
  ({ catalog: catalogV1 } = await seedCatalogImage(source, dir, 'gap', 'v1'));
  // v2 of the catalog: one more related image.
  const extra = await seedImage(source, 'gap/extra', 'v1', { layerSizes: [3000], seed: 'gap-extra' });
  const extraImage = `${source.host}/gap/extra@${extra.digest}`;
  const v2 = await seedPackageManifests(source, join(dir, 'package-manifests-v2'), 'gap', [extraImage]);
  catalogV2 = `${source.host}/gap/gap-index:v2`;
  const build = await olmMirror(['catalog', 'build', '--from-dir', v2.dir, '--to', catalogV2, '--insecure'], dir);
  assert.equal(build.code, 0, transcript(build));

  const run = await olmMirror(['catalog', 'mirror', catalogV1, `${direct.host}/olm`, '--insecure', '--to-manifests', directManifests], dir);
  assert.equal(run.code, 0, transcript(run));
  directLines = readMappingFile(directManifests);
  for (const image of [catalogV1, catalogV2, extraImage, ...directLines.map((l) => l.source)]) sourceDigests.set(image, await remoteDigest(source, image));

  // Everything that needs the source happens here; the tests run with it stopped.
  const toDisk = await olmMirror(['catalog', 'mirror', catalogV1, `file://${layoutDir}`, '--insecure'], dir);
  assert.equal(toDisk.code, 0, transcript(toDisk));
  assert.match(toDisk.stdout, new RegExp(`to mirror from disk on the other side, run: olm-mirror catalog mirror file://${layoutDir} DEST`));
  rerun = await olmMirror(['catalog', 'mirror', catalogV1, `file://${layoutDir}`, '--insecure'], dir);

  const archived = (catalog: string) => olmMirror(['catalog', 'mirror', catalog, `file://${archiveDir}`, '--insecure', '--archive-size', String(SEGMENT_SIZE)], dir);
  const first = await archived(catalogV1);
  assert.equal(first.code, 0, transcript(first));
  v1Segments = segmentsIn(archiveDir);
  carry([...v1Segments, ...RECORDS], carriedV1);
  const second = await archived(catalogV2);
  assert.equal(second.code, 0, transcript(second));
  v2Segments = segmentsIn(archiveDir).filter((s) => !v1Segments.includes(s));
  carry([...v2Segments, ...RECORDS], carriedV2);
  const filtered = await olmMirror(['catalog', 'mirror', catalogV1, `file://${filteredDir}`, '--insecure', '--max-version', 'gap-operator=1.0.0'], dir);
  assert.equal(filtered.code, 0, transcript(filtered));
  await source.stop();
});

/** Every file of a manifests directory, with the mirror registry's host written as TARGET. */
function manifestsFiles(manifestsDir: string, host: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(manifestsDir).sort()) files[name] = readFileSync(join(manifestsDir, name), 'utf8').replaceAll(host, 'TARGET');
  return files;
}

test('to disk, source stopped, folder moved, from disk: the same manifests, every image with its source digest', async () => {
  const layout = await OciLayoutStore.open(layoutDir);
  assert.deepEqual(await layout.validate(), [], 'the layout is complete and every blob verifies');
  // skopeo reads the OCI-typed image straight from the layout, under its source reference.
  const operand = directLines.find((l) => l.source.includes('/gap/operand@'))!.source;
  assert.equal(sha256(execFileSync('skopeo', ['inspect', '--raw', `oci:${layoutDir}:${operand}`])), sourceDigests.get(operand));
  assert.equal(rerun.code, 0, transcript(rerun));
  assert.match(rerun.stderr, /blobs: 0 uploaded/, 'a second run into the folder adds nothing');

  const moved = join(dir, 'carried-layout', 'mirror');
  mkdirSync(join(dir, 'carried-layout'));
  renameSync(layoutDir, moved);
  const manifests = join(dir, 'manifests-far');
  const extract = join(dir, 'extract-far');
  const fromDisk = await olmMirror(['catalog', 'mirror', `file://${moved}`, `${far.host}/olm`, '--insecure', '--to-manifests', manifests,
    '--path', `/:${extract}`], dir);
  assert.equal(fromDisk.code, 0, transcript(fromDisk));
  assert.ok(fromDisk.stdout.includes(`using database at: ${extract}/bundles.db`), transcript(fromDisk));

  assert.deepEqual(manifestsFiles(manifests, far.host), manifestsFiles(directManifests, direct.host));
  for (const { source: src, target } of readMappingFile(manifests)) {
    assert.equal(await remoteDigest(far, target), sourceDigests.get(src), `${target} holds ${src}`);
  }
  const rows = await sqliteLine(join(extract, 'bundles.db'), "select count(*) as n from related_image where operatorbundle_name like 'gap-operator.v1.1%';");
  assert.match(rows, /n = 3/);

  // The far side may mirror less than it carried: a selection there rebuilds the catalog from the folder.
  const pinnedManifests = join(dir, 'manifests-far-pinned');
  const pinned = await olmMirror(['catalog', 'mirror', `file://${moved}`, `${far.host}/pinned`, '--insecure', '--max-version', 'gap-operator=1.0.0',
    '--to-manifests', pinnedManifests], dir);
  assert.equal(pinned.code, 0, transcript(pinned));
  const pinnedLines = readMappingFile(pinnedManifests);
  assert.deepEqual(pinnedLines.map((l) => l.source).sort(), directLines.filter((l) => /\/gap\/(operator|operand)@/.test(l.source)).map((l) => l.source).sort());
  for (const { source: src, target } of pinnedLines) assert.equal(await remoteDigest(far, target), sourceDigests.get(src), `${target} holds ${src}`);
  assert.ok(await remoteDigest(far, `${far.host}/pinned/gap-gap-index:v1`), 'the rebuilt catalog is there');
});

test('archive segments: none over the size; carried alone they import; v2 carries only its new blobs and completes the v1 import', async () => {
  for (const f of segmentsIn(archiveDir)) assert.ok(statSync(join(archiveDir, f)).size <= SEGMENT_SIZE, `${f} is over ${SEGMENT_SIZE} bytes`);
  assert.ok(v1Segments.length > 1, 'the small size cut the first export into several segments');
  execFileSync('sha256sum', ['--quiet', '-c', 'checksums.sha256'], { cwd: archiveDir });

  // The second export's segments hold no blob of the first export but the (repeated) manifests.
  const record = JSON.parse(readFileSync(join(archiveDir, 'archive.json'), 'utf8')) as ArchiveRecord;
  const inV1 = new Set(Object.entries(record.blobs).filter(([, b]) => [b.extents, ...(b.copies ?? [])].some((e) => e.some((x) => v1Segments.includes(x.segment)))).map(([d]) => d));
  const newInV2 = Object.entries(record.blobs).filter(([, b]) => b.extents.some((x) => v2Segments.includes(x.segment)) && b.copies === undefined).map(([d]) => d);
  assert.ok(newInV2.length >= 6, `catalog v2 and the extra image: manifest, config and layer each (${newInV2.length})`);
  for (const digest of newInV2) assert.ok(!inV1.has(digest), `${digest} is carried twice`);

  const v1Import = await olmMirror(['catalog', 'mirror', `file://${carriedV1}`, `${farSegments.host}/olm`, '--insecure', '--catalog', catalogV1,
    '--to-manifests', join(dir, 'manifests-segments-v1')], dir);
  assert.equal(v1Import.code, 0, transcript(v1Import));
  const v2Import = await olmMirror(['catalog', 'mirror', `file://${carriedV2}`, `${farSegments.host}/olm`, '--insecure', '--catalog', catalogV2,
    '--to-manifests', join(dir, 'manifests-segments-v2')], dir);
  assert.equal(v2Import.code, 0, transcript(v2Import));
  const lines = readMappingFile(join(dir, 'manifests-segments-v2'));
  assert.ok(lines.some((l) => l.source.includes('/gap/extra@')), 'v2 has the extra image');
  for (const { source: src, target } of lines) assert.equal(await remoteDigest(farSegments, target), sourceDigests.get(src), `${target} holds ${src}`);
});

test('a damaged segment and a missing one are named with the images they affect; the rest is mirrored, nothing unverified is tagged', async () => {
  const record = JSON.parse(readFileSync(join(carriedV1, 'archive.json'), 'utf8')) as ArchiveRecord;
  // The operator's layer: flip a byte of it inside its segment.
  const layout = await OciLayoutStore.open(join(dir, 'carried-layout', 'mirror'));
  const operatorLine = directLines.find((l) => l.source.includes('/gap/operator@'))!;
  const operator = await layout.getManifest(parseReference(operatorLine.source));
  const parsed = parseManifest(operator.bytes, operator.mediaType, 'operator');
  assert.equal(parsed.kind, 'image');
  const layer = parsed.kind === 'image' ? parsed.layers[0]!.digest : '';
  const [extent] = record.blobs[layer]!.extents;
  const damaged = join(dir, 'damaged');
  mkdirSync(damaged);
  for (const f of readdirSync(carriedV1)) copyFileSync(join(carriedV1, f), join(damaged, f));
  const bytes = readFileSync(join(damaged, extent!.segment));
  bytes[extent!.offset + 10] ^= 0xff;
  writeFileSync(join(damaged, extent!.segment), bytes);

  const run = await olmMirror(['catalog', 'mirror', `file://${damaged}`, `${farDamaged.host}/olm`, '--insecure', '--to-manifests', join(dir, 'manifests-damaged')], dir);
  assert.equal(run.code, 1, transcript(run));
  assert.match(run.stderr, new RegExp(`${layer}.*${extent!.segment}|${extent!.segment}.*${layer}`), 'the error names the blob and its segment');
  const lines = readMappingFile(join(dir, 'manifests-damaged'));
  const operatorTarget = lines.find((l) => l.source === operatorLine.source)!.target;
  await assert.rejects(remoteDigest(farDamaged, operatorTarget), 'no tag points at the image whose layer did not verify');
  for (const { source: src, target } of lines.filter((l) => l.source !== operatorLine.source)) {
    assert.equal(await remoteDigest(farDamaged, target), sourceDigests.get(src), `${target} holds ${src}`);
  }

  // A segment that did not arrive: the error names it; the images outside it still arrive.
  rmSync(join(damaged, extent!.segment));
  const missing = await olmMirror(['catalog', 'mirror', `file://${damaged}`, `${farDamaged.host}/other`, '--insecure', '--to-manifests', join(dir, 'manifests-missing')], dir);
  assert.equal(missing.code, 1, transcript(missing));
  assert.match(missing.stderr, new RegExp(`${extent!.segment}, which is missing`));
});

test('a catalog filtered before it is carried: the far side mirrors the rebuilt catalog and only the kept images', async () => {
  const manifests = join(dir, 'manifests-far-filtered');
  const run = await olmMirror(['catalog', 'mirror', `file://${filteredDir}`, `${far.host}/filtered`, '--insecure', '--to-manifests', manifests], dir);
  assert.equal(run.code, 0, transcript(run));
  const lines = readMappingFile(manifests);
  assert.deepEqual(lines.map((l) => l.source).sort(), directLines.filter((l) => /\/gap\/(operator|operand)@/.test(l.source)).map((l) => l.source).sort());
  for (const { source: src, target } of lines) assert.equal(await remoteDigest(far, target), sourceDigests.get(src), `${target} holds ${src}`);
  const [catalogSource] = yamlDocuments(join(manifests, 'catalogSource.yaml'));
  assert.equal(catalogSource!.spec.image, `${far.host}/filtered/gap-gap-index:v1`);
  const listed = await olmMirror(['catalog', 'list', `${far.host}/filtered/gap-gap-index:v1`, '--insecure', '--full', '--bundle', '%'], dir);
  assert.equal(listed.code, 0, transcript(listed));
  assert.deepEqual(listed.stdout.trim().split('\n').slice(1).map((row) => row.split(/\s+/)[1]), ['gap-operator.v1.0.0'], listed.stdout);
});
