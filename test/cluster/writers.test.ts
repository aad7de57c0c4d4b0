import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { RESOURCE_WRITERS, type ManifestsContent } from '../../src/cluster/writers.js';
import { CLUSTER_CATALOG_CEL, celValidator, crdValidator, crdsMissing } from './crd.js';
import { catalogMappings } from './mappings.js';

const DIGEST = `sha256:${'c0ffee'.repeat(10)}abcd`;

function content(sources: string[]): ManifestsContent {
  const mappings = catalogMappings(['registry.example.com/team/acme-index:v4.14', ...sources], 'mirror.example.com:5000/olm');
  return { name: 'acme-index', catalog: { target: mappings[0]!.destination, digest: DIGEST }, mappings, scope: 'repository', maxSize: 250_000 };
}

const produced = (c: ManifestsContent) =>
  Object.fromEntries(RESOURCE_WRITERS.map((w) => [w.file, w.produce(c)]).filter(([, text]) => text !== undefined)) as Record<string, string>;

const CRDS: Record<string, string> = {
  'catalogSource.yaml': 'catalogsources.operators.coreos.com.yaml',
  'clusterCatalog.yaml': 'clustercatalogs.olm.operatorframework.io.yaml',
  'imageContentSourcePolicy.yaml': 'imagecontentsourcepolicies.operator.openshift.io.yaml',
  'imageDigestMirrorSet.yaml': 'imagedigestmirrorsets.config.openshift.io.yaml',
  'imageTagMirrorSet.yaml': 'imagetagmirrorsets.config.openshift.io.yaml',
};

test('one writer per file, in file name order', () => {
  const files = RESOURCE_WRITERS.map((w) => w.file);
  assert.deepStrictEqual(files, [...new Set(files)].sort());
  assert.deepStrictEqual(files, [
    'catalogSource.yaml', 'clusterCatalog.yaml', 'imageContentSourcePolicy.yaml', 'imageDigestMirrorSet.yaml',
    'imageTagMirrorSet.yaml', 'mapping.txt', 'registries.conf',
  ]);
});

test('images of no catalog get no CatalogSource or ClusterCatalog, only their mapping and mirror sets', () => {
  const { catalog: _catalog, ...rest } = content([`quay.io/a/op@${DIGEST}`]);
  const files = produced({ ...rest, mappings: rest.mappings.slice(1) });
  assert.deepStrictEqual(Object.keys(files).sort(), ['imageContentSourcePolicy.yaml', 'imageDigestMirrorSet.yaml', 'mapping.txt', 'registries.conf']);
});

test('the CatalogSource names the catalog by tag, the ClusterCatalog by the digest that was mirrored', () => {
  const files = produced(content([`quay.io/a/op@${DIGEST}`]));
  assert.match(files['catalogSource.yaml']!, /^ {2}image: mirror\.example\.com:5000\/olm\/team-acme-index:v4\.14$/m);
  assert.match(files['clusterCatalog.yaml']!, new RegExp(`^ {6}ref: mirror\\.example\\.com:5000/olm/team-acme-index@${DIGEST}$`, 'm'));
  assert.match(files['imageTagMirrorSet.yaml']!, /source: registry\.example\.com\/team\/acme-index$/m);
  assert.match(files['registries.conf']!, /^prefix = "registry\.example\.com\/team\/acme-index"$/m);
});

test('a catalog without digest-pinned images has no ICSP and no IDMS; every file a writer makes has content', () => {
  const files = produced(content(['quay.io/a/op:v1']));
  assert.deepStrictEqual(Object.keys(files), ['catalogSource.yaml', 'clusterCatalog.yaml', 'imageTagMirrorSet.yaml', 'mapping.txt', 'registries.conf']);
  for (const [file, text] of Object.entries(files)) assert.ok(text.length > 0 && text.endsWith('\n'), file);
});

test('every YAML file validates against its CRD', { skip: crdsMissing() }, () => {
  const files = produced(content([`quay.io/a/op@${DIGEST}`, 'quay.io/a/helper:v1', 'docker.io/library/nginx:1']));
  assert.deepStrictEqual(Object.keys(files).filter((f) => f.endsWith('.yaml')), Object.keys(CRDS));
  for (const [file, crd] of Object.entries(CRDS)) {
    for (const doc of parseAllDocuments(files[file]!)) {
      assert.deepStrictEqual(crdValidator(crd)(doc.toJS()), [], file);
    }
  }
  const [clusterCatalog] = parseAllDocuments(files['clusterCatalog.yaml']!);
  assert.deepStrictEqual(celValidator(CRDS['clusterCatalog.yaml']!, CLUSTER_CATALOG_CEL)(clusterCatalog!.toJS()), []);
});
