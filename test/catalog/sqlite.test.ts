// SQLite catalogs: the writer against upstream's schema and rows, the reader against every fixture.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { allBundles, catalogImages, type Catalog } from '../../src/catalog/model.js';
import { loadPackageManifests } from '../../src/catalog/packagemanifest/index.js';
import { readCatalogDatabase, writeCatalogDatabase } from '../../src/catalog/sqlite/index.js';
import { fixturesDir, fixturesMissing } from '../support/paths.js';

const v5 = join(fixturesDir, 'db', 'bundles-v5.db');
const v12 = join(fixturesDir, 'db', 'foo-index-v12.db');

/** The final upstream schema, as sqlite_master holds it after every migration. */
const EXPECTED_SCHEMA: [type: string, name: string, sql: string | null][] = [
  ['table', 'schema_migrations', 'CREATE TABLE schema_migrations (\n\t\tversion bigint NOT NULL,\n        timestamp DATETIME DEFAULT CURRENT_TIMESTAMP\n\t)'],
  ['table', 'api', 'CREATE TABLE api (\n\t\t\tgroup_name TEXT,\n\t\t\tversion TEXT,\n\t\t\tkind TEXT,\n\t\t\tplural TEXT NOT NULL,\n\t\t\tPRIMARY KEY(group_name, version, kind)\n\t\t)'],
  ['index', 'sqlite_autoindex_api_1', null],
  ['table', 'operatorbundle', 'CREATE TABLE operatorbundle (\n\t\t\tname TEXT PRIMARY KEY,\n\t\t\tcsv TEXT,\n\t\t\tbundle TEXT,\n\t\t\tbundlepath TEXT, skiprange TEXT, version TEXT, replaces TEXT, skips TEXT, substitutesfor TEXT)'],
  ['index', 'sqlite_autoindex_operatorbundle_1', null],
  ['table', 'package', 'CREATE TABLE package (\n\t\t\tname TEXT PRIMARY KEY,\n\t\t\tdefault_channel TEXT,\n\t\t\tFOREIGN KEY(name, default_channel) REFERENCES channel(package_name,name) ON DELETE CASCADE\n\t\t)'],
  ['index', 'sqlite_autoindex_package_1', null],
  ['table', 'channel', 'CREATE TABLE channel (\n\t\t\tname TEXT,\n\t\t\tpackage_name TEXT,\n\t\t\thead_operatorbundle_name TEXT,\n\t\t\tPRIMARY KEY(name, package_name),\n\t\t\tFOREIGN KEY(head_operatorbundle_name) REFERENCES operatorbundle(name) ON DELETE CASCADE\n\t\t)'],
  ['index', 'sqlite_autoindex_channel_1', null],
  ['table', 'channel_entry', 'CREATE TABLE channel_entry (\n\t\t\tentry_id INTEGER PRIMARY KEY,\n\t\t\tchannel_name TEXT,\n\t\t\tpackage_name TEXT,\n\t\t\toperatorbundle_name TEXT,\n\t\t\treplaces INTEGER,\n\t\t\tdepth INTEGER,\n\t\t\tFOREIGN KEY(replaces) REFERENCES channel_entry(entry_id) DEFERRABLE INITIALLY DEFERRED, \n\t\t\tFOREIGN KEY(channel_name, package_name) REFERENCES channel(name, package_name) ON DELETE CASCADE\n\t\t)'],
  ['table', 'related_image', 'CREATE TABLE related_image (\n\t\t\timage TEXT,\n     \t\toperatorbundle_name TEXT,\n     \t\tFOREIGN KEY(operatorbundle_name) REFERENCES operatorbundle(name) ON DELETE CASCADE\n\t\t)'],
  ['table', 'api_provider', 'CREATE TABLE "api_provider" (\n\t\t\tgroup_name TEXT,\n\t\t\tversion TEXT,\n\t\t\tkind TEXT,\n\t\t\toperatorbundle_name TEXT,\n\t\t\toperatorbundle_version TEXT,\n\t\t\toperatorbundle_path TEXT,\n\t\t\tFOREIGN KEY(operatorbundle_name, operatorbundle_version, operatorbundle_path) REFERENCES operatorbundle(name, version, bundlepath) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,\n\t\t\tFOREIGN KEY(group_name, version, kind) REFERENCES api(group_name, version, kind) ON DELETE CASCADE\n\t\t)'],
  ['table', 'api_requirer', 'CREATE TABLE "api_requirer" (\n\t\t\tgroup_name TEXT,\n\t\t\tversion TEXT,\n\t\t\tkind TEXT,\n\t\t\toperatorbundle_name TEXT,\n\t\t\toperatorbundle_version TEXT,\n\t\t\toperatorbundle_path TEXT,\n\t\t\tFOREIGN KEY(operatorbundle_name, operatorbundle_version, operatorbundle_path) REFERENCES operatorbundle(name, version, bundlepath) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,\n\t\t\tFOREIGN KEY(group_name, version, kind) REFERENCES api(group_name, version, kind) ON DELETE CASCADE\n\t\t)'],
  ['index', 'pk', 'CREATE UNIQUE INDEX pk ON operatorbundle(name, version, bundlepath)'],
  ['trigger', 'api_provider_cleanup', 'CREATE TRIGGER api_provider_cleanup\n\t\tAFTER DELETE ON api_provider\n\t\tWHEN NOT EXISTS (SELECT 1 FROM api_provider JOIN api_requirer WHERE \n\t\t    (api_provider.group_name = OLD.group_name AND api_provider.version = OLD.version AND api_provider.kind = OLD.kind) OR \n\t\t\t(api_requirer.group_name = OLD.group_name AND api_requirer.version = OLD.version AND api_requirer.kind = OLD.kind))\n\t\tBEGIN\n\t\t\tDELETE FROM api WHERE group_name = OLD.group_name AND version = OLD.version AND kind = OLD.kind;\n\t\tEND'],
  ['trigger', 'api_requirer_cleanup', 'CREATE TRIGGER api_requirer_cleanup\n\t\tAFTER DELETE ON api_requirer\n\t\tWHEN NOT EXISTS (SELECT 1 FROM api_provider JOIN api_requirer WHERE \n\t\t    (api_provider.group_name = OLD.group_name AND api_provider.version = OLD.version AND api_provider.kind = OLD.kind) OR \n\t\t\t(api_requirer.group_name = OLD.group_name AND api_requirer.version = OLD.version AND api_requirer.kind = OLD.kind))\t\n\t\tBEGIN\n\t\t\tDELETE FROM api WHERE group_name = OLD.group_name AND version = OLD.version AND kind = OLD.kind;\n\t\tEND'],
  ['table', 'dependencies', 'CREATE TABLE dependencies (\n\t\t\ttype TEXT,\n\t\t\tvalue TEXT,\n\t\t\toperatorbundle_name TEXT,\n\t\t\toperatorbundle_version TEXT,\n\t\t\toperatorbundle_path TEXT,\n\t\t\tFOREIGN KEY(operatorbundle_name, operatorbundle_version, operatorbundle_path) REFERENCES operatorbundle(name, version, bundlepath) ON DELETE CASCADE\n\t\t)'],
  ['table', 'properties', 'CREATE TABLE properties (\n\t\t\ttype TEXT,\n\t\t\tvalue TEXT,\n\t\t\toperatorbundle_name TEXT,\n\t\t\toperatorbundle_version TEXT,\n\t\t\toperatorbundle_path TEXT,\n\t\t\tFOREIGN KEY(operatorbundle_name, operatorbundle_version, operatorbundle_path) REFERENCES operatorbundle(name, version, bundlepath) ON DELETE CASCADE\n\t\t)'],
  ['table', 'deprecated', 'CREATE TABLE deprecated (\n\t\t\toperatorbundle_name TEXT PRIMARY KEY\n\t\t)'],
  ['index', 'sqlite_autoindex_deprecated_1', null],
];

