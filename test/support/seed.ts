// Pushes synthetic images into a test registry over raw HTTP (raw-http.ts), independently of the code
// under test, so integration tests have known content to mirror: deterministic layers, a config blob,
// Docker schema 2 or OCI manifests, and manifest lists / OCI indexes for multi-platform images.
import { createCipheriv, createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { header, rawRequest } from './raw-http.js';
import type { TestRegistry } from './registry.js';

export { rawRequest } from './raw-http.js';

// Spec constants, kept here rather than imported from src/manifest so the harness stays independent.
const TYPES = {
  docker: {
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    index: 'application/vnd.docker.distribution.manifest.list.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  },
  oci: {
    manifest: 'application/vnd.oci.image.manifest.v1+json',
    index: 'application/vnd.oci.image.index.v1+json',
    config: 'application/vnd.oci.image.config.v1+json',
    layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  },
} as const;

const MANIFEST_ACCEPT = [TYPES.oci.index, TYPES.oci.manifest, TYPES.docker.index, TYPES.docker.manifest].join(', ');

/** Layers up to this size are real tar.gz blobs built in memory; bigger ones are streamed raw bytes. */
export const INLINE_LAYER_LIMIT = 1024 * 1024;

export interface SeedOptions {
  format?: 'docker' | 'oci';
  /** e.g. ['linux/amd64', 'linux/arm64/v8']: one child image per platform under a manifest list / OCI index
   * (even for a single platform). Absent: a single linux/amd64 image. */
  platforms?: string[];
  /** Sizes of each image's own layers (default [1024, 4096]). Up to INLINE_LAYER_LIMIT a layer is a gzip'd tar
   * holding one file of that many pseudo-random bytes; above it, exactly that many raw pseudo-random bytes,
   * generated and uploaded as a stream (the registry never looks inside layers), for benchmarks. */
  layerSizes?: number[];
  /** Layer blobs (e.g. from makeLayer) put first in every image: the same blob in several images/repositories. */
  sharedLayers?: Buffer[];
  /** Content seed (default `<repository>:<tag>`): same seed, same bytes, same digests. */
  seed?: string;
}

export interface SeededImage {
  /** host/repository:tag */
  ref: string;
  /** Digest of the top-level manifest (the list/index for multi-platform images). */
  digest: string;
  mediaType: string;
  /** The top-level manifest bytes as pushed. */
  manifest: Buffer;
  children?: { platform: string; digest: string; mediaType: string }[];
  /** Every distinct layer digest of the image (all platforms), in push order. */
  layerDigests: string[];
  configDigests: string[];
}

export const sha256 = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** A fast deterministic keystream (AES-256-CTR over zeros): incompressible like real layer content. */
function* pseudoRandomChunks(seed: string, size: number): Generator<Buffer> {
  const cipher = createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16));
  const chunk = 1024 * 1024;
  const zeros = Buffer.alloc(Math.min(chunk, size));
  for (let left = size; left > 0; left -= chunk) yield cipher.update(zeros.subarray(0, Math.min(chunk, left)));
}

export function pseudoRandomBytes(seed: string, size: number): Buffer {
  return Buffer.concat([...pseudoRandomChunks(seed, size)]);
}

export function pseudoRandomStream(seed: string, size: number): Readable {
  return Readable.from(pseudoRandomChunks(seed, size), { objectMode: false });
}

/** A one-file ustar archive (mode 0644, uid/gid 0, mtime 0) so the bytes depend only on name and content. */
function tarOf(name: string, content: Buffer): Buffer {
  const head = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string): void => { head.write(value.padEnd(length, '\0'), offset, length, 'ascii'); };
  field(0, 100, name);
  field(100, 8, '0000644');
  field(108, 8, '0000000');
  field(116, 8, '0000000');
  field(124, 12, content.length.toString(8).padStart(11, '0'));
  field(136, 12, '00000000000');
  field(148, 8, '        '); // checksum is computed with its own field as spaces
  field(156, 1, '0');
  field(257, 8, 'ustar\u000000');
  const checksum = head.reduce((sum, byte) => sum + byte, 0);
  field(148, 8, `${checksum.toString(8).padStart(6, '0')}\0 `);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([head, content, padding, Buffer.alloc(1024)]);
}

