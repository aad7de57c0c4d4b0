import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  InvalidReferenceError,
  formatReference,
  parseReference,
  withDigest,
  withTag,
  type ImageReference,
} from '../../src/reference/reference.js';

const D256 = `sha256:${'a'.repeat(64)}`;
const D512 = `sha512:${'b'.repeat(128)}`;

const good: [string, ImageReference][] = [
  ['nginx', { registry: 'docker.io', repository: 'library/nginx' }],
  ['nginx:1.25', { registry: 'docker.io', repository: 'library/nginx', tag: '1.25' }],
  ['docker.io/nginx', { registry: 'docker.io', repository: 'library/nginx' }],
  ['index.docker.io/nginx:latest', { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' }],
  ['registry-1.docker.io/bitnami/redis', { registry: 'docker.io', repository: 'bitnami/redis' }],
  ['docker.io/library/nginx@' + D256, { registry: 'docker.io', repository: 'library/nginx', digest: D256 }],
  ['bitnami/redis:7', { registry: 'docker.io', repository: 'bitnami/redis', tag: '7' }],
  ['quay.io/openshift/origin-cli:4.14', { registry: 'quay.io', repository: 'openshift/origin-cli', tag: '4.14' }],
  ['registry.redhat.io/openshift4/ose-logging-kibana5@' + D256,
    { registry: 'registry.redhat.io', repository: 'openshift4/ose-logging-kibana5', digest: D256 }],
  ['quay.io/a/b:v1@' + D512, { registry: 'quay.io', repository: 'a/b', tag: 'v1', digest: D512 }],
  ['localhost/foo', { registry: 'localhost', repository: 'foo' }],
  ['localhost:5000/foo/bar:tag', { registry: 'localhost:5000', repository: 'foo/bar', tag: 'tag' }],
  ['127.0.0.1:5000/olm/catalog', { registry: '127.0.0.1:5000', repository: 'olm/catalog' }],
  ['[::1]:5000/foo:v2', { registry: '[::1]:5000', repository: 'foo', tag: 'v2' }],
  ['[fe80::1]/foo', { registry: '[fe80::1]', repository: 'foo' }],
  ['myhost:443/a/b/c/d', { registry: 'myhost:443', repository: 'a/b/c/d' }],
  ['quay.io/a_b/c__d/e-f/g--h/i.j', { registry: 'quay.io', repository: 'a_b/c__d/e-f/g--h/i.j' }],
  ['quay.io/x:Tag_with.CAPS-1', { registry: 'quay.io', repository: 'x', tag: 'Tag_with.CAPS-1' }],
  // Like docker: a bare single name is a repository even when it looks like a host ...
  ['localhost:5000', { registry: 'docker.io', repository: 'library/localhost', tag: '5000' }],
  // ... and an uppercase first component can only be a registry, since repositories are lowercase.
  ['Foo/bar', { registry: 'Foo', repository: 'bar' }],
];

const bad: [string, RegExp][] = [
  ['', /empty/],
  ['a@sha256:short', /invalid digest "sha256:short": expected 64 lowercase hex characters/],
  ['a@sha256:' + 'A'.repeat(64), /64 lowercase hex characters/],
  ['a@md5:' + 'a'.repeat(32), /unsupported algorithm "md5"/],
  // Only the algorithms the OCI image spec registers, so a reference that parses can be verified.
  ['a@sha384:' + 'a'.repeat(96), /unsupported algorithm "sha384" \(supported: sha256, sha512\)/],
  ['a@' + 'a'.repeat(64), /expected <algorithm>:<hex>/],
  ['foo/Bar', /repository name "foo\/Bar" must be lowercase/],
  ['NGINX', /must be lowercase/],
  ['docker.io/Library/nginx', /must be lowercase/],
  ['quay.io/a//b', /empty path component/],
  ['quay.io/-a', /path component "-a"/],
  ['quay.io/a_', /path component "a_"/],
  ['quay.io/a___b', /path component "a___b"/],
  ['quay.io/', /repository name is missing/],
  ['quay.io/a:', /tag "" must be/],
  ['quay.io/a:.x', /tag ".x"/],
  ['quay.io/a:' + 't'.repeat(129), /tag "t+" must be 1-128/],
  ['quay.io/a:b:c', /tag "b:c"/],
  ['host:port/a', /registry "host:port" is not a valid host/],
  ['-host.io/a', /registry "-host.io"/],
  ['::1/a', /registry "::1"/],
  ['quay.io/a b', /whitespace/],
  ['a'.repeat(64), /image ID/],
  ['quay.io/' + 'a'.repeat(248), /at most 255/],
];

for (const [input, expected] of good) {
  test(`parses ${input}`, () => {
    assert.deepStrictEqual(parseReference(input), expected);
  });
}

for (const [input, message] of bad) {
  test(`rejects ${JSON.stringify(input.length > 40 ? input.slice(0, 40) + '…' : input)}`, () => {
    assert.throws(() => parseReference(input), (err: unknown) => {
      assert.ok(err instanceof InvalidReferenceError);
      assert.equal(err.input, input);
      assert.ok(err.message.includes(`"${input}"`), `message names the input: ${err.message}`);
      assert.match(err.message, message);
      return true;
    });
  });
}

test('names up to 255 characters are accepted', () => {
  const ref = parseReference('quay.io/' + 'a'.repeat(247));
  assert.equal(`${ref.registry}/${ref.repository}`.length, 255);
});

test('formatReference writes the canonical form, which parses back to the same reference', () => {
  for (const [input, expected] of good) {
    const text = formatReference(expected);
    assert.deepStrictEqual(parseReference(text), expected, `${input} -> ${text}`);
  }
  assert.equal(formatReference(parseReference('nginx')), 'docker.io/library/nginx');
  assert.equal(formatReference(parseReference('quay.io/a/b:v1@' + D256)), `quay.io/a/b:v1@${D256}`);
});

test('withTag drops the digest and withDigest drops the tag', () => {
  const ref = parseReference(`quay.io/a/b:v1@${D256}`);
  assert.deepStrictEqual(withTag(ref, 'v2'), { registry: 'quay.io', repository: 'a/b', tag: 'v2' });
  assert.deepStrictEqual(withDigest(ref, D512), { registry: 'quay.io', repository: 'a/b', digest: D512 });
  assert.throws(() => withTag(ref, 'bad tag'), InvalidReferenceError);
  assert.throws(() => withDigest(ref, 'sha256:abc'), /expected 64 lowercase hex characters/);
});
