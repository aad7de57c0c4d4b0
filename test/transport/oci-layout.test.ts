// The OCI layout store against real content: images read from a real registry (seeded over raw
// HTTP) are put into a layout through the ImageStore API, then read back by the store and by skopeo;
// layouts skopeo wrote are read by the store; kills, damage and moves do not go unnoticed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { CredentialStore } from '../../src/auth/credentials.js';
import { isNotFound, OlmMirrorError } from '../../src/errors.js';
import { DigestMismatchError } from '../../src/manifest/digest.js';
import { parseManifest } from '../../src/manifest/manifest.js';
import { MediaTypes } from '../../src/manifest/media-types.js';
import { parseReference } from '../../src/reference/reference.js';
import { RegistryClient } from '../../src/registry/client.js';
import { WHOLE_READ_MAX_BYTES } from '../../src/transport/oci-layout/files.js';
import { REF_NAME_ANNOTATION } from '../../src/transport/oci-layout/lookup.js';
import { OciLayoutStore } from '../../src/transport/oci-layout/store.js';
import { RegistryStore } from '../../src/transport/registry.js';
import { removeOnExit } from '../support/cleanup.js';
import { repoRoot } from '../support/paths.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { pseudoRandomBytes, seedImage, type SeededImage } from '../support/seed.js';
import { copyImage, readAll, sha256, skopeo } from './helpers.js';

let reg: TestRegistry;
const registry = (): TestRegistry => reg;
let client: RegistryClient;
let source: RegistryStore;
let ociImage: SeededImage;
let ociIndex: SeededImage;
let dockerList: SeededImage;

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `olm-mirror-${prefix}-`));
  removeOnExit(dir);
  return dir;
}

before(async () => {
  reg = await startRegistry({ variant: 'plain' });
  client = new RegistryClient({ credentials: await CredentialStore.load({ authFile: reg.authFile }), insecure: true });
  source = new RegistryStore(client, reg.host);
  ociImage = await seedImage(reg, 'ns/oci-app', '1.0', { format: 'oci' });
  ociIndex = await seedImage(reg, 'ns/oci-multi', '2.0', { format: 'oci', platforms: ['linux/amd64', 'linux/arm64/v8'] });
  dockerList = await seedImage(reg, 'ns/docker-multi', 'v3', { format: 'docker', platforms: ['linux/amd64', 'linux/s390x'] });
});

after(async () => {
  await client?.close();
  await reg?.stop();
});

const ref = (text: string) => parseReference(text);

/** The three seeded images copied into a fresh layout under their source references (and one by digest). */
async function filledLayout(): Promise<{ dir: string; store: OciLayoutStore }> {
  const dir = join(tempDir('layout'), 'mirror');
  const store = await OciLayoutStore.open(dir, { create: true });
  for (const image of [ociImage, ociIndex, dockerList]) await copyImage(source, ref(image.ref), store, ref(image.ref));
  const byDigest = `${registry().host}/ns/oci-app@${ociImage.digest}`;
  await copyImage(source, ref(byDigest), store, ref(byDigest));
  await store.close();
  return { dir, store: await OciLayoutStore.open(dir) };
}

