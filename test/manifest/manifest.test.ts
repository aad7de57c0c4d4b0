import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256Digest } from '../../src/manifest/digest.js';
import {
  InvalidManifestError, isSchema1Manifest, matchPlatforms, parseManifest, platformString, UnsupportedManifestError, type Descriptor,
} from '../../src/manifest/manifest.js';
import { MediaTypes } from '../../src/manifest/media-types.js';

const d1 = sha256Digest(Buffer.from('one'));
const d2 = sha256Digest(Buffer.from('two'));
const bytes = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

test('docker image manifest', () => {
  const m = parseManifest(bytes({
    schemaVersion: 2, mediaType: MediaTypes.dockerManifest,
    config: { mediaType: MediaTypes.dockerConfig, size: 10, digest: d1 },
    layers: [{ mediaType: MediaTypes.dockerLayerGzip, size: 20, digest: d2, urls: ['https://example.com/l'] }],
  }));
  assert.deepEqual(m, {
    kind: 'image', mediaType: MediaTypes.dockerManifest,
    config: { mediaType: MediaTypes.dockerConfig, size: 10, digest: d1 },
    layers: [{ mediaType: MediaTypes.dockerLayerGzip, size: 20, digest: d2, urls: ['https://example.com/l'] }],
  });
});

test('OCI index with platforms and annotations; the media type may come from Content-Type or the shape', () => {
  const json = {
    schemaVersion: 2,
    manifests: [
      { mediaType: MediaTypes.ociManifest, size: 5, digest: d1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { mediaType: MediaTypes.ociManifest, size: 6, digest: d2, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
    ],
  };
  const fromShape = parseManifest(bytes(json));
  assert.equal(fromShape.kind, 'index');
  assert.equal(fromShape.mediaType, MediaTypes.ociIndex);
  assert.deepEqual(fromShape.kind === 'index' && fromShape.manifests[0]!.platform, { os: 'linux', architecture: 'arm64', variant: 'v8' });
  const fromHeader = parseManifest(bytes(json), `${MediaTypes.dockerManifestList}; charset=utf-8`);
  assert.equal(fromHeader.mediaType, MediaTypes.dockerManifestList);
  // The JSON field wins over a generic Content-Type.
  assert.equal(parseManifest(bytes({ ...json, mediaType: MediaTypes.ociIndex }), 'application/json').mediaType, MediaTypes.ociIndex);
});

test('OCI manifest without mediaType is recognised by config + layers (empty layers allowed)', () => {
  const m = parseManifest(bytes({ schemaVersion: 2, config: { mediaType: 'application/vnd.example+json', size: 2, digest: d1 }, layers: [] }));
  assert.equal(m.kind, 'image');
  assert.equal(m.mediaType, MediaTypes.ociManifest);
});

test('schema 1 is refused with the agreed message, by field or by Content-Type', () => {
  const expected = 'image quay.io/old/app:1 uses the Docker schema 1 manifest format, which olm-mirror does not support; re-push it with a current client';
  const schema1 = bytes({ schemaVersion: 1, name: 'old/app', tag: '1', fsLayers: [], signatures: [] });
  assert.throws(() => parseManifest(schema1, undefined, 'image quay.io/old/app:1'), (err: Error) => err instanceof UnsupportedManifestError && err.message === expected);
  assert.throws(() => parseManifest(bytes({ schemaVersion: 2 }), 'application/vnd.docker.distribution.manifest.v1+prettyjws', 'image quay.io/old/app:1'),
    { message: expected });
  assert.equal(isSchema1Manifest(schema1), true);
  assert.equal(isSchema1Manifest(bytes({ schemaVersion: 2 })), false);
  assert.equal(isSchema1Manifest(Buffer.from('not json')), false);
});

test('invalid manifests name the image and the field', () => {
  const cases: [unknown, RegExp][] = [
    ['[', /invalid manifest of img: not valid JSON/],
    [[], /expected a JSON object/],
    [{ schemaVersion: 3, manifests: [] }, /schemaVersion must be 2, found 3/],
    [{ schemaVersion: 2 }, /no mediaType field/],
    [{ schemaVersion: 2, mediaType: 'application/vnd.example' }, /unsupported media type "application\/vnd\.example"/],
    [{ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: {} }, /"manifests" must be an array/],
    [{ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: {}, layers: [] }, /config\.mediaType is missing/],
    [{ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: { mediaType: 'x', size: 1, digest: d1 }, layers: [{ mediaType: 'y', size: 1, digest: 'sha256:abc' }] },
      /layers\[0\]\.digest: invalid digest "sha256:abc": expected 64 lowercase hex characters/],
    [{ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [{ mediaType: 'x', size: -1, digest: d1 }] }, /manifests\[0\]\.size must be a non-negative integer, found -1/],
    [{ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [{ mediaType: 'x', size: 1, digest: d1, platform: { os: 'linux' } }] },
      /manifests\[0\]\.platform\.architecture is missing/],
  ];
  for (const [value, message] of cases) {
    const input = typeof value === 'string' ? Buffer.from(value) : bytes(value);
    assert.throws(() => parseManifest(input, undefined, 'img'), (err: Error) => err instanceof InvalidManifestError && message.test(err.message), String(message));
  }
});

test('platformString and matchPlatforms (a regex matched anywhere, as oc --filter-by-os)', () => {
  const desc = (platform?: Descriptor['platform']): Descriptor => ({ mediaType: MediaTypes.ociManifest, digest: d1, size: 1, ...(platform ? { platform } : {}) });
  const amd64 = desc({ os: 'linux', architecture: 'amd64' });
  const arm64 = desc({ os: 'linux', architecture: 'arm64', variant: 'v8' });
  const windows = desc({ os: 'windows', architecture: 'amd64' });
  const none = desc();
  const all = [amd64, arm64, windows, none];
  assert.equal(platformString(arm64.platform!), 'linux/arm64/v8');
  assert.equal(platformString(amd64.platform!), 'linux/amd64');
  assert.deepEqual(matchPlatforms(all, 'linux/amd64'), [amd64]);
  assert.deepEqual(matchPlatforms(all, 'linux/arm64'), [arm64], 'the variant need not be named');
  assert.deepEqual(matchPlatforms(all, '^linux/arm64$'), [], 'anchors ask for the exact platform');
  assert.deepEqual(matchPlatforms(all, 'linux/.*'), [amd64, arm64]);
  assert.deepEqual(matchPlatforms(all, /.*\/amd64/), [amd64, windows]);
  assert.deepEqual(matchPlatforms(all, 'amd64'), [amd64, windows], 'a fragment matches');
  assert.deepEqual(matchPlatforms(all, '.*'), all, 'entries without a platform match .* as the empty string');
  assert.throws(() => matchPlatforms(all, 'linux/('), /invalid platform filter "linux\/\("/);
});
