// `catalog mirror` flags: what --manifests-only and --dry-run leave untouched, how --max-icsp-size,
// --icsp-scope and --max-components shape the output, and bad flags refused before any work.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { crdValidator, crdsMissing } from '../cluster/crd.js';
import type { TestRegistry } from '../support/registry.js';
import {
  escapeRegExp, ocTag, olmMirror, readMappingFile, repositoriesOf, seedCatalogImage, seedPackageManifests, startRegistries, testDir, transcript, yamlDocuments,
  type SourceImages,
} from './helpers.js';

const dir = testDir('catalog-options');
let source: TestRegistry;
let target: TestRegistry;
let images: SourceImages;
let catalog: string;

before(async () => {
  [source, target] = await startRegistries('plain', 'plain') as [TestRegistry, TestRegistry];
  ({ images, catalog } = await seedCatalogImage(source, dir, 'opts', 'v2'));
});

const catalogMirror = (args: string[]) => olmMirror(['catalog', 'mirror', catalog, ...args, '--insecure'], dir);

test('--manifests-only writes every file and pushes nothing; --icsp-scope registry maps whole registries', async () => {
  const manifests = join(dir, 'manifests-only');
  const run = await catalogMirror([`${target.host}/olm`, '--manifests-only', '--icsp-scope', 'registry', '--to-manifests', manifests]);
  assert.equal(run.code, 0, transcript(run));
  assert.deepEqual(await repositoriesOf(target), [], 'the target registry is still empty');
  assert.equal(readMappingFile(manifests).length, 4);
  assert.match(run.stdout, new RegExp(`^to upload the images, run: olm-mirror image mirror -f ${manifests}/mapping.txt$`, 'm'));
  assert.deepEqual(readdirSync(manifests), [
    'catalogSource.yaml', 'clusterCatalog.yaml', 'imageContentSourcePolicy.yaml', 'imageDigestMirrorSet.yaml', 'imageTagMirrorSet.yaml',
    'mapping.txt', 'registries.conf',
  ]);

  const rules = [{ source: source.host, mirrors: [target.host] }];
  const [icsp, ...moreIcsps] = yamlDocuments(join(manifests, 'imageContentSourcePolicy.yaml'));
  assert.equal(moreIcsps.length, 0);
  assert.deepEqual(icsp!.spec.repositoryDigestMirrors, rules);
  const [idms, ...moreIdms] = yamlDocuments(join(manifests, 'imageDigestMirrorSet.yaml'));
  assert.equal(moreIdms.length, 0);
  assert.deepEqual(idms!.spec.imageDigestMirrors, rules);
  // The tag-only sources (the helper image and the catalog) are on the same source registry.
  const [itms, ...moreItms] = yamlDocuments(join(manifests, 'imageTagMirrorSet.yaml'));
  assert.equal(moreItms.length, 0);
  assert.deepEqual(itms!.spec.imageTagMirrors, rules);
  if (!crdsMissing()) {
    assert.deepEqual(crdValidator('imagecontentsourcepolicies.operator.openshift.io.yaml')(icsp), []);
    assert.deepEqual(crdValidator('imagedigestmirrorsets.config.openshift.io.yaml')(idms), []);
    assert.deepEqual(crdValidator('imagetagmirrorsets.config.openshift.io.yaml')(itms), []);
  }
});

test('--dry-run shows the plan and pushes nothing', async () => {
  const dest = `${target.host}/dry`;
  const run = await catalogMirror([dest, '--dry-run', '--to-manifests', join(dir, 'manifests-dry')]);
  assert.equal(run.code, 0, transcript(run));
  assert.deepEqual(await repositoriesOf(target), []);
  assert.match(run.stderr, /^info: dry run: nothing was written$/m);
  assert.match(run.stderr, /^plan: 4 images \(4 to push, 0 to tag, 0 already present, 0 skipped, 0 failed\)/m, transcript(run));
  // The catalog image is copied by the digest that was read (its tag could move meanwhile).
  for (const [src, dst] of [[images.operator, `${dest}/opts-operator:${ocTag(images.operator)}`], [`${catalog}@`, `${dest}/opts-opts-index:v2`]]) {
    const line = new RegExp(`^${escapeRegExp(src)}(?:sha256:[0-9a-f]{64})? -> ${escapeRegExp(dst)}: push$`, 'm');
    assert.match(run.stderr, line, `the plan shows ${src}\n${transcript(run)}`);
  }
  assert.doesNotMatch(run.stdout, /^sha256:/m, 'no image reported as written');
});

