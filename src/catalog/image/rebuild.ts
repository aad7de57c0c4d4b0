// A filtered catalog as an image that still starts on a cluster: the original image's layers plus one
// layer that replaces the catalog content (an opaque directory for a file-based catalog, the pruned
// database file for SQLite), whiteouts for pre-built serve caches, and a command that serves without
// one (a stale cache fails opm with "cache requires rebuild"). Every platform of a manifest list is
// rebuilt the same way. The result is served by an image store of its own, which hands out the new
// manifests, configs and layer and reads every original layer from the source store, so the mirror
// plans and copies it like any other image.
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack, type Pack } from 'tar-stream';
import { NotFoundError, OlmMirrorError } from '../../errors.js';
import { sha256Digest } from '../../manifest/digest.js';
import { parseManifest } from '../../manifest/manifest.js';
import { MediaTypes } from '../../manifest/media-types.js';
import { formatReference, withDigest, type ImageReference } from '../../reference/reference.js';
import type { ImageStore, ManifestHead, RepositoryRef, StoredManifest } from '../../transport/store.js';
import { compareCodeUnits } from '../../util/compare.js';
import { HashingStream } from '../../util/hashing-stream.js';

/** opm serve's flags that make it use (or insist on) a pre-built cache. */
const CACHE_FLAGS = ['--cache-dir', '--cache-only', '--cache-enforce-integrity'];
const EPOCH = new Date(0);
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

export interface RebuildOptions {
  /** Where the original image is read from; `ref` carries the digest that was read. */
  source: ImageStore;
  ref: ImageReference & { digest: string };
  kind: 'fbc' | 'sqlite';
  /** Absolute in-image path of the catalog (`/configs`, `/database/index.db`). */
  inImagePath: string;
  /** The filtered catalog on disk: a folder for fbc, a database file for sqlite. */
  content: string;
  /** A folder for the new layer's file. */
  workDir: string;
}

export interface RebuiltCatalogImage {
  /** Serves the rebuilt image (and, through the source, its original layers). */
  store: ImageStore;
  /** The rebuilt image in `store`, by digest. */
  ref: ImageReference & { digest: string };
  /** Digests of its manifests (the list and each platform's image). */
  manifests: ReadonlySet<string>;
  /** Serve-cache folders whited out (in-image paths). */
  removedCaches: string[];
}

export async function rebuildCatalogImage(opts: RebuildOptions): Promise<RebuiltCatalogImage> {
  const name = formatReference(opts.ref);
  const top = await opts.source.getManifest(opts.ref);
  const parsed = parseManifest(top.bytes, top.mediaType, name);
  const images = parsed.kind === 'image'
    ? [{ manifest: top, platform: undefined as unknown }]
    : await Promise.all(parsed.manifests.map(async (d) => ({ manifest: await opts.source.getManifest(withDigest(opts.ref, d.digest)), platform: d.platform })));

  const configs = await Promise.all(images.map(async ({ manifest }) => {
    const image = parseManifest(manifest.bytes, manifest.mediaType, name);
    if (image.kind !== 'image') throw new OlmMirrorError('input', `${name}: a manifest list inside a manifest list cannot be rebuilt`);
    if (image.config.size > MAX_CONFIG_BYTES) throw new OlmMirrorError('input', `${name}: image config ${image.config.digest} is too big`);
    return JSON.parse((await readAll(await opts.source.getBlob(opts.ref, image.config.digest, { size: image.config.size }))).toString('utf8')) as ImageConfig;
  }));
  const caches = [...new Set(configs.flatMap(cacheDirs))].sort(compareCodeUnits);
  const layer = await writeLayer(opts, caches);

  const manifests = new Map<string, StoredManifest>();
  const blobs = new Map<string, Buffer | { file: string; size: number }>([[layer.digest, { file: layer.file, size: layer.size }]]);
  const rebuilt = images.map(({ manifest }, i) => {
    const config = servingWithoutCache(configs[i]!, layer.diffId);
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDigest = sha256Digest(configBytes);
    blobs.set(configDigest, configBytes);
    const json = JSON.parse(manifest.bytes.toString('utf8')) as { config: Record<string, unknown>; layers: Record<string, unknown>[] };
    const docker = manifest.mediaType === MediaTypes.dockerManifest;
    json.config = { ...json.config, digest: configDigest, size: configBytes.length };
    json.layers = [...json.layers, { mediaType: docker ? MediaTypes.dockerLayerGzip : MediaTypes.ociLayerGzip, size: layer.size, digest: layer.digest }];
    const bytes = Buffer.from(JSON.stringify(json));
    const stored = { mediaType: manifest.mediaType, digest: sha256Digest(bytes), bytes };
    manifests.set(stored.digest, stored);
    return stored;
  });

  let root = rebuilt[0]!;
  if (parsed.kind === 'index') {
    const list = JSON.parse(top.bytes.toString('utf8')) as { manifests: Record<string, unknown>[] };
    list.manifests = list.manifests.map((entry, i) => ({ ...entry, digest: rebuilt[i]!.digest, size: rebuilt[i]!.bytes.length }));
    const bytes = Buffer.from(JSON.stringify(list));
    root = { mediaType: top.mediaType, digest: sha256Digest(bytes), bytes };
    manifests.set(root.digest, root);
  }
  const ref = { registry: opts.ref.registry, repository: opts.ref.repository, digest: root.digest };
  return { store: new RebuiltImageStore(opts.source, opts.ref, root, manifests, blobs), ref, manifests: new Set(manifests.keys()), removedCaches: caches };
}

