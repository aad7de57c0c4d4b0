// What a real-sized generated package-manifest catalog stores, value by value: the exact rows upstream's
// loader writes for it (the same rows olm-mirror wrote before it read YAML with js-yaml).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { loadPackageManifestFolder } from '../../src/catalog/packagemanifest/index.js';
import { writeCatalogDatabase } from '../../src/catalog/sqlite/index.js';
import { writeRealisticCatalog } from './synthetic.js';

describe('golden rows of a generated catalog (2 packages x 3 versions, 20-100 KB CSVs with CRDs)', () => {
  let dir: string;
  let db: Database.Database;
  const all = (sql: string, ...params: unknown[]): unknown[] => db.prepare(sql).raw().all(...params);
  const csvOf = (name: string): Record<string, any> => JSON.parse((db.prepare('select csv from operatorbundle where name = ?').get(name) as { csv: Buffer }).csv.toString());

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'olm-mirror-golden-'));
    const root = join(dir, 'manifests');
    await writeRealisticCatalog(root, 2, 3);
    // The same CSV with its quoted continuation line under-indented, and started by a tab, in two more packages' place.
    const csvFile = join(root, 'operator-1', '1.1.0', 'operator-1.v1.1.0.clusterserviceversion.yaml');
    const text = await readFile(csvFile, 'utf8');
    assert.ok(text.includes("\n      Delivery'\n"));
    await writeFile(csvFile, text.replace("\n      Delivery'\n", "\n    Delivery'\n"));
    const csvFile2 = join(root, 'operator-1', '1.2.0', 'operator-1.v1.2.0.clusterserviceversion.yaml');
    await writeFile(csvFile2, (await readFile(csvFile2, 'utf8')).replace("\n      Delivery'\n", "\n\tDelivery'\n"));
    const load = await loadPackageManifestFolder(root, { manifests: false });
    assert.deepEqual(load.warnings, []);
    writeCatalogDatabase(load.catalog, join(dir, 'bundles.db'), { manifestsOf: load.manifestsOf });
    db = new Database(join(dir, 'bundles.db'), { readonly: true });
  });
  after(async () => {
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('bundles: version, skipRange, replaces, skips', () => {
    assert.deepEqual(all('select name, version, skiprange, replaces, skips, bundlepath from operatorbundle order by name'), [
      ['operator-0.v1.0.0', '1.0.0', '>=1.0.0 <1.0.0', '', '', ''],
      ['operator-0.v1.1.0', '1.1.0', '>=1.0.0 <1.1.0', 'operator-0.v1.0.0', '', ''],
      ['operator-0.v1.2.0', '1.2.0', '>=1.0.0 <1.2.0', 'operator-0.v1.1.0', 'operator-0.v1.0.1', ''],
      ['operator-1.v1.0.0', '1.0.0', '>=1.0.0 <1.0.0', '', '', ''],
      ['operator-1.v1.1.0', '1.1.0', '>=1.0.0 <1.1.0', 'operator-1.v1.0.0', '', ''],
      ['operator-1.v1.2.0', '1.2.0', '>=1.0.0 <1.2.0', 'operator-1.v1.1.0', 'operator-1.v1.0.1', ''],
    ]);
  });

  test('channels and the upgrade graph', () => {
    assert.deepEqual(all('select channel.name, package_name, default_channel from package join channel on package.name = channel.package_name order by 2'),
      [['stable', 'operator-0', 'stable'], ['stable', 'operator-1', 'stable']]);
    assert.deepEqual(all("select operatorbundle_name, replaces - entry_id, depth from channel_entry where package_name = 'operator-1' order by entry_id"), [
      ['operator-1.v1.2.0', 3, 0], ['operator-1.v1.0.1', null, 1], ['operator-1.v1.2.0', -1, 1], ['operator-1.v1.1.0', 1, 2], ['operator-1.v1.0.0', null, 3],
    ]);
  });

  test('provided and required APIs, properties, dependencies', () => {
    assert.deepEqual(all("select group_name, version, kind from api_provider where operatorbundle_name = 'operator-1.v1.2.0' order by 3, 2"), [
      ['example1.com', 'v1', 'Gadget1'], ['example1.com', 'v1beta1', 'Gadget1'], ['example1.com', 'v1', 'Widget1'], ['example1.com', 'v1beta1', 'Widget1'],
    ]);
    assert.deepEqual(all("select group_name, version, kind from api_requirer where operatorbundle_name = 'operator-1.v1.2.0'"), [['shared.example.com', 'v1alpha1', 'Database']]);
    assert.deepEqual(all('select group_name, version, kind, plural from api order by 1, 3, 2'), [
      ['example0.com', 'v1', 'Gadget0', 'gadget0s'], ['example0.com', 'v1beta1', 'Gadget0', 'gadget0s'], ['example0.com', 'v1', 'Widget0', 'widget0s'], ['example0.com', 'v1beta1', 'Widget0', 'widget0s'],
      ['example1.com', 'v1', 'Gadget1', 'gadget1s'], ['example1.com', 'v1beta1', 'Gadget1', 'gadget1s'], ['example1.com', 'v1', 'Widget1', 'widget1s'], ['example1.com', 'v1beta1', 'Widget1', 'widget1s'],
      ['shared.example.com', 'v1alpha1', 'Database', 'databases'],
    ]);
    assert.deepEqual(all("select type, value from properties where operatorbundle_name = 'operator-0.v1.1.0' order by rowid"), [
      ['olm.gvk', '{"group":"example0.com","kind":"Gadget0","version":"v1"}'],
      ['olm.gvk', '{"group":"example0.com","kind":"Gadget0","version":"v1beta1"}'],
      ['olm.gvk', '{"group":"example0.com","kind":"Widget0","version":"v1"}'],
      ['olm.gvk', '{"group":"example0.com","kind":"Widget0","version":"v1beta1"}'],
      ['olm.package', '{"packageName":"operator-0","version":"1.1.0"}'],
    ]);
    assert.deepEqual(all("select type, cast(value as text) from dependencies where operatorbundle_name = 'operator-0.v1.1.0'"),
      [['olm.gvk', '{"group":"shared.example.com","kind":"Database","version":"v1alpha1"}']]);
  });

  test('related images: operator and init containers, then spec.relatedImages; env vars are not images', () => {
    assert.deepEqual(all("select image from related_image where operatorbundle_name = 'operator-1.v1.2.0' order by rowid"), [
      'registry.example.com/operator-1/operator@sha256:0000000100000002000000010000000000000000000000000000000000000000',
      'registry.example.com/operator-1/init:1.2.0',
      'registry.example.com/operator-1/operand@sha256:0000000100000002000000020000000000000000000000000000000000000000',
      'registry.example.com/shared/proxy:v4.2',
    ].map((image) => [image]));
  });

  test('CSV values: YAML 1.1 booleans, quoted strings, block and folded scalars, continuation lines however indented', () => {
    const csv = csvOf('operator-1.v1.0.0');
    assert.equal(csv.metadata.annotations.categories, 'Database, Integration & Delivery');
    assert.equal(csv.metadata.annotations.certified, 'false');
    assert.deepEqual(JSON.parse(csv.metadata.annotations['alm-examples'])[0], { apiVersion: 'example1.com/v1', kind: 'Widget1', metadata: { name: 'example-widget1' }, spec: { size: 3, version: '1.0.0' } });
    assert.deepEqual(csv.spec.installModes, [{ supported: true, type: 'OwnNamespace' }, { supported: true, type: 'AllNamespaces' }]);
    assert.deepEqual(csv.spec.keywords, ['operator', 'example', '1.0']);
    assert.equal(csv.spec.customresourcedefinitions.owned[0].description, 'A Widget1 managed by the operator, folded over two lines.');
    assert.deepEqual(csv.spec.install.spec.deployments[0].spec.template.spec.containers[0].args, ['--leader-elect', '--metrics-addr=:8080']);
    assert.deepEqual(csv.spec.install.spec.deployments[0].spec.template.spec.containers[0].resources, { limits: { cpu: '500m', memory: '512Mi' } });
    assert.match(csv.spec.description, /^Paragraph 0 of the operator-1 operator's documentation: it installs, upgrades and backs up instances, with "quotes", 'apostrophes' & <tags>\.\n\n/);
    assert.ok(csv.spec.description.endsWith('<tags>.\n'));
    // Upstream's JSON: keys sorted, < > & escaped; the CSV is also the bundle's third object (after the two CRDs).
    const row = db.prepare("select csv, bundle from operatorbundle where name = 'operator-1.v1.0.0'").get() as { csv: Buffer; bundle: Buffer };
    assert.ok(row.csv.toString().startsWith('{"apiVersion":"operators.coreos.com/v1alpha1","kind":"ClusterServiceVersion","metadata":{"annotations":{"alm-examples":"['));
    assert.ok(row.csv.toString().includes('with \\"quotes\\", \'apostrophes\' \\u0026 \\u003ctags\\u003e.'));
    assert.deepEqual(row.bundle.toString().split('\n').map((o) => (o ? JSON.parse(o).kind : o)), ['CustomResourceDefinition', 'ClusterServiceVersion', 'CustomResourceDefinition', '']);
    assert.equal(row.bundle.toString().split('\n')[1], row.csv.toString().trimEnd());
    // The under-indented and the tab-started continuation lines give the same values as the indented one.
    for (const name of ['operator-1.v1.1.0', 'operator-1.v1.2.0']) assert.equal(csvOf(name).metadata.annotations.categories, 'Database, Integration & Delivery', name);
  });
});
