// Catalog images against a real registry: build + push, inspect with skopeo, pull back and read.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { pack } from 'tar-stream';
import { CredentialStore } from '../../src/auth/credentials.js';
import { buildCatalogImage } from '../../src/catalog/image/build.js';
import { CONFIGS_LABEL, DATABASE_LABEL } from '../../src/catalog/image/labels.js';
import { CatalogImageError, pullCatalogImage } from '../../src/catalog/image/pull.js';
import { loadPackageManifests } from '../../src/catalog/packagemanifest/index.js';
import { readCatalogDatabase, writeCatalogDatabase } from '../../src/catalog/sqlite/index.js';
import { MediaTypes } from '../../src/manifest/media-types.js';
import { sha256Digest } from '../../src/manifest/digest.js';
import { parseReference, type ImageReference } from '../../src/reference/reference.js';
import { RegistryClient } from '../../src/registry/client.js';
import { RegistryStores } from '../../src/transport/registry.js';
import { fixturesDir, fixturesMissing } from '../support/paths.js';
import { registryTestHooks, type TestRegistry } from '../support/registry.js';
import { skopeoInspectRaw } from '../support/skopeo.js';

let registry: () => TestRegistry;
let client: RegistryClient;
let work: string;
let smallDb: string;

let workCounter = 0;
const freshDir = () => join(work, `pull-${++workCounter}`);
const ref = (path: string): ImageReference => parseReference(`${registry().host}/${path}`);
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function tarOf(files: Record<string, string | Buffer>): Promise<Buffer> {
  const p = pack();
  for (const [name, content] of Object.entries(files)) p.entry({ name, mode: 0o644, mtime: new Date(0) }, content);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of p) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Pushes a hand-made single-platform OCI image: plain layer tars in order, gzipped. */
async function pushImage(target: ImageReference, layers: Buffer[], labels: Record<string, string>): Promise<string> {
  const blobs = layers.map((tar) => gzipSync(tar));
  for (const blob of blobs) await client.pushBlobBytes(target.registry, target.repository, blob);
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', config: { Labels: labels },
    rootfs: { type: 'layers', diff_ids: layers.map((tar) => sha256Digest(tar)) },
  }));
  const configDigest = await client.pushBlobBytes(target.registry, target.repository, config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: { mediaType: MediaTypes.ociConfig, digest: configDigest, size: config.length },
    layers: blobs.map((b) => ({ mediaType: MediaTypes.ociLayerGzip, digest: sha256Digest(b), size: b.length })),
  }));
  return client.putManifest(target, { mediaType: MediaTypes.ociManifest, bytes: manifest });
}

