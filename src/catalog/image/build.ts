// Builds a catalog image holding an SQLite catalog database and pushes it to a registry.
//
// The image is the Package Manifest Format catalog layout (`/bundles.db`) plus the label that
// bundle-format indexes carry, so both older readers (first SQLite file found) and label-aware
// readers find the database. It only carries data: no server binary, no entrypoint.
// The output is reproducible: the same database gives the same digests (fixed mtimes and
// timestamps, no host-dependent fields, one stable JSON key order).
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import { platformString, type Platform } from '../../manifest/manifest.js';
import { MediaTypes } from '../../manifest/media-types.js';
import { sha256Digest } from '../../manifest/digest.js';
import { formatReference, withDigest, withTag, type ImageReference } from '../../reference/reference.js';
import type { ImageStore } from '../../transport/store.js';
import { makeTempDir } from '../../util/temp.js';
import { DATABASE_LABEL } from './labels.js';
import { HashingStream } from '../../util/hashing-stream.js';

/** Where the database lives in images built here (the old `oc adm catalog build` layout). */
export const BUILT_DATABASE_PATH = '/bundles.db';

/** Fixed for reproducible digests: the same database must always give the same image. */
const EPOCH = new Date(0);
const EPOCH_ISO = EPOCH.toISOString().replace('.000Z', 'Z');

export interface BuildCatalogImageOptions {
  /** The SQLite catalog database to put in the image. */
  dbPath: string;
  /** Where to push; a tag (`latest` when none is given), not a digest. */
  target: ImageReference;
  /** `os/arch[/variant]`; several give one image per platform under a manifest list. Default `linux/amd64`. */
  platforms?: string[];
}

export interface BuiltCatalogImage {
  /** The pushed tag. */
  ref: ImageReference;
  /** Digest of what the tag points at (the manifest list when there are several platforms). */
  digest: string;
  mediaType: string;
  /** One per platform, in the order given. */
  images: { platform: string; digest: string }[];
}

export async function buildCatalogImage(store: ImageStore, opts: BuildCatalogImageOptions): Promise<BuiltCatalogImage> {
  const { target } = opts;
  if (target.digest !== undefined) {
    throw new Error(`cannot push a catalog image to ${formatReference(target)}: give a tag, not a digest (the digest is the result)`);
  }
  const ref = target.tag === undefined ? withTag(target, 'latest') : target;
  const platforms = (opts.platforms?.length ? opts.platforms : ['linux/amd64']).map(parsePlatform);
  const duplicate = platforms.map(platformString).find((p, i, all) => all.indexOf(p) !== i);
  if (duplicate) throw new Error(`platform ${duplicate} is given more than once`);

  const temp = await makeTempDir('olm-mirror-build-');
  const workDir = temp.path;
  try {
    const layer = await writeLayer(opts.dbPath, join(workDir, 'layer.tar.gz'));
    await store.pushBlob(ref, layer.digest, layer.size, async () => createReadStream(layer.file));

    const images: { platform: Platform; manifest: Buffer; digest: string }[] = [];
    for (const platform of platforms) {
      const config = Buffer.from(JSON.stringify(imageConfig(platform, layer.diffId)));
      const configDigest = await store.pushBlobBytes(ref, config);
      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.dockerManifest,
        config: { mediaType: MediaTypes.dockerConfig, size: config.length, digest: configDigest },
        layers: [{ mediaType: MediaTypes.dockerLayerGzip, size: layer.size, digest: layer.digest }],
      }));
      images.push({ platform, manifest, digest: sha256Digest(manifest) });
    }
    const summary = images.map((i) => ({ platform: platformString(i.platform), digest: i.digest }));

    if (images.length === 1) {
      const digest = await store.putManifest(ref, { mediaType: MediaTypes.dockerManifest, bytes: images[0]!.manifest });
      return { ref, digest, mediaType: MediaTypes.dockerManifest, images: summary };
    }
    // Children by digest first, so the tag never points at a list with missing entries.
    for (const image of images) {
      await store.putManifest(withDigest(ref, image.digest), { mediaType: MediaTypes.dockerManifest, bytes: image.manifest });
    }
    const list = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.dockerManifestList,
      manifests: images.map((i) => ({
        mediaType: MediaTypes.dockerManifest, size: i.manifest.length, digest: i.digest, platform: platformJson(i.platform),
      })),
    }));
    const digest = await store.putManifest(ref, { mediaType: MediaTypes.dockerManifestList, bytes: list });
    return { ref, digest, mediaType: MediaTypes.dockerManifestList, images: summary };
  } finally {
    await temp.remove();
  }
}

interface LayerFile { file: string; digest: string; size: number; diffId: string }

/**
 * Writes the gzip layer (one entry, `bundles.db`) to `file`, hashing both the tar (the diff ID)
 * and the compressed bytes (the blob digest) on the way, so big databases are never held in memory.
 */
async function writeLayer(dbPath: string, file: string): Promise<LayerFile> {
  const dbStat = await stat(dbPath).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`cannot read the catalog database ${dbPath}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  if (!dbStat.isFile()) throw new Error(`cannot read the catalog database ${dbPath}: not a regular file`);

  const tar = pack();
  const entry = tar.entry({
    name: BUILT_DATABASE_PATH.slice(1), type: 'file', size: dbStat.size, mode: 0o644,
    mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '',
  });
  const writingEntry = pipeline(createReadStream(dbPath), entry).then(
    () => tar.finalize(),
    (err: unknown) => { tar.destroy(err as Error); throw err; },
  );

  const diffId = new HashingStream();
  const blob = new HashingStream();
  await Promise.all([
    writingEntry,
    pipeline(tar, diffId, createGzip({ level: 9 }), blob, createWriteStream(file)),
  ]);
  return { file, digest: blob.digest(), size: blob.bytes, diffId: diffId.digest() };
}

function imageConfig(platform: Platform, diffId: string): object {
  return {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    created: EPOCH_ISO,
    config: { Labels: { [DATABASE_LABEL]: BUILT_DATABASE_PATH } },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created: EPOCH_ISO, created_by: 'olm-mirror catalog build' }],
  };
}

function platformJson(platform: Platform): object {
  return { architecture: platform.architecture, os: platform.os, ...(platform.variant ? { variant: platform.variant } : {}) };
}

/** `linux/amd64`, `linux/arm64/v8`. */
export function parsePlatform(value: string): Platform {
  const parts = value.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/.test(p))) {
    throw new Error(`invalid platform "${value}": expected os/architecture[/variant], e.g. linux/amd64 or linux/arm64/v8`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}
