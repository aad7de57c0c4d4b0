// Loads a folder in the package manifest format with upstream's rules (pkg/sqlite/directory.go):
// lexical walk with hidden names skipped; a file whose first document is a ClusterServiceVersion makes
// a bundle of its folder (first document of every sibling file, no subfolders, other CSVs left out);
// a file whose first document has a packageName adds that package and its channels.
// Folders are read one at a time and only what the catalog keeps outlives its folder, so memory
// follows the rows kept, not the YAML read.
import { readFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { dirname, extname, join, relative, sep } from 'node:path';
import { CatalogError, FieldError, goJson, isMapping, keyLine, parseDocuments } from '../documents.js';
import { channelEntryRows, entriesFromRows } from '../graph.js';
import type { Bundle, Catalog, Channel, Package } from '../model.js';
import { csvFacts, csvName, packageProperty, type CsvFacts, type KubeObject } from './csv.js';
import { InvalidReferenceError, parseReference } from '../../reference/reference.js';
import { compareCodeUnits } from '../../util/compare.js';

interface LoadedBundle {
  readonly file: string;
  /** Position of the CSV file in the walk, so bundles keep upstream's order whatever order folders are read in. */
  readonly order: number;
  readonly facts: CsvFacts;
  readonly manifests?: BundleManifests;
}

/** A bundle's CSV and all its objects (the CSV among them) as compact JSON, as upstream stores them. */
export interface BundleManifests {
  readonly csvJson: string;
  readonly objects: string[];
}

interface PackageManifest {
  readonly file: string;
  readonly name: string;
  readonly defaultChannel?: string;
  readonly channels: { name: string; currentCSV: string }[];
}

export interface LoadPackageManifestsOptions {
  /**
   * Upstream's permissive mode: a package with a problem (a file that does not parse, a bundle that
   * does not load, a broken upgrade graph) is left out and named, and the others are loaded.
   * Without it, any problem fails the whole load.
   */
  permissive?: boolean;
  /**
   * Keep every bundle's CSV and objects as JSON (csvJson, objects); default true. Without them a load
   * holds only what listing and mirroring need, and `manifestsOf` reads them again when asked, so
   * that a catalog database can be written without the whole catalog's manifests in memory at once.
   */
  manifests?: boolean;
}

export interface PackageManifestsLoad {
  readonly catalog: Catalog;
  /** Every problem, `file[:line]: ...` or naming the bundle and package (permissive loads only; otherwise they throw). */
  readonly errors: readonly string[];
  /** Packages (or package folders, when no package manifest could be read) left out by a permissive load. */
  readonly skippedPackages: readonly string[];
  /** What loaded but loses something, e.g. a related image without `image:`. */
  readonly warnings: readonly string[];
  /** A bundle's manifests read from its folder again (the files as they are now), for loads without `manifests`. */
  readonly manifestsOf: (bundle: Bundle) => BundleManifests | undefined;
}

/** Files whose parse errors fail the load; other files that do not parse are not manifests and are skipped. */
const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** The catalog, failing with every problem listed when there is any. */
export async function loadPackageManifests(dir: string): Promise<Catalog> {
  return (await loadPackageManifestFolder(dir)).catalog;
}

export async function loadPackageManifestFolder(dir: string, opts: LoadPackageManifestsOptions = {}): Promise<PackageManifestsLoad> {
  const { files, folders } = await walk(dir);
  const problems = new Problems(dir);
  const warnings: string[] = [];
  const bundles = new Map<string, LoadedBundle>();
  const failedBundles = new Set<string>();
  const manifests = new Map<string, PackageManifest>();
  const order = new Map(files.map((file, i) => [file, i]));
  const interned = new Map<string, string>();

  for (const siblings of folders.values()) {
    const firstDocs = readFirstDocuments(siblings, (file, message) => problems.add(file, message));
    for (const file of siblings) {
      const doc = firstDocs.get(file);
      if (!isMapping(doc) || doc.kind !== 'ClusterServiceVersion') continue;
      const ok = problems.collect(file, () => {
        const bundle = loadBundle(file, order.get(file)!, doc, siblings, firstDocs, warnings, opts.manifests ?? true ? interned : undefined);
        const previous = bundles.get(bundle.facts.name);
        if (previous) {
          const [a, b] = [previous.file, file].sort((x, y) => order.get(x)! - order.get(y)!);
          throw new CatalogError(`bundle ${bundle.facts.name} is defined twice: ${a} and ${b}`);
        }
        bundles.set(bundle.facts.name, bundle);
      });
      if (!ok) failedBundles.add(csvName(doc) ?? '');
    }
    for (const file of siblings) {
      const doc = firstDocs.get(file);
      if (!isMapping(doc) || typeof doc.packageName !== 'string' || doc.packageName === '') continue;
      // Like upstream, a later manifest of the same package replaces the earlier one.
      problems.collect(file, () => manifests.set(doc.packageName as string, packageManifest(file, doc)));
    }
  }

  const packages: Package[] = [];
  const byWalkOrder = [...manifests.values()].sort((a, b) => order.get(a.file)! - order.get(b.file)!);
  for (const manifest of byWalkOrder) {
    problems.collect(manifest.file, () => packages.push(buildPackage(manifest, bundles, failedBundles)));
  }
  const manifestsOf = (bundle: Bundle): BundleManifests | undefined => {
    const loaded = bundles.get(bundle.name);
    if (!loaded) return undefined;
    const siblings = folders.get(dirname(loaded.file)) ?? [];
    const firstDocs = readFirstDocuments(siblings, (_file, message) => {
      throw new CatalogError(message);
    });
    const csv = firstDocs.get(loaded.file);
    if (!isMapping(csv) || csvName(csv) !== bundle.name) throw new CatalogError(`${loaded.file}: no longer holds the CSV of ${bundle.name}`);
    return bundleManifests(csv, bundleObjects(bundle.name, siblings, firstDocs), new Map());
  };
  if (!opts.permissive) {
    problems.throwIfAny();
    return { catalog: { packages }, errors: [], skippedPackages: [], warnings, manifestsOf };
  }
  // A package folder with a problem is left out whole: what it holds cannot be trusted to be complete.
  const kept = packages.filter((p) => !problems.inFolderOf(manifests.get(p.name)!.file));
  const keptFolders = new Set(kept.map((p) => problems.packageFolder(manifests.get(p.name)!.file)));
  const skippedPackages = [...problems.folders()].filter((f) => !keptFolders.has(f)).map((folder) => {
    const names = byWalkOrder.filter((m) => problems.packageFolder(m.file) === folder).map((m) => m.name);
    return names.length > 0 ? `${names.join(', ')} (${join(dir, folder)})` : join(dir, folder);
  });
  return { catalog: { packages: kept }, errors: problems.messages, skippedPackages, warnings, manifestsOf };
}

/** What a permissive load says about the packages it left out. */
export function skippedPackagesMessage(skippedPackages: readonly string[]): string {
  return `left out ${skippedPackages.length} package(s) that could not be loaded: ${skippedPackages.join('; ')}`;
}

/** Problems of a load, each attributed to the package folder (first folder under the root) it happened in. */
class Problems {
  readonly messages: string[] = [];
  private readonly byFolder = new Set<string>();
  constructor(private readonly root: string) {}

  add(file: string, message: string): void {
    this.messages.push(message);
    this.byFolder.add(this.packageFolder(file));
  }

  /** Runs `step`, recording a CatalogError against `file`'s package folder instead of throwing it; false when it failed. */
  collect(file: string, step: () => unknown): boolean {
    try {
      step();
      return true;
    } catch (err) {
      if (!(err instanceof CatalogError)) throw err;
      this.add(file, err.message);
      return false;
    }
  }

  packageFolder(file: string): string {
    return relative(this.root, file).split(sep)[0]!;
  }

  inFolderOf(file: string): boolean {
    return this.byFolder.has(this.packageFolder(file));
  }

  folders(): Iterable<string> {
    return this.byFolder;
  }

  throwIfAny(): void {
    if (this.messages.length === 1) throw new CatalogError(this.messages[0]!);
    if (this.messages.length > 1) throw new CatalogError(`${this.messages.length} problems loading package manifests from ${this.root}:\n${this.messages.join('\n')}`);
  }
}

/** The first document of each file (undefined for empty ones); a file that cannot be read, or a manifest that does not parse, goes to `problem`. */
function readFirstDocuments(files: readonly string[], problem: (file: string, message: string) => void): Map<string, unknown> {
  const firstDocs = new Map<string, unknown>();
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      problem(file, `cannot read ${file}: ${(err as Error).message}`);
      continue;
    }
    try {
      firstDocs.set(file, parseDocuments(text, file, { firstOnly: true })[0]?.value);
    } catch (err) {
      if (!(err instanceof CatalogError)) throw err;
      if (MANIFEST_EXTENSIONS.has(extname(file).toLowerCase())) problem(file, err.message);
    }
  }
  return firstDocs;
}

