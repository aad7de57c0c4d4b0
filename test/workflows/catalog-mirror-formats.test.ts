// `catalog mirror` for every kind of catalog image users meet: a multi-arch catalog (the platform
// chosen with --index-filter-by-os), a file-based catalog, a bundle-format SQLite index, and a
// hostile image whose layer tries to write outside the extraction folder.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { stringify } from 'yaml';
import { fixturesDir, fixturesMissing } from '../support/paths.js';
import type { TestRegistry } from '../support/registry.js';
import { seedImage } from '../support/seed.js';
import { skopeoInspectRaw } from '../support/skopeo.js';
import {
  CONFIGS_LABEL, DATABASE_LABEL, escapeRegExp, ocTag, olmMirror, pushRawImage, readMappingFile, remoteDigest, seedPackageManifests,
  startRegistries, tarGz, testDir, transcript, yamlDocuments,
} from './helpers.js';

const dir = testDir('catalog-formats');
let source: TestRegistry;
let target: TestRegistry;

before(async () => {
  [source, target] = await startRegistries('plain', 'plain') as [TestRegistry, TestRegistry];
});

const stdoutLines = (text: string) => text.split('\n');

test('a multi-arch catalog image: --index-filter-by-os picks the entry to read, the whole list is mirrored', async () => {
  const seeded = await seedPackageManifests(source, join(dir, 'multi-manifests'), 'multi');
  const catalog = `${source.host}/multi/multi-index:v1`;
  const build = await olmMirror(['catalog', 'build', '--from-dir', seeded.dir, '--to', catalog, '--insecure',
    '--platform', 'linux/amd64', '--platform', 'linux/arm64'], dir);
  assert.equal(build.code, 0, transcript(build));
  const list = JSON.parse((await skopeoInspectRaw(source, 'multi/multi-index:v1')).toString('utf8')) as
    { manifests: { digest: string; platform: { architecture: string } }[] };
  const entry = (arch: string) => list.manifests.find((m) => m.platform.architecture === arch)!.digest;
  const listDigest = await remoteDigest(source, catalog);

  const manifests = join(dir, 'manifests-multi');
  const dest = `${target.host}/multi-mirror`;
  const run = await olmMirror(['catalog', 'mirror', catalog, dest, '--insecure', '--index-filter-by-os', 'linux/arm64',
    '--to-manifests', manifests], dir);
  assert.equal(run.code, 0, transcript(run));
  assert.ok(stdoutLines(run.stdout).includes(`chose ${entry('arm64')} from manifest list ${listDigest} (the entry matching --index-filter-by-os linux/arm64)`),
    transcript(run));
  // The catalog's manifest list arrives whole: same digest, both platforms.
  assert.equal(await remoteDigest(target, `${dest}/multi-multi-index:v1`), listDigest);
  assert.equal(readMappingFile(manifests).length, 4);
  // The ClusterCatalog pins what was mirrored: the list, not the entry that was read.
  const [clusterCatalog] = yamlDocuments(join(manifests, 'clusterCatalog.yaml'));
  assert.equal(clusterCatalog!.spec.source.image.ref, `${dest}/multi-multi-index@${listDigest}`);

  const none = await olmMirror(['catalog', 'mirror', catalog, dest, '--insecure', '--index-filter-by-os', 'linux/s390x', '--manifests-only',
    '--to-manifests', join(dir, 'manifests-none')], dir);
  assert.equal(none.code, 1, transcript(none));
  assert.match(none.stderr, /no entry matches the platform "linux\/s390x"/, transcript(none));
  // The error lists every platform with its digest, so the user can pick one.
  assert.match(none.stderr, /OS\/ARCH\s+DIGEST/);
  assert.match(none.stderr, new RegExp(`linux/amd64\\s+${entry('amd64')}`));
  assert.match(none.stderr, new RegExp(`linux/arm64\\s+${entry('arm64')}`));
  assert.ok(!existsSync(join(dir, 'manifests-none')), 'nothing written when the catalog cannot be read');

  const several = await olmMirror(['catalog', 'mirror', catalog, dest, '--insecure', '--index-filter-by-os', 'linux/.*', '--manifests-only',
    '--to-manifests', join(dir, 'manifests-several')], dir);
  assert.equal(several.code, 1, transcript(several));
  assert.match(several.stderr, /2 entries match the platform "linux\/\.\*", give a narrower pattern/, transcript(several));
});