function query<T>(path: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

function schemaOf(path: string): [string, string, string | null][] {
  return query<{ type: string; name: string; sql: string | null }>(path, 'select type, name, sql from sqlite_master order by rowid').map((r) => [r.type, r.name, r.sql]);
}

/** channel_entry as (channel, package, bundle, replaced bundle, depth): entry ids themselves may differ. */
function entryGraph(path: string): string[] {
  return query<{ t: string }>(
    path,
    "select e.channel_name || ' ' || e.package_name || ' ' || e.operatorbundle_name || ' -> ' || coalesce(r.operatorbundle_name, '-') || ' @' || e.depth as t " +
      'from channel_entry e left join channel_entry r on r.entry_id = e.replaces',
  )
    .map((r) => r.t)
    .sort();
}

describe('writeCatalogDatabase from upstream manifests/', { skip: fixturesMissing() }, () => {
  let work: string;
  let dbPath: string;
  let catalog: Catalog;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'olm-mirror-sqlite-'));
    dbPath = join(work, 'bundles.db');
    catalog = await loadPackageManifests(join(fixturesDir, 'manifests'));
    writeCatalogDatabase(catalog, dbPath);
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test('the schema is upstream final schema, object for object, and the same as the version 12 fixture', () => {
    assert.deepEqual(schemaOf(dbPath), EXPECTED_SCHEMA);
    assert.deepEqual(schemaOf(dbPath), schemaOf(v12));
  });

  test('schema_migrations holds one row with the last upstream migration, 13', () => {
    assert.deepEqual(query<{ version: number }>(dbPath, 'select version from schema_migrations').map((r) => r.version), [13]);
  });

  test('the seed query returns the three images of etcdoperator.v0.9.2 and the one of v0.9.0', () => {
    const sql = "select * from related_image where operatorbundle_name like 'etcdoperator.v0.9%';";
    const rows = query<{ image: string; operatorbundle_name: string }>(dbPath, sql);
    assert.deepEqual(rows.map((r) => r.operatorbundle_name).sort(), ['etcdoperator.v0.9.0', 'etcdoperator.v0.9.2', 'etcdoperator.v0.9.2', 'etcdoperator.v0.9.2']);
    // and through the sqlite3 shell exactly as the seed runs it, when the machine has one
    if (existsSync('/usr/bin/sqlite3')) {
      const out = execFileSync('sqlite3', ['-line', dbPath], { input: sql, encoding: 'utf8' });
      assert.equal(out.match(/operatorbundle_name = etcdoperator\.v0\.9\.2/g)?.length, 3);
      assert.equal(out.match(/operatorbundle_name = etcdoperator\.v0\.9\.0/g)?.length, 1);
    }
  });

  test('related_image rows and the channel_entry graph equal what upstream wrote (bundles-v5.db)', () => {
    const images = (path: string): string[] => query<{ t: string }>(path, "select operatorbundle_name || ' ' || image as t from related_image").map((r) => r.t).sort();
    assert.deepEqual(images(dbPath), images(v5));
    assert.equal(query(dbPath, 'select distinct image from related_image').length, 12);
    assert.equal(query(dbPath, 'select 1 from channel_entry').length, 24);
    assert.deepEqual(entryGraph(dbPath), entryGraph(v5));
    assert.deepEqual(query(dbPath, 'select name, package_name, head_operatorbundle_name from channel order by rowid'), query(v5, 'select name, package_name, head_operatorbundle_name from channel order by rowid'));
    assert.deepEqual(query(dbPath, 'select * from package order by name'), query(v5, 'select * from package order by name'));
  });

  test('bundle rows follow upstream conventions', () => {
    const row = query<Record<string, unknown>>(dbPath, 'select * from operatorbundle where name = ?', 'etcdoperator.v0.9.2')[0]!;
    assert.equal(row.bundlepath, '');
    assert.equal(row.version, '0.9.2');
    assert.equal(row.skiprange, '< 0.6.0');
    assert.equal(row.replaces, 'etcdoperator.v0.9.0');
    assert.equal(row.skips, 'etcdoperator.v0.9.1');
    assert.equal(row.substitutesfor, '');
    const csv = (row.csv as Buffer).toString('utf8');
    assert.ok(csv.startsWith('{"apiVersion":"operators.coreos.com/v1alpha1","kind":"ClusterServiceVersion"') && csv.endsWith('}\n'));
    assert.equal((row.bundle as Buffer).toString('utf8').split('\n').filter(Boolean).length, 4); // 3 CRDs + its CSV, not v0.9.0's
    const props = query<{ type: string; value: string; operatorbundle_version: string; operatorbundle_path: string | null }>(dbPath, 'select * from properties where operatorbundle_name = ?', 'etcdoperator.v0.9.2');
    assert.ok(props.some((p) => p.type === 'olm.package' && p.value === '{"packageName":"etcd","version":"0.9.2"}'));
    assert.equal(props.filter((p) => p.type === 'olm.gvk').length, 3);
    assert.ok(props.every((p) => p.operatorbundle_version === '0.9.2' && p.operatorbundle_path === null));
    const deps = query<{ type: string; value: Buffer }>(dbPath, 'select type, value from dependencies where operatorbundle_name = ?', 'etcdoperator.v0.9.2');
    assert.deepEqual(deps.map((d) => [d.type, d.value.toString('utf8')]), [['olm.gvk', '{"group":"etcd.database.coreos.com","kind":"EtcdCluster","version":"v1beta2"}']]);
    const api = query(dbPath, "select * from api where kind = 'EtcdCluster'");
    assert.deepEqual(api, [{ group_name: 'etcd.database.coreos.com', version: 'v1beta2', kind: 'EtcdCluster', plural: 'etcdclusters' }]);
    assert.equal(query(dbPath, "select 1 from api_provider where kind = 'EtcdCluster'").length, 3);
    assert.deepEqual(query(dbPath, 'select operatorbundle_name from api_requirer'), [{ operatorbundle_name: 'etcdoperator.v0.9.2' }]);
  });

  test('reading the written database gives back the catalog', () => {
    const strip = (c: Catalog): unknown =>
      c.packages.map((p) => ({ ...p, bundles: p.bundles.map((b) => ({ ...b, relatedImages: b.relatedImages.map((r) => r.image) })) }));
    assert.deepEqual(strip(readCatalogDatabase(dbPath)), strip(catalog));
  });
});

