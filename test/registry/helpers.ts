// Synthetic content for the registry client tests: deterministic blobs and the four manifest kinds.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { sha256Digest } from '../../src/manifest/digest.js';
import { MediaTypes } from '../../src/manifest/media-types.js';

const MiB = 1024 * 1024;

/** A big blob described without holding it in memory: `open()` streams it in 1 MiB pieces. */
export interface StreamedBlob { digest: string; size: number; open(): Readable }

export function streamedBlob(size: number, seed: number): StreamedBlob {
  const pieces = function* (): Generator<Buffer> {
    for (let offset = 0, index = 0; offset < size; offset += MiB, index++) {
      const piece = Buffer.alloc(Math.min(MiB, size - offset), (seed * 31 + index * 7) % 251);
      piece.writeUInt32BE(index, 0);
      yield piece;
    }
  };
  const hash = createHash('sha256');
  for (const piece of pieces()) hash.update(piece);
  return { digest: `sha256:${hash.digest('hex')}`, size, open: () => Readable.from(pieces(), { objectMode: false }) };
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Hashes a stream without keeping it. */
export async function digestOfStream(stream: Readable): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

export interface Blob { digest: string; size: number; bytes: Buffer }

export function blob(text: string): Blob {
  const bytes = Buffer.from(text);
  return { digest: sha256Digest(bytes), size: bytes.length, bytes };
}

/** Image manifest bytes; the fields deliberately in an unusual order and indentation, to prove bytes are kept as they are. */
export function imageManifest(format: 'docker' | 'oci', config: Blob, layers: Blob[]): { mediaType: string; bytes: Buffer } {
  const mediaType = format === 'docker' ? MediaTypes.dockerManifest : MediaTypes.ociManifest;
  const json = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: format === 'docker' ? MediaTypes.dockerConfig : MediaTypes.ociConfig, size: config.size, digest: config.digest },
    layers: layers.map((l) => ({ mediaType: format === 'docker' ? MediaTypes.dockerLayerGzip : MediaTypes.ociLayerGzip, size: l.size, digest: l.digest })),
  };
  return { mediaType, bytes: Buffer.from(JSON.stringify(json, null, 3)) };
}

export function indexManifest(
  format: 'docker' | 'oci', children: { mediaType: string; bytes: Buffer; platform: string }[],
): { mediaType: string; bytes: Buffer } {
  const mediaType = format === 'docker' ? MediaTypes.dockerManifestList : MediaTypes.ociIndex;
  const json = {
    schemaVersion: 2,
    mediaType,
    manifests: children.map((c) => {
      const [os, architecture, variant] = c.platform.split('/');
      return {
        mediaType: c.mediaType, size: c.bytes.length, digest: sha256Digest(c.bytes),
        platform: { architecture, os, ...(variant ? { variant } : {}) },
      };
    }),
  };
  return { mediaType, bytes: Buffer.from(JSON.stringify(json)) };
}