test('a file-based catalog image: every bundle image and related image is mirrored', async () => {
  const bundle1 = await seedImage(source, 'shop/shop-bundle', 'v1.0.0', { layerSizes: [300] });
  const bundle2 = await seedImage(source, 'shop/shop-bundle', 'v1.1.0', { layerSizes: [300] });
  const operator = await seedImage(source, 'shop/shop-operator', 'v1', { layerSizes: [700] });
  const operand = await seedImage(source, 'shop/shop-operand', 'v1', { platforms: ['linux/amd64', 'linux/ppc64le'], layerSizes: [500] });
  const at = (repo: string, digest: string) => `${source.host}/${repo}@${digest}`;
  const images = {
    bundle1: at('shop/shop-bundle', bundle1.digest),
    bundle2: at('shop/shop-bundle', bundle2.digest),
    operator: at('shop/shop-operator', operator.digest),
    operand: at('shop/shop-operand', operand.digest),
  };
  const bundle = (version: string, image: string, related: string[]) => ({
    schema: 'olm.bundle', package: 'shop', name: `shop.v${version}`, image,
    properties: [{ type: 'olm.package', value: { packageName: 'shop', version } }],
    relatedImages: related.map((ref, i) => ({ name: `image-${i}`, image: ref })),
  });
  const documents = [
    { schema: 'olm.package', name: 'shop', defaultChannel: 'stable' },
    { schema: 'olm.channel', package: 'shop', name: 'stable', entries: [{ name: 'shop.v1.0.0' }, { name: 'shop.v1.1.0', replaces: 'shop.v1.0.0' }] },
    bundle('1.0.0', images.bundle1, [images.bundle1, images.operator]),
    bundle('1.1.0', images.bundle2, [images.bundle2, images.operator, images.operand]),
  ];
  const layer = await tarGz([
    { name: 'configs/' }, { name: 'configs/shop/' },
    { name: 'configs/shop/catalog.yaml', content: documents.map((d) => stringify(d)).join('---\n') },
  ]);
  await pushRawImage(source, 'shop/shop-catalog', 'v4', { layers: [layer], labels: { [CONFIGS_LABEL]: '/configs' } });
  const catalog = `${source.host}/shop/shop-catalog:v4`;

  const manifests = join(dir, 'manifests-fbc');
  const extract = join(dir, 'extract-fbc');
  const dest = `${target.host}/fbc`;
  const run = await olmMirror(['catalog', 'mirror', catalog, dest, '--insecure', '--to-manifests', manifests, '--path', `/configs:${extract}`], dir);
  assert.equal(run.code, 0, transcript(run));
  for (const line of ['src image has index label for declarative configs path: /configs', `using index path mapping: /configs:${extract}`,
    `wrote declarative configs to ${extract}`, `using declarative configs at: ${extract}/configs`]) {
    assert.ok(stdoutLines(run.stdout).includes(line), `stdout has "${line}"\n${transcript(run)}`);
  }

  const lines = readMappingFile(manifests);
  assert.deepEqual(lines.map((l) => l.source).sort(), [catalog, ...Object.values(images)].sort());
  for (const { source: src, target: dst } of lines) {
    if (src === catalog) {
      assert.equal(dst, `${dest}/shop-shop-catalog:v4`);
      assert.equal(await remoteDigest(target, dst), await remoteDigest(source, src));
      continue;
    }
    const digest = src.slice(src.indexOf('@') + 1);
    assert.equal(dst, `${dest}/${src.slice(source.host.length + 1, src.indexOf('@')).replace('/', '-')}:${ocTag(src)}`);
    assert.equal(await remoteDigest(target, dst), digest, `${dst} holds ${src}`);
  }
});