describe('readCatalogDatabase', { skip: fixturesMissing() }, () => {
  test('version 5 (bundles-v5.db): packages, channels, graph, images; replaces/skips from channel_entry', () => {
    const catalog = readCatalogDatabase(v5);
    assert.deepEqual(catalog.packages.map((p) => [p.name, p.defaultChannel, p.bundles.length, p.channels.length]), [
      ['etcd', 'alpha', 3, 3],
      ['prometheus', 'preview', 3, 1],
      ['strimzi-kafka-operator', 'stable', 4, 3],
    ]);
    const alpha = catalog.packages[0]!.channels.find((c) => c.name === 'alpha')!;
    assert.deepEqual(alpha.entries, [
      { bundle: 'etcdoperator.v0.9.2', depth: 0, skips: ['etcdoperator.v0.9.1'], replaces: 'etcdoperator.v0.9.0', skipRange: '< 0.6.0' },
      { bundle: 'etcdoperator.v0.9.0', depth: 2, skips: [], replaces: 'etcdoperator.v0.6.1' },
      { bundle: 'etcdoperator.v0.6.1', depth: 3, skips: [] },
    ]);
    const v092 = allBundles(catalog).find((b) => b.name === 'etcdoperator.v0.9.2')!;
    assert.equal(v092.image, 'quay.io/olmtest/example-bundle:etcdoperator.v0.9.2');
    assert.equal(v092.replaces, 'etcdoperator.v0.9.0');
    assert.deepEqual(v092.skips, ['etcdoperator.v0.9.1']);
    assert.equal(v092.relatedImages.length, 3);
    assert.deepEqual(v092.providedApis.map((a) => a.plural).sort(), ['etcdbackups', 'etcdclusters', 'etcdrestores']);
    assert.deepEqual(v092.requiredApis.map((a) => a.kind), ['EtcdCluster']);
    assert.deepEqual(v092.properties, []);
    assert.ok(v092.csvJson?.startsWith('{"apiVersion"'));
    // 12 related images plus the 3 etcd bundle images
    assert.equal(catalogImages(catalog).length, 15);
  });

  test('version 12 (foo-index-v12.db): skips, properties, dependencies, bundle images', () => {
    const catalog = readCatalogDatabase(v12);
    assert.deepEqual(catalog.packages.map((p) => [p.name, p.defaultChannel]), [['foo', 'beta']]);
    const [beta] = catalog.packages[0]!.channels;
    assert.equal(beta!.head, 'foo.v0.2.0');
    assert.deepEqual(beta!.entries, [
      { bundle: 'foo.v0.2.0', depth: 0, skips: ['foo.v0.1.1', 'foo.v0.1.2'], replaces: 'foo.v0.1.0', skipRange: '<0.2.0' },
      { bundle: 'foo.v0.1.0', depth: 3, skips: [], skipRange: '<0.1.0' },
    ]);
    const foo2 = catalog.packages[0]!.bundles.find((b) => b.name === 'foo.v0.2.0')!;
    assert.equal(foo2.image, 'test.registry/foo-operator/foo-bundle:v0.2.0');
    assert.deepEqual(foo2.skips, ['foo.v0.1.1', 'foo.v0.1.2']);
    assert.deepEqual(foo2.providedApis, [{ group: 'test.foo', version: 'v1', kind: 'Foo', plural: 'foos' }]);
    assert.deepEqual(foo2.properties.map((p) => p.type).sort(), ['olm.gvk', 'olm.package']);
    assert.deepEqual(foo2.dependencies.map((d) => d.type).sort(), ['olm.gvk', 'olm.package']);
    assert.deepEqual(catalogImages(catalog), [
      'test.registry/foo-operator/foo-bundle:v0.1.0',
      'test.registry/foo-operator/foo-bundle:v0.2.0',
      'test.registry/foo-operator/foo:v0.1.0',
      'test.registry/foo-operator/foo:v0.2.0',
    ]);
  });

  test('manifests can be left out', () => {
    const bundles = allBundles(readCatalogDatabase(v12, { manifests: false }));
    assert.ok(bundles.every((b) => b.csvJson === undefined && b.objects === undefined));
  });
});