/** A deterministic tar.gz layer holding one file of `size` pseudo-random bytes (for sharedLayers). */
export function makeLayer(seed: string, size: number): Buffer {
  return gzipSync(tarOf(`data/${createHash('sha256').update(seed).digest('hex').slice(0, 16)}.bin`, pseudoRandomBytes(seed, size)));
}

/** The uncompressed digest (rootfs diff_id) of a layer blob: gunzipped when gzip, else the blob itself. */
function diffIdOf(blob: Buffer): string {
  return sha256(blob[0] === 0x1f && blob[1] === 0x8b ? gunzipSync(blob) : blob);
}

const manifestsPath = (repository: string, reference: string): string => `/v2/${repository}/manifests/${reference}`;

export async function rawBlobExists(reg: TestRegistry, repository: string, digest: string): Promise<boolean> {
  const res = await rawRequest(reg, repository, { method: 'HEAD', path: `/v2/${repository}/blobs/${digest}`, expect: [200, 404] });
  return res.status === 200;
}

export async function rawGetBlob(reg: TestRegistry, repository: string, digest: string): Promise<Buffer> {
  return (await rawRequest(reg, repository, { method: 'GET', path: `/v2/${repository}/blobs/${digest}`, expect: [200] })).body;
}

/** Monolithic upload (POST + PUT ?digest=); skipped when the repository already has the blob. Returns the digest. */
export async function rawPutBlob(reg: TestRegistry, repository: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  if (await rawBlobExists(reg, repository, digest)) return digest;
  const session = await rawRequest(reg, repository, { method: 'POST', path: `/v2/${repository}/blobs/uploads/`, expect: [202] });
  const location = new URL(header(session, 'location'), reg.url);
  location.searchParams.set('digest', digest);
  await rawRequest(reg, repository, {
    method: 'PUT', path: location.href, body: bytes, expect: [201],
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
  });
  return digest;
}

/** Streamed upload (POST, one chunked PATCH hashed on the fly, PUT ?digest=) so big blobs never sit in memory. */
export async function rawPutBlobStream(reg: TestRegistry, repository: string, content: Readable): Promise<{ digest: string; size: number }> {
  const session = await rawRequest(reg, repository, { method: 'POST', path: `/v2/${repository}/blobs/uploads/`, expect: [202] });
  const hash = createHash('sha256');
  let size = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  const [patched] = await Promise.all([
    rawRequest(reg, repository, {
      method: 'PATCH', path: new URL(header(session, 'location'), reg.url).href, body: hashing, expect: [202],
      headers: { 'content-type': 'application/octet-stream' },
    }),
    pipeline(content, hashing),
  ]);
  const digest = `sha256:${hash.digest('hex')}`;
  const location = new URL(header(patched, 'location'), reg.url);
  location.searchParams.set('digest', digest);
  await rawRequest(reg, repository, { method: 'PUT', path: location.href, expect: [201], headers: { 'content-length': '0' } });
  return { digest, size };
}

/** PUT a manifest by tag or digest; returns its digest (checked against the registry's Docker-Content-Digest). */
export async function rawPutManifest(reg: TestRegistry, repository: string, reference: string, mediaType: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const res = await rawRequest(reg, repository, {
    method: 'PUT', path: manifestsPath(repository, reference), body: bytes, expect: [201],
    headers: { 'content-type': mediaType },
  });
  const reported = header(res, 'docker-content-digest');
  if (reported !== digest) throw new Error(`test harness: registry stored ${repository}:${reference} as ${reported}, expected ${digest}`);
  return digest;
}

export async function rawGetManifest(reg: TestRegistry, repository: string, reference: string): Promise<{ mediaType: string; digest: string; bytes: Buffer }> {
  const res = await rawRequest(reg, repository, {
    method: 'GET', path: manifestsPath(repository, reference), headers: { accept: MANIFEST_ACCEPT }, expect: [200],
  });
  return { mediaType: header(res, 'content-type'), digest: header(res, 'docker-content-digest'), bytes: res.body };
}

export async function rawDeleteManifest(reg: TestRegistry, repository: string, digest: string): Promise<void> {
  await rawRequest(reg, repository, { method: 'DELETE', path: manifestsPath(repository, digest), expect: [202] });
}

