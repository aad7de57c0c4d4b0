// Loads a folder in the package manifest format with upstream's rules (pkg/sqlite/directory.go):
// lexical walk with hidden names skipped; a file whose first document is a ClusterServiceVersion makes
// a bundle of its folder (first document of every sibling file, no subfolders, other CSVs left out);
// a file whose first document has a packageName adds that package and its channels.
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { CatalogError, goJson, isMapping, parseDocuments } from '../documents.js';
import { channelEntryRows, entriesFromRows } from '../graph.js';
import type { Bundle, Catalog, Channel, Package } from '../model.js';
import { csvFacts, csvName, packageProperty, type CsvFacts, type KubeObject } from './csv.js';
import { compareCodeUnits } from '../../util/compare.js';

interface LoadedBundle {
  readonly file: string;
  readonly facts: CsvFacts;
  readonly csvJson: string;
  readonly objects: string[];
}

interface PackageManifest {
  readonly file: string;
  readonly name: string;
  readonly defaultChannel?: string;
  readonly channels: { name: string; currentCSV: string }[];
}

/** Files whose parse errors fail the load; other files that do not parse are not manifests and are skipped. */
const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export async function loadPackageManifests(dir: string): Promise<Catalog> {
  const errors: string[] = [];
  const { files, folders } = await walk(dir);
  const firstDocs = new Map<string, unknown>();
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      errors.push(`cannot read ${file}: ${(err as Error).message}`);
      continue;
    }
    try {
      firstDocs.set(file, parseDocuments(text, file, { firstOnly: true })[0]?.value);
    } catch (err) {
      if (!(err instanceof CatalogError)) throw err;
      if (MANIFEST_EXTENSIONS.has(extname(file).toLowerCase())) errors.push(err.message);
    }
  }

  const bundles = new Map<string, LoadedBundle>();
  const failedBundles = new Set<string>();
  for (const file of files) {
    const doc = firstDocs.get(file);
    if (!isMapping(doc) || doc.kind !== 'ClusterServiceVersion') continue;
    const ok = collect(errors, () => {
      const bundle = loadBundle(file, doc, folders.get(dirname(file)) ?? [], firstDocs);
      const previous = bundles.get(bundle.facts.name);
      if (previous) throw new CatalogError(`bundle ${bundle.facts.name} is defined twice: ${previous.file} and ${file}`);
      bundles.set(bundle.facts.name, bundle);
    });
    if (!ok) failedBundles.add(csvName(doc) ?? '');
  }

  const manifests = new Map<string, PackageManifest>();
  for (const file of files) {
    const doc = firstDocs.get(file);
    if (!isMapping(doc) || typeof doc.packageName !== 'string' || doc.packageName === '') continue;
    // Like upstream, a later manifest of the same package replaces the earlier one.
    collect(errors, () => manifests.set(doc.packageName as string, packageManifest(file, doc)));
  }

  const packages: Package[] = [];
  for (const manifest of manifests.values()) {
    collect(errors, () => packages.push(buildPackage(manifest, bundles, failedBundles)));
  }
  if (errors.length === 1) throw new CatalogError(errors[0]!);
  if (errors.length > 1) throw new CatalogError(`${errors.length} problems loading package manifests from ${dir}:\n${errors.join('\n')}`);
  return { packages };
}

function loadBundle(file: string, csv: KubeObject, siblings: readonly string[], firstDocs: ReadonlyMap<string, unknown>): LoadedBundle {
  const name = csvName(csv);
  if (!name) throw new CatalogError(`${file}: ClusterServiceVersion has no metadata.name`);
  const objects: KubeObject[] = [];
  for (const sibling of siblings) {
    const doc = firstDocs.get(sibling);
    // Upstream decodes each file into an object that must have a kind, and skips the other CSVs.
    if (!isMapping(doc) || typeof doc.kind !== 'string' || doc.kind === '') continue;
    if (doc.kind === 'ClusterServiceVersion' && csvName(doc) !== name) continue;
    objects.push(doc);
  }
  const facts = csvFacts(csv, objects, `bundle ${name} (${file})`, dirname(file));
  return { file, facts, csvJson: goJson(csv), objects: objects.map(goJson) };
}

