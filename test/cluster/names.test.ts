import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDnsSubdomain, resourceNameFrom } from '../../src/cluster/names.js';

test('resourceNameFrom turns repository names into DNS-1123 subdomains', () => {
  const cases: [string, string][] = [
    ['redhat-operators', 'redhat-operators'],
    ['redhat/redhat-operator-index', 'redhat-redhat-operator-index'],
    ['my_catalog__v2', 'my-catalog-v2'],
    ['Team/Catalog.v1', 'team-catalog.v1'],
    ['a-.b', 'a.b'],
    ['a..b', 'a.b'],
    ['-_edge_-', 'edge'],
  ];
  for (const [input, expected] of cases) {
    assert.equal(resourceNameFrom(input), expected, input);
    assert.ok(isDnsSubdomain(expected));
  }
});

test('resourceNameFrom truncates without leaving a trailing separator, and rejects names without letters or digits', () => {
  const name = resourceNameFrom(`${'a'.repeat(9)}-${'b'.repeat(20)}`, 10);
  assert.equal(name, 'a'.repeat(9));
  assert.throws(() => resourceNameFrom('__'), /cannot derive a Kubernetes object name from "__"/);
});

test('isDnsSubdomain', () => {
  assert.ok(isDnsSubdomain('redhat-operators-0'));
  assert.ok(isDnsSubdomain('a.b-c'));
  for (const bad of ['', 'A', '-a', 'a-', 'a_b', 'a..b', 'a'.repeat(254)]) assert.ok(!isDnsSubdomain(bad), bad);
});
