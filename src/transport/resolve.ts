// Where a command's images come from and go to: registries, or a folder on disk (`file://DIR`).
// A folder is an OCI image layout, or, when it holds an archive record and no layout, the segments of
// an archive (`--archive-size`), read straight from the tar files.
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ImageReference } from '../reference/reference.js';
import { ArchiveStore } from './archive/store.js';
import { RECORD_FILE } from './archive/format.js';
import { OciLayoutStore } from './oci-layout/store.js';
import type { ImageStore, StoreResolver } from './store.js';

export { diskLocation } from './location.js';

/** The store a folder holds: a layout when it has one (complete, the near side), else its archive segments. */
export async function openDiskSource(dir: string): Promise<ImageStore> {
  const root = resolve(dir);
  const has = (name: string) => stat(join(root, name)).then(() => true, () => false);
  if (!await has('oci-layout') && await has(RECORD_FILE)) return ArchiveStore.open(root);
  return OciLayoutStore.open(root);
}

/** A folder to mirror into: its layout, created when missing. */
export function openDiskDestination(dir: string): Promise<OciLayoutStore> {
  return OciLayoutStore.open(dir, { create: true });
}

/**
 * Registries for every reference, except that all sources are read from `source` and all
 * destinations written to `destination` when they are given (a mirror from or to disk).
 */
export class MirrorStores implements StoreResolver {
  constructor(private readonly registries: StoreResolver, private readonly disk: { source?: ImageStore; destination?: ImageStore } = {}) {}

  source(ref: ImageReference): ImageStore {
    return this.disk.source ?? this.registries.source(ref);
  }

  destination(ref: ImageReference): ImageStore {
    return this.disk.destination ?? this.registries.destination(ref);
  }

  /** Closes the disk stores (a layout commits its index); the registries' client is its owner's to close. */
  async close(): Promise<void> {
    await Promise.all([this.disk.source?.close(), this.disk.destination?.close()]);
  }
}
