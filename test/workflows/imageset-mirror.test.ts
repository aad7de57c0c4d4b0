// olm-mirror mirror -c: an ImageSetConfiguration's catalogs (filtered and rebuilt) and additional images in one run.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { stringify } from 'yaml';
import { startFaultProxy } from '../support/proxy.js';
import type { TestRegistry } from '../support/registry.js';
import { makeLayer, seedImage, sha256 } from '../support/seed.js';
import {
  CONFIGS_LABEL, olmMirror, pushRawImage, readMappingFile, remoteDigest, startRegistries, tarGz, testDir, transcript, yamlDocuments,
} from './helpers.js';

const dir = testDir('imageset');
let source: TestRegistry;
let target: TestRegistry;

before(async () => {
  [source, target] = await startRegistries('plain', 'plain') as [TestRegistry, TestRegistry];
});

/** A file-based catalog image with one package of one bundle whose image is `image`. */
async function fbcCatalog(pkg: string, image: string): Promise<string> {
  const documents = [
    { schema: 'olm.package', name: pkg, defaultChannel: 'stable' },
    { schema: 'olm.channel', package: pkg, name: 'stable', entries: [{ name: `${pkg}.v1.0.0` }] },
    { schema: 'olm.bundle', package: pkg, name: `${pkg}.v1.0.0`, image, properties: [{ type: 'olm.package', value: { packageName: pkg, version: '1.0.0' } }],
      relatedImages: [{ name: 'operator', image }] },
  ];
  const layer = await tarGz([{ name: 'configs/' }, { name: `configs/${pkg}/` }, { name: `configs/${pkg}/catalog.yaml`, content: documents.map((d) => stringify(d)).join('---\n') }]);
  await pushRawImage(source, `cat/${pkg}-index`, 'v1', { layers: [layer], labels: { [CONFIGS_LABEL]: '/configs' }, cmd: ['serve', '/configs'] });
  return `${source.host}/cat/${pkg}-index:v1`;
}

test('two catalogs and an additional image in one run: the blob they share is uploaded once; blocked images stay out', async () => {
  const shared = makeLayer('imageset-shared', 40_000);
  const alpha = await seedImage(source, 'ops/alpha', 'v1', { sharedLayers: [shared], seed: 'is-alpha' });
  const beta = await seedImage(source, 'ops/beta', 'v1', { sharedLayers: [shared], seed: 'is-beta' });
  const extra = await seedImage(source, 'extra/tool', 'v2', { sharedLayers: [shared], seed: 'is-extra' });
  await seedImage(source, 'extra/blocked', 'v1', { seed: 'is-blocked' });
  const alphaCatalog = await fbcCatalog('alpha', `${source.host}/ops/alpha@${alpha.digest}`);
  const betaCatalog = await fbcCatalog('beta', `${source.host}/ops/beta@${beta.digest}`);
  const config = join(dir, 'imageset.yaml');
  writeFileSync(config, stringify({
    apiVersion: 'mirror.openshift.io/v2alpha1', kind: 'ImageSetConfiguration',
    mirror: {
      operators: [{ catalog: alphaCatalog, packages: [{ name: 'alpha' }] }, { catalog: betaCatalog, targetCatalog: 'catalogs/beta', targetTag: 'pinned' }],
      additionalImages: [{ name: `${source.host}/extra/tool:v2` }, { name: `${source.host}/extra/blocked:v1` }],
      blockedImages: [{ name: 'extra/blocked' }],
    },
  }));

  const proxy = await startFaultProxy(target, []);
  try {
    const root = join(dir, 'manifests');
    const run = await olmMirror(['mirror', '-c', config, `${proxy.host}/olm`, '--insecure', '--to-manifests', root], dir);
    assert.equal(run.code, 0, transcript(run));
    assert.match(run.stderr, /additional image .*extra\/blocked:v1 is blocked \(extra\/blocked\) and not mirrored/);
    const sharedDigest = sha256(shared);
    const uploads = proxy.hits.filter((h) => h.method === 'PUT' && decodeURIComponent(h.path).includes(`digest=${sharedDigest}`));
    assert.equal(uploads.length, 1, `the shared layer is uploaded once (then mounted): ${uploads.map((h) => h.path).join(', ')}`);

    const alphaLines = readMappingFile(join(root, 'alpha-index'));
    assert.deepEqual(alphaLines.map((l) => l.source), [`${source.host}/ops/alpha@${alpha.digest}`]);
    for (const l of alphaLines) assert.equal(await remoteDigest(target, l.target.replace(proxy.host, target.host)), alpha.digest);
    const [betaSource] = yamlDocuments(join(root, 'beta-index', 'catalogSource.yaml'));
    assert.equal(betaSource!.spec.image, `${proxy.host}/olm/catalogs/beta:pinned`);
    assert.ok(await remoteDigest(target, `${target.host}/olm/catalogs/beta:pinned`));
    const extraLines = readMappingFile(join(root, 'additional-images'));
    assert.deepEqual(extraLines.map((l) => l.source), [`${source.host}/extra/tool:v2`]);
    assert.equal(await remoteDigest(target, extraLines[0]!.target.replace(proxy.host, target.host)), extra.digest);
  } finally {
    await proxy.stop();
  }
});

