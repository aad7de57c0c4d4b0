// `olm-mirror catalog build` and `catalog list` as a user runs them: a child process, its exit status, stdout and stderr.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readCatalogDatabase } from '../../src/catalog/sqlite/index.js';
import { MediaTypes } from '../../src/manifest/media-types.js';
import { removeNow } from '../support/cleanup.js';
import { runCli } from '../support/cli.js';
import { fixturesDir, fixturesMissing } from '../support/paths.js';
import { registryTestHooks } from '../support/registry.js';
import { skopeoInspectRaw } from '../support/skopeo.js';

const dir = mkdtempSync(join(tmpdir(), 'olm-mirror-cli-catalog-'));
after(() => removeNow(dir));

const olmMirror = (args: string[]) => runCli(['catalog', ...args]);

async function json<T>(args: string[]): Promise<T> {
  const run = await olmMirror([...args, '--output', 'json']);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as T;
}

/** A one-package catalog in the package manifest format, so these tests do not need the upstream fixtures. */
function writeDemoManifests(root: string): string {
  mkdirSync(join(root, 'demo', '1.0.0'), { recursive: true });
  writeFileSync(join(root, 'demo', 'demo.package.yaml'),
    'packageName: demo\nchannels:\n- name: stable\n  currentCSV: demo.v1.0.0\ndefaultChannel: stable\n');
  writeFileSync(join(root, 'demo', '1.0.0', 'demo.v1.0.0.clusterserviceversion.yaml'), `apiVersion: operators.coreos.com/v1alpha1
kind: ClusterServiceVersion
metadata:
  name: demo.v1.0.0
spec:
  version: 1.0.0
  install:
    strategy: deployment
    spec:
      deployments:
      - name: demo
        spec:
          template:
            spec:
              containers:
              - name: operator
                image: quay.io/example/demo-operator:1.0
  relatedImages:
  - name: operand
    image: quay.io/example/demo-operand:1.0
`);
  return root;
}
const demoDir = writeDemoManifests(join(dir, 'demo-manifests'));

type PackagesJson = { packages: { package: string; defaultChannel: string; channels: { name: string; head: string }[] }[] };
type BundlesJson = { bundles: { package: string; bundle: string; version: string; channels: string[]; replaces?: string }[] };
type ImagesJson = { images: { package: string; bundle: string; name: string; image: string }[] };

