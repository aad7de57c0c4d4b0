import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fnv1a32Hex, mirrorMapping, mirrorTarget, parseMirrorDestination, validateMaxComponents } from '../../src/reference/naming.js';
import { InvalidReferenceError, formatReference, parseReference } from '../../src/reference/reference.js';

const KIBANA = 'registry.redhat.io/openshift4/ose-logging-kibana5@sha256:aa4a8b2a00836d0e28aa6497ad90a3c116f135f382d8211e3c55f34fb36dfe61';

function target(src: string, dest: string, maxComponents: number): string {
  return formatReference(mirrorTarget(parseReference(src), parseMirrorDestination(dest), maxComponents));
}

test('fnv1a32Hex matches oc (Go fnv.New32a, %x)', () => {
  assert.equal(fnv1a32Hex(KIBANA), 'a767c8f0');
  // Published FNV-1a 32-bit test vectors.
  assert.equal(fnv1a32Hex(''), '811c9dc5');
  assert.equal(fnv1a32Hex('a'), 'e40c292c');
  assert.equal(fnv1a32Hex('foobar'), 'bf9cf968');
});

test('fnv1a32Hex does not zero-pad', () => {
  // Search a few inputs for a hash below 0x10000000 to show the 7-character form.
  let short: string | undefined;
  for (let i = 0; short === undefined; i++) {
    const h = fnv1a32Hex(`quay.io/x@sha256:${i}`);
    if (h.length < 8) short = h;
  }
  assert.match(short, /^[1-9a-f][0-9a-f]{0,6}$/);
});

test('digest-only source under a bare registry keeps its path and gets the FNV tag', () => {
  assert.equal(target(KIBANA, 'host:5000', 2), 'host:5000/openshift4/ose-logging-kibana5:a767c8f0');
});

test('destination namespace pushes the source path into one joined component', () => {
  assert.equal(target(KIBANA, 'host:5000/olm', 2), 'host:5000/olm/openshift4-ose-logging-kibana5:a767c8f0');
});

test('max components 3, 4 and 0 (no limit)', () => {
  const src = 'quay.io/my-org/sub-org/my/image:v1';
  assert.equal(target(src, 'quay.io', 3), 'quay.io/my-org/sub-org/my-image:v1');
  assert.equal(target(src, 'quay.io', 4), 'quay.io/my-org/sub-org/my/image:v1');
  assert.equal(target(src, 'quay.io', 0), 'quay.io/my-org/sub-org/my/image:v1');
  assert.equal(target(src, 'quay.io', 2), 'quay.io/my-org/sub-org-my-image:v1');
});

test('a tagged source keeps its tag and the target never has a digest', () => {
  const t = mirrorTarget(parseReference(`quay.io/a/b:v1@sha256:${'c'.repeat(64)}`), parseMirrorDestination('host:5000'), 2);
  assert.deepStrictEqual(t, { registry: 'host:5000', repository: 'a/b', tag: 'v1' });
});

test('an ImageReference with a docker.io digest hashes its form with the registry (what oc does for docker.io written out)', () => {
  const t = mirrorTarget(parseReference(`docker.io/nginx@sha256:${'d'.repeat(64)}`), parseMirrorDestination('host:5000'), 2);
  assert.equal(t.repository, 'library/nginx');
  assert.equal(t.tag, fnv1a32Hex(`docker.io/library/nginx@sha256:${'d'.repeat(64)}`));
});