test('an ImageSetConfiguration with a field olm-mirror does not implement exits 2 naming it', async () => {
  const config = join(dir, 'unsupported.yaml');
  writeFileSync(config, stringify({
    apiVersion: 'mirror.openshift.io/v2alpha1', kind: 'ImageSetConfiguration',
    mirror: { platform: { channels: [{ name: 'stable-4.14' }] }, operators: [{ catalog: `${source.host}/cat/alpha-index:v1` }] },
  }));
  const run = await olmMirror(['mirror', '-c', config, `${target.host}/olm`, '--insecure'], dir);
  assert.equal(run.code, 2, transcript(run));
  assert.match(run.stderr, /mirror\.platform/);
});

test('across an air gap: mirror -c into a folder, then from it with the proxy to the source gone', async () => {
  const op = await seedImage(source, 'ops/gamma', 'v1', { seed: 'is-gamma' });
  const tool = await seedImage(source, 'extra/gap-tool', 'v1', { seed: 'is-gap-tool' });
  const proxy = await startFaultProxy(source, []);
  const config = join(dir, 'imageset-gap.yaml');
  const folder = join(dir, 'imageset-disk');
  try {
    const catalog = (await fbcCatalog('gamma', `${source.host}/ops/gamma@${op.digest}`)).replace(source.host, proxy.host);
    writeFileSync(config, stringify({
      apiVersion: 'mirror.openshift.io/v2alpha1', kind: 'ImageSetConfiguration',
      mirror: { operators: [{ catalog, packages: [{ name: 'gamma' }] }], additionalImages: [{ name: `${proxy.host}/extra/gap-tool:v1` }] },
    }));
    const near = await olmMirror(['mirror', '-c', config, `file://${folder}`, '--insecure'], dir);
    assert.equal(near.code, 0, transcript(near));
    assert.match(near.stdout, /to mirror from disk on the other side, run: olm-mirror mirror -c .* DEST --from-dir /);
  } finally {
    await proxy.stop();
  }
  const root = join(dir, 'manifests-far');
  const far = await olmMirror(['mirror', '-c', config, `${target.host}/far`, '--insecure', '--from-dir', folder, '--to-manifests', root], dir);
  assert.equal(far.code, 0, transcript(far));
  const lines = readMappingFile(join(root, 'gamma-index'));
  assert.deepEqual(lines.map((l) => l.source), [`${source.host}/ops/gamma@${op.digest}`]);
  assert.equal(await remoteDigest(target, lines[0]!.target), op.digest);
  const [catalogSource] = yamlDocuments(join(root, 'gamma-index', 'catalogSource.yaml'));
  assert.ok(await remoteDigest(target, catalogSource!.spec.image as string), 'the rebuilt catalog is at the target');
  const extra = readMappingFile(join(root, 'additional-images'));
  assert.equal(await remoteDigest(target, extra[0]!.target), tool.digest);
});