interface ImageConfig {
  config?: { Cmd?: unknown; Entrypoint?: unknown; [key: string]: unknown };
  rootfs?: { type?: string; diff_ids?: string[] };
  history?: unknown[];
  [key: string]: unknown;
}

/** Folders the image's command points opm serve's cache at. */
function cacheDirs(config: ImageConfig): string[] {
  const args = [...stringArray(config.config?.Entrypoint), ...stringArray(config.config?.Cmd)];
  const dirs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg.startsWith('--cache-dir=')) dirs.push(arg.slice('--cache-dir='.length));
    else if (arg === '--cache-dir' && args[i + 1] !== undefined) dirs.push(args[i + 1]!);
  }
  return dirs.filter((d) => d.startsWith('/') && posix.normalize(d) !== '/').map((d) => posix.normalize(d).replace(/\/$/, ''));
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** The command without opm's cache flags, and the new layer in rootfs and history. */
function servingWithoutCache(config: ImageConfig, diffId: string): ImageConfig {
  const strip = (value: unknown) => {
    if (!Array.isArray(value)) return value;
    const out: unknown[] = [];
    for (let i = 0; i < value.length; i++) {
      const arg = value[i];
      const flag = typeof arg === 'string' ? CACHE_FLAGS.find((f) => arg === f || arg.startsWith(`${f}=`)) : undefined;
      if (flag === undefined) out.push(arg);
      else if (arg === '--cache-dir') i++; // its value is the next argument
    }
    return out;
  };
  const inner = config.config === undefined ? undefined : { ...config.config, Cmd: strip(config.config.Cmd), Entrypoint: strip(config.config.Entrypoint) };
  if (inner && inner.Entrypoint === undefined) delete inner.Entrypoint;
  if (inner && inner.Cmd === undefined) delete inner.Cmd;
  return {
    ...config,
    ...(inner ? { config: inner } : {}),
    rootfs: { type: 'layers', ...config.rootfs, diff_ids: [...(config.rootfs?.diff_ids ?? []), diffId] },
    history: [...(config.history ?? []), { created: EPOCH.toISOString(), created_by: 'olm-mirror: filtered catalog (serves without a pre-built cache)' }],
  };
}

interface LayerFile { file: string; digest: string; size: number; diffId: string }

