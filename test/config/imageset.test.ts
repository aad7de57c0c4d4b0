// ImageSetConfiguration: the supported fields map onto catalog selections; anything else is an error
// naming the field with its file and line.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ImageSetConfigError, parseImageSetConfiguration } from '../../src/config/imageset.js';

const FILE = 'imageset.yaml';
const header = 'apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\n';

function failure(text: string): string {
  try {
    parseImageSetConfiguration(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ImageSetConfigError, String(err));
    return err.message;
  }
  assert.fail('expected an ImageSetConfigError');
}

describe('ImageSetConfiguration', () => {
  test('operators, packages, channels, version ranges, additional and blocked images, archiveSize', () => {
    const config = parseImageSetConfiguration(`${header}archiveSize: 4
mirror:
  operators:
  - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.14
    targetCatalog: my/redhat-operators
    targetTag: v1
    skipDependencies: true
    packages:
    - name: elasticsearch-operator
      defaultChannel: stable-5.8
      channels:
      - name: stable-5.8
        minVersion: 5.8.1
        maxVersion: 5.10
    - name: cluster-logging
      minVersion: '5.8.0'
  - catalog: registry.redhat.io/redhat/certified-operator-index:v4.14
    full: true
  additionalImages:
  - name: registry.redhat.io/ubi9/ubi:latest
  blockedImages:
  - name: .*/ose-kube-rbac-proxy.*
`, FILE);
    assert.equal(config.archiveSize, 4);
    assert.deepEqual(config.additionalImages, ['registry.redhat.io/ubi9/ubi:latest']);
    assert.equal(config.blockedImages[0]!.name, '.*/ose-kube-rbac-proxy.*');
    assert.ok(config.blockedImages[0]!.pattern.test('registry.redhat.io/openshift4/ose-kube-rbac-proxy@sha256:00'));
    assert.deepEqual(config.operators.map((op) => ({ ...op })), [
      {
        catalog: 'registry.redhat.io/redhat/redhat-operator-index:v4.14',
        targetCatalog: 'my/redhat-operators',
        targetTag: 'v1',
        at: `${FILE}:6`,
        selection: {
          skipDependencies: true,
          packages: [
            // 5.10 is a version as written, not the number 5.1
            { name: 'elasticsearch-operator', defaultChannel: 'stable-5.8', channels: [{ name: 'stable-5.8', minVersion: '5.8.1', maxVersion: '5.10' }] },
            { name: 'cluster-logging', minVersion: '5.8.0' },
          ],
        },
      },
      { catalog: 'registry.redhat.io/redhat/certified-operator-index:v4.14', at: `${FILE}:19`, selection: { full: true } },
    ]);
  });

  test('fields olm-mirror does not implement, and unknown ones, are errors with file and line', () => {
    const message = failure(`${header}mirror:
  platform:
    channels:
    - name: stable-4.14
  operators:
  - catalog: quay.io/ns/catalog:v1
    targetCatalogSourceTemplate: template.yaml
    packages:
    - name: foo
      bundles:
      - name: foo.v1.0.0
      colour: blue
  helm: {}
storageConfig: {}
`);
    assert.equal(message, [
      `6 problems in ImageSetConfiguration ${FILE}:`,
      `${FILE}:4: mirror.platform: not supported (release images are not mirrored by olm-mirror)`,
      `${FILE}:9: mirror.operators[0].targetCatalogSourceTemplate: not supported (CatalogSource templates are not supported)`,
      `${FILE}:12: mirror.operators[0].packages[0].bundles: not supported (selecting single bundles is not supported; use minVersion/maxVersion)`,
      `${FILE}:14: mirror.operators[0].packages[0].colour: unknown field`,
      `${FILE}:15: mirror.helm: not supported (Helm charts are not mirrored by olm-mirror)`,
      `${FILE}:16: storageConfig: unknown field`,
    ].join('\n'));
  });

  test('wrong apiVersion or kind, wrong types, bad selections and bad regular expressions are errors', () => {
    assert.match(failure('apiVersion: mirror.openshift.io/v1alpha2\nkind: ImageSetConfiguration\n'), /imageset\.yaml:1: apiVersion must be mirror\.openshift\.io\/v2alpha1, got "mirror\.openshift\.io\/v1alpha2"/);
    assert.match(failure(`${header}mirror:\n  operators:\n  - catalog: c\n    full: yes please\n`), /imageset\.yaml:6: mirror\.operators\[0\]\.full must be a boolean, got "yes please"/);
    assert.match(failure(`${header}mirror:\n  operators:\n  - packages: []\n`), /imageset\.yaml:5: mirror\.operators\[0\]\.catalog is required/);
    assert.match(failure(`${header}mirror:\n  operators:\n  - catalog: c\n    packages:\n    - name: p\n      minVersion: 2.0.0\n      maxVersion: 1.0.0\n`),
      /imageset\.yaml:5: mirror\.operators\[0\] \(c\): package p: minVersion 2\.0\.0 is above maxVersion 1\.0\.0/);
    assert.match(failure(`${header}mirror:\n  operators:\n  - catalog: c\n    targetCatalog: reg.example.com:5000/olm:v1\n`),
      /imageset\.yaml:5: mirror\.operators\[0\]\.targetCatalog "reg\.example\.com:5000\/olm:v1" must be repository path components/);
    assert.match(failure(`${header}mirror:\n  operators:\n  - catalog: c\n    packages:\n    - name: p\n      channels:\n      - minVersion: 1.0.0\n`),
      /imageset\.yaml:5: mirror\.operators\[0\] \(c\): package p: a channel selection needs a name/);
    assert.match(failure(`${header}mirror:\n  blockedImages:\n  - name: 'a(b'\n`), /imageset\.yaml:5: mirror\.blockedImages\[0\]\.name "a\(b" is not a usable regular expression/);
    assert.match(failure(`${header}mirror:\n  operators: [\n`), /^imageset\.yaml:\d+: /);
  });
});
