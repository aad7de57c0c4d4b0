// Checking a whole layout: what `verify` reports and what the kill -9 test asks of a resumed run.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseManifest, type Descriptor } from '../../manifest/manifest.js';
import { blobRelativePath, LAYOUT_FILE, readLayoutMarker } from './files.js';
import { nameOf } from './lookup.js';
import { walkTree } from './walk.js';

export interface LayoutProblem {
  /** The file inside the layout (`blobs/sha256/…`, `index.json`, `oci-layout`). */
  path: string;
  /** The blob's digest, when the problem is a blob. */
  digest?: string;
  /** The index entries (names) whose tree the problem breaks; empty for a blob no entry needs. */
  images: string[];
  message: string;
}

/** Hashing is disk-bound: a few files at a time keep the disk busy without thrashing. */
const HASH_CONCURRENCY = 4;

/** Every blob's digest checked, every entry's tree complete. */
export async function validateLayout(dir: string, entries: readonly Descriptor[]): Promise<LayoutProblem[]> {
  const problems: LayoutProblem[] = [];
  try {
    await readLayoutMarker(dir);
  } catch (err) {
    problems.push({ path: LAYOUT_FILE, images: [], message: (err as Error).message });
  }
  const blobs = await hashAllBlobs(dir);
  const corrupt = new Set<string>();
  for (const [digest, blob] of blobs) {
    if (blob.actual !== digest) {
      corrupt.add(digest);
      problems.push({ path: blob.path, digest, images: [], message: `${blob.path}: content hashes to ${blob.actual}, not ${digest}` });
    }
  }
  const byPath = new Map(problems.map((p) => [p.path, p]));
  const report = (path: string, digest: string, image: string, message: string): void => {
    const known = byPath.get(path);
    if (known) {
      if (!known.images.includes(image)) known.images.push(image);
      return;
    }
    const problem = { path, digest, images: [image], message };
    byPath.set(path, problem);
    problems.push(problem);
  };

  for (const entry of entries) {
    const image = nameOf(entry) ?? entry.digest;
    await walkTree(entry, async (d, role) => {
      const path = blobRelativePath(d.digest);
      const blob = blobs.get(d.digest);
      if (blob === undefined) {
        if (d.urls === undefined) report(path, d.digest, image, `${path}: missing (${role} of ${image})`);
        return undefined;
      }
      if (corrupt.has(d.digest)) {
        report(path, d.digest, image, 'corrupt'); // reported when hashed: this adds the image
        return undefined;
      }
      if (blob.size !== d.size) {
        report(path, d.digest, image, `${path}: ${blob.size} bytes, but ${image} says ${d.size} (${role})`);
        return undefined;
      }
      if (role !== 'manifest') return undefined;
      try {
        return parseManifest(await readFile(join(dir, path)), d.mediaType, `${d.digest} (${image})`);
      } catch (err) {
        report(path, d.digest, image, `${path}: ${(err as Error).message}`);
        return undefined;
      }
    });
  }
  return problems;
}

/** Each file under blobs/, by the digest its name says: its size and the digest of its content. */
async function hashAllBlobs(dir: string): Promise<Map<string, { path: string; size: number; actual: string }>> {
  const files: { digest: string; path: string }[] = [];
  for (const algorithm of await readdir(join(dir, 'blobs')).catch(() => [] as string[])) {
    for (const hex of await readdir(join(dir, 'blobs', algorithm)).catch(() => [] as string[])) {
      files.push({ digest: `${algorithm}:${hex}`, path: `blobs/${algorithm}/${hex}` });
    }
  }
  const result = new Map<string, { path: string; size: number; actual: string }>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const file = files[next++]!;
      const algorithm = file.digest.slice(0, file.digest.indexOf(':'));
      let hash;
      try {
        hash = createHash(algorithm);
      } catch {
        continue; // an algorithm olm-mirror cannot check is not reported as damage
      }
      let size = 0;
      for await (const chunk of createReadStream(join(dir, file.path))) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      result.set(file.digest, { path: file.path, size, actual: `${algorithm}:${hash.digest('hex')}` });
    }
  };
  await Promise.all(Array.from({ length: HASH_CONCURRENCY }, worker));
  return result;
}