function parsePlatform(platform: string): { os: string; architecture: string; variant?: string } {
  const [os, architecture, variant, extra] = platform.split('/');
  if (!os || !architecture || extra !== undefined) throw new Error(`seedImage: platform ${JSON.stringify(platform)} is not os/arch[/variant]`);
  return variant ? { os, architecture, variant } : { os, architecture };
}

interface PushedImage { digest: string; mediaType: string; bytes: Buffer; layerDigests: string[]; configDigest: string }

/** Pushes one image manifest with its blobs, by `tag` or (absent) by its own digest. */
async function pushImage(reg: TestRegistry, repository: string, tag: string | undefined, format: 'docker' | 'oci',
  platform: string, seed: string, layerSizes: number[], sharedLayers: Buffer[]): Promise<PushedImage> {
  const types = TYPES[format];
  const layers: { mediaType: string; size: number; digest: string }[] = [];
  const diffIds: string[] = [];
  for (const blob of sharedLayers) {
    layers.push({ mediaType: types.layer, size: blob.length, digest: await rawPutBlob(reg, repository, blob) });
    diffIds.push(diffIdOf(blob));
  }
  for (const [index, size] of layerSizes.entries()) {
    const layerSeed = `${seed}/${platform}/layer-${index}`;
    if (size <= INLINE_LAYER_LIMIT) {
      const blob = makeLayer(layerSeed, size);
      layers.push({ mediaType: types.layer, size: blob.length, digest: await rawPutBlob(reg, repository, blob) });
      diffIds.push(diffIdOf(blob));
    } else {
      const { digest } = await rawPutBlobStream(reg, repository, pseudoRandomStream(layerSeed, size));
      layers.push({ mediaType: types.layer, size, digest });
      diffIds.push(digest);
    }
  }
  const { os, architecture, variant } = parsePlatform(platform);
  const config = Buffer.from(JSON.stringify({
    architecture, os, ...(variant ? { variant } : {}),
    created: '1970-01-01T00:00:00Z',
    config: { Labels: { 'olm-mirror.test/seed': seed } },
    rootfs: { type: 'layers', diff_ids: diffIds },
  }));
  const configDigest = await rawPutBlob(reg, repository, config);
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: types.manifest,
    config: { mediaType: types.config, size: config.length, digest: configDigest },
    layers,
  }));
  const digest = await rawPutManifest(reg, repository, tag ?? sha256(bytes), types.manifest, bytes);
  return { digest, mediaType: types.manifest, bytes, layerDigests: layers.map((l) => l.digest), configDigest };
}

/** Pushes a synthetic image (or multi-platform list/index) to `repository:tag` on the test registry. */
export async function seedImage(reg: TestRegistry, repository: string, tag: string, opts: SeedOptions = {}): Promise<SeededImage> {
  const format = opts.format ?? 'docker';
  const seed = opts.seed ?? `${repository}:${tag}`;
  const layerSizes = opts.layerSizes ?? [1024, 4096];
  const sharedLayers = opts.sharedLayers ?? [];
  const ref = `${reg.host}/${repository}:${tag}`;
  const unique = (digests: string[]): string[] => [...new Set(digests)];
  if (!opts.platforms) {
    const image = await pushImage(reg, repository, tag, format, 'linux/amd64', seed, layerSizes, sharedLayers);
    return { ref, digest: image.digest, mediaType: image.mediaType, manifest: image.bytes, layerDigests: unique(image.layerDigests), configDigests: [image.configDigest] };
  }
  const children: PushedImage[] = [];
  for (const platform of opts.platforms) {
    children.push(await pushImage(reg, repository, undefined, format, platform, seed, layerSizes, sharedLayers));
  }
  const indexType = TYPES[format].index;
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: indexType,
    manifests: children.map((child, i) => ({
      mediaType: child.mediaType, size: child.bytes.length, digest: child.digest, platform: parsePlatform(opts.platforms![i]!),
    })),
  }));
  const digest = await rawPutManifest(reg, repository, tag, indexType, manifest);
  return {
    ref, digest, mediaType: indexType, manifest,
    children: children.map((child, i) => ({ platform: opts.platforms![i]!, digest: child.digest, mediaType: child.mediaType })),
    layerDigests: unique(children.flatMap((c) => c.layerDigests)),
    configDigests: children.map((c) => c.configDigest),
  };
}