describe('bundles outside any channel', { skip: fixturesMissing() }, () => {
  let work: string;
  let dbPath: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'olm-mirror-sqlite-loose-'));
    dbPath = join(work, 'index.db');
    await writeFile(dbPath, await readFile(v12));
    const db = new Database(dbPath);
    db.exec(`
      insert into operatorbundle(name, bundlepath, version) values('bar.v1.0.0', 'test.registry/bar/bar-bundle:v1.0.0', '1.0.0');
      insert into related_image(image, operatorbundle_name) values('test.registry/bar/bar:v1.0.0', 'bar.v1.0.0');
      insert into properties(type, value, operatorbundle_name, operatorbundle_version, operatorbundle_path)
        values('olm.package', '{"packageName":"bar","version":"1.0.0"}', 'bar.v1.0.0', '1.0.0', 'test.registry/bar/bar-bundle:v1.0.0');
      insert into operatorbundle(name, bundlepath) values('nameless.v1', 'test.registry/nameless/bundle:v1');
      insert into operatorbundle(name, bundlepath) values('pathless.v1', '');
      -- a row left behind by a bundle removed without foreign key enforcement (off by default in SQLite)
      pragma foreign_keys = off;
      insert into related_image(image, operatorbundle_name) values('test.registry/orphan/image:v1', 'gone.v1');
    `);
    db.close();
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test("catalogImages() is what oc's two queries select, packages only hold channel members", () => {
    const catalog = readCatalogDatabase(dbPath, { manifests: false });
    const oc = [
      ...query<{ image: string }>(dbPath, 'select image from related_image').map((r) => r.image),
      ...query<{ bundlepath: string | null }>(dbPath, 'select bundlepath from operatorbundle').map((r) => r.bundlepath ?? ''),
    ].filter((image) => image !== '');
    assert.deepEqual(catalogImages(catalog), [...new Set(oc)].sort());
    assert.ok(catalogImages(catalog).includes('test.registry/bar/bar:v1.0.0') && catalogImages(catalog).includes('test.registry/orphan/image:v1'));
    assert.deepEqual(
      (catalog.looseBundles ?? []).map((b) => [b.name, b.package, b.version, b.image, b.relatedImages.map((r) => r.image)]),
      [
        ['bar.v1.0.0', 'bar', '1.0.0', 'test.registry/bar/bar-bundle:v1.0.0', ['test.registry/bar/bar:v1.0.0']],
        ['nameless.v1', '', '', 'test.registry/nameless/bundle:v1', []],
        ['pathless.v1', '', '', '', []],
        ['gone.v1', '', '', '', ['test.registry/orphan/image:v1']],
      ],
    );
    assert.deepEqual(allBundles(catalog).map((b) => b.name), allBundles(readCatalogDatabase(v12, { manifests: false })).map((b) => b.name));
  });

  test('written back, loose bundles stay loose and keep their images', () => {
    const catalog = readCatalogDatabase(dbPath);
    const copy = join(work, 'copy.db');
    writeCatalogDatabase(catalog, copy);
    const again = readCatalogDatabase(copy);
    assert.deepEqual(again.looseBundles?.map((b) => b.name), catalog.looseBundles?.map((b) => b.name));
    assert.deepEqual(catalogImages(again), catalogImages(catalog));
  });
});

