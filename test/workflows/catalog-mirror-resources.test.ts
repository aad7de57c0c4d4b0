// The cluster resources `catalog mirror` writes beside mapping.txt for clusters that do not read an
// ICSP: ImageTagMirrorSet, the OLM v1 ClusterCatalog, and registries.conf for CRI-O and podman
// nodes, checked against the CRDs and, with the source registry stopped, by skopeo pulling every
// source reference through the generated registries.conf from the mirror.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseToml } from 'smol-toml';
import { CLUSTER_CATALOG_CEL, celValidator, crdValidator, crdsMissing } from '../cluster/crd.js';
import type { TestRegistry } from '../support/registry.js';
import { sha256 } from '../support/seed.js';
import {
  ocTag, olmMirror, readMappingFile, remoteDigest, seedCatalogImage, startRegistries, testDir, transcript, yamlDocuments, type SourceImages,
} from './helpers.js';

const dir = testDir('catalog-resources');
let source: TestRegistry;
let target: TestRegistry;
let images: SourceImages;
let catalog: string;

before(async () => {
  // The mirror serves HTTPS with its own CA, so the generated registries.conf is used as it is (no `insecure`).
  [source, target] = await startRegistries('plain', 'tls') as [TestRegistry, TestRegistry];
  ({ images, catalog } = await seedCatalogImage(source, dir, 'res', 'v1'));
});

/** `skopeo --registries-conf CONF inspect --raw docker://REF`, trusting the mirror's CA: the manifest bytes, or skopeo's error. */
async function inspectThrough(conf: string, ref: string): Promise<{ manifest?: Buffer; error?: string }> {
  try {
    const { stdout } = await promisify(execFile)('skopeo', ['--registries-conf', conf, 'inspect', '--raw', '--retry-times', '0',
      '--cert-dir', target.certDir!, '--authfile', target.authFile, `docker://${ref}`], { encoding: 'buffer', timeout: 60_000 });
    return { manifest: stdout };
  } catch (err) {
    return { error: String((err as { stderr?: Buffer }).stderr ?? err) };
  }
}

