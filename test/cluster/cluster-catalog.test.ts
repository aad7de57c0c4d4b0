import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { clusterCatalogYaml } from '../../src/cluster/cluster-catalog.js';
import { parseReference } from '../../src/reference/reference.js';
import { CLUSTER_CATALOG_CEL, celValidator, crdValidator, crdsMissing, isDns1123Subdomain } from './crd.js';

const CRD = 'clustercatalogs.olm.operatorframework.io.yaml';
const DIGEST = `sha256:${'ab12'.repeat(16)}`;

test('ClusterCatalog pinned by digest, keys sorted', () => {
  const yaml = clusterCatalogYaml({ name: 'redhat-operator-index', image: parseReference(`host:5000/olm/redhat-redhat-operator-index@${DIGEST}`) });
  assert.equal(yaml, [
    'apiVersion: olm.operatorframework.io/v1',
    'kind: ClusterCatalog',
    'metadata:',
    '  name: redhat-operator-index',
    'spec:',
    '  source:',
    '    image:',
    `      ref: host:5000/olm/redhat-redhat-operator-index@${DIGEST}`,
    '    type: Image',
    '',
  ].join('\n'));
});

test('a tag beside the digest is left out; an image without a digest is refused', () => {
  const object = parse(clusterCatalogYaml({ name: 'c', image: parseReference(`host:5000/olm/c:v4.14@${DIGEST}`) }));
  assert.equal(object.spec.source.image.ref, `host:5000/olm/c@${DIGEST}`);
  assert.throws(() => clusterCatalogYaml({ name: 'c', image: parseReference('host:5000/olm/c:v4.14') }),
    /ClusterCatalog image host:5000\/olm\/c:v4\.14 is not pinned by digest/);
});

test('names must be Kubernetes names of at most 63 characters', () => {
  const image = parseReference(`h/c@${DIGEST}`);
  assert.doesNotThrow(() => clusterCatalogYaml({ name: 'a'.repeat(63), image }));
  for (const name of ['a'.repeat(64), 'My_Catalog', '']) {
    assert.throws(() => clusterCatalogYaml({ name, image }), /ClusterCatalog name ".*" is not a valid name/, name);
  }
});

test('the object is valid for the ClusterCatalog CRD, its CEL rules included', { skip: crdsMissing() }, () => {
  const schema = crdValidator(CRD);
  const cel = celValidator(CRD, CLUSTER_CATALOG_CEL);
  for (const ref of [`127.0.0.1:5000/olm/acme-acme-index@${DIGEST}`, `mirror.example.com/a/b/c@${DIGEST}`, `h/c:v1@${DIGEST}`]) {
    const object = parse(clusterCatalogYaml({ name: 'acme-index', image: parseReference(ref) }));
    assert.deepStrictEqual(schema(object), [], ref);
    assert.deepStrictEqual(cel(object), [], ref);
    assert.ok(isDns1123Subdomain(object.metadata.name));
  }
});

test('the CEL translation refuses what the API server refuses', { skip: crdsMissing() }, () => {
  const cel = celValidator(CRD, CLUSTER_CATALOG_CEL);
  const withSource = (source: object) => ({ apiVersion: 'olm.operatorframework.io/v1', kind: 'ClusterCatalog', metadata: { name: 'c' }, spec: { source } });
  const cases: [object, RegExp][] = [
    [{ type: 'Image', image: { ref: 'mirror.example.com/olm/catalog' } }, /must end with a digest or a tag/],
    [{ type: 'Image', image: { ref: 'host:5000/olm/catalog@sha256:abc' } }, /at least 32 characters/],
    [{ type: 'Image', image: { ref: `host:5000/olm/catalog@sha256:${'z'.repeat(64)}` } }, /only contain hex characters/],
    [{ type: 'Image', image: { ref: `host:5000/olm/catalog:${'t'.repeat(128)}` } }, /not be more than 127 characters/],
    [{ type: 'Image', image: { ref: `host:5000/olm/catalog@${DIGEST}`, pollIntervalMinutes: 5 } }, /cannot specify pollIntervalMinutes/],
    [{ type: 'Image' }, /image is required when source type is Image/],
  ];
  for (const [source, error] of cases) assert.match(cel(withSource(source)).join('\n'), error, JSON.stringify(source));
  assert.deepStrictEqual(cel(withSource({ type: 'Image', image: { ref: 'quay.io/operatorhubio/catalog:latest', pollIntervalMinutes: 5 } })), []);
  assert.match(celValidator(CRD, {})(withSource({ type: 'Image', image: { ref: `h/c@${DIGEST}` } })).join('\n'), /no translation of the CEL rule/);
});
