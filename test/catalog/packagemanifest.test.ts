// Package manifest loading against upstream's own test data and its rules.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { stringify } from 'yaml';
import { allBundles, catalogImages, type Catalog } from '../../src/catalog/model.js';
import { loadPackageManifestFolder, loadPackageManifests } from '../../src/catalog/packagemanifest/index.js';
import { writeCatalogDatabase } from '../../src/catalog/sqlite/index.js';
import { fixturesDir, fixturesMissing } from '../support/paths.js';
import { csvDoc, writePackage } from './synthetic.js';

const manifests = join(fixturesDir, 'manifests');
const v5 = join(fixturesDir, 'db', 'bundles-v5.db');

describe('upstream manifests/', { skip: fixturesMissing() }, () => {
  let catalog: Catalog;
  before(async () => {
    catalog = await loadPackageManifests(manifests);
  });

  test('packages, default channels and channel heads', () => {
    const summary = catalog.packages.map((p) => ({ name: p.name, defaultChannel: p.defaultChannel, heads: Object.fromEntries(p.channels.map((c) => [c.name, c.head])) }));
    assert.deepEqual(summary, [
      { name: 'etcd', defaultChannel: 'alpha', heads: { alpha: 'etcdoperator.v0.9.2', beta: 'etcdoperator.v0.9.0', stable: 'etcdoperator.v0.9.2' } },
      { name: 'prometheus', defaultChannel: 'preview', heads: { preview: 'prometheusoperator.0.22.2' } },
      {
        name: 'strimzi-kafka-operator',
        defaultChannel: 'stable',
        heads: { stable: 'strimzi-cluster-operator.v0.11.1', beta: 'strimzi-cluster-operator.v0.12.1', alpha: 'strimzi-cluster-operator.v0.12.2' },
      },
    ]);
  });

  test('10 bundles, 7 channels and the bundles of each channel', () => {
    assert.equal(allBundles(catalog).length, 10);
    const perChannel = Object.fromEntries(catalog.packages.flatMap((p) => p.channels.map((c) => [`${p.name}/${c.name}`, c.entries.length])));
    assert.deepEqual(perChannel, {
      'etcd/alpha': 3, 'etcd/beta': 2, 'etcd/stable': 3, 'prometheus/preview': 3,
      'strimzi-kafka-operator/stable': 2, 'strimzi-kafka-operator/beta': 3, 'strimzi-kafka-operator/alpha': 4,
    });
  });

  test('12 distinct related images: 4 docker.io short names with tags, the rest quay.io digests', () => {
    const images = catalogImages(catalog);
    assert.equal(images.length, 12);
    assert.deepEqual(images.filter((i) => !i.startsWith('quay.io/')), ['strimzi/cluster-operator:0.11.0', 'strimzi/cluster-operator:0.11.1', 'strimzi/operator:0.12.1', 'strimzi/operator:0.12.2']);
    assert.ok(images.filter((i) => i.startsWith('quay.io/')).every((i) => /@sha256:[0-9a-f]{64}$/.test(i)));
  });

  test('etcdoperator.v0.9.2 has the operator image and two etcd digests, named as the CSV names them', () => {
    const bundle = allBundles(catalog).find((b) => b.name === 'etcdoperator.v0.9.2')!;
    assert.deepEqual(bundle.relatedImages.map((r) => [r.name, r.image.replace(/@sha256:.*/, '')]), [
      [undefined, 'quay.io/coreos/etcd-operator'],
      ['etcd-v3.4.0', 'quay.io/coreos/etcd'],
      ['etcd-3.4.1', 'quay.io/coreos/etcd'],
    ]);
    assert.equal(bundle.image, '');
    assert.equal(bundle.version, '0.9.2');
    assert.equal(bundle.skipRange, '< 0.6.0');
    assert.equal(bundle.replaces, 'etcdoperator.v0.9.0');
    assert.deepEqual(bundle.skips, ['etcdoperator.v0.9.1']);
  });

  test('related images per bundle are the related_image rows upstream wrote', () => {
    const db = new Database(v5, { readonly: true });
    const expected = (db.prepare('select operatorbundle_name, image from related_image').all() as { operatorbundle_name: string; image: string }[])
      .map((r) => `${r.operatorbundle_name} ${r.image}`)
      .sort();
    db.close();
    const actual = allBundles(catalog).flatMap((b) => b.relatedImages.map((r) => `${b.name} ${r.image}`)).sort();
    assert.deepEqual(actual, expected);
  });

  test('a CSV is found by its first document, and shares the CRD files beside it (etcd/0.9.2)', () => {
    const v090 = allBundles(catalog).find((b) => b.name === 'etcdoperator.v0.9.0')!;
    const v092 = allBundles(catalog).find((b) => b.name === 'etcdoperator.v0.9.2')!;
    const kinds = (objects: readonly string[] | undefined): string[] => (objects ?? []).map((o) => JSON.parse(o) as { kind: string; metadata: { name: string } }).map((o) => `${o.kind}/${o.metadata.name}`);
    assert.deepEqual(kinds(v090.objects), [
      'CustomResourceDefinition/etcdbackups.etcd.database.coreos.com',
      'CustomResourceDefinition/etcdclusters.etcd.database.coreos.com',
      'ClusterServiceVersion/etcdoperator.v0.9.0',
      'CustomResourceDefinition/etcdrestores.etcd.database.coreos.com',
    ]);
    assert.ok(kinds(v092.objects).includes('ClusterServiceVersion/etcdoperator.v0.9.2'));
    assert.ok(!kinds(v092.objects).includes('ClusterServiceVersion/etcdoperator.v0.9.0'));
  });

  test('strimzi is a flat package: every CRD beside the CSVs belongs to each bundle', () => {
    const strimzi = catalog.packages.find((p) => p.name === 'strimzi-kafka-operator')!;
    for (const bundle of strimzi.bundles) {
      const objects = (bundle.objects ?? []).map((o) => (JSON.parse(o) as { kind: string }).kind);
      assert.equal(objects.filter((k) => k === 'ClusterServiceVersion').length, 1, bundle.name);
      assert.equal(objects.filter((k) => k === 'CustomResourceDefinition').length, 7, bundle.name);
    }
  });

  test('APIs, properties and dependencies of etcdoperator.v0.9.2', () => {
    const bundle = allBundles(catalog).find((b) => b.name === 'etcdoperator.v0.9.2')!;
    assert.deepEqual(bundle.providedApis.map((a) => `${a.plural}.${a.group}/${a.version} ${a.kind}`).sort(), [
      'etcdbackups.etcd.database.coreos.com/v1beta2 EtcdBackup',
      'etcdclusters.etcd.database.coreos.com/v1beta2 EtcdCluster',
      'etcdrestores.etcd.database.coreos.com/v1beta2 EtcdRestore',
    ]);
    assert.deepEqual(bundle.requiredApis.map((a) => a.kind), ['EtcdCluster']);
    assert.deepEqual(bundle.dependencies, [{ type: 'olm.gvk', value: '{"group":"etcd.database.coreos.com","kind":"EtcdCluster","version":"v1beta2"}' }]);
    const props = bundle.properties.map((p) => `${p.type} ${p.value}`);
    assert.ok(props.includes('olm.package {"packageName":"etcd","version":"0.9.2"}'));
    assert.ok(props.includes('olm.gvk {"group":"etcd.database.coreos.com","kind":"EtcdBackup","version":"v1beta2"}'));
    // entries of the CSV's olm.properties annotation
    assert.ok(props.includes('olm.label {"label":"testlabel"}'));
  });

  test('a CSV is stored as Go writes JSON: sorted keys and \\u003c escapes, byte for byte as upstream', () => {
    const db = new Database(v5, { readonly: true });
    const upstream = db.prepare('select csv, bundle from operatorbundle where name = ?');
    for (const name of ['prometheusoperator.0.14.0', 'strimzi-cluster-operator.v0.12.1']) {
      const row = upstream.get(name) as { csv: Buffer; bundle: Buffer };
      const bundle = allBundles(catalog).find((b) => b.name === name)!;
      assert.equal(`${bundle.csvJson}\n`, row.csv.toString('utf8'), name);
      assert.equal(bundle.objects!.map((o) => `${o}\n`).join(''), row.bundle.toString('utf8'), name);
    }
    db.close();
  });

  test('the invalid-bundle fixture fails naming the CSV file and the mistyped field', async () => {
    await assert.rejects(loadPackageManifests(join(fixturesDir, 'package-manifests-invalid-bundle')), (err: Error) => {
      assert.match(err.message, /bundle 3scale-community-operator\.v0\.3\.0 \(.*3scale-community-operator\.v0\.3\.0\.clusterserviceversion\.yaml\)/);
      assert.match(err.message, /containers\[0\]\.env\[3\]\.value: expected a string, got number/);
      return true;
    });
  });
});