describe('database errors and atomic writes', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'olm-mirror-sqlite-err-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const broken: Catalog = {
    packages: [
      {
        name: 'demo',
        defaultChannel: 'stable',
        channels: [{ name: 'stable', head: 'demo.v2', entries: [{ bundle: 'demo.v2', depth: 0, skips: [], replaces: 'demo.v1' }] }],
        bundles: [{ name: 'demo.v2', package: 'demo', version: '2.0.0', image: '', skips: [], relatedImages: [], providedApis: [], requiredApis: [], properties: [], dependencies: [] }],
      },
    ],
  };

  test('a failed write leaves nothing at a new target and no temporary file', async () => {
    const target = join(work, 'new.db');
    assert.throws(() => writeCatalogDatabase(broken, target), /Invalid bundle demo\.v2, replaces nonexistent bundle demo\.v1/);
    assert.deepEqual(await readdir(work), []);
  });

  test('a failed write leaves an existing target as it was', async () => {
    const target = join(work, 'existing.db');
    await writeFile(target, 'previous content');
    assert.throws(() => writeCatalogDatabase(broken, target));
    assert.equal(await readFile(target, 'utf8'), 'previous content');
    assert.deepEqual(await readdir(work), ['existing.db']);
    await rm(target);
  });

  test('a file that is not a database is reported with its path', async () => {
    const path = join(work, 'not.db');
    await writeFile(path, 'hello');
    assert.throws(() => readCatalogDatabase(path), (err: Error) => err.message.includes(path) && /not a database/.test(err.message));
    await rm(path);
  });

  test('a database without catalog tables is reported', async () => {
    const path = join(work, 'empty.db');
    new Database(path).exec('create table other (x)').close();
    assert.throws(() => readCatalogDatabase(path), new RegExp(`${path} is not an operator catalog database: it has no package table`));
    await rm(path);
  });
});
