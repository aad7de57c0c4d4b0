// The filtered catalog in its source's format: a file-based catalog folder for a file-based catalog, a
// pruned SQLite database for a database. A package manifests folder becomes a database too, the form
// `catalog build --to-db` gives it (the format has no folder writer).
import { writeFileBasedCatalog } from '../fbc/write.js';
import type { Catalog } from '../model.js';
import type { CatalogFormat } from '../open.js';
import { writePrunedDatabase } from '../sqlite/prune.js';

/** `target` is a folder (must not exist or be empty) for `fbc`, a database file otherwise. */
export async function writeFilteredCatalog(sourceFormat: CatalogFormat, filtered: Catalog, target: string): Promise<void> {
  if (sourceFormat === 'fbc') await writeFileBasedCatalog(filtered, target);
  else writePrunedDatabase(filtered, target);
}