/** `interned` keeps the manifests (one string for equal JSON texts); undefined leaves them out. */
function loadBundle(file: string, order: number, csv: KubeObject, siblings: readonly string[], firstDocs: ReadonlyMap<string, unknown>,
  warnings: string[], interned: Map<string, string> | undefined): LoadedBundle {
  const name = csvName(csv);
  if (!name) throw new CatalogError(`${file}: ClusterServiceVersion has no metadata.name`);
  const objects = bundleObjects(name, siblings, firstDocs);
  const where = `bundle ${name} (${file})`;
  // A copy: strings cut out of a parsed file keep the whole file's text alive in V8.
  const facts = JSON.parse(JSON.stringify(withKeyLine(file, name, () => csvFacts(csv, objects, where, dirname(file))))) as CsvFacts;
  for (const unset of facts.relatedImagesWithoutImage) {
    warnings.push(`${where}: spec.relatedImages[${unset}] has no image: the bundle gets an empty related image, which is not mirrored`);
  }
  for (const { image } of facts.relatedImages) {
    const problem = image === '' ? undefined : referenceProblem(image);
    if (problem) warnings.push(`${where}: related image ${image} is no valid image reference (${problem}): it cannot be mirrored`);
  }
  return { file, order, facts, ...(interned ? { manifests: bundleManifests(csv, objects, interned) } : {}) };
}

