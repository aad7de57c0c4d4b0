import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { imageContentSourcePolicies } from '../../src/cluster/icsp.js';
import { imageDigestMirrorSets } from '../../src/cluster/idms.js';
import { imageTagMirrorSets } from '../../src/cluster/itms.js';
import {
  MAX_MIRROR_SET_SIZE, pullKindOf, tagOnlySources, type MirrorSetOptions, type MirrorSetResult, type PullKind,
} from '../../src/cluster/mirror-sets.js';
import { formatReference, parseReference } from '../../src/reference/reference.js';
import { crdValidator, crdsMissing, isDns1123Subdomain } from './crd.js';
import { catalogMappings as mappings, digest } from './mappings.js';

const KINDS = [
  { generate: imageContentSourcePolicies, kind: 'ImageContentSourcePolicy', apiVersion: 'operator.openshift.io/v1alpha1',
    listField: 'repositoryDigestMirrors', crd: 'imagecontentsourcepolicies.operator.openshift.io.yaml', pulls: 'digest' },
  { generate: imageDigestMirrorSets, kind: 'ImageDigestMirrorSet', apiVersion: 'config.openshift.io/v1',
    listField: 'imageDigestMirrors', crd: 'imagedigestmirrorsets.config.openshift.io.yaml', pulls: 'digest' },
  { generate: imageTagMirrorSets, kind: 'ImageTagMirrorSet', apiVersion: 'config.openshift.io/v1',
    listField: 'imageTagMirrors', crd: 'imagetagmirrorsets.config.openshift.io.yaml', pulls: 'tag' },
] as const;

/** Image `i` of `repo` as a source the kind holds: pinned by digest, or by tag only. */
function sourceFor(pulls: PullKind, repo: string, i: number): string {
  return pulls === 'digest' ? `${repo}@${digest(i)}` : `${repo}:v${i}`;
}

/** Image `i` of `repo` as a source the kind leaves out. */
function otherSource(pulls: PullKind, repo: string, i: number): string {
  return sourceFor(pulls === 'digest' ? 'tag' : 'digest', repo, i);
}

/** The parsed objects (untyped: the tests check them field by field). */
function objects(result: MirrorSetResult): any[] {
  return parseAllDocuments(result.yaml).map((d) => d.toJS());
}

function documents(result: MirrorSetResult): string[] {
  return result.yaml === '' ? [] : result.yaml.split(/^---\n/m);
}

/** Many sources in few repositories, plus tag-only ones, in a scrambled order. */
function catalogLike(count: number): string[] {
  const sources: string[] = [];
  for (let i = 0; i < count; i++) {
    sources.push(`registry.redhat.io/team${i % 7}/operator-${(i * 37) % count}@${digest(i)}`);
    if (i % 5 === 0) sources.push(`quay.io/tagged/only-${i}:v${i}`);
  }
  return sources;
}

test('ImageContentSourcePolicy exactly as oc lays it out', () => {
  const result = imageContentSourcePolicies({
    catalogName: 'redhat/redhat-operator-index',
    mappings: mappings([
      'registry.redhat.io/openshift4/ose-logging-kibana5@sha256:aa4a8b2a00836d0e28aa6497ad90a3c116f135f382d8211e3c55f34fb36dfe61',
      'quay.io/tagged/image:v1',
    ]),
    scope: 'repository',
    maxSize: MAX_MIRROR_SET_SIZE,
  });
  assert.equal(result.yaml, [
    'apiVersion: operator.openshift.io/v1alpha1',
    'kind: ImageContentSourcePolicy',
    'metadata:',
    '  labels:',
    '    operators.openshift.org/catalog: "true"',
    '  name: redhat-redhat-operator-index-0',
    'spec:',
    '  repositoryDigestMirrors:',
    '  - mirrors:',
    '    - host:5000/olm/openshift4-ose-logging-kibana5',
    '    source: registry.redhat.io/openshift4/ose-logging-kibana5',
    '',
  ].join('\n'));
  assert.equal(result.objects, 1);
  assert.deepStrictEqual(result.skipped.map(formatReference), ['quay.io/tagged/image:v1']);
});