describe('catalog build', () => {
  const registry = registryTestHooks();

  test('--to-db writes a database that reads back', async () => {
    const db = join(dir, 'demo.db');
    const run = await olmMirror(['build', '--from-dir', demoDir, '--to-db', db]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `wrote database to ${db}\n`);
    const catalog = readCatalogDatabase(db);
    assert.deepEqual(catalog.packages.map((p) => [p.name, p.defaultChannel]), [['demo', 'stable']]);
  });

  test('--to pushes a catalog image (a manifest list for several platforms) that catalog list reads', async () => {
    const target = `${registry().host}/olm/demo-catalog:v1`;
    const run = await olmMirror(['build', '--from-dir', demoDir, '--to', target, '--insecure',
      '--platform', 'linux/amd64', '--platform', 'linux/arm64']);
    assert.equal(run.code, 0, run.stderr);
    const pushed = /^pushed (\S+)@(sha256:[0-9a-f]{64})\n$/.exec(run.stdout);
    assert.ok(pushed, run.stdout);
    assert.equal(pushed[1], target);
    const raw = await skopeoInspectRaw(registry(), 'olm/demo-catalog:v1');
    assert.equal(`sha256:${createHash('sha256').update(raw).digest('hex')}`, pushed[2]);
    assert.equal((JSON.parse(raw.toString()) as { mediaType: string }).mediaType, MediaTypes.dockerManifestList);

    const listed = await json<PackagesJson>(['list', target, '--insecure', '--index-filter-by-os', 'linux/arm64']);
    assert.deepEqual(listed, { packages: [{ package: 'demo', defaultChannel: 'stable', channels: [{ name: 'stable', head: 'demo.v1.0.0' }] }] });

    const ambiguous = await olmMirror(['list', target, '--insecure', '--index-filter-by-os', 'linux/.*']);
    assert.equal(ambiguous.code, 1);
    assert.match(ambiguous.stderr, /2 entries match the platform "linux\/\.\*".*\nOS\/ARCH\s+DIGEST\nlinux\/amd64\s+sha256:[0-9a-f]{64}\nlinux\/arm64\s+sha256:/);
  });

  test('bad flags exit 2 before doing anything; a broken catalog exits 1 and says what is wrong', async () => {
    const nothing = await olmMirror(['build', '--from-dir', demoDir]);
    assert.equal(nothing.code, 2);
    assert.match(nothing.stderr, /error: nothing to do: give --to-db FILE, --to IMAGE, or both/);
    const digest = await olmMirror(['build', '--from-dir', demoDir, '--to', `mirror.example.com/c@sha256:${'a'.repeat(64)}`]);
    assert.equal(digest.code, 2);
    assert.match(digest.stderr, /give a tag, not a digest/);
    const platform = await olmMirror(['build', '--from-dir', demoDir, '--to', 'mirror.example.com/c:v1', '--platform', 'amd64']);
    assert.equal(platform.code, 2);
    assert.match(platform.stderr, /--platform: invalid platform "amd64": expected os\/architecture\[\/variant\]/);
    const missing = await olmMirror(['build', '--to-db', join(dir, 'x.db')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--from-dir <dir>' not specified/);
  });

  test('a package manifest folder with an invalid bundle fails with exit 1 naming the problem', { skip: fixturesMissing() }, async () => {
    const run = await olmMirror(['build', '--from-dir', join(fixturesDir, 'package-manifests-invalid-bundle'), '--to-db', join(dir, 'bad.db')]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error: [^\n]*package-manifests-invalid-bundle[^]*3scale-community-operator\.v0\.3\.0/);
  });
});

describe('catalog list', () => {
  test('a package manifest folder: one line per channel with its head', { skip: fixturesMissing() }, async () => {
    const run = await olmMirror(['list', join(fixturesDir, 'manifests')]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^PACKAGE\s+DEFAULT CHANNEL\s+CHANNEL\s+HEAD$/);
    assert.match(lines[1]!, /^etcd\s+alpha\s+alpha\s+etcdoperator\.v0\.9\.2$/);
    assert.match(lines[2]!, /^\s+beta\s+etcdoperator\.v0\.9\.0$/);
    assert.equal(lines.length, 1 + 7, 'a header and 7 channels');
  });

  test('an SQLite database as JSON: packages, bundles by pattern, images', { skip: fixturesMissing() }, async () => {
    const db = join(fixturesDir, 'db', 'bundles-v5.db');
    const { packages } = await json<PackagesJson>(['list', db]);
    assert.deepEqual(packages.map((p) => [p.package, p.defaultChannel]),
      [['etcd', 'alpha'], ['prometheus', 'preview'], ['strimzi-kafka-operator', 'stable']]);

    for (const pattern of ['etcdoperator.v0.9%', 'ETCDOPERATOR.V0.9*']) {
      // a selection (every bundle of etcd) previews what a filter keeps; --bundle lists those bundles
      const { bundles } = await json<BundlesJson>(['list', db, '--full', '--package', 'etcd', '--bundle', pattern]);
      assert.deepEqual(bundles.map((b) => [b.bundle, b.channels]),
        [['etcdoperator.v0.9.0', ['alpha', 'beta', 'stable']], ['etcdoperator.v0.9.2', ['alpha', 'stable']]]);
    }

    const { images } = await json<ImagesJson>(['list', db, '--images', '--bundle', 'etcdoperator.v0.9.2']);
    const related = images.filter((i) => i.name !== 'bundle').map((i) => i.image);
    assert.equal(related.length, 3, 'the operator image and two etcd images');
    assert.ok(related.includes('quay.io/coreos/etcd-operator@sha256:c0301e4686c3ed4206e370b42de5a3bd2229b9fb4906cf85f3f30650424abec2'));
    assert.deepEqual(images.filter((i) => i.name === 'bundle').map((i) => i.image), ['quay.io/olmtest/example-bundle:etcdoperator.v0.9.2']);
  });

  test('a file-based catalog folder', { skip: fixturesMissing() }, async () => {
    const { packages } = await json<PackagesJson>(['list', join(fixturesDir, 'fbc', 'foo-index-v0.2.0-declcfg')]);
    assert.deepEqual(packages, [{ package: 'foo', defaultChannel: 'beta', channels: [{ name: 'beta', head: 'foo.v0.2.0' }, { name: 'stable', head: 'foo.v0.2.0' }] }]);
  });

  test('images of a package manifest catalog as a table', async () => {
    const run = await olmMirror(['list', demoDir, '--images']);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3, run.stdout);
    assert.match(lines[0]!, /^PACKAGE\s+BUNDLE\s+NAME\s+IMAGE$/);
    // the operator image comes from the deployment, which gives it no related-image name
    assert.match(lines[1]!, /^demo\s+demo\.v1\.0\.0\s+quay\.io\/example\/demo-operator:1\.0$/);
    assert.match(lines[2]!, /^demo\s+demo\.v1\.0\.0\s+operand\s+quay\.io\/example\/demo-operand:1\.0$/);
  });

  test('an unknown package or an unusable SRC exits 2 and says why', async () => {
    const unknown = await olmMirror(['list', demoDir, '--package', 'nope']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /error: no package "nope" in the catalog; it has: demo/);
    const bad = await olmMirror(['list', 'Not An Image']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /error: "Not An Image" is neither an existing file or folder nor a valid image reference/);
    const format = await olmMirror(['list', demoDir, '--output', 'yaml']);
    assert.equal(format.code, 2);
    const regex = await olmMirror(['list', 'quay.io/ns/catalog:v1', '--index-filter-by-os', 'linux/(']);
    assert.equal(regex.code, 2);
    assert.match(regex.stderr, /--index-filter-by-os <regex>' argument 'linux\/\(' is invalid\. not a valid regular expression/);
  });
});