describe('buildCatalogImage + pullCatalogImage', () => {
  registry = registryTestHooks({ variant: 'tls' });
  before(async () => {
    client = new RegistryClient({
      credentials: await CredentialStore.load({ authFile: registry().authFile }),
      caFiles: [registry().caFile!],
    });
    work = await mkdtemp(join(tmpdir(), 'olm-mirror-image-test-'));
    smallDb = join(work, 'small.db');
    const db = new Database(smallDb);
    db.exec("CREATE TABLE package (name TEXT PRIMARY KEY, default_channel TEXT); INSERT INTO package VALUES ('demo', 'stable')");
    db.close();
  });
  after(async () => {
    await client?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('builds a reproducible single-platform image that skopeo reads and that pulls back byte for byte', async () => {
    const built = await buildCatalogImage(new RegistryStores(client).destination(ref('catalogs/any')), { dbPath: smallDb, target: ref('catalogs/small:v1') });
    assert.equal(built.mediaType, MediaTypes.dockerManifest);
    assert.deepEqual(built.images, [{ platform: 'linux/amd64', digest: built.digest }]);

    const raw = await skopeoInspectRaw(registry(), 'catalogs/small:v1');
    assert.equal(`sha256:${sha256(raw)}`, built.digest);
    const manifest = JSON.parse(raw.toString()) as { mediaType: string; layers: { mediaType: string }[] };
    assert.equal(manifest.mediaType, MediaTypes.dockerManifest);
    assert.deepEqual(manifest.layers.map((l) => l.mediaType), [MediaTypes.dockerLayerGzip]);

    const again = await buildCatalogImage(new RegistryStores(client).destination(ref('catalogs/any')), { dbPath: smallDb, target: ref('catalogs/other:v2') });
    assert.equal(again.digest, built.digest, 'same database, same digest');

    const workDir = freshDir();
    const pulled = await pullCatalogImage(new RegistryStores(client).source(ref('catalogs/small:v1')), ref('catalogs/small:v1'), { workDir });
    assert.equal(pulled.kind, 'sqlite');
    assert.equal(pulled.inImagePath, '/bundles.db');
    assert.equal(pulled.localPath, join(workDir, 'bundles.db'));
    assert.equal(pulled.digest, built.digest);
    assert.equal(pulled.indexDigest, undefined);
    assert.equal(pulled.labels[DATABASE_LABEL], '/bundles.db');
    assert.equal(sha256(await readFile(pulled.localPath)), sha256(await readFile(smallDb)));
  });

  test('a database built from the upstream package manifests reads back with every package and bundle',
    { skip: fixturesMissing() }, async () => {
      const dbPath = join(work, 'manifests.db');
      writeCatalogDatabase(await loadPackageManifests(join(fixturesDir, 'manifests')), dbPath);
      const built = await buildCatalogImage(new RegistryStores(client).destination(ref('catalogs/any')), { dbPath, target: ref('catalogs/upstream:latest') });
      const pulled = await pullCatalogImage(new RegistryStores(client).source(ref('catalogs/upstream:latest')), ref('catalogs/upstream:latest'), { workDir: freshDir() });
      assert.equal(pulled.digest, built.digest);
      const catalog = readCatalogDatabase(pulled.localPath);
      assert.deepEqual(catalog.packages.map((p) => p.name).sort(), ['etcd', 'prometheus', 'strimzi-kafka-operator']);
      assert.equal(catalog.packages.flatMap((p) => p.bundles).length, 10);
    });

  test('several platforms give a manifest list; the platform regex picks one entry', async () => {
    const platforms = ['linux/amd64', 'linux/arm64', 'linux/arm/v7'];
    const built = await buildCatalogImage(new RegistryStores(client).destination(ref('catalogs/any')), { dbPath: smallDb, target: ref('catalogs/multi:v1'), platforms });
    assert.equal(built.mediaType, MediaTypes.dockerManifestList);
    assert.deepEqual(built.images.map((i) => i.platform), platforms);

    const list = JSON.parse((await skopeoInspectRaw(registry(), 'catalogs/multi:v1')).toString()) as {
      mediaType: string; manifests: { digest: string; platform: { architecture: string; variant?: string } }[];
    };
    assert.equal(list.mediaType, MediaTypes.dockerManifestList);
    assert.deepEqual(list.manifests.map((m) => m.digest), built.images.map((i) => i.digest));
    assert.equal(list.manifests[2]!.platform.variant, 'v7');

    const pulled = await pullCatalogImage(new RegistryStores(client).source(ref('catalogs/multi:v1')), ref('catalogs/multi:v1'), { workDir: freshDir(), platform: 'linux/arm64' });
    assert.equal(pulled.digest, built.images[1]!.digest);
    assert.equal(pulled.indexDigest, built.digest);
    assert.equal(sha256(await readFile(pulled.localPath)), sha256(await readFile(smallDb)));

    const byDefault = await pullCatalogImage(new RegistryStores(client).source(ref('catalogs/multi:v1')), ref('catalogs/multi:v1'), { workDir: freshDir() });
    assert.equal(byDefault.digest, built.images[0]!.digest, 'linux/amd64 by default');

    const table = new RegExp(`OS/ARCH\\s+DIGEST\\n${platforms.map((p, i) => `${p}\\s+${built.images[i]!.digest}`).join('\\n')}`);
    await assert.rejects(pullCatalogImage(new RegistryStores(client).source(ref('catalogs/multi:v1')), ref('catalogs/multi:v1'), { workDir: freshDir(), platform: 'linux/.*' }),
      (err: Error) => err instanceof CatalogImageError && /3 entries match the platform "linux\/\.\*"/.test(err.message) && table.test(err.message));
    await assert.rejects(pullCatalogImage(new RegistryStores(client).source(ref('catalogs/multi:v1')), ref('catalogs/multi:v1'), { workDir: freshDir(), platform: 'linux/arm' }),
      (err: Error) => /2 entries match the platform "linux\/arm"/.test(err.message) && table.test(err.message),
      'matched anywhere, as oc: linux/arm is in linux/arm64 and linux/arm/v7');
    const exact = await pullCatalogImage(new RegistryStores(client).source(ref('catalogs/multi:v1')), ref('catalogs/multi:v1'), { workDir: freshDir(), platform: '^linux/arm/v7$' });
    assert.equal(exact.digest, built.images[2]!.digest, 'anchors pick one exactly');
  });

  test('reads a file-based catalog image from its configs label, extracting only that folder', async () => {
    const catalogYaml = 'schema: olm.package\nname: foo\ndefaultChannel: beta\n';
    const base = await tarOf({ 'bin/opm': 'not really opm', 'configs/stale/catalog.yaml': 'removed by the next layer' });
    const top = await tarOf({ 'configs/.wh.stale': '', 'configs/foo/catalog.yaml': catalogYaml });
    const digest = await pushImage(ref('catalogs/fbc:v1'), [base, top], { [CONFIGS_LABEL]: '/configs' });

    const workDir = freshDir();
    const pulled = await pullCatalogImage(new RegistryStores(client).source(ref('catalogs/fbc:v1')), ref('catalogs/fbc:v1'), { workDir });
    assert.deepEqual(
      { kind: pulled.kind, inImagePath: pulled.inImagePath, localPath: pulled.localPath, digest: pulled.digest },
      { kind: 'fbc', inImagePath: '/configs', localPath: join(workDir, 'configs'), digest },
    );
    assert.equal(await readFile(join(workDir, 'configs/foo/catalog.yaml'), 'utf8'), catalogYaml);
    await assert.rejects(readFile(join(workDir, 'bin/opm')), { code: 'ENOENT' }, 'only the labelled folder is extracted');
    await assert.rejects(readFile(join(workDir, 'configs/stale/catalog.yaml')), { code: 'ENOENT' }, 'whiteout applied');
  });

  test('reads a bundle-format index from its database label', { skip: fixturesMissing() }, async () => {
    const db = await readFile(join(fixturesDir, 'db/foo-index-v12.db'));
    await pushImage(ref('catalogs/index:v1'), [await tarOf({ 'bin/opm': 'x', 'database/index.db': db })],
      { [DATABASE_LABEL]: '/database/index.db' });
    const pulled = await pullCatalogImage(new RegistryStores(client).source(ref('catalogs/index:v1')), ref('catalogs/index:v1'), { workDir: freshDir() });
    assert.equal(pulled.kind, 'sqlite');
    assert.equal(pulled.inImagePath, '/database/index.db');
    assert.equal(sha256(await readFile(pulled.localPath)), sha256(db));
    assert.deepEqual(readCatalogDatabase(pulled.localPath).packages.map((p) => p.name), ['foo']);
  });

  test('finds the database of unlabelled images: well-known paths first, then the first SQLite file', async () => {
    const sqlite = await readFile(smallDb);
    await pushImage(ref('catalogs/nolabel:known'),
      [await tarOf({ 'aaa/first.db': sqlite, 'database/index.db': sqlite, 'etc/motd': 'hi' })], {});
    const known = await pullCatalogImage(new RegistryStores(client).source(ref('catalogs/nolabel:known')), ref('catalogs/nolabel:known'), { workDir: freshDir() });
    assert.equal(known.inImagePath, '/database/index.db');

    await pushImage(ref('catalogs/nolabel:walk'),
      [await tarOf({ 'etc/motd': 'SQLite format 2 is not it', 'var/lib/z.db': sqlite, 'var/lib/catalog/a.sqlite': sqlite })], {});
    const walked = await pullCatalogImage(new RegistryStores(client).source(ref('catalogs/nolabel:walk')), ref('catalogs/nolabel:walk'), { workDir: freshDir() });
    assert.equal(walked.inImagePath, '/var/lib/catalog/a.sqlite');
    assert.equal(walked.kind, 'sqlite');

    await pushImage(ref('catalogs/nolabel:none'), [await tarOf({ 'etc/motd': 'nothing here' })], {});
    await assert.rejects(pullCatalogImage(new RegistryStores(client).source(ref('catalogs/nolabel:none')), ref('catalogs/nolabel:none'), { workDir: freshDir() }),
      /no catalog found in 127\.0\.0\.1:\d+\/catalogs\/nolabel:none: it has neither the label/);
  });

  test('says when the labelled path is missing or not a database', async () => {
    await pushImage(ref('catalogs/broken:missing'), [await tarOf({ 'other/index.db': 'x' })], { [DATABASE_LABEL]: '/database/index.db' });
    await assert.rejects(pullCatalogImage(new RegistryStores(client).source(ref('catalogs/broken:missing')), ref('catalogs/broken:missing'), { workDir: freshDir() }),
      /label operators\.operatorframework\.io\.index\.database\.v1 names \/database\/index\.db, which the image does not contain/);
    await pushImage(ref('catalogs/broken:text'), [await tarOf({ 'database/index.db': 'plain text' })], { [DATABASE_LABEL]: '/database/index.db' });
    await assert.rejects(pullCatalogImage(new RegistryStores(client).source(ref('catalogs/broken:text')), ref('catalogs/broken:text'), { workDir: freshDir() }), /which is not an SQLite database/);
  });
});