function packageManifest(file: string, doc: Record<string, unknown>): PackageManifest {
  const name = doc.packageName as string;
  const bad = (what: string): CatalogError => new CatalogError(`${file}: package ${name}: ${what}`);
  if (!Array.isArray(doc.channels)) throw bad('channels must be a list of {name, currentCSV}');
  const channels = doc.channels.map((c, i) => {
    if (!isMapping(c) || typeof c.name !== 'string' || typeof c.currentCSV !== 'string') {
      throw bad(`channels[${i}] must have string name and currentCSV`);
    }
    return { name: c.name, currentCSV: c.currentCSV };
  });
  if (doc.defaultChannel !== undefined && doc.defaultChannel !== null && typeof doc.defaultChannel !== 'string') {
    throw bad('defaultChannel must be a string');
  }
  return { file, name, channels, ...(typeof doc.defaultChannel === 'string' ? { defaultChannel: doc.defaultChannel } : {}) };
}

/** Bundles that failed to load still count as present here, so that their own error is the one reported. */
function buildPackage(manifest: PackageManifest, bundles: ReadonlyMap<string, LoadedBundle>, failedBundles: ReadonlySet<string>): Package {
  const where = `package ${manifest.name} (${manifest.file})`;
  // Upstream: a channel is the default when it is named so, or when it is the only one.
  const defaultChannel = manifest.channels.filter((c) => c.name === manifest.defaultChannel || manifest.channels.length === 1).pop();
  if (!defaultChannel) throw new CatalogError(`no default channel specified for ${manifest.name} (${manifest.file})`);
  const lookup = (name: string): { skips: string[] } | undefined => bundles.get(name)?.facts ?? (failedBundles.has(name) ? { skips: [] } : undefined);
  const channels: Channel[] = [];
  for (const c of manifest.channels) {
    if (channels.some((seen) => seen.name === c.name)) throw new CatalogError(`${where}: channel ${c.name} is listed twice`);
    const rows = channelEntryRows(`${where}, channel ${c.name}`, c.currentCSV, lookup);
    channels.push({ name: c.name, head: c.currentCSV, entries: entriesFromRows(rows, lookup) });
  }
  const inChannels = new Set(channels.flatMap((c) => c.entries.map((e) => e.bundle)));
  const packageBundles: Bundle[] = [];
  for (const [name, loaded] of bundles) {
    if (inChannels.has(name)) packageBundles.push(toBundle(loaded, manifest.name));
  }
  return { name: manifest.name, defaultChannel: defaultChannel.name, channels, bundles: packageBundles };
}

function toBundle({ facts, csvJson, objects }: LoadedBundle, packageName: string): Bundle {
  const pkgProperty = packageProperty(packageName, facts.version);
  const hasPkgProperty = facts.properties.some((p) => p.type === pkgProperty.type && p.value === pkgProperty.value);
  return {
    name: facts.name,
    package: packageName,
    version: facts.version,
    image: '',
    ...(facts.replaces ? { replaces: facts.replaces } : {}),
    skips: facts.skips,
    ...(facts.skipRange ? { skipRange: facts.skipRange } : {}),
    relatedImages: facts.relatedImages,
    providedApis: facts.providedApis,
    requiredApis: facts.requiredApis,
    properties: hasPkgProperty ? facts.properties : [...facts.properties, pkgProperty],
    dependencies: facts.dependencies,
    csvJson,
    objects,
  };
}

/** Runs `step`, recording a CatalogError instead of throwing it; false when it failed. */
function collect(errors: string[], step: () => unknown): boolean {
  try {
    step();
    return true;
  } catch (err) {
    if (!(err instanceof CatalogError)) throw err;
    errors.push(err.message);
    return false;
  }
}

/**
 * Like Go's filepath.Walk: names in lexical order, depth first, hidden files and folders skipped.
 * Also lists each folder's files, which make up the bundle of a CSV found there.
 */
async function walk(root: string): Promise<{ files: string[]; folders: Map<string, string[]> }> {
  const files: string[] = [];
  const folders = new Map<string, string[]>();
  const visit = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      throw new CatalogError(`cannot read package manifest folder ${dir}: ${(err as Error).message}`);
    }
    const here: string[] = [];
    folders.set(dir, here);
    for (const entry of entries.sort((a, b) => compareCodeUnits(a.name, b.name))) {
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      const isDir = entry.isDirectory() || (entry.isSymbolicLink() && (await stat(path).catch(() => undefined))?.isDirectory() === true);
      if (isDir) {
        // Go's Walk does not follow symbolic links to folders.
        if (entry.isDirectory()) await visit(path);
        continue;
      }
      files.push(path);
      here.push(path);
    }
  };
  await visit(root);
  return { files, folders };
}