test('images put by reference read back byte for byte, each an entry typed with its own media type', async () => {
  const { dir, store } = await filledLayout();
  const host = registry().host;
  for (const image of [ociImage, ociIndex, dockerList]) {
    const got = await store.getManifest(ref(image.ref));
    assert.deepEqual(got, { mediaType: image.mediaType, digest: image.digest, bytes: image.manifest });
    assert.equal((await store.getManifest(ref(`${image.ref.split(':').slice(0, -1).join(':')}@${image.digest}`))).digest, image.digest);
  }
  // A child of a list, by digest: a registry-like lookup within the repository.
  const arm = dockerList.children![1]!;
  const child = await store.getManifest(ref(`${host}/ns/docker-multi@${arm.digest}`));
  assert.equal(child.mediaType, MediaTypes.dockerManifest);
  assert.equal(sha256(child.bytes), arm.digest);

  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { mediaType: string; digest: string; annotations: Record<string, string> }[] };
  const byName = new Map(index.manifests.map((m) => [m.annotations[REF_NAME_ANNOTATION], m]));
  assert.equal(byName.get(`${host}/ns/oci-app:1.0`)?.mediaType, MediaTypes.ociManifest);
  assert.equal(byName.get(`${host}/ns/oci-multi:2.0`)?.mediaType, MediaTypes.ociIndex);
  assert.equal(byName.get(`${host}/ns/docker-multi:v3`)?.mediaType, MediaTypes.dockerManifestList, 'a Docker list stays a Docker list');
  assert.equal(byName.get(`${host}/ns/docker-multi@${arm.digest}`)?.mediaType, MediaTypes.dockerManifest, 'children put by digest are entries too');
  assert.equal(byName.get(`${host}/ns/oci-app@${ociImage.digest}`)?.digest, ociImage.digest);
  assert.deepEqual(await store.validate(), []);

  // A blob shared by the image put by tag and by digest is one file; no temp file stays behind.
  assert.deepEqual(readdirSync(dir).sort(), ['blobs', 'index.json', 'oci-layout']);
  const layer = ociImage.layerDigests[0]!;
  assert.equal(await store.blobSize({ registry: 'anywhere.example', repository: 'other' }, layer), statSync(join(dir, 'blobs/sha256', layer.slice(7))).size);
  assert.equal(sha256(await readAll(await store.getBlob({ registry: host, repository: 'ns/oci-app' }, layer))), layer);
});

test('skopeo reads the OCI-typed entries by their full source reference, tag or digest', async () => {
  const { dir } = await filledLayout();
  const host = registry().host;
  assert.deepEqual(await skopeo(['inspect', '--raw', `oci:${dir}:${host}/ns/oci-app:1.0`]), ociImage.manifest);
  assert.deepEqual(await skopeo(['inspect', '--raw', `oci:${dir}:${host}/ns/oci-app@${ociImage.digest}`]), ociImage.manifest);
  assert.deepEqual(await skopeo(['inspect', '--raw', `oci:${dir}:${host}/ns/oci-multi:2.0`]), ociIndex.manifest);
  // A whole copy out of the layout works too (skopeo reads every blob and checks it).
  const out = tempDir('skopeo-out');
  await skopeo(['--insecure-policy', 'copy', '--all', '--preserve-digests', `oci:${dir}:${host}/ns/oci-multi:2.0`, `dir:${out}`]);
  assert.deepEqual(readFileSync(join(out, 'manifest.json')), ociIndex.manifest);
  // Debian's skopeo 1.9 skips Docker-typed entries (accepted by issue 9: they are never relabelled) ...
  await assert.rejects(skopeo(['inspect', '--raw', `oci:${dir}:${host}/ns/docker-multi:v3`]), /no descriptor found/);
  // ... and refuses names outside its ref-name grammar, e.g. a tag with "__" (documented in store.ts).
  await assert.rejects(skopeo(['inspect', '--raw', `oci:${dir}:${host}/ns/oci-app:a__b`]), /Invalid image/);
});