describe('mirrorMapping names catalog images as oc writes them in mapping.txt', () => {
  const line = (image: string, dest = 'host:5000/olm', max = 2): string => {
    const m = mirrorMapping(image, parseMirrorDestination(dest), max);
    return `${m.sourceText}=${formatReference(m.destination)}`;
  };
  const DIGEST = `sha256:${'e'.repeat(64)}`;

  test('neither tag nor digest: docker\'s default tag latest on both sides', () => {
    assert.equal(line('quay.io/noobaa/pause'), 'quay.io/noobaa/pause:latest=host:5000/olm/noobaa-pause:latest');
    assert.equal(line('busybox'), 'docker.io/library/busybox:latest=host:5000/olm/library-busybox:latest');
    const m = mirrorMapping('quay.io/noobaa/pause', parseMirrorDestination('host:5000'), 2);
    assert.deepStrictEqual(m.source, { registry: 'quay.io', repository: 'noobaa/pause', tag: 'latest' });
  });

  test('a digest-only source without registry hashes the text as written, before docker.io is filled in', () => {
    const image = `ibmcom/couchdb2@${DIGEST}`;
    assert.equal(line(image), `docker.io/ibmcom/couchdb2@${DIGEST}=host:5000/olm/ibmcom-couchdb2:${fnv1a32Hex(image)}`);
    assert.notEqual(fnv1a32Hex(image), fnv1a32Hex(`docker.io/ibmcom/couchdb2@${DIGEST}`));
    assert.equal(line(`nginx@${DIGEST}`), `docker.io/library/nginx@${DIGEST}=host:5000/olm/library-nginx:${fnv1a32Hex(`nginx@${DIGEST}`)}`);
  });

  test('a registry written out is kept (index.docker.io too), and hashed with library/ for single Docker Hub names', () => {
    assert.equal(line('index.docker.io/strimzi/operator:0.12.2'), 'index.docker.io/strimzi/operator:0.12.2=host:5000/olm/strimzi-operator:0.12.2');
    assert.equal(line(`index.docker.io/nginx@${DIGEST}`),
      `index.docker.io/library/nginx@${DIGEST}=host:5000/olm/library-nginx:${fnv1a32Hex(`index.docker.io/library/nginx@${DIGEST}`)}`);
    assert.equal(line(`registry.redhat.io/openshift4/ose-logging-kibana5@sha256:aa4a8b2a00836d0e28aa6497ad90a3c116f135f382d8211e3c55f34fb36dfe61`, 'host:5000', 2),
      `${KIBANA}=host:5000/openshift4/ose-logging-kibana5:a767c8f0`);
  });

  test('tag and digest: the source is written with its digest only, the target keeps the tag', () => {
    assert.equal(line(`quay.io/a/b:v1@${DIGEST}`), `quay.io/a/b@${DIGEST}=host:5000/olm/a-b:v1`);
  });

  test('tagged docker.io short names are unchanged', () => {
    assert.equal(line('strimzi/operator:0.12.2'), 'docker.io/strimzi/operator:0.12.2=host:5000/olm/strimzi-operator:0.12.2');
  });

  test('a malformed reference throws', () => {
    assert.throws(() => mirrorMapping(`docker.io/strimzi/operator@@${DIGEST}`, parseMirrorDestination('h'), 2), InvalidReferenceError);
  });
});

test('max components 1, negative or fractional are rejected', () => {
  for (const n of [1, -1, 2.5]) {
    assert.throws(() => validateMaxComponents(n), /0 \(no limit\) or an integer of at least 2/);
    assert.throws(() => mirrorTarget(parseReference('quay.io/a/b:v1'), { registry: 'h', namespace: '' }, n), RangeError);
  }
});

test('a target name over 255 characters is an error naming the source', () => {
  const src = parseReference(`quay.io/${'a'.repeat(120)}/${'b'.repeat(120)}:v1`);
  assert.throws(() => mirrorTarget(src, parseMirrorDestination(`h:5000/${'n'.repeat(20)}`), 0),
    (err: unknown) => err instanceof InvalidReferenceError && err.message.includes(formatReference(src)) && /at most 255/.test(err.message));
});

test('parseMirrorDestination', () => {
  assert.deepStrictEqual(parseMirrorDestination('host:5000'), { registry: 'host:5000', namespace: '' });
  assert.deepStrictEqual(parseMirrorDestination('host:5000/'), { registry: 'host:5000', namespace: '' });
  assert.deepStrictEqual(parseMirrorDestination('host:5000/olm/team'), { registry: 'host:5000', namespace: 'olm/team' });
  assert.deepStrictEqual(parseMirrorDestination('myregistry'), { registry: 'myregistry', namespace: '' });
  assert.deepStrictEqual(parseMirrorDestination('[::1]:5000/olm'), { registry: '[::1]:5000', namespace: 'olm' });
  assert.deepStrictEqual(parseMirrorDestination('index.docker.io/me'), { registry: 'docker.io', namespace: 'me' });
  assert.throws(() => parseMirrorDestination('host:5000/olm:v1'), /cannot carry a tag or digest/);
  assert.throws(() => parseMirrorDestination('host:5000/Olm'), /destination namespace "Olm"/);
  assert.throws(() => parseMirrorDestination('host:x/olm'), /destination registry "host:x"/);
  assert.throws(() => parseMirrorDestination(''), /registry is missing/);
});
