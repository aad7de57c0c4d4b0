// `olm-mirror catalog mirror` end to end, as the OpenShift docs use `oc adm catalog mirror`: a
// Package Manifest Format catalog built from a folder, mirrored to a second registry; the files
// it writes, the database it keeps, the images that arrive; re-runs, subsets and missing images.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { crdValidator, crdsMissing } from '../cluster/crd.js';
import type { TestRegistry } from '../support/registry.js';
import {
  escapeRegExp, ocTag, olmMirror, readMappingFile, remoteDigest, repositoriesOf, seedCatalogImage, seedPackageManifests, skopeoPull, sqliteLine, startRegistries,
  testDir, transcript, yamlDocuments, type MappingLine, type SourceImages,
} from './helpers.js';

const dir = testDir('catalog-mirror');
let source: TestRegistry;
let target: TestRegistry;

let images: SourceImages;
let csvPrefix: string;
/** The catalog image on the source registry. */
let catalog: string;

before(async () => {
  [source, target] = await startRegistries('plain', 'plain') as [TestRegistry, TestRegistry];
  ({ images, csvPrefix, catalog } = await seedCatalogImage(source, dir, 'acme', 'v1'));
});

/** Every line's target holds exactly what its source holds (digests read by skopeo on both sides). */
async function assertMirrored(lines: readonly MappingLine[]): Promise<void> {
  for (const { source: src, target: dst } of lines) {
    const want = await remoteDigest(source, src);
    if (src.includes('@')) assert.equal(want, src.slice(src.indexOf('@') + 1), `source ${src} resolves to its own digest`);
    assert.equal(await remoteDigest(target, dst), want, `${dst} holds ${src}`);
  }
}

test('mirrors a package-manifest catalog and everything it references, writing oc\'s files and messages', async () => {
  const manifests = join(dir, 'manifests-full');
  const extract = join(dir, 'extract-full');
  const dest = `${target.host}/olm`;
  const run = await olmMirror(['catalog', 'mirror', catalog, dest, '--insecure', '--to-manifests', manifests, '--path', `/:${extract}`], dir);
  assert.equal(run.code, 0, transcript(run));

  // oc's messages, which the docs tell users to look for.
  for (const line of [`using database path mapping: /:${extract}`, `wrote database to ${extract}`, `using database at: ${extract}/bundles.db`]) {
    assert.ok(run.stdout.split('\n').includes(line), `stdout has "${line}"\n${transcript(run)}`);
  }

  // mapping.txt: oc's target names (DEST namespace + source path flattened to 2 components; hash tags for digests).
  const lines = readMappingFile(manifests);
  const catalogTarget = `${dest}/acme-acme-index:v1`;
  const expected = [
    `${catalog}=${catalogTarget}`,
    `${images.helper}=${dest}/acme-helper:v1`,
    `${images.operand}=${dest}/acme-operand:${ocTag(images.operand)}`,
    `${images.operator}=${dest}/acme-operator:${ocTag(images.operator)}`,
  ].sort();
  assert.deepEqual(lines.map((l) => `${l.source}=${l.target}`), expected);
  await assertMirrored(lines);

  // catalogSource.yaml names the mirrored catalog image, and that image pulls.
  const [catalogSource, ...more] = yamlDocuments(join(manifests, 'catalogSource.yaml'));
  assert.equal(more.length, 0);
  assert.equal(catalogSource!.kind, 'CatalogSource');
  assert.equal(catalogSource!.metadata.name, 'acme-index');
  assert.equal(catalogSource!.metadata.namespace, 'openshift-marketplace');
  assert.deepEqual(catalogSource!.spec, { image: catalogTarget, sourceType: 'grpc' });
  const pulled = join(dir, 'pulled-catalog');
  await skopeoPull(target, catalogTarget, pulled);
  assert.ok(existsSync(join(pulled, 'manifest.json')));

  // The ICSP maps the digest-pinned source repositories only; tag-only sources are named on stderr as oc does.
  const icsps = yamlDocuments(join(manifests, 'imageContentSourcePolicy.yaml'));
  assert.equal(icsps.length, 1);
  assert.equal(icsps[0]!.metadata.name, 'acme-index-0');
  assert.deepEqual(icsps[0]!.spec.repositoryDigestMirrors, [
    { source: `${source.host}/acme/operand`, mirrors: [`${dest}/acme-operand`] },
    { source: `${source.host}/acme/operator`, mirrors: [`${dest}/acme-operator`] },
  ]);
  for (const tagged of [images.helper, catalog]) {
    assert.match(run.stderr, new RegExp(`^no digest mapping available for ${escapeRegExp(tagged)}, skip writing to ImageContentSourcePolicy$`, 'm'));
  }
  if (!crdsMissing()) {
    assert.deepEqual(crdValidator('imagecontentsourcepolicies.operator.openshift.io.yaml')(icsps[0]), []);
    assert.deepEqual(crdValidator('catalogsources.operators.coreos.com.yaml')(catalogSource), []);
  }

  // The kept database answers the docs' query: the newest bundle's related images.
  const rows = await sqliteLine(join(extract, 'bundles.db'), `select * from related_image where operatorbundle_name like '${csvPrefix}%';`);
  const related = [...rows.matchAll(/^\s*image = (.*)$/gm)].map((m) => m[1]).sort();
  assert.deepEqual(related, [images.helper, images.operand, images.operator].sort());
  assert.deepEqual([...rows.matchAll(/^operatorbundle_name = (.*)$/gm)].map((m) => m[1]), related.map(() => 'acme-operator.v1.1.0'));

  // A re-run finds everything in place and uploads nothing.
  const again = await olmMirror(['catalog', 'mirror', catalog, dest, '--insecure', '--to-manifests', join(dir, 'manifests-again'),
    '--path', `/:${join(dir, 'extract-again')}`], dir);
  assert.equal(again.code, 0, transcript(again));
  assert.doesNotMatch(again.stdout, /^sha256:/m, 'no image was written');
  assert.match(again.stderr, /^info: images: 0 mirrored .*4 already present.*, 0 failed$/m, transcript(again));
  assert.match(again.stderr, /^info: blobs: 0 uploaded \(0 B\), 0 mounted/m, transcript(again));
  assert.equal(readFileSync(join(dir, 'manifests-again', 'mapping.txt'), 'utf8'), readFileSync(join(manifests, 'mapping.txt'), 'utf8'));
});