test('a layout written by skopeo copy --all is read: by full name, by tag-only name, blobs verified', async () => {
  const host = registry().host;
  const dir = join(tempDir('skopeo-layout'), 'layout');
  await skopeo(['--insecure-policy', 'copy', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${ociIndex.ref}`, `oci:${dir}:${ociIndex.ref}`]);
  await skopeo(['--insecure-policy', 'copy', '--all', '--src-tls-verify=false', `docker://${dockerList.ref}`, `oci:${dir}:v3`]);
  const store = await OciLayoutStore.open(dir);
  assert.deepEqual((await store.getManifest(ref(ociIndex.ref))).bytes, ociIndex.manifest);
  // `oci:DIR:v3` names the entry by the tag alone: found for any repository asking for that tag when reading.
  const converted = await store.getManifest(ref(`${host}/ns/docker-multi:v3`));
  const list = parseManifest(converted.bytes, converted.mediaType);
  assert.equal(list.kind, 'index');
  assert.equal(list.manifests.length, 2);
  // ... but not for a writer asking whether its own entry exists.
  assert.equal(await store.headManifest(ref(`${host}/ns/docker-multi:v3`), { forPush: true }), undefined);
  assert.ok(await store.headManifest(ref(`${host}/ns/docker-multi:v3`)));
  // Children are reachable by digest, and every blob reads verified.
  const child = await store.getManifest(ref(`${host}/ns/docker-multi@${list.manifests[0]!.digest}`));
  const image = parseManifest(child.bytes, child.mediaType);
  assert.equal(image.kind, 'image');
  for (const blob of image.kind === 'image' ? [image.config, ...image.layers] : []) {
    assert.equal(sha256(await readAll(await store.getBlob({ registry: host, repository: 'x' }, blob.digest, { size: blob.size }))), blob.digest);
  }
  assert.deepEqual(await store.validate(), []);

  // Writing into it keeps skopeo's entries.
  const writer = await OciLayoutStore.open(dir, { create: true });
  await copyImage(source, ref(ociImage.ref), writer, ref(ociImage.ref));
  await writer.close();
  const names = (JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { annotations: Record<string, string> }[] })
    .manifests.map((m) => m.annotations[REF_NAME_ANNOTATION]).sort();
  assert.deepEqual(names, [ociImage.ref, ociIndex.ref, 'v3'].sort());
});

test('by digest, a writer sees only its own repository; a reader any entry with that content', async () => {
  const { store } = await filledLayout();
  const elsewhere = ref(`${registry().host}/other/app@${ociImage.digest}`);
  assert.equal(await store.headManifest(elsewhere, { forPush: true }), undefined);
  assert.deepEqual(await store.headManifest(elsewhere), { mediaType: MediaTypes.ociManifest, digest: ociImage.digest, size: ociImage.manifest.length });
  const missing = await store.getManifest(ref(`${registry().host}/ns/oci-app:nope`)).catch((err: unknown) => err);
  assert.ok(isNotFound(missing), String(missing));
  assert.match(String(missing), /ns\/oci-app:nope not found in OCI layout/);
  const noBlob = await store.getBlob({ registry: 'r', repository: 'x' }, `sha256:${'0'.repeat(64)}`).catch((err: unknown) => err);
  assert.ok(isNotFound(noBlob), String(noBlob));
  assert.equal(await store.blobSize({ registry: 'r', repository: 'x' }, `sha256:${'0'.repeat(64)}`), undefined);
});

test('a manifest is refused while a blob it references is missing, and a wrong digest is refused', async () => {
  const store = await OciLayoutStore.open(join(tempDir('refuse'), 'l'), { create: true });
  const config = Buffer.from('{"os":"linux","architecture":"amd64"}');
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MediaTypes.ociManifest,
    config: { mediaType: MediaTypes.ociConfig, digest: sha256(config), size: config.length }, layers: [],
  }));
  const target = ref('quay.io/ns/app:1.0');
  await assert.rejects(store.putManifest(target, { mediaType: MediaTypes.ociManifest, bytes: manifest }),
    (err: unknown) => err instanceof OlmMirrorError && /references blob sha256:\w+, which the layout does not have/.test(err.message));
  await store.pushBlobBytes(target, config);
  await assert.rejects(store.putManifest(ref(`quay.io/ns/app@${sha256(config)}`), { mediaType: MediaTypes.ociManifest, bytes: manifest }), DigestMismatchError);
  assert.equal(await store.putManifest(target, { mediaType: MediaTypes.ociManifest, bytes: manifest }), sha256(manifest));
  // A pushed blob whose content is not its digest never lands.
  const bad = `sha256:${'1'.repeat(64)}`;
  await assert.rejects(store.pushBlob(target, bad, 3, async () => Readable.from([Buffer.from('abc')])), DigestMismatchError);
  assert.equal(await store.blobSize(target, bad), undefined);
  await store.close();
  assert.deepEqual(readdirSync(store.dir).sort(), ['blobs', 'index.json', 'oci-layout']);
});

