// openCatalog picks the reader from what the path holds.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { allBundles, catalogImages } from '../../src/catalog/model.js';
import { detectCatalogFormat, openCatalog } from '../../src/catalog/open.js';
import { fixturesDir, fixturesMissing } from '../support/paths.js';

test('SQLite files, file-based catalog folders and package manifest folders are told apart', { skip: fixturesMissing() }, async () => {
  const cases: [string, string, string[]][] = [
    [join(fixturesDir, 'db', 'bundles-v5.db'), 'sqlite', ['etcd', 'prometheus', 'strimzi-kafka-operator']],
    [join(fixturesDir, 'db', 'foo-index-v12.db'), 'sqlite', ['foo']],
    [join(fixturesDir, 'fbc', 'foo-index-v0.2.0-declcfg'), 'fbc', ['foo']],
    [join(fixturesDir, 'fbc', 'index-declcfgs', 'latest'), 'fbc', ['bar', 'baz', 'foo']],
    [join(fixturesDir, 'manifests'), 'package-manifests', ['etcd', 'prometheus', 'strimzi-kafka-operator']],
  ];
  for (const [path, format, packages] of cases) {
    const opened = await openCatalog(path);
    assert.equal(opened.format, format, path);
    assert.deepEqual(opened.catalog.packages.map((p) => p.name), packages, path);
  }
});

test('`manifests: false` leaves CSVs and manifests out of SQLite and file-based catalogs, images stay', { skip: fixturesMissing() }, async () => {
  for (const path of [join(fixturesDir, 'db', 'foo-index-v12.db'), join(fixturesDir, 'fbc', 'foo-index-v0.2.0-declcfg')]) {
    const full = (await openCatalog(path)).catalog;
    const lean = (await openCatalog(path, { manifests: false })).catalog;
    assert.ok(allBundles(full).some((b) => b.csvJson !== undefined && b.objects !== undefined), path);
    assert.ok(allBundles(lean).every((b) => b.csvJson === undefined && b.objects === undefined && !b.properties.some((p) => p.type === 'olm.bundle.object')), path);
    assert.deepEqual(catalogImages(lean), catalogImages(full), path);
  }
});

test('a file that is not a database and a missing path are reported with the path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'olm-mirror-open-'));
  try {
    const file = join(dir, 'catalog.txt');
    await writeFile(file, 'hello');
    await assert.rejects(detectCatalogFormat(file), (err: Error) => err.message === `${file} is neither an SQLite catalog database nor a catalog folder`);
    await assert.rejects(detectCatalogFormat(join(dir, 'missing')), (err: Error) => err.message.startsWith(`cannot open catalog ${join(dir, 'missing')}:`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
