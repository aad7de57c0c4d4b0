// Shared by the transport tests: copying an image between two stores through the ImageStore API
// alone (what the executor does, reduced to its order: blobs, child manifests, then the top manifest),
// and skopeo's view of an OCI layout.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { parseManifest } from '../../src/manifest/manifest.js';
import type { ImageReference } from '../../src/reference/reference.js';
import type { ImageStore } from '../../src/transport/store.js';

/** Copies `from` (by tag or digest) to `to` in `target`, children by digest; returns the top digest. */
export async function copyImage(source: ImageStore, from: ImageReference, target: ImageStore, to: ImageReference): Promise<string> {
  const manifest = await source.getManifest(from);
  const parsed = parseManifest(manifest.bytes, manifest.mediaType);
  if (parsed.kind === 'index') {
    for (const child of parsed.manifests) {
      await copyImage(source, { registry: from.registry, repository: from.repository, digest: child.digest },
        target, { registry: to.registry, repository: to.repository, digest: child.digest });
    }
  } else {
    // Blobs the target has are skipped, as the planner skips them.
    await Promise.all([parsed.config, ...parsed.layers].map(async (blob) => {
      if (await target.blobSize(to, blob.digest, { forPush: true }) === blob.size) return;
      await target.pushBlob(to, blob.digest, blob.size, () => source.getBlob(from, blob.digest, { size: blob.size }));
    }));
  }
  return target.putManifest(to, { mediaType: manifest.mediaType, bytes: manifest.bytes });
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export const sha256 = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Runs skopeo; resolves with stdout, rejects with its stderr. */
export function skopeo(args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(process.env.OLM_MIRROR_TEST_SKOPEO_BIN ?? 'skopeo', args, { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024, timeout: 120_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`skopeo ${args.join(' ')}: ${stderr.toString().trim()}`)) : resolve(stdout)));
  });
}
