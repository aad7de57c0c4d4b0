// The floor the speed benchmark holds olm-mirror to: the simplest fast copier, written for the benchmark
// only. 8 workers over the images; per image GET the manifest (and each child of a list), then every
// blob it names once: POST an upload, GET the blob and stream its body straight into
// PUT <location>?digest=, as curl piped into curl would; then the child manifests by digest, the
// manifest by tag last. No HEAD checks, no mounts, no digest verification, no retries: nothing a
// careful mirror pays for. Plain HTTP, anonymous, over undici pools with keep-alive (8 connections
// per registry). With `hashing`, it also computes each blob's SHA-256 as it streams through and fails on
// a mismatch, only after the push: the floor for the cost of verifying, as olm-mirror must, not a safe copier.
// Run as a script (`raw-copy.js [--hashing] SOURCE_URL TARGET_URL REPOSITORY...`), it is a process of its own,
// as olm-mirror is: starting cold costs it as well.
import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { Pool, type Dispatcher } from 'undici';
import type { TestRegistry } from '../test/support/registry.js';
import { inParallel } from '../src/util/in-parallel.js';

const INDEX_TYPES = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'];
const IMAGE_TYPES = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'];
/** Every manifest type a copy or re-check of these images may meet. */
export const ACCEPT = [...INDEX_TYPES, ...IMAGE_TYPES].join(', ');
const WORKERS = 8;

interface Manifest { mediaType: string; bytes: Buffer }
interface ImageManifest { config: { digest: string }; layers: { digest: string }[] }
interface IndexManifest { manifests: { digest: string }[] }

async function expectStatus(res: Dispatcher.ResponseData, expected: number, what: string): Promise<void> {
  if (res.statusCode === expected) return;
  throw new Error(`raw copy: ${what} answered HTTP ${res.statusCode}: ${(await res.body.text()).slice(0, 300)}`);
}

async function getManifest(source: Pool, repository: string, reference: string): Promise<Manifest> {
  const res = await source.request({ method: 'GET', path: `/v2/${repository}/manifests/${reference}`, headers: { accept: ACCEPT } });
  await expectStatus(res, 200, `GET manifest ${repository}:${reference}`);
  return { mediaType: String(res.headers['content-type']), bytes: Buffer.from(await res.body.arrayBuffer()) };
}

async function putManifest(target: Pool, repository: string, reference: string, manifest: Manifest): Promise<void> {
  const res = await target.request({
    method: 'PUT', path: `/v2/${repository}/manifests/${reference}`, body: manifest.bytes, headers: { 'content-type': manifest.mediaType },
  });
  await expectStatus(res, 201, `PUT manifest ${repository}:${reference}`);
  await res.body.dump();
}

async function* hashed(body: AsyncIterable<Buffer>, hash: Hash): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    hash.update(chunk);
    yield chunk;
  }
}

/** undici streams an async iterable body; its request type names only Readable. */
const asBody = (chunks: AsyncIterable<Buffer>) => chunks as unknown as Readable;

async function copyBlob(source: Pool, target: Pool, targetUrl: string, repository: string, digest: string, hashing: boolean): Promise<void> {
  const session = await target.request({ method: 'POST', path: `/v2/${repository}/blobs/uploads/` });
  await expectStatus(session, 202, `POST upload in ${repository}`);
  await session.body.dump();
  const location = new URL(String(session.headers.location), targetUrl);
  location.searchParams.set('digest', digest);
  const blob = await source.request({ method: 'GET', path: `/v2/${repository}/blobs/${digest}` });
  await expectStatus(blob, 200, `GET blob ${repository}@${digest}`);
  const hash = hashing ? createHash('sha256') : undefined;
  const put = await target.request({
    method: 'PUT', path: `${location.pathname}${location.search}`, body: hash ? asBody(hashed(blob.body, hash)) : blob.body,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.headers['content-length']) },
  });
  await expectStatus(put, 201, `PUT blob ${repository}@${digest}`);
  await put.body.dump();
  if (hash && `sha256:${hash.digest('hex')}` !== digest) throw new Error(`raw copy: blob ${repository}@${digest} does not hash to its digest`);
}

async function copyImage(source: Pool, target: Pool, targetUrl: string, repository: string, tag: string, hashing: boolean): Promise<void> {
  const top = await getManifest(source, repository, tag);
  const children = new Map<string, Manifest>();
  if (INDEX_TYPES.includes(top.mediaType)) {
    for (const { digest } of (JSON.parse(top.bytes.toString()) as IndexManifest).manifests) {
      children.set(digest, await getManifest(source, repository, digest));
    }
  }
  const images = children.size > 0 ? [...children.values()] : [top];
  // The platforms of a list share their base layers: each blob once per image.
  const blobs = new Set(images.flatMap((m) => {
    const { config, layers } = JSON.parse(m.bytes.toString()) as ImageManifest;
    return [config.digest, ...layers.map((l) => l.digest)];
  }));
  for (const digest of blobs) await copyBlob(source, target, targetUrl, repository, digest, hashing);
  for (const [digest, child] of children) await putManifest(target, repository, digest, child);
  await putManifest(target, repository, tag, top);
}

/** Copies `repository:tag` for each repository from `from` to the same name on `to`; `hashing`: see above. */
export async function rawCopy(from: Pick<TestRegistry, 'url'>, to: Pick<TestRegistry, 'url'>, repositories: string[], opts: { tag?: string; hashing?: boolean } = {}): Promise<void> {
  const { tag = 'v1', hashing = false } = opts;
  const source = new Pool(from.url, { connections: WORKERS });
  const target = new Pool(to.url, { connections: WORKERS });
  try {
    await inParallel(repositories, WORKERS, (repository) => copyImage(source, target, to.url, repository, tag, hashing));
  } finally {
    await Promise.all([source.close(), target.close()]);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const hashing = args[0] === '--hashing';
  const [sourceUrl, targetUrl, ...repositories] = hashing ? args.slice(1) : args;
  if (sourceUrl === undefined || targetUrl === undefined) throw new Error('usage: raw-copy.js [--hashing] SOURCE_URL TARGET_URL REPOSITORY...');
  await rawCopy({ url: sourceUrl }, { url: targetUrl }, repositories, { hashing });
}
