// Opens a catalog in whatever format `path` holds: an SQLite database file, a file-based catalog folder
// or a package manifest folder.
import { open as openFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CatalogError } from './documents.js';
import { loadFileBasedCatalog } from './fbc/index.js';
import type { Catalog } from './model.js';
import { loadPackageManifestFolder, skippedPackagesMessage } from './packagemanifest/index.js';
import { readCatalogDatabase } from './sqlite/index.js';
import { compareCodeUnits } from '../util/compare.js';

export type CatalogFormat = 'sqlite' | 'fbc' | 'package-manifests';

const SQLITE_MAGIC = 'SQLite format 3\0';
/** A top-level `schema: olm.*` (YAML) or `"schema": "olm.*"` (JSON) near the start of a file. */
const FBC_SCHEMA = /^schema:[ \t]*["']?olm\.|"schema"\s*:\s*"olm\./m;

export interface OpenedCatalog {
  readonly format: CatalogFormat;
  readonly catalog: Catalog;
  /** What a permissive load of a catalog folder left out, and why (empty otherwise). */
  readonly errors: readonly string[];
}

export interface OpenCatalogOptions {
  /** Keep each bundle's CSV and manifests (csvJson, objects); default true. */
  manifests?: boolean;
  /** A catalog folder (package manifests or file-based) loads with its packages that have problems left out, named in `errors`. */
  permissive?: boolean;
}

export async function openCatalog(path: string, opts: OpenCatalogOptions = {}): Promise<OpenedCatalog> {
  const format = await detectCatalogFormat(path);
  switch (format) {
    case 'sqlite':
      return { format, catalog: readCatalogDatabase(path, opts), errors: [] };
    case 'fbc':
      return { format, ...withSkipped(await loadFileBasedCatalog(path, opts)) };
    case 'package-manifests':
      return { format, ...withSkipped(await loadPackageManifestFolder(path, opts)) };
  }
}

function withSkipped(load: { catalog: Catalog; errors: readonly string[]; skippedPackages: readonly string[] }): { catalog: Catalog; errors: string[] } {
  const left = load.skippedPackages.length > 0 ? [skippedPackagesMessage(load.skippedPackages)] : [];
  return { catalog: load.catalog, errors: [...load.errors, ...left] };
}

/**
 * A file starting with SQLite's magic is a database. A folder is a file-based catalog when one of its
 * YAML/JSON files (looking a few levels deep) starts with documents carrying `schema: olm.*`, and a
 * package manifest folder otherwise.
 */
export async function detectCatalogFormat(path: string): Promise<CatalogFormat> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw new CatalogError(`cannot open catalog ${path}: ${(err as Error).message}`);
  }
  if (info.isFile()) {
    if ((await readHead(path, SQLITE_MAGIC.length)) === SQLITE_MAGIC) return 'sqlite';
    throw new CatalogError(`${path} is neither an SQLite catalog database nor a catalog folder`);
  }
  return (await hasFbcDocument(path, 3)) ? 'fbc' : 'package-manifests';
}

async function readHead(path: string, length: number): Promise<string> {
  const handle = await openFile(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead).toString('latin1');
  } finally {
    await handle.close();
  }
}

async function hasFbcDocument(dir: string, levels: number): Promise<boolean> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => compareCodeUnits(a.name, b.name));
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (levels > 0 && (await hasFbcDocument(path, levels - 1))) return true;
    } else if (entry.isFile() && /\.(ya?ml|json)$/i.test(entry.name) && FBC_SCHEMA.test(await readHead(path, 64 * 1024))) {
      return true;
    }
  }
  return false;
}