/** Generated cases, each in its own folder under one temporary root. */
let root: string;
let n = 0;
const fresh = async (): Promise<string> => {
  const dir = join(root, `case-${n++}`);
  await mkdir(dir);
  return dir;
};
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'olm-mirror-pm-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('loader rules on generated manifests', () => {

  test('an owned CRD missing from the bundle folder fails naming the CSV and the CRD', async () => {
    const dir = await fresh();
    await writePackage(dir, 'demo', { stable: 'demo.v1.0.0' }, [{ name: 'demo.v1.0.0', version: '1.0.0', owns: ['gadgets'], omitCrds: true }]);
    await assert.rejects(loadPackageManifests(dir), (err: Error) => {
      assert.match(err.message, /^bundle demo\.v1\.0\.0 \(.*demo\.v1\.0\.0\.clusterserviceversion\.yaml\): owned CRD gadgets\.example\.com\/v1 \(kind Gadget\) not found in .*demo\/1\.0\.0$/);
      return true;
    });
  });

  test('malformed YAML fails naming the file, line and column', async () => {
    const dir = await fresh();
    await writePackage(dir, 'demo', { stable: 'demo.v1.0.0' }, [{ name: 'demo.v1.0.0', version: '1.0.0' }]);
    const broken = join(dir, 'demo', '1.0.0', 'broken.yaml');
    await writeFile(broken, 'kind: ConfigMap\nmetadata:\n  name: x\n  labels: a: b\n');
    await assert.rejects(loadPackageManifests(dir), (err: Error) => {
      assert.equal(err.message, `${broken}:4:12: bad indentation of a mapping entry`);
      return true;
    });
  });

  test('a replaces cycle names both bundles', async () => {
    const dir = await fresh();
    await writePackage(dir, 'loop', { stable: 'loop.v2' }, [
      { name: 'loop.v1', version: '1.0.0', replaces: 'loop.v2' },
      { name: 'loop.v2', version: '2.0.0', replaces: 'loop.v1' },
    ]);
    await assert.rejects(loadPackageManifests(dir), /Cycle detected, loop\.v1 replaces loop\.v2 \(package loop \(.*loop\.package\.yaml\), channel stable\)/);
  });

  test('replacing a bundle that does not exist names both bundles', async () => {
    const dir = await fresh();
    await writePackage(dir, 'gap', { stable: 'gap.v2' }, [{ name: 'gap.v2', version: '2.0.0', replaces: 'gap.v1' }]);
    await assert.rejects(loadPackageManifests(dir), /Invalid bundle gap\.v2, replaces nonexistent bundle gap\.v1/);
  });

  test('without defaultChannel and with two channels there is no default', async () => {
    const dir = await fresh();
    await writePackage(dir, 'two', { a: 'two.v1', b: 'two.v1' }, [{ name: 'two.v1', version: '1.0.0' }]);
    await assert.rejects(loadPackageManifests(dir), /no default channel specified for two/);
  });

  test('skips add entries only for bundles that exist; depth follows upstream', async () => {
    const dir = await fresh();
    await writePackage(dir, 'skip', { stable: 'skip.v3' }, [
      { name: 'skip.v1', version: '1.0.0' },
      { name: 'skip.v2', version: '2.0.0', replaces: 'skip.v1' },
      { name: 'skip.v3', version: '3.0.0', replaces: 'skip.v1', skips: ['skip.v2', 'skip.v2-gone'] },
    ]);
    const [pkg] = (await loadPackageManifests(dir)).packages;
    assert.deepEqual(pkg!.channels[0]!.entries.map((e) => [e.bundle, e.depth]), [['skip.v3', 0], ['skip.v2', 1], ['skip.v1', 3]]);
  });

  test('hidden names are skipped, JSON CSVs count, and a CSV file may have any name', async () => {
    const dir = await fresh();
    await writePackage(dir, 'odd', { stable: 'odd.v2' }, [{ name: 'odd.v1', version: '1.0.0' }]);
    await mkdir(join(dir, 'odd', '2.0.0'));
    await writeFile(join(dir, 'odd', '2.0.0', 'whatever.json'), JSON.stringify(csvDoc({ name: 'odd.v2', version: '2.0.0', replaces: 'odd.v1' }), null, 2));
    await mkdir(join(dir, '.hidden'));
    await writeFile(join(dir, '.hidden', 'broken.yaml'), 'a: [');
    await writeFile(join(dir, 'odd', '.broken.yaml'), 'a: [');
    const [pkg] = (await loadPackageManifests(dir)).packages;
    assert.deepEqual(pkg!.bundles.map((b) => b.name), ['odd.v1', 'odd.v2']);
    assert.deepEqual(pkg!.channels[0]!.entries.map((e) => e.bundle), ['odd.v2', 'odd.v1']);
  });

  test('only the first document of a file counts', async () => {
    const dir = await fresh();
    await writePackage(dir, 'multi', { stable: 'multi.v1' }, [{ name: 'multi.v1', version: '1.0.0' }]);
    const csvFile = join(dir, 'multi', '1.0.0', 'multi.v1.clusterserviceversion.yaml');
    // A second document with a packageName does not declare a package; a broken third one is never read.
    await writeFile(csvFile, `${await readFile(csvFile, 'utf8')}---\npackageName: ghost\nchannels: []\n---\na: [\n`);
    const catalog = await loadPackageManifests(dir);
    assert.deepEqual(catalog.packages.map((p) => p.name), ['multi']);
  });
});

