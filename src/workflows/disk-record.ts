// What a catalog mirror to disk put into a folder: which catalogs (by their original references and
// the digests that were read), so the far side mirrors exactly those and never asks a source registry.
import { writeFileAtomically } from '../util/atomic-write.js';
import { join } from 'node:path';
import { OlmMirrorError } from '../errors.js';
import { formatReference, parseReference, type ImageReference } from '../reference/reference.js';
import { isPlainObject } from '../util/guards.js';
import { readJsonFile } from '../util/json-file.js';

export const DISK_RECORD_FILE = 'olm-mirror.json';
const FORMAT = 'olm-mirror-disk/v1';

export interface DiskCatalog {
  /** As given to the mirror to disk, e.g. `registry.redhat.io/redhat/redhat-operator-index:v4.14`. */
  catalog: string;
  /** The digest that was read: the manifest list's when the catalog image is one. */
  digest: string;
  /** How many images (catalog included) the run stored. */
  images: number;
  mirroredAt: string;
  /** The catalog was filtered before it was stored: `digest` is the rebuilt image, named on the far side like this. */
  filtered?: { targetCatalog?: string; targetTag?: string };
}

interface DiskRecord {
  format: typeof FORMAT;
  catalogs: DiskCatalog[];
}

async function readRecord(dir: string): Promise<DiskRecord | undefined> {
  const json = await readJsonFile(join(dir, DISK_RECORD_FILE));
  if (json === undefined) return undefined;
  if (!isPlainObject(json) || json.format !== FORMAT || !Array.isArray(json.catalogs)) {
    throw new OlmMirrorError('input', `${join(dir, DISK_RECORD_FILE)}: not an ${FORMAT} record`);
  }
  return json as unknown as DiskRecord;
}

/** Adds (or replaces, by catalog reference) a catalog in the folder's record, written whole or not at all. */
export async function recordDiskCatalog(dir: string, entry: DiskCatalog): Promise<void> {
  const record = await readRecord(dir) ?? { format: FORMAT, catalogs: [] };
  record.catalogs = [...record.catalogs.filter((c) => c.catalog !== entry.catalog), entry];
  const path = join(dir, DISK_RECORD_FILE);
  await writeFileAtomically(path, `${JSON.stringify(record, null, 2)}\n`);
}

/**
 * The catalog to mirror from a folder: the one named (by its original reference), or the only one the
 * folder holds; the latest one when there are several and none is named would be a guess, so that is an error.
 */
export async function diskCatalog(dir: string, name?: string): Promise<{ ref: ImageReference; digest: string; filtered?: DiskCatalog['filtered'] }> {
  const record = await readRecord(dir);
  if (record === undefined || record.catalogs.length === 0) {
    throw new OlmMirrorError('usage', `${dir} holds no catalog mirrored to disk (no ${DISK_RECORD_FILE}); `
      + 'make it with olm-mirror catalog mirror SRC file://DIR');
  }
  const listed = record.catalogs.map((c) => c.catalog).join(', ');
  const chosen = name === undefined
    ? (record.catalogs.length === 1 ? record.catalogs[0] : undefined)
    : record.catalogs.find((c) => c.catalog === formatReference(parseReference(name)) || c.catalog === name);
  if (chosen === undefined) {
    throw new OlmMirrorError('usage', name === undefined
      ? `${dir} holds several catalogs (${listed}); name one with --catalog`
      : `${dir} does not hold the catalog ${name}; it holds ${listed}`);
  }
  return { ref: parseReference(chosen.catalog), digest: chosen.digest, ...(chosen.filtered ? { filtered: chosen.filtered } : {}) };
}