/** The layer: whiteouts for the caches, then the catalog (an opaque folder, or the database file). Reproducible. */
async function writeLayer(opts: RebuildOptions, caches: readonly string[]): Promise<LayerFile> {
  const tar = pack();
  const file = join(opts.workDir, 'catalog-layer.tar.gz');
  const diffId = new HashingStream();
  const blob = new HashingStream();
  const written = pipeline(tar, diffId, createGzip({ level: 9 }), blob, createWriteStream(file));
  const inImage = opts.inImagePath.replace(/^\/+/, '');
  try {
    for (const cache of caches) await addEntry(tar, posix.join(posix.dirname(cache.slice(1)), `.wh.${posix.basename(cache)}`), Buffer.alloc(0));
    if (opts.kind === 'fbc') {
      await addDirectory(tar, inImage);
      await addEntry(tar, `${inImage}/.wh..wh..opq`, Buffer.alloc(0));
      await addTree(tar, opts.content, inImage);
    } else {
      await addFile(tar, opts.content, inImage);
    }
    tar.finalize();
  } catch (err) {
    tar.destroy(err as Error);
  }
  await written;
  return { file, digest: blob.digest(), size: blob.bytes, diffId: diffId.digest() };
}

const header = { mode: 0o644, mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '' };

function addEntry(tar: Pack, name: string, content: Buffer): Promise<void> {
  return new Promise((resolve, reject) => tar.entry({ ...header, name, type: 'file', size: content.length }, content, (err) => (err ? reject(err) : resolve())));
}

function addDirectory(tar: Pack, name: string): Promise<void> {
  return new Promise((resolve, reject) => tar.entry({ ...header, name, type: 'directory', mode: 0o755 }, (err) => (err ? reject(err) : resolve())));
}

async function addFile(tar: Pack, path: string, name: string): Promise<void> {
  const { size } = await stat(path);
  const entry = tar.entry({ ...header, name, type: 'file', size });
  await pipeline(createReadStream(path), entry);
}

/** A folder's files and folders, sorted, below `prefix`. */
async function addTree(tar: Pack, dir: string, prefix: string): Promise<void> {
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => compareCodeUnits(a.name, b.name))) {
    const name = `${prefix}/${entry.name}`;
    if (entry.isDirectory()) {
      await addDirectory(tar, name);
      await addTree(tar, join(dir, entry.name), name);
    } else if (entry.isFile()) {
      await addFile(tar, join(dir, entry.name), name);
    }
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The rebuilt image, read-only: its own manifests, configs and layer, the original layers from the source. */
class RebuiltImageStore implements ImageStore {
  readonly id: string;
  readonly local = true;
  readonly description: string;

  constructor(private readonly source: ImageStore, private readonly original: ImageReference, private readonly root: StoredManifest,
    private readonly manifests: ReadonlyMap<string, StoredManifest>, private readonly blobs: ReadonlyMap<string, Buffer | { file: string; size: number }>) {
    this.id = `rebuilt ${formatReference(original)}`;
    this.description = `the filtered catalog image rebuilt from ${formatReference(original)}`;
  }

  async getManifest(ref: ImageReference): Promise<StoredManifest> {
    const manifest = ref.digest === undefined ? this.root : this.manifests.get(ref.digest);
    if (manifest === undefined) throw new NotFoundError(`${formatReference(ref)} is not part of ${this.description}`);
    return manifest;
  }

  async headManifest(ref: ImageReference): Promise<ManifestHead | undefined> {
    const manifest = await this.getManifest(ref).catch(() => undefined);
    return manifest && { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length };
  }

  async blobSize(_repo: RepositoryRef, digest: string): Promise<number | undefined> {
    const own = this.blobs.get(digest);
    if (own !== undefined) return Buffer.isBuffer(own) ? own.length : own.size;
    return this.source.blobSize(this.original, digest);
  }

  async getBlob(_repo: RepositoryRef, digest: string, opts?: { size?: number }): Promise<Readable> {
    const own = this.blobs.get(digest);
    if (own === undefined) return this.source.getBlob(this.original, digest, opts);
    return Buffer.isBuffer(own) ? Readable.from([own]) : createReadStream(own.file);
  }

  putManifest(): Promise<string> {
    return Promise.reject(new OlmMirrorError('usage', `${this.description} is read-only`));
  }

  pushBlob(): Promise<void> {
    return Promise.reject(new OlmMirrorError('usage', `${this.description} is read-only`));
  }

  pushBlobBytes(): Promise<string> {
    return Promise.reject(new OlmMirrorError('usage', `${this.description} is read-only`));
  }

  async commit(): Promise<void> {}

  async close(): Promise<void> {}
}
