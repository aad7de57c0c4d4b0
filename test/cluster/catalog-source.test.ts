import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { catalogSourceYaml } from '../../src/cluster/catalog-source.js';
import { parseReference } from '../../src/reference/reference.js';
import { crdValidator, crdsMissing, isDns1123Subdomain } from './crd.js';

test('CatalogSource as oc writes it, keys sorted', () => {
  const yaml = catalogSourceYaml({ name: 'redhat-operators', image: parseReference('host:5000/olm/redhat-redhat-operator-index:v4.14') });
  assert.equal(yaml, [
    'apiVersion: operators.coreos.com/v1alpha1',
    'kind: CatalogSource',
    'metadata:',
    '  name: redhat-operators',
    '  namespace: openshift-marketplace',
    'spec:',
    '  image: host:5000/olm/redhat-redhat-operator-index:v4.14',
    '  sourceType: grpc',
    '',
  ].join('\n'));
});

test('optional display name, publisher and namespace', () => {
  const object = parse(catalogSourceYaml({
    name: 'my-catalog', image: 'h/c:v1', namespace: 'olm', displayName: 'My: "catalog"', publisher: 'ACME',
  }));
  assert.deepStrictEqual(object.spec, { image: 'h/c:v1', sourceType: 'grpc', displayName: 'My: "catalog"', publisher: 'ACME' });
  assert.equal(object.metadata.namespace, 'olm');
});

test('the object is valid for the CatalogSource CRD', { skip: crdsMissing() }, () => {
  const validate = crdValidator('catalogsources.operators.coreos.com.yaml');
  const object = parse(catalogSourceYaml({ name: 'redhat-operators', image: 'h/c:v1', displayName: 'Red Hat', publisher: 'Red Hat' }));
  assert.deepStrictEqual(validate(object), []);
  assert.ok(isDns1123Subdomain(object.metadata.name));
});

test('invalid names are rejected with the name', () => {
  assert.throws(() => catalogSourceYaml({ name: 'My_Catalog', image: 'h/c:v1' }), /CatalogSource name "My_Catalog" is not a valid Kubernetes name/);
  assert.throws(() => catalogSourceYaml({ name: 'ok', namespace: 'Bad', image: 'h/c:v1' }), /namespace "Bad"/);
});