test('--max-icsp-size splits the policy into several objects, each within the size and valid', async () => {
  const manifests = join(dir, 'manifests-small-icsp');
  const maxSize = 300;
  const run = await catalogMirror([`${target.host}/olm`, '--manifests-only', '--max-icsp-size', String(maxSize), '--to-manifests', manifests]);
  assert.equal(run.code, 0, transcript(run));
  const text = readFileSync(join(manifests, 'imageContentSourcePolicy.yaml'), 'utf8');
  const objects = text.split(/^---\n/m);
  const icsps = yamlDocuments(join(manifests, 'imageContentSourcePolicy.yaml'));
  assert.equal(icsps.length, 2, text);
  assert.deepEqual(icsps.map((o) => o.metadata.name), ['opts-index-0', 'opts-index-1']);
  for (const object of objects) assert.ok(Buffer.byteLength(object) <= maxSize, `${Buffer.byteLength(object)} bytes:\n${object}`);
  assert.deepEqual(icsps.flatMap((o) => o.spec.repositoryDigestMirrors.map((r: { source: string }) => r.source)),
    [`${source.host}/opts/operand`, `${source.host}/opts/operator`]);
  if (!crdsMissing()) {
    const validate = crdValidator('imagecontentsourcepolicies.operator.openshift.io.yaml');
    for (const icsp of icsps) assert.deepEqual(validate(icsp), []);
  }
});

test('--max-components: 2 by default, 0 keeps every component, 3 joins what is beyond the third', async () => {
  const dest = `${target.host}/team/olm`;
  const expected: Record<string, string> = {
    default: `${target.host}/team/olm-opts-operator`,
    0: `${dest}/opts/operator`,
    3: `${dest}/opts-operator`,
  };
  for (const [value, repository] of Object.entries(expected)) {
    const manifests = join(dir, `manifests-components-${value}`);
    const run = await catalogMirror([dest, '--manifests-only', '--to-manifests', manifests, ...(value === 'default' ? [] : ['--max-components', value])]);
    assert.equal(run.code, 0, transcript(run));
    const line = readMappingFile(manifests).find((l) => l.source === images.operator)!;
    assert.equal(line.target, `${repository}:${ocTag(images.operator)}`, `--max-components ${value}`);
  }
});

test('sources that share a target name are named in a warning; the catalog\'s own image is mirrored once', async () => {
  const clashing = 'other.invalid/clash/helper:v1';
  const clashCatalog = `${source.host}/clash/clash-index:v1`;
  const seeded = await seedPackageManifests(source, join(dir, 'package-manifests-clash'), 'clash', [clashing, clashCatalog]);
  const build = await olmMirror(['catalog', 'build', '--from-dir', seeded.dir, '--to', clashCatalog, '--insecure'], dir);
  assert.equal(build.code, 0, transcript(build));

  const manifests = join(dir, 'manifests-clash');
  const dest = `${target.host}/olm`;
  const run = await olmMirror(['catalog', 'mirror', clashCatalog, dest, '--insecure', '--manifests-only', '--to-manifests', manifests], dir);
  assert.equal(run.code, 0, transcript(run));
  const sharedTarget = `${dest}/clash-helper:v1`;
  assert.ok(run.stderr.includes(`warning: ${seeded.images.helper} and ${clashing} are all mirrored to ${sharedTarget}, which can hold only one of them`),
    transcript(run));
  const lines = readMappingFile(manifests);
  assert.deepEqual(lines.filter((l) => l.target === sharedTarget).map((l) => l.source).sort(), [clashing, seeded.images.helper].sort());
  assert.deepEqual(lines.filter((l) => l.source === clashCatalog).map((l) => l.target), [`${dest}/clash-clash-index:v1`]);
  assert.equal(lines.length, 5);
});

test('bad flags and arguments exit 2 with a message, before any work', async () => {
  const cases: [string[], RegExp][] = [
    [['--max-components', '1'], /max components must be 0 \(no limit\) or an integer of at least 2, got 1/],
    [['--max-icsp-size', '0'], /expected an integer between 1 and 250000, got "0"/],
    [['--max-icsp-size', '250001'], /expected an integer between 1 and 250000, got "250001"/],
    [['--icsp-scope', 'cluster'], /Allowed choices are repository, registry/],
    [['--path', 'no-colon'], /--path "no-colon": expected <in-image path>:<local folder>/],
    [['--path', 'relative:/tmp/x'], /--path "relative:\/tmp\/x": expected <in-image path>:<local folder>/],
    [['--path', '/..:/tmp/x'], /--path: "\/\.\." is no absolute path inside the image/],
    [['--continue-on-error=maybe'], /expected true or false, got "maybe"/],
    [['--max-per-registry', '0'], /expected a positive integer, got "0"/],
  ];
  for (const [flags, message] of cases) {
    const manifests = join(dir, 'manifests-never');
    const run = await catalogMirror([`${target.host}/olm`, '--to-manifests', manifests, ...flags]);
    assert.equal(run.code, 2, `${flags.join(' ')}: ${transcript(run)}`);
    assert.match(run.stderr, message, flags.join(' '));
    assert.ok(!existsSync(manifests), `${flags.join(' ')}: nothing written`);
  }
  const badDest = await olmMirror(['catalog', 'mirror', catalog, `${target.host}/Upper/Case`, '--insecure'], dir);
  assert.equal(badDest.code, 2, transcript(badDest));
  assert.match(badDest.stderr, /destination namespace "Upper\/Case" must be lowercase/);
  const badSource = await olmMirror(['catalog', 'mirror', `${source.host}/opts/opts-index:v2:v3`, `${target.host}/olm`, '--insecure'], dir);
  assert.equal(badSource.code, 2, transcript(badSource));
  assert.match(badSource.stderr, /opts-index:v2:v3/);
  assert.deepEqual(await repositoriesOf(target), []);
});