test('many parallel pushes, the same blob several times at once, and parallel manifests', async () => {
  const dir = join(tempDir('parallel'), 'l');
  const store = await OciLayoutStore.open(dir, { create: true, commitDelayMs: 5 });
  const blobs = Array.from({ length: 12 }, (_, i) => pseudoRandomBytes(`blob-${i}`, 200_000 + i));
  const target = ref('quay.io/ns/par:1');
  // Each blob pushed four times at once, streamed in small chunks so the writes overlap.
  const chunked = (bytes: Buffer) => async () => Readable.from(Array.from({ length: Math.ceil(bytes.length / 8192) }, (_, i) => bytes.subarray(i * 8192, (i + 1) * 8192)));
  await Promise.all(blobs.flatMap((bytes) => Array.from({ length: 4 }, () => store.pushBlob(target, sha256(bytes), bytes.length, chunked(bytes)))));
  for (const bytes of blobs) assert.deepEqual(readFileSync(join(dir, 'blobs/sha256', sha256(bytes).slice(7))), bytes);

  const config = Buffer.from('{}');
  await store.pushBlobBytes(target, config);
  const manifests = blobs.map((bytes, i) => Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MediaTypes.ociManifest, annotations: { n: String(i) },
    config: { mediaType: MediaTypes.ociConfig, digest: sha256(config), size: config.length },
    layers: [{ mediaType: MediaTypes.ociLayerGzip, digest: sha256(bytes), size: bytes.length }],
  })));
  await Promise.all(manifests.map((bytes, i) => store.putManifest(ref(`quay.io/ns/par:${i}`), { mediaType: MediaTypes.ociManifest, bytes })));
  await store.close();
  const reopened = await OciLayoutStore.open(dir);
  assert.equal(reopened.entries().length, manifests.length);
  for (const [i, bytes] of manifests.entries()) assert.deepEqual((await reopened.getManifest(ref(`quay.io/ns/par:${i}`))).bytes, bytes);
  assert.deepEqual(await reopened.validate(), []);
  assert.deepEqual(readdirSync(dir).sort(), ['blobs', 'index.json', 'oci-layout']);
});

/** Runs `body` (an ES module body with `store` open on `dir`) in a child process, and SIGKILLs it once it prints "go". */
async function killWhenItSaysGo(dir: string, body: string): Promise<void> {
  const module = join(repoRoot, 'dist/src/transport/oci-layout/store.js');
  const script = `
    import { Readable } from 'node:stream';
    import { createHash } from 'node:crypto';
    const { OciLayoutStore } = await import(${JSON.stringify(module)});
    const store = await OciLayoutStore.open(${JSON.stringify(dir)}, { create: true, commitDelayMs: 0 });
    ${body}
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (data: Buffer) => { if (data.toString().includes('go')) resolve(); });
    child.once('exit', (code) => reject(new Error(`writer exited (${code}) before saying go`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** A 64 MiB blob written slowly: killed a quarter of the way through. */
const SLOW_BIG_BLOB = `
  const chunk = Buffer.alloc(1024 * 1024, 7);
  const chunks = function* () { for (let i = 0; i < 64; i++) yield chunk; };
  const hash = createHash('sha256'); for (const c of chunks()) hash.update(c);
  let sent = 0;
  const slow = async function* () { for (const c of chunks()) { yield c; if (++sent === 16) process.stdout.write('go\\n'); if (sent >= 16) await new Promise((r) => setTimeout(r, 200)); } };
  await store.pushBlob({ registry: 'r', repository: 'x' }, 'sha256:' + hash.digest('hex'), 64 * 1024 * 1024, async () => Readable.from(slow()));
`;

/** Manifests put and committed as fast as it can, forever: killed somewhere in the middle of it. */
const ENDLESS_PUTS = `
  const ref = (tag) => ({ registry: 'quay.io', repository: 'ns/app', tag });
  for (let i = 0; ; i++) {
    const config = Buffer.from(JSON.stringify({ n: i }));
    const digest = await store.pushBlobBytes(ref('x'), config);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: config.length }, layers: [] }));
    await store.putManifest(ref('v' + i), { mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes: manifest });
    if (i === 300) process.stdout.write('go\\n');
  }
