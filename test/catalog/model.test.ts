import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bundlesWithImage, catalogImages, type Bundle, type Catalog } from '../../src/catalog/model.js';

const bundle = (name: string, image: string, related: string[]): Bundle => ({
  name, package: 'p', version: '1.0.0', image, skips: [], relatedImages: related.map((r) => ({ image: r })),
  providedApis: [], requiredApis: [], properties: [], dependencies: [],
});

const catalog: Catalog = {
  packages: [{ name: 'p', defaultChannel: 'stable', channels: [], bundles: [bundle('a', '', ['quay.io/x/op:1', '']), bundle('b', 'quay.io/x/bundle:1', ['quay.io/x/op:1'])] }],
  looseBundles: [bundle('c', '', ['quay.io/x/op@@sha256:bad'])],
};

test('the images to mirror leave out the empty image of a related image without image:', () => {
  assert.deepEqual(catalogImages(catalog), ['quay.io/x/bundle:1', 'quay.io/x/op:1', 'quay.io/x/op@@sha256:bad']);
});

test('bundlesWithImage names every bundle holding an image, loose ones included', () => {
  assert.deepEqual(bundlesWithImage(catalog, 'quay.io/x/op:1'), ['a', 'b']);
  assert.deepEqual(bundlesWithImage(catalog, 'quay.io/x/bundle:1'), ['b']);
  assert.deepEqual(bundlesWithImage(catalog, 'quay.io/x/op@@sha256:bad'), ['c']);
});