describe('related images, permissive loads and manifests read again', () => {
  /** A one-bundle package whose CSV is `csv` changed by `edit`. */
  const writeEdited = async (dir: string, pkg: string, edit: (csv: Record<string, any>) => void): Promise<string> => {
    await writePackage(dir, pkg, { stable: `${pkg}.v1` }, [{ name: `${pkg}.v1`, version: '1.0.0', relatedImages: ['quay.io/a/operand:1'] }]);
    const file = join(dir, pkg, '1.0.0', `${pkg}.v1.clusterserviceversion.yaml`);
    const csv = csvDoc({ name: `${pkg}.v1`, version: '1.0.0', relatedImages: ['quay.io/a/operand:1'] }) as Record<string, any>;
    edit(csv);
    await writeFile(file, stringify(csv));
    return file;
  };

  test('relatedImages that is a string is an error naming the file, the line and the bundle', async () => {
    const dir = await fresh();
    const file = await writeEdited(dir, 'str', (csv) => { csv.spec.relatedImages = 'quay.io/a/b:1'; });
    const line = (await readFile(file, 'utf8')).split('\n').findIndex((l) => l.trimStart().startsWith('relatedImages:')) + 1;
    assert.ok(line > 1);
    await assert.rejects(loadPackageManifests(dir), (err: Error) => {
      assert.equal(err.message, `bundle str.v1 (${file}:${line}): spec.relatedImages: expected a list of {name, image}, got "quay.io/a/b:1"`);
      return true;
    });
  });

  test("an entry without image: upstream's related_image row with image '', a warning naming bundle and file, nothing to mirror", async () => {
    const dir = await fresh();
    const file = await writeEdited(dir, 'noimg', (csv) => { csv.spec.relatedImages.push({ name: 'x', value: 'quay.io/a/b:1' }); });
    const load = await loadPackageManifestFolder(dir);
    assert.deepEqual(load.warnings, [`bundle noimg.v1 (${file}): spec.relatedImages[1] has no image: the bundle gets an empty related image, which is not mirrored`]);
    const bundle = allBundles(load.catalog)[0]!;
    assert.deepEqual(bundle.relatedImages.map((r) => r.image), ['registry.example.com/op/noimg.v1:latest', 'quay.io/a/operand:1', '']);
    assert.deepEqual(catalogImages(load.catalog), ['quay.io/a/operand:1', 'registry.example.com/op/noimg.v1:latest']);
    const dbPath = join(dir, 'bundles.db');
    writeCatalogDatabase(load.catalog, dbPath);
    const db = new Database(dbPath, { readonly: true });
    const rows = db.prepare('select image from related_image order by image').all() as { image: string }[];
    db.close();
    assert.deepEqual(rows.map((r) => r.image), ['', 'quay.io/a/operand:1', 'registry.example.com/op/noimg.v1:latest']);
  });

  test('a malformed image reference is a warning naming the bundle and the CSV file', async () => {
    const dir = await fresh();
    const bad = `docker.io/strimzi/operator@@sha256:${'a'.repeat(64)}`;
    const file = await writeEdited(dir, 'badref', (csv) => { csv.spec.relatedImages = [{ name: 'op', image: bad }]; });
    const { warnings } = await loadPackageManifestFolder(dir);
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0]!.startsWith(`bundle badref.v1 (${file}): related image ${bad} is no valid image reference (`), warnings[0]);
  });

  test('permissive: the package with a problem is left out and named, the others load; without it everything fails', async () => {
    const dir = await fresh();
    await writePackage(dir, 'good', { stable: 'good.v1' }, [{ name: 'good.v1', version: '1.0.0' }]);
    await writePackage(dir, 'bad', { stable: 'bad.v2' }, [{ name: 'bad.v1', version: '1.0.0' }, { name: 'bad.v2', version: '2.0.0', replaces: 'bad.v1' }]);
    const broken = join(dir, 'bad', '1.0.0', 'bad.v1.clusterserviceversion.yaml');
    await writeFile(broken, 'kind: ClusterServiceVersion\nmetadata:\n  name: bad.v1\n  labels: a: b\n');
    await writePackage(dir, 'ugly', { stable: 'ugly.v1' }, [{ name: 'ugly.v1', version: '1.0.0', owns: ['things'], omitCrds: true }]);

    await assert.rejects(loadPackageManifests(dir), (err: Error) => {
      assert.match(err.message, /^3 problems loading package manifests/);
      return true;
    });
    const load = await loadPackageManifestFolder(dir, { permissive: true });
    assert.deepEqual(load.catalog.packages.map((p) => p.name), ['good']);
    assert.deepEqual(load.skippedPackages, [`bad (${join(dir, 'bad')})`, `ugly (${join(dir, 'ugly')})`]);
    assert.equal(load.errors.length, 3);
    assert.equal(load.errors[0], `${broken}:4:12: bad indentation of a mapping entry`);
    assert.match(load.errors[1]!, /^bundle ugly\.v1 \(.*\): owned CRD things\.example\.com\/v1 \(kind Thing\) not found/);
    // The unreadable bundle also breaks its package's upgrade graph, as it does upstream.
    assert.match(load.errors[2]!, /^Invalid bundle bad\.v2, replaces nonexistent bundle bad\.v1/);
  });

  test('a load without manifests writes the same database, reading each bundle again', { skip: fixturesMissing() }, async () => {
    const dir = await fresh();
    const eager = await loadPackageManifestFolder(manifests);
    const lean = await loadPackageManifestFolder(manifests, { manifests: false });
    assert.ok(allBundles(lean.catalog).every((b) => b.csvJson === undefined && b.objects === undefined));
    writeCatalogDatabase(eager.catalog, join(dir, 'eager.db'));
    writeCatalogDatabase(lean.catalog, join(dir, 'lean.db'), { manifestsOf: lean.manifestsOf });
    const rows = (path: string): unknown[] => {
      const db = new Database(path, { readonly: true });
      const all = db.prepare('select name, csv, bundle from operatorbundle order by name').all();
      db.close();
      return all;
    };
    assert.deepEqual(rows(join(dir, 'lean.db')), rows(join(dir, 'eager.db')));
  });
});