`;

test('a writer killed mid-blob leaves a temp file that the next run ignores and removes', async () => {
  const { dir } = await filledLayout();
  await killWhenItSaysGo(dir, SLOW_BIG_BLOB);
  const leftovers = readdirSync(dir).filter((name) => name.endsWith('.tmp'));
  assert.equal(leftovers.length, 1, 'the killed writer left its half-written temp file');
  const reader = await OciLayoutStore.open(dir);
  assert.deepEqual(await reader.validate(), [], 'a half-written temp file is not part of the layout');
  const big = Buffer.alloc(64 * 1024 * 1024, 7);
  assert.equal(await reader.blobSize({ registry: 'r', repository: 'x' }, sha256(big)), undefined);

  const writer = await OciLayoutStore.open(dir, { create: true });
  assert.deepEqual(readdirSync(dir).filter((name) => name.endsWith('.tmp')), [], 'the next writer removed it');
  await writer.pushBlob({ registry: 'r', repository: 'x' }, sha256(big), big.length, async () => Readable.from([big]));
  await writer.close();
  assert.equal(statSync(join(dir, 'blobs/sha256', sha256(big).slice(7))).size, big.length);
  assert.deepEqual(await writer.validate(), []);
});

test('killed while putting and committing manifests: index.json is whole, every entry complete', async () => {
  const dir = join(tempDir('kill-commits'), 'l');
  await killWhenItSaysGo(dir, ENDLESS_PUTS);
  const store = await OciLayoutStore.open(dir, { create: true });
  const count = store.entries().length;
  assert.ok(count > 0, 'commits happened before the kill');
  assert.deepEqual(await store.validate(), []);
  for (let i = 0; i < count; i++) assert.ok(await store.headManifest(ref(`quay.io/ns/app:v${i}`), { forPush: true }), `v${i} is there`);
  assert.deepEqual(readdirSync(dir).sort(), ['blobs', 'index.json', 'oci-layout']);
});

test('puts not yet committed are lost by a kill, the blobs stay, and the next run completes', async () => {
  const dir = join(tempDir('uncommitted'), 'l');
  const first = await OciLayoutStore.open(dir, { create: true, commitDelayMs: 60_000 });
  await copyImage(source, ref(ociIndex.ref), first, ref(ociIndex.ref));
  // No commit: what a kill -9 now leaves on disk.
  const afterKill = await OciLayoutStore.open(dir, { create: true });
  assert.equal(await afterKill.headManifest(ref(ociIndex.ref), { forPush: true }), undefined);
  for (const layer of ociIndex.layerDigests) assert.ok(await afterKill.blobSize(ref(ociIndex.ref), layer), `layer ${layer} is kept`);
  await copyImage(source, ref(ociIndex.ref), afterKill, ref(ociIndex.ref));
  await afterKill.close();
  assert.deepEqual((await (await OciLayoutStore.open(dir)).getManifest(ref(ociIndex.ref))).bytes, ociIndex.manifest);
  await first.close(); // its own later commit keeps the other writer's entries
  const entries = (await OciLayoutStore.open(dir)).entries();
  assert.equal(entries.filter((e) => e.annotations?.[REF_NAME_ANNOTATION] === ociIndex.ref).length, 1);
});

test('validate() finds a flipped byte and a missing blob, naming the images; reads fail verified', async () => {
  const { dir, store } = await filledLayout();
  const host = registry().host;
  const layer = ociImage.layerDigests[1]!;
  const layerPath = join(dir, 'blobs/sha256', layer.slice(7));
  const bytes = readFileSync(layerPath);
  bytes[100] = bytes[100]! ^ 0xff;
  writeFileSync(layerPath, bytes);
  const config = dockerList.configDigests[0]!;
  unlinkSync(join(dir, 'blobs/sha256', config.slice(7)));

  const problems = await store.validate();
  assert.equal(problems.length, 2, JSON.stringify(problems));
  const flipped = problems.find((p) => p.digest === layer)!;
  assert.match(flipped.message, /content hashes to sha256:/);
  assert.deepEqual(flipped.images.sort(), [`${host}/ns/oci-app:1.0`, `${host}/ns/oci-app@${ociImage.digest}`].sort());
  const missing = problems.find((p) => p.digest === config)!;
  assert.match(missing.message, /missing \(config of/);
  assert.deepEqual(missing.images.sort(), [`${host}/ns/docker-multi:v3`, `${host}/ns/docker-multi@${dockerList.children![0]!.digest}`].sort());

  await assert.rejects(readAll(await store.getBlob({ registry: host, repository: 'ns/oci-app' }, layer)), DigestMismatchError);
});

test('blobs read whole (small) or streamed (large) come back verified; a shortened or lengthened file fails', async () => {
  const dir = join(tempDir('read-paths'), 'layout');
  const store = await OciLayoutStore.open(dir, { create: true });
  const repo = { registry: 'r', repository: 'x' };
  const blobs = [Buffer.alloc(0), pseudoRandomBytes('small', 300_000), pseudoRandomBytes('large', WHOLE_READ_MAX_BYTES + 123_457)];
  for (const bytes of blobs) await store.pushBlob(repo, sha256(bytes), bytes.length, async () => Readable.from([bytes]));
  for (const bytes of blobs) assert.deepEqual(await readAll(await store.getBlob(repo, sha256(bytes), { size: bytes.length })), bytes);
  for (const bytes of blobs.slice(1)) {
    const path = join(dir, 'blobs/sha256', sha256(bytes).slice(7));
    writeFileSync(path, bytes.subarray(0, bytes.length - 1));
    await assert.rejects(readAll(await store.getBlob(repo, sha256(bytes), { size: bytes.length })), DigestMismatchError);
    writeFileSync(path, Buffer.concat([bytes, Buffer.from('x')]));
    await assert.rejects(readAll(await store.getBlob(repo, sha256(bytes))), DigestMismatchError);
  }
  await store.close();
});

test('the folder moved elsewhere still reads, by the store and by skopeo', async () => {
  const { dir } = await filledLayout();
  const moved = join(tempDir('moved'), 'somewhere-else');
  renameSync(dir, moved);
  rmSync(join(dir, '..'), { recursive: true, force: true });
  const store = await OciLayoutStore.open(moved);
  assert.deepEqual((await store.getManifest(ref(ociIndex.ref))).bytes, ociIndex.manifest);
  assert.deepEqual(await store.validate(), []);
  assert.deepEqual(await skopeo(['inspect', '--raw', `oci:${moved}:${ociImage.ref}`]), ociImage.manifest);
  assert.ok(!readFileSync(join(moved, 'index.json'), 'utf8').includes(dir), 'no absolute path inside');
});

test('opening something that is not a layout is a usage error; a newer layout version is refused', async () => {
  const dir = tempDir('not-layout');
  await assert.rejects(OciLayoutStore.open(join(dir, 'absent')), (err: unknown) => err instanceof OlmMirrorError && err.kind === 'usage' && /does not exist/.test(err.message));
  await assert.rejects(OciLayoutStore.open(dir), /has no oci-layout file/);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
  await assert.rejects(OciLayoutStore.open(dir), /imageLayoutVersion "2.0.0"/);
});