test('a subset of mapping.txt, mirrored with image mirror as the docs describe, brings exactly those images', async () => {
  const manifests = join(dir, 'manifests-subset');
  const dest = `${target.host}/subset`;
  const run = await olmMirror(['catalog', 'mirror', catalog, dest, '--insecure', '--manifests-only', '--to-manifests', manifests], dir);
  assert.equal(run.code, 0, transcript(run));
  assert.ok(!(await repositoriesOf(target)).some((r) => r.startsWith('subset/')), '--manifests-only pushed nothing');

  const keep = readMappingFile(manifests).filter((l) => l.source === images.operand || l.source === images.helper);
  assert.equal(keep.length, 2);
  const subset = join(dir, 'subset-mapping.txt');
  writeFileSync(subset, keep.map((l) => `${l.source}=${l.target}\n`).join(''));
  const mirror = await olmMirror(['image', 'mirror', '-f', subset, '--filter-by-os', '.*', '--insecure'], dir);
  assert.equal(mirror.code, 0, transcript(mirror));

  assert.deepEqual((await repositoriesOf(target)).filter((r) => r.startsWith('subset/')), ['subset/acme-helper', 'subset/acme-operand']);
  await assertMirrored(keep);
});

test('a related image that does not exist is reported, the others are mirrored, and the exit status is 1', async () => {
  const missing = `${source.host}/broken/missing@sha256:${'0'.repeat(63)}1`;
  const seeded = await seedPackageManifests(source, join(dir, 'package-manifests-broken'), 'broken', [missing]);
  const brokenCatalog = `${source.host}/broken/broken-index:v1`;
  const build = await olmMirror(['catalog', 'build', '--from-dir', seeded.dir, '--to', brokenCatalog, '--insecure'], dir);
  assert.equal(build.code, 0, transcript(build));

  const manifests = join(dir, 'manifests-broken');
  const dest = `${target.host}/broken-mirror`;
  const run = await olmMirror(['catalog', 'mirror', brokenCatalog, dest, '--insecure', '--to-manifests', manifests], dir);
  assert.equal(run.code, 1, transcript(run));
  const missingTarget = `${dest}/broken-missing:${ocTag(missing)}`;
  // The closing summary names the image and why.
  assert.match(run.stderr, new RegExp(`^error: ${escapeRegExp(missing)} -> ${escapeRegExp(missingTarget)}: .*not found \\(404 MANIFEST_UNKNOWN`, 'm'), transcript(run));
  assert.match(run.stderr, /^info: images: 4 mirrored .* 1 failed$/m, transcript(run));
  assert.match(run.stderr, /errors during mirroring/, transcript(run));

  const lines = readMappingFile(manifests);
  assert.equal(lines.length, 5, 'the missing image still has its mapping line');
  await assertMirrored(lines.filter((l) => l.source !== missing));
});