/** Runs `read`; a FieldError gets the line of its key in the CSV `file` (looked up only then: the text is not kept). */
function withKeyLine<T>(file: string, bundle: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (!(err instanceof FieldError)) throw err;
    const line = keyLine(readFileSync(file, 'utf8'), err.key);
    throw new CatalogError(`bundle ${bundle} (${file}${line === undefined ? '' : `:${line}`}): ${err.detail}`);
  }
}

function referenceProblem(image: string): string | undefined {
  try {
    parseReference(image);
    return undefined;
  } catch (err) {
    if (err instanceof InvalidReferenceError) return err.reason;
    throw err;
  }
}

/** The bundle of a CSV: the first document of every file beside it that has a kind, other CSVs left out. */
function bundleObjects(name: string, siblings: readonly string[], firstDocs: ReadonlyMap<string, unknown>): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const sibling of siblings) {
    const doc = firstDocs.get(sibling);
    // Upstream decodes each file into an object that must have a kind, and skips the other CSVs.
    if (!isMapping(doc) || typeof doc.kind !== 'string' || doc.kind === '') continue;
    if (doc.kind === 'ClusterServiceVersion' && csvName(doc) !== name) continue;
    objects.push(doc);
  }
  return objects;
}

/**
 * The CSV's JSON is stored twice (csv and bundle columns) and CRDs are often the same in every
 * version of a package: one string each, through `interned`.
 */
function bundleManifests(csv: KubeObject, objects: readonly KubeObject[], interned: Map<string, string>): BundleManifests {
  const intern = (json: string): string => {
    const known = interned.get(json);
    if (known !== undefined) return known;
    interned.set(json, json);
    return json;
  };
  const csvJson = goJson(csv);
  return { csvJson, objects: objects.map((o) => (o === csv ? csvJson : intern(goJson(o)))) };
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
  const packageBundles = [...inChannels].flatMap((name) => bundles.get(name) ?? [])
    .sort((a, b) => a.order - b.order)
    .map((loaded) => toBundle(loaded, manifest.name));
  return { name: manifest.name, defaultChannel: defaultChannel.name, channels, bundles: packageBundles };
}

function toBundle({ facts, manifests }: LoadedBundle, packageName: string): Bundle {
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
    ...manifests,
  };
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