test('a bundle-format SQLite index (upstream fixture): the mapping names every bundle image and related image', { skip: fixturesMissing() }, async () => {
  const layer = await tarGz([{ name: 'database/' }, { name: 'database/index.db', content: readFileSync(join(fixturesDir, 'db', 'foo-index-v12.db')) }]);
  await pushRawImage(source, 'upstream/foo-index', 'v12', { layers: [layer], labels: { [DATABASE_LABEL]: '/database/index.db' } });
  const catalog = `${source.host}/upstream/foo-index:v12`;

  // The images live on test.registry, which does not exist: --manifests-only must not touch them, nor DEST.
  const manifests = join(dir, 'manifests-index');
  const extract = join(dir, 'extract-index');
  const dest = 'mirror.invalid:5000/olm';
  const run = await olmMirror(['catalog', 'mirror', catalog, dest, '--insecure', '--manifests-only', '--to-manifests', manifests,
    '--path', `/database/index.db:${extract}`], dir);
  assert.equal(run.code, 0, transcript(run));
  for (const line of ['src image has index label for database path: /database/index.db', `using database path mapping: /database/index.db:${extract}`,
    `wrote database to ${extract}`, `using database at: ${extract}/database/index.db`]) {
    assert.ok(stdoutLines(run.stdout).includes(line), `stdout has "${line}"\n${transcript(run)}`);
  }
  assert.equal(readFileSync(join(manifests, 'mapping.txt'), 'utf8'), [
    `${catalog}=${dest}/upstream-foo-index:v12`,
    `test.registry/foo-operator/foo-bundle:v0.1.0=${dest}/foo-operator-foo-bundle:v0.1.0`,
    `test.registry/foo-operator/foo-bundle:v0.2.0=${dest}/foo-operator-foo-bundle:v0.2.0`,
    `test.registry/foo-operator/foo:v0.1.0=${dest}/foo-operator-foo:v0.1.0`,
    `test.registry/foo-operator/foo:v0.2.0=${dest}/foo-operator-foo:v0.2.0`,
  ].map((l) => `${l}\n`).join(''));
  assert.match(run.stderr, /^no digest mapping available for test\.registry\/foo-operator\/foo:v0\.1\.0, skip writing to ImageContentSourcePolicy$/m);
  assert.match(run.stdout, /olm-mirror image mirror -f .*mapping\.txt/, 'tells how to upload later');
});

test('a catalog image whose layer writes outside the extraction folder is refused', async () => {
  const hostile = [
    { entries: [{ name: 'bundles.db', content: 'not used' }, { name: '../evil', content: 'escaped' }], entry: '../evil' },
    { entries: [{ name: 'escape', symlinkTo: '../..' }, { name: 'escape/evil', content: 'escaped' }], entry: 'escape' },
  ];
  for (const [i, { entries, entry }] of hostile.entries()) {
    await pushRawImage(source, 'hostile/catalog', `v${i}`, { layers: [await tarGz(entries)] });
    const work = join(dir, `hostile-${i}`);
    const extract = join(work, 'extract', 'catalog');
    const run = await olmMirror(['catalog', 'mirror', `${source.host}/hostile/catalog:v${i}`, `${target.host}/hostile`, '--insecure',
      '--to-manifests', join(work, 'manifests'), '--path', `/:${extract}`], dir);
    assert.equal(run.code, 1, transcript(run));
    assert.match(run.stderr, new RegExp(`^error: cannot extract layer 1/1 \\(sha256:[0-9a-f]{64}\\) of ${escapeRegExp(`${source.host}/hostile/catalog:v${i}`)}: `
      + `entry "${escapeRegExp(entry)}"`, 'm'), transcript(run));
    assert.deepEqual(readdirSync(work), ['extract'], 'nothing was written beside the extraction folder');
    assert.ok(!readdirSync(join(work, 'extract')).some((name) => name !== 'catalog'));
    assert.ok(!existsSync(join(dir, 'evil')) && !existsSync(join(work, 'evil')));
  }
});