test('ImageTagMirrorSet holds the tag-only sources, laid out as the other kinds', () => {
  const result = imageTagMirrorSets({
    catalogName: 'redhat/redhat-operator-index',
    mappings: mappings([`registry.redhat.io/openshift4/ose-cli@${digest(1)}`, 'quay.io/tagged/image:v1', 'quay.io/tagged/image:v2']),
    scope: 'repository',
    maxSize: MAX_MIRROR_SET_SIZE,
  });
  assert.equal(result.yaml, [
    'apiVersion: config.openshift.io/v1',
    'kind: ImageTagMirrorSet',
    'metadata:',
    '  labels:',
    '    operators.openshift.org/catalog: "true"',
    '  name: redhat-redhat-operator-index-0',
    'spec:',
    '  imageTagMirrors:',
    '  - mirrors:',
    '    - host:5000/olm/tagged-image',
    '    source: quay.io/tagged/image',
    '',
  ].join('\n'));
  assert.deepStrictEqual(result.skipped.map(formatReference), [`registry.redhat.io/openshift4/ose-cli@${digest(1)}`]);
});

test('a source with a digest is pulled by digest, even beside a tag; tagOnlySources lists the others, sorted', () => {
  assert.equal(pullKindOf(parseReference(`quay.io/a/img:v1@${digest(1)}`)), 'digest');
  assert.equal(pullKindOf(parseReference(`quay.io/a/img@${digest(1)}`)), 'digest');
  assert.equal(pullKindOf(parseReference('quay.io/a/img:v1')), 'tag');
  const sources = tagOnlySources(mappings(['quay.io/z/img:1', `quay.io/a/img:v1@${digest(1)}`, 'nginx:1', 'quay.io/z/img:1']));
  assert.deepStrictEqual(sources.map(formatReference), ['docker.io/library/nginx:1', 'quay.io/z/img:1']);
});