test('ImageTagMirrorSet, ClusterCatalog and registries.conf are written and valid; skopeo pulls every source from the mirror through registries.conf', async () => {
  const manifests = join(dir, 'manifests');
  const dest = `${target.host}/olm`;
  const run = await olmMirror(['catalog', 'mirror', catalog, dest, '--insecure', '--to-manifests', manifests], dir);
  assert.equal(run.code, 0, transcript(run));
  assert.deepEqual(readdirSync(manifests), [
    'catalogSource.yaml', 'clusterCatalog.yaml', 'imageContentSourcePolicy.yaml', 'imageDigestMirrorSet.yaml', 'imageTagMirrorSet.yaml',
    'mapping.txt', 'registries.conf',
  ]);

  // The ITMS holds exactly the tag-only sources: the helper image and the catalog itself.
  const [itms, ...moreItms] = yamlDocuments(join(manifests, 'imageTagMirrorSet.yaml'));
  assert.equal(moreItms.length, 0);
  assert.equal(itms!.kind, 'ImageTagMirrorSet');
  assert.equal(itms!.metadata.name, 'res-index-0');
  assert.deepEqual(itms!.spec.imageTagMirrors, [
    { source: `${source.host}/res/helper`, mirrors: [`${dest}/res-helper`] },
    { source: `${source.host}/res/res-index`, mirrors: [`${dest}/res-res-index`] },
  ]);

  // The ClusterCatalog names the mirrored catalog by the digest the source has, and the mirror holds it.
  const catalogDigest = await remoteDigest(source, catalog);
  const [clusterCatalog, ...moreCatalogs] = yamlDocuments(join(manifests, 'clusterCatalog.yaml'));
  assert.equal(moreCatalogs.length, 0);
  assert.equal(clusterCatalog!.apiVersion, 'olm.operatorframework.io/v1');
  assert.equal(clusterCatalog!.metadata.name, 'res-index');
  assert.deepEqual(clusterCatalog!.spec, { source: { type: 'Image', image: { ref: `${dest}/res-res-index@${catalogDigest}` } } });
  assert.equal(await remoteDigest(target, clusterCatalog!.spec.source.image.ref), catalogDigest);

  if (!crdsMissing()) {
    assert.deepEqual(crdValidator('imagetagmirrorsets.config.openshift.io.yaml')(itms), []);
    assert.deepEqual(crdValidator('clustercatalogs.olm.operatorframework.io.yaml')(clusterCatalog), []);
    assert.deepEqual(celValidator('clustercatalogs.olm.operatorframework.io.yaml', CLUSTER_CATALOG_CEL)(clusterCatalog), []);
  }

  // registries.conf: a [[registry]] per source repository, digest-only mirrors for the digest-pinned
  // sources, tag-only for the others.
  const conf = join(manifests, 'registries.conf');
  const parsed = JSON.parse(JSON.stringify(parseToml(readFileSync(conf, 'utf8'))));
  const mirrorOf = (repo: string, pull: string) => ({
    prefix: `${source.host}/res/${repo}`, location: `${source.host}/res/${repo}`,
    mirror: [{ location: `${dest}/res-${repo}`, 'pull-from-mirror': pull }],
  });
  assert.deepEqual(parsed, { registry: [
    mirrorOf('helper', 'tag-only'), mirrorOf('operand', 'digest-only'), mirrorOf('operator', 'digest-only'), mirrorOf('res-index', 'tag-only'),
  ] });

  // What each source reference resolves to, read while the source still runs.
  const sources = readMappingFile(manifests).map((l) => l.source);
  assert.deepEqual([...sources].sort(), [catalog, images.helper, images.operand, images.operator].sort());
  const sourceDigests = new Map<string, string>();
  for (const ref of sources) sourceDigests.set(ref, await remoteDigest(source, ref));
  const helperDigest = sourceDigests.get(images.helper)!;

  await source.stop();
  const noMirrors = join(dir, 'no-mirrors.conf');
  writeFileSync(noMirrors, '');
  assert.match((await inspectThrough(noMirrors, images.operator)).error ?? 'it answered', /connection refused/, 'the source registry is gone');

  for (const ref of sources) {
    const { manifest, error } = await inspectThrough(conf, ref);
    assert.ok(manifest, `skopeo inspect ${ref} through registries.conf: ${error}`);
    assert.equal(sha256(manifest), sourceDigests.get(ref), `${ref} comes from the mirror with the source's digest`);
  }

  // pull-from-mirror is honoured: a digest-only mirror is not asked for a tag, a tag-only mirror not
  // for a digest, although the mirror holds both.
  const operandTag = ocTag(images.operand);
  assert.ok((await inspectThrough(conf, `${target.host}/olm/res-operand:${operandTag}`)).manifest, 'the mirror has the operand by its tag');
  assert.ok((await inspectThrough(conf, `${source.host}/res/operand:${operandTag}`)).error, 'a tag pull skips the digest-only mirror');
  assert.ok((await inspectThrough(conf, `${target.host}/olm/res-helper@${helperDigest}`)).manifest, 'the mirror has the helper by digest');
  assert.ok((await inspectThrough(conf, `${source.host}/res/helper@${helperDigest}`)).error, 'a digest pull skips the tag-only mirror');
  // ... and it is the setting that keeps them out: with "all", both pulls reach the mirror.
  const allPulls = join(dir, 'all-pulls.conf');
  writeFileSync(allPulls, readFileSync(conf, 'utf8').replace(/"(digest|tag)-only"/g, '"all"'));
  assert.ok((await inspectThrough(allPulls, `${source.host}/res/operand:${operandTag}`)).manifest, 'pull-from-mirror = "all" serves the tag');
  assert.ok((await inspectThrough(allPulls, `${source.host}/res/helper@${helperDigest}`)).manifest, 'pull-from-mirror = "all" serves the digest');
});
