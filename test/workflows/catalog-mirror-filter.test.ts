// catalog mirror with a selection: only the kept bundles' images are mirrored, and the catalog image is
// rebuilt around the filtered catalog (its serve cache whited out, its command serving without one).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { stringify } from 'yaml';
import type { TestRegistry } from '../support/registry.js';
import { rawGetBlob, seedImage } from '../support/seed.js';
import { skopeoInspectRaw } from '../support/skopeo.js';
import {
  CONFIGS_LABEL, olmMirror, pushRawImage, readMappingFile, remoteDigest, seedCatalogImage, startRegistries, tarGz, testDir, transcript, yamlDocuments,
} from './helpers.js';

const dir = testDir('catalog-filter');
let source: TestRegistry;
let target: TestRegistry;
const at = (repo: string, digest: string) => `${source.host}/${repo}@${digest}`;

before(async () => {
  [source, target] = await startRegistries('plain', 'plain') as [TestRegistry, TestRegistry];
});

test('--package keeps that package\'s channel heads; the rebuilt catalog serves only them, without the stale cache', async () => {
  const seeded = {
    bundle1: await seedImage(source, 'shop/shop-bundle', 'v1.0.0', { layerSizes: [300], seed: 'f-b1' }),
    bundle2: await seedImage(source, 'shop/shop-bundle', 'v1.1.0', { layerSizes: [300], seed: 'f-b2' }),
    operator: await seedImage(source, 'shop/shop-operator', 'v1', { layerSizes: [700], seed: 'f-op' }),
    other: await seedImage(source, 'shop/other-bundle', 'v2', { layerSizes: [400], seed: 'f-other' }),
  };
  const images = {
    bundle1: at('shop/shop-bundle', seeded.bundle1.digest), bundle2: at('shop/shop-bundle', seeded.bundle2.digest),
    operator: at('shop/shop-operator', seeded.operator.digest), other: at('shop/other-bundle', seeded.other.digest),
  };
  const bundle = (pkg: string, version: string, image: string, related: string[]) => ({
    schema: 'olm.bundle', package: pkg, name: `${pkg}.v${version}`, image,
    properties: [{ type: 'olm.package', value: { packageName: pkg, version } }],
    relatedImages: related.map((ref, i) => ({ name: `image-${i}`, image: ref })),
  });
  const documents = [
    { schema: 'olm.package', name: 'shop', defaultChannel: 'stable' },
    { schema: 'olm.channel', package: 'shop', name: 'stable', entries: [{ name: 'shop.v1.0.0' }, { name: 'shop.v1.1.0', replaces: 'shop.v1.0.0' }] },
    bundle('shop', '1.0.0', images.bundle1, [images.bundle1, images.operator]),
    bundle('shop', '1.1.0', images.bundle2, [images.bundle2, images.operator]),
    { schema: 'olm.package', name: 'other', defaultChannel: 'alpha' },
    { schema: 'olm.channel', package: 'other', name: 'alpha', entries: [{ name: 'other.v2.0.0' }] },
    bundle('other', '2.0.0', images.other, [images.other]),
  ];
  const layer = await tarGz([
    { name: 'configs/' }, { name: 'configs/shop/' },
    { name: 'configs/shop/catalog.yaml', content: documents.map((d) => stringify(d)).join('---\n') },
    { name: 'tmp/' }, { name: 'tmp/cache/' }, { name: 'tmp/cache/pogreb.v1/' }, { name: 'tmp/cache/pogreb.v1/db', content: 'stale cache of the full catalog' },
  ]);
  await pushRawImage(source, 'shop/shop-catalog', 'v4', {
    layers: [layer], labels: { [CONFIGS_LABEL]: '/configs' },
    entrypoint: ['/bin/opm'], cmd: ['serve', '/configs', '--cache-dir=/tmp/cache', '--cache-enforce-integrity'],
  });
  const catalog = `${source.host}/shop/shop-catalog:v4`;
  const dest = `${target.host}/filtered`;
  const manifests = join(dir, 'manifests-fbc');
  const run = await olmMirror(['catalog', 'mirror', catalog, dest, '--insecure', '--package', 'shop', '--to-manifests', manifests], dir);
  assert.equal(run.code, 0, transcript(run));
  assert.match(run.stderr, /the selection keeps:[\s\S]*shop\.v1\.1\.0/);

  // Only the head's images; no line for the catalog (the mirrored one is a new image, not a copy).
  const lines = readMappingFile(manifests);
  assert.deepEqual(lines.map((l) => l.source).sort(), [images.bundle2, images.operator].sort());
  for (const { source: src, target: dst } of lines) assert.equal(await remoteDigest(target, dst), src.slice(src.indexOf('@') + 1));

  const rebuiltRef = `${dest}/shop-shop-catalog:v4`;
  const [catalogSource] = yamlDocuments(join(manifests, 'catalogSource.yaml'));
  assert.equal(catalogSource!.spec.image, rebuiltRef);
  const rebuiltDigest = await remoteDigest(target, rebuiltRef);
  const [clusterCatalog] = yamlDocuments(join(manifests, 'clusterCatalog.yaml'));
  assert.equal(clusterCatalog!.spec.source.image.ref, `${dest}/shop-shop-catalog@${rebuiltDigest}`);

  // The rebuilt image: the catalog holds only the kept bundle.
  const listed = await olmMirror(['catalog', 'list', rebuiltRef, '--insecure', '--full', '--bundle', '%'], dir);
  assert.equal(listed.code, 0, transcript(listed));
  const bundles = (stdout: string) => stdout.trim().split('\n').slice(1).map((row) => row.split(/\s+/)[1]);
  assert.deepEqual(bundles(listed.stdout), ['shop.v1.1.0'], listed.stdout);
  // Its command serves without a cache, and its new layer whites the stale one out.
  const manifest = JSON.parse((await skopeoInspectRaw(target, 'filtered/shop-shop-catalog:v4')).toString('utf8')) as { config: { digest: string }; layers: { digest: string }[] };
  assert.equal(manifest.layers.length, 2, 'the original layer plus the catalog layer');
  const config = JSON.parse((await rawGetBlob(target, 'filtered/shop-shop-catalog', manifest.config.digest)).toString('utf8')) as { config: { Cmd: string[]; Entrypoint: string[]; Labels: Record<string, string> } };
  assert.deepEqual(config.config.Cmd, ['serve', '/configs']);
  assert.deepEqual(config.config.Entrypoint, ['/bin/opm']);
  assert.equal(config.config.Labels[CONFIGS_LABEL], '/configs');
  const layerFile = join(dir, 'new-layer.tar.gz');
  writeFileSync(layerFile, await rawGetBlob(target, 'filtered/shop-shop-catalog', manifest.layers[1]!.digest));
  const entries = execFileSync('tar', ['-tzf', layerFile], { encoding: 'utf8' }).trim().split('\n');
  assert.ok(entries.includes('tmp/.wh.cache'), entries.join(', '));
  assert.ok(entries.includes('configs/.wh..wh..opq'), entries.join(', '));
});

test('a SQLite catalog pinned with --max-version: the pruned database and only that version\'s images', async () => {
  const { catalog, images } = await seedCatalogImage(source, dir, 'pin', 'v1');
  const dest = `${target.host}/pinned`;
  const manifests = join(dir, 'manifests-sqlite');
  const run = await olmMirror(['catalog', 'mirror', catalog, dest, '--insecure', '--max-version', 'pin-operator=1.0.0', '--to-manifests', manifests], dir);
  assert.equal(run.code, 0, transcript(run));
  // v1.0.0 names the operator and the operand; the helper only comes with v1.1.0.
  assert.deepEqual(readMappingFile(manifests).map((l) => l.source).sort(), [images.operand, images.operator].sort());
  const listed = await olmMirror(['catalog', 'list', `${dest}/pin-pin-index:v1`, '--insecure', '--full', '--bundle', '%'], dir);
  assert.equal(listed.code, 0, transcript(listed));
  assert.deepEqual(listed.stdout.trim().split('\n').slice(1).map((row) => row.split(/\s+/)[1]), ['pin-operator.v1.0.0'], listed.stdout);
});