for (const k of KINDS) {
  const base: Omit<MirrorSetOptions, 'mappings'> = { catalogName: 'redhat-operators', scope: 'repository', maxSize: MAX_MIRROR_SET_SIZE };
  const source = (repo: string, i: number) => sourceFor(k.pulls, repo, i);
  const other = (repo: string, i: number) => otherSource(k.pulls, repo, i);

  test(`${k.kind}: repository scope, one rule per repository, sorted and deduplicated`, () => {
    const result = k.generate({ ...base, mappings: mappings([
      source('quay.io/b/img', 1), source('quay.io/a/img', 2), source('quay.io/b/img', 3), source('quay.io/b/img', 4),
    ]) });
    const [object] = objects(result);
    assert.equal(object.apiVersion, k.apiVersion);
    assert.equal(object.kind, k.kind);
    assert.deepStrictEqual(object.metadata, { labels: { 'operators.openshift.org/catalog': 'true' }, name: 'redhat-operators-0' });
    assert.deepStrictEqual(object.spec[k.listField], [
      { mirrors: ['host:5000/olm/a-img'], source: 'quay.io/a/img' },
      { mirrors: ['host:5000/olm/b-img'], source: 'quay.io/b/img' },
    ]);
    assert.deepStrictEqual(result.skipped, []);
  });

  test(`${k.kind}: registry scope maps source registries to target registries`, () => {
    const result = k.generate({ ...base, scope: 'registry', mappings: mappings([
      source('registry.redhat.io/a/x', 1), source('quay.io/b/y', 2), source('registry.redhat.io/c/z', 3), other('docker.io/d/other', 1),
    ], 'mirror.example.com:8443') });
    assert.deepStrictEqual(objects(result)[0].spec[k.listField], [
      { mirrors: ['mirror.example.com:8443'], source: 'quay.io' },
      { mirrors: ['mirror.example.com:8443'], source: 'registry.redhat.io' },
    ]);
    assert.deepStrictEqual(result.skipped.map(formatReference), [other('docker.io/d/other', 1)]);
  });

  test(`${k.kind}: a source mirrored to several places lists every mirror once`, () => {
    const from = parseReference(source('quay.io/a/img', 1));
    const result = k.generate({ ...base, mappings: [
      { source: from, origin: 'test', destination: parseReference('m2.io/a/img:x') }, { source: from, origin: 'test', destination: parseReference('m1.io/a/img:x') },
      { source: from, origin: 'test', destination: parseReference('m2.io/a/img:y') },
    ] });
    assert.deepStrictEqual(objects(result)[0].spec[k.listField], [{ mirrors: ['m1.io/a/img', 'm2.io/a/img'], source: 'quay.io/a/img' }]);
  });

  test(`${k.kind}: only sources of the other pull kind give no object and list them, deduplicated and sorted`, () => {
    const result = k.generate({ ...base, mappings: mappings([other('quay.io/z/a', 1), other('quay.io/a/a', 1), other('quay.io/z/a', 1)]) });
    assert.equal(result.yaml, '');
    assert.equal(result.objects, 0);
    assert.deepStrictEqual(result.skipped.map(formatReference), [other('quay.io/a/a', 1), other('quay.io/z/a', 1)]);
  });

  test(`${k.kind}: split so every object is at most maxSize bytes, greedily, names counting from 0`, () => {
    const sources = catalogLike(300);
    const unsplit = k.generate({ ...base, mappings: mappings(sources) });
    assert.equal(unsplit.objects, 1);
    const allRules = objects(unsplit)[0].spec[k.listField];

    for (const maxSize of [600, 1500, 4096]) {
      const result = k.generate({ ...base, maxSize, mappings: mappings(sources) });
      const docs = documents(result);
      const objs = objects(result);
      assert.equal(docs.length, result.objects);
      assert.equal(objs.length, result.objects);
      assert.ok(result.objects > 1, `maxSize ${maxSize} splits`);
      for (const doc of docs) assert.ok(Buffer.byteLength(doc) <= maxSize, `${Buffer.byteLength(doc)} <= ${maxSize}`);
      assert.deepStrictEqual(objs.map((o) => o.metadata.name), objs.map((_, i) => `redhat-operators-${i}`));
      // Same rules, same order, none lost or repeated.
      assert.deepStrictEqual(objs.flatMap((o) => o.spec[k.listField]), allRules);
      // Greedy: the first rule of each object would not have fitted in the previous one.
      for (let i = 1; i < objs.length; i++) {
        const withNext = Buffer.byteLength(docs[i - 1]!) + ruleBytes(docs[i]!);
        assert.ok(withNext > maxSize, `object ${i - 1} (${Buffer.byteLength(docs[i - 1]!)} bytes) could have taken one more rule`);
      }
    }
  });

  test(`${k.kind}: output does not depend on input order`, () => {
    const sources = catalogLike(120);
    const shuffled = [...sources].sort((a, b) => (a.length % 3) - (b.length % 3) || b.localeCompare(a));
    const a = k.generate({ ...base, maxSize: 2000, mappings: mappings(sources) });
    const b = k.generate({ ...base, maxSize: 2000, mappings: mappings(shuffled) });
    assert.equal(a.yaml, b.yaml);
    assert.deepStrictEqual(a.skipped, b.skipped);
  });

  test(`${k.kind}: a rule that alone exceeds maxSize is an error naming its source`, () => {
    const m = mappings([source('quay.io/a/img', 1)]);
    const needed = Buffer.byteLength(k.generate({ ...base, mappings: m }).yaml);
    assert.equal(k.generate({ ...base, maxSize: needed, mappings: m }).objects, 1);
    assert.throws(() => k.generate({ ...base, maxSize: needed - 1, mappings: m }),
      new RegExp(`rule for quay\\.io/a/img .*takes ${needed} bytes.*maximum size of ${needed - 1} bytes`));
  });

  test(`${k.kind}: maxSize must be 1..${MAX_MIRROR_SET_SIZE}`, () => {
    for (const maxSize of [0, -5, 1.5, MAX_MIRROR_SET_SIZE + 1]) {
      assert.throws(() => k.generate({ ...base, maxSize, mappings: [] }), /must be an integer from 1 to 250000 bytes/);
    }
  });

  test(`${k.kind}: every object is valid for the CRD and has a DNS-1123 name`, { skip: crdsMissing() }, () => {
    const validate = crdValidator(k.crd);
    for (const scope of ['repository', 'registry'] as const) {
      const result = k.generate({ catalogName: 'My_Org/Catalog__Index', scope, maxSize: 1000, mappings: mappings(catalogLike(60)) });
      assert.ok(result.objects >= 1);
      for (const object of objects(result)) {
        assert.deepStrictEqual(validate(object), [], JSON.stringify(object.metadata));
        assert.ok(isDns1123Subdomain(object.metadata.name), object.metadata.name);
        assert.match(object.metadata.name, /^my-org-catalog-index-\d+$/);
      }
    }
  });
}

/** Bytes the first rule of a document takes as a list item (from `  - ` up to the next item). */
function ruleBytes(doc: string): number {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => l.startsWith('  - '));
  const next = lines.findIndex((l, i) => i > start && l.startsWith('  - '));
  const end = next === -1 ? lines.length - 1 : next;
  return Buffer.byteLength(lines.slice(start, end).join('\n') + '\n');
}
