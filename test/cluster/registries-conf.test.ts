import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'smol-toml';
import { registriesConf } from '../../src/cluster/registries-conf.js';
import { parseReference } from '../../src/reference/reference.js';
import { catalogMappings as mappings, digest } from './mappings.js';

// containers-registries.conf(5), version 2: the keys of a [[registry]] table and of its [[registry.mirror]] tables.
const REGISTRY_KEYS = new Set(['prefix', 'location', 'insecure', 'blocked', 'mirror', 'mirror-by-digest-only']);
const MIRROR_KEYS = new Set(['location', 'insecure', 'pull-from-mirror']);
const PULL_FROM_MIRROR = new Set(['all', 'digest-only', 'tag-only']);

interface Registry { prefix: string; location: string; mirror: { location: string; 'pull-from-mirror': string }[] }

/** Parses the file as TOML and checks it uses only containers-registries.conf v2 keys and values. */
function registries(text: string): Registry[] {
  // smol-toml makes objects without a prototype; plain copies compare with deepStrictEqual.
  const doc = JSON.parse(JSON.stringify(parse(text))) as Record<string, unknown>;
  assert.deepStrictEqual(Object.keys(doc), ['registry'], 'only [[registry]] tables');
  const list = doc.registry as Record<string, unknown>[];
  for (const registry of list) {
    for (const key of Object.keys(registry)) assert.ok(REGISTRY_KEYS.has(key), `[[registry]] key ${key}`);
    assert.ok(!('mirror-by-digest-only' in registry), 'containers/image refuses mirror-by-digest-only beside pull-from-mirror');
    for (const mirror of registry.mirror as Record<string, unknown>[]) {
      for (const key of Object.keys(mirror)) assert.ok(MIRROR_KEYS.has(key), `[[registry.mirror]] key ${key}`);
      assert.ok(PULL_FROM_MIRROR.has(mirror['pull-from-mirror'] as string), String(mirror['pull-from-mirror']));
    }
  }
  return list as unknown as Registry[];
}

test('a [[registry]] per source repository, its mirror digest-only or tag-only, laid out exactly', () => {
  const text = registriesConf(mappings([`registry.redhat.io/openshift4/ose-cli@${digest(1)}`, 'quay.io/tagged/image:v1']));
  assert.equal(text, [
    '# containers-registries.conf(5) version 2 drop-in written by olm-mirror, for CRI-O and podman nodes,',
    '# e.g. as /etc/containers/registries.conf.d/99-olm-mirror.conf. The mirrors serve the pulls they hold:',
    '# by digest for the sources pinned by digest, by tag for the sources referenced by tag only.',
    '',
    '[[registry]]',
    'prefix = "quay.io/tagged/image"',
    'location = "quay.io/tagged/image"',
    '',
    '[[registry.mirror]]',
    'location = "host:5000/olm/tagged-image"',
    'pull-from-mirror = "tag-only"',
    '',
    '[[registry]]',
    'prefix = "registry.redhat.io/openshift4/ose-cli"',
    'location = "registry.redhat.io/openshift4/ose-cli"',
    '',
    '[[registry.mirror]]',
    'location = "host:5000/olm/openshift4-ose-cli"',
    'pull-from-mirror = "digest-only"',
    '',
  ].join('\n'));
  assert.deepStrictEqual(registries(text), [
    { prefix: 'quay.io/tagged/image', location: 'quay.io/tagged/image',
      mirror: [{ location: 'host:5000/olm/tagged-image', 'pull-from-mirror': 'tag-only' }] },
    { prefix: 'registry.redhat.io/openshift4/ose-cli', location: 'registry.redhat.io/openshift4/ose-cli',
      mirror: [{ location: 'host:5000/olm/openshift4-ose-cli', 'pull-from-mirror': 'digest-only' }] },
  ]);
});

test('a repository with digest and tag sources gets one mirror entry per pull kind; several mirrors are listed once each, sorted', () => {
  const source = (s: string) => parseReference(s);
  const text = registriesConf([
    ...mappings([`quay.io/a/img@${digest(1)}`, 'quay.io/a/img:v1', `quay.io/a/img@${digest(2)}`, 'quay.io/a/img:v2']),
    { source: source(`quay.io/b/img@${digest(3)}`), destination: parseReference('m2.io/b/img:x'), origin: 'test' },
    { source: source(`quay.io/b/img@${digest(4)}`), destination: parseReference('m1.io/b/img:y'), origin: 'test' },
  ]);
  assert.deepStrictEqual(registries(text).map((r) => [r.prefix, r.mirror]), [
    ['quay.io/a/img', [
      { location: 'host:5000/olm/a-img', 'pull-from-mirror': 'digest-only' },
      { location: 'host:5000/olm/a-img', 'pull-from-mirror': 'tag-only' },
    ]],
    ['quay.io/b/img', [
      { location: 'm1.io/b/img', 'pull-from-mirror': 'digest-only' },
      { location: 'm2.io/b/img', 'pull-from-mirror': 'digest-only' },
    ]],
  ]);
});

test('sorted by source whatever the input order; every prefix once; no mappings give an empty file', () => {
  const sources: string[] = [];
  for (let i = 0; i < 60; i++) sources.push(i % 3 === 0 ? `quay.io/team${i % 4}/tagged-${i % 9}:v${i}` : `registry.example.com/ns${i % 5}/op-${i % 7}@${digest(i)}`);
  const text = registriesConf(mappings(sources));
  assert.equal(registriesConf(mappings([...sources].reverse())), text);
  const prefixes = registries(text).map((r) => r.prefix);
  assert.deepStrictEqual(prefixes, [...new Set(prefixes)].sort());
  assert.equal(prefixes.length, new Set(sources.map((s) => s.replace(/[:@].*$/, ''))).size);
  assert.equal(registriesConf([]), '');
});
