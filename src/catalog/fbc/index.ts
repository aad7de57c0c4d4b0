// Reads a file-based catalog (upstream alpha/declcfg): every file under the folder, minus those
// `.indexignore` files exclude, is a stream of YAML or JSON documents, each with a `schema`:
// olm.package, olm.channel, olm.bundle and olm.deprecations are used, other schemas are skipped.
import { readdir, readFile, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { CatalogError, goJson, isMapping, optionalString, parseDocuments, stringList } from '../documents.js';
import { sortEntries } from '../graph.js';
import type { Api, Bundle, Catalog, Channel, ChannelEntry, Package, RelatedImage, TypedValue } from '../model.js';
import { IgnoreMatcher } from './ignore.js';
import { compareCodeUnits } from '../../util/compare.js';

const INDEX_IGNORE = '.indexignore';

export interface ReadFbcOptions {
  /**
   * Decode each bundle's olm.bundle.object manifests into csvJson/objects; default true. Without them,
   * the manifest-sized properties (olm.bundle.object, olm.csv.metadata) are left out as well.
   */
  manifests?: boolean;
}

/** Properties that hold (parts of) a bundle's manifests, often tens of kilobytes each. */
const MANIFEST_PROPERTIES = new Set(['olm.bundle.object', 'olm.csv.metadata']);

type Doc = Record<string, unknown>;

/** A document and where it came from, for error messages. */
interface Located<T> {
  readonly at: string;
  readonly file: string;
  readonly value: T;
}

/** A bundle as its olm.bundle document says, before its channel entry adds the upgrade edges. */
type BundleContent = Omit<Bundle, 'replaces' | 'skips' | 'skipRange' | 'deprecated'>;

interface FbcChannelEntry {
  name: string;
  replaces?: string;
  skips: string[];
  skipRange?: string;
}

export async function readFileBasedCatalog(dir: string, opts: ReadFbcOptions = {}): Promise<Catalog> {
  return (await loadFileBasedCatalog(dir, opts)).catalog;
}

export interface LoadFbcOptions extends ReadFbcOptions {
  /** Leave out the packages with a problem (and the files that do not parse), naming them, and read the rest. */
  permissive?: boolean;
}

export interface FileBasedCatalogLoad {
  readonly catalog: Catalog;
  /** Every problem of a permissive read, `file:line: ...` (a strict read throws the first one). */
  readonly errors: readonly string[];
  /** Packages left out by a permissive read, and files none of whose packages could be named. */
  readonly skippedPackages: readonly string[];
}

export async function loadFileBasedCatalog(dir: string, opts: LoadFbcOptions = {}): Promise<FileBasedCatalogLoad> {
  const problems = new PackageProblems(opts.permissive ?? false);
  const packages = new Map<string, Located<Doc>>();
  const channels: Located<Doc>[] = [];
  const bundles: Located<BundleContent>[] = [];
  const deprecatedBundles = new Set<string>();
  const root = await catalogRoot(dir);
  for (const file of await catalogFiles(root)) {
    const docs = await problems.attempt({ file }, async () => {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw new CatalogError(`cannot read ${file}: ${(err as Error).message}`);
      }
      return parseDocuments(text, file);
    });
    for (const { value, line } of docs ?? []) {
      const at = `${file}:${line}`;
      const owner = { file, pkg: isMapping(value) ? packageOf(value) : undefined };
      await problems.attempt(owner, async () => {
        if (!isMapping(value)) throw new CatalogError(`${at}: expected an object with a schema field`);
        const located = { at, file, value };
        switch (value.schema) {
          case 'olm.package': {
            const name = requiredString(value, 'name', at);
            const previous = packages.get(name);
            if (previous) throw new CatalogError(`${at}: package ${name} is already defined at ${previous.at}`);
            packages.set(name, located);
            break;
          }
          case 'olm.channel':
            channels.push(located);
            break;
          case 'olm.bundle':
            // Read now, so the document itself (its manifests, its file's text) need not be kept.
            bundles.push({ at, file, value: await bundleContent(located, opts.manifests ?? true ? root : undefined) });
            break;
          case 'olm.deprecations':
            for (const name of deprecatedBundleNames(value, at)) deprecatedBundles.add(`${requiredString(value, 'package', at)}\0${name}`);
            break;
          case undefined:
          case null:
          case '':
            throw new CatalogError(`${at}: object is missing root schema field`);
          default:
            break; // other schemas are extensions this tool has no use for
        }
      });
    }
  }
  const assembled = await assemble(packages, channels, bundles, deprecatedBundles, problems);
  return {
    catalog: { packages: assembled.filter((p) => !problems.packages.has(p.name)) },
    errors: problems.messages,
    skippedPackages: [...problems.packages, ...problems.files],
  };
}

/** The package a document belongs to: `package`, or `name` for olm.package. */
function packageOf(doc: Doc): string | undefined {
  const pkg = doc.schema === 'olm.package' ? doc.name : doc.package;
  return typeof pkg === 'string' && pkg !== '' ? pkg : undefined;
}

/** Problems of a read: a strict read throws the first; a permissive one records it against its package (or its file). */
class PackageProblems {
  readonly messages: string[] = [];
  readonly packages = new Set<string>();
  readonly files = new Set<string>();
  constructor(private readonly permissive: boolean) {}

  async attempt<T>(owner: { pkg?: string; file?: string }, step: () => T | Promise<T>): Promise<T | undefined> {
    try {
      return await step();
    } catch (err) {
      if (!this.permissive || !(err instanceof CatalogError)) throw err;
      this.messages.push(err.message);
      if (owner.pkg !== undefined) this.packages.add(owner.pkg);
      else if (owner.file !== undefined) this.files.add(owner.file);
      return undefined;
    }
  }
}

async function assemble(
  packageDocs: Map<string, Located<Doc>>,
  channelDocs: Located<Doc>[],
  bundleDocs: Located<BundleContent>[],
  deprecated: ReadonlySet<string>,
  problems: PackageProblems,
): Promise<Package[]> {
  const channelsByPackage = new Map<string, { name: string; entries: FbcChannelEntry[]; at: string }[]>();
  for (const { at, file, value } of channelDocs) {
    await problems.attempt({ pkg: packageOf(value), file }, () => {
      const pkg = requiredString(value, 'package', at);
      const name = requiredString(value, 'name', at);
      if (!packageDocs.has(pkg)) throw new CatalogError(`${at}: channel ${name} belongs to package ${pkg}, which has no olm.package`);
      const list = channelsByPackage.get(pkg) ?? [];
      const twin = list.find((c) => c.name === name);
      if (twin) throw new CatalogError(`${at}: package ${pkg} channel ${name} is already defined at ${twin.at}`);
      list.push({ name, entries: channelEntries(value, at), at });
      channelsByPackage.set(pkg, list);
    });
  }
  const bundlesByPackage = new Map<string, Map<string, Located<BundleContent>>>();
  for (const doc of bundleDocs) {
    const { package: pkg, name } = doc.value;
    await problems.attempt({ pkg }, () => {
      if (!packageDocs.has(pkg)) throw new CatalogError(`${doc.at}: bundle ${name} belongs to package ${pkg}, which has no olm.package`);
      const byName = bundlesByPackage.get(pkg) ?? new Map<string, Located<BundleContent>>();
      const twin = byName.get(name);
      if (twin) throw new CatalogError(`${doc.at}: package ${pkg} bundle ${name} is already defined at ${twin.at}`);
      byName.set(name, doc);
      bundlesByPackage.set(pkg, byName);
    });
  }

  const packages: Package[] = [];
  for (const [name, doc] of packageDocs) {
    const pkg = await problems.attempt({ pkg: name }, () => assemblePackage(name, doc, channelsByPackage.get(name) ?? [], bundlesByPackage.get(name) ?? new Map(), deprecated));
    if (pkg) packages.push(pkg);
  }
  return packages;
}

function assemblePackage(name: string, { at, value }: Located<Doc>, fbcChannels: { name: string; entries: FbcChannelEntry[]; at: string }[],
  bundleDocsOfPackage: ReadonlyMap<string, Located<BundleContent>>, deprecated: ReadonlySet<string>): Package {
  const channels: Channel[] = fbcChannels.map((c) => {
    for (const e of c.entries) {
      if (!bundleDocsOfPackage.has(e.name)) throw new CatalogError(`${c.at}: package ${name} channel ${c.name} lists ${e.name}, which has no olm.bundle`);
    }
    const head = channelHead(c.entries, `${c.at}: package ${name} channel ${c.name}`);
    return { name: c.name, head, entries: withDepths(c.entries, head) };
  });
  const firstEntry = new Map<string, FbcChannelEntry>();
  for (const c of fbcChannels) for (const e of c.entries) if (!firstEntry.has(e.name)) firstEntry.set(e.name, e);
  const bundles: Bundle[] = [];
  for (const [bundleName, doc] of bundleDocsOfPackage) {
    const entry = firstEntry.get(bundleName);
    if (!entry) throw new CatalogError(`${doc.at}: package ${name} bundle ${bundleName} is not in any channel`);
    bundles.push({
      ...doc.value,
      ...(entry.replaces ? { replaces: entry.replaces } : {}),
      skips: entry.skips,
      ...(entry.skipRange ? { skipRange: entry.skipRange } : {}),
      ...(deprecated.has(`${name}\0${bundleName}`) ? { deprecated: true } : {}),
    });
  }
  const declared = optionalString(value.defaultChannel, `${at}: defaultChannel`);
  const defaultChannel = declared ?? (channels.length === 1 ? channels[0]!.name : '');
  if (declared !== undefined && !channels.some((c) => c.name === declared)) {
    throw new CatalogError(`${at}: package ${name} default channel ${declared} has no olm.channel`);
  }
  return { name, defaultChannel, channels, bundles };
}

function channelEntries(channel: Doc, at: string): FbcChannelEntry[] {
  if (!Array.isArray(channel.entries)) throw new CatalogError(`${at}: channel entries must be a list`);
  return channel.entries.map((e, i) => {
    const where = `${at}: entries[${i}]`;
    if (!isMapping(e)) throw new CatalogError(`${where} must be an object`);
    const replaces = optionalString(e.replaces, `${where}.replaces`);
    const skipRange = optionalString(e.skipRange, `${where}.skipRange`);
    return { name: requiredString(e, 'name', where), skips: stringList(e.skips, `${where}.skips`), ...(replaces ? { replaces } : {}), ...(skipRange ? { skipRange } : {}) };
  });
}

/** Upstream's rule: the head is the one entry no other entry replaces or skips. */
function channelHead(entries: readonly FbcChannelEntry[], where: string): string {
  const incoming = new Set(entries.flatMap((e) => [...(e.replaces ? [e.replaces] : []), ...e.skips]));
  const heads = entries.filter((e) => !incoming.has(e.name)).map((e) => e.name);
  if (heads.length === 0) throw new CatalogError(`${where}: no channel head found in graph`);
  if (heads.length > 1) throw new CatalogError(`${where}: multiple channel heads found in graph: ${heads.join(', ')}`);
  return heads[0]!;
}

/** Depth = shortest path from the head along replaces and skips; entries it never reaches come last. */
function withDepths(entries: readonly FbcChannelEntry[], head: string): ChannelEntry[] {
  const byName = new Map(entries.map((e) => [e.name, e]));
  const depth = new Map([[head, 0]]);
  const queue = [head];
  while (queue.length > 0) {
    const name = queue.shift()!;
    const e = byName.get(name)!;
    for (const next of [...(e.replaces ? [e.replaces] : []), ...e.skips]) {
      if (byName.has(next) && !depth.has(next)) {
        depth.set(next, depth.get(name)! + 1);
        queue.push(next);
      }
    }
  }
  const stranded = Math.max(...depth.values()) + 1;
  return sortEntries(entries.map((e) => ({ bundle: e.name, skips: e.skips, depth: depth.get(e.name) ?? stranded, ...(e.replaces ? { replaces: e.replaces } : {}), ...(e.skipRange ? { skipRange: e.skipRange } : {}) })));
}

/** `manifestsRoot`: the catalog folder when olm.bundle.object manifests are decoded, undefined to leave them out. */
async function bundleContent({ at, file, value }: Located<Doc>, manifestsRoot: CatalogRoot | undefined): Promise<BundleContent> {
  const name = requiredString(value, 'name', at);
  const pkg = requiredString(value, 'package', at);
  // Without manifests, olm.bundle.object and olm.csv.metadata values (often megabytes) are not even re-encoded.
  const properties = propertiesOf(value, at, (type) => manifestsRoot !== undefined || !MANIFEST_PROPERTIES.has(type));
  const values = (type: string): Doc[] => properties.filter((p) => p.type === type).map((p) => p.parsed);
  const packageProperty = values('olm.package')[0];
  const gvk = (p: Doc): Api => ({ group: String(p.group ?? ''), version: String(p.version ?? ''), kind: String(p.kind ?? ''), plural: '' });
  const requiredApis = values('olm.gvk.required').map(gvk);
  const dependencies: TypedValue[] = [
    ...requiredApis.map((api) => ({ type: 'olm.gvk', value: goJson({ group: api.group, kind: api.kind, version: api.version }) })),
    ...values('olm.package.required').map((p) => ({ type: 'olm.package', value: goJson({ packageName: p.packageName, version: p.versionRange }) })),
    ...properties.filter((p) => p.type === 'olm.constraint').map(({ type, value: v }) => ({ type, value: v })),
  ];
  const manifests = manifestsRoot ? await bundleObjects(values('olm.bundle.object'), manifestsRoot, dirname(file), `${at}: bundle ${name}`) : undefined;
  const csvJson = manifests?.find((o) => (JSON.parse(o) as Doc).kind === 'ClusterServiceVersion');
  // A copy of what is kept: strings cut out of a parsed file keep the whole file's text alive in V8.
  const facts = JSON.parse(JSON.stringify({
    name,
    package: pkg,
    version: typeof packageProperty?.version === 'string' ? packageProperty.version : '',
    image: optionalString(value.image, `${at}: image`) ?? '',
    relatedImages: relatedImagesOf(value, at),
    providedApis: values('olm.gvk').map(gvk),
    requiredApis,
    properties: properties.map(({ type, value: v }) => ({ type, value: v })),
    dependencies,
  })) as BundleContent;
  return { ...facts, ...(csvJson ? { csvJson } : {}), ...(manifests ? { objects: manifests } : {}) };
}

/** The properties whose type `keep` accepts (the others are checked, not encoded). */
function propertiesOf(bundle: Doc, at: string, keep: (type: string) => boolean): (TypedValue & { parsed: Doc })[] {
  if (bundle.properties === undefined || bundle.properties === null) return [];
  if (!Array.isArray(bundle.properties)) throw new CatalogError(`${at}: properties must be a list`);
  return bundle.properties.flatMap((p, i) => {
    if (!isMapping(p) || typeof p.type !== 'string') throw new CatalogError(`${at}: properties[${i}] needs a string type`);
    return keep(p.type) ? [{ type: p.type, value: goJson(p.value ?? null), parsed: isMapping(p.value) ? p.value : {} }] : [];
  });
}

function relatedImagesOf(bundle: Doc, at: string): RelatedImage[] {
  if (bundle.relatedImages === undefined || bundle.relatedImages === null) return [];
  if (!Array.isArray(bundle.relatedImages)) throw new CatalogError(`${at}: relatedImages must be a list`);
  const images: RelatedImage[] = [];
  bundle.relatedImages.forEach((r, i) => {
    if (!isMapping(r)) throw new CatalogError(`${at}: relatedImages[${i}] must be an object`);
    const image = optionalString(r.image, `${at}: relatedImages[${i}].image`);
    const name = optionalString(r.name, `${at}: relatedImages[${i}].name`);
    if (image && !images.some((seen) => seen.image === image)) images.push(name ? { name, image } : { image });
  });
  return images;
}

/**
 * olm.bundle.object values hold a manifest inline (`data`, base64) or by `ref`, a path relative to the
 * folder of the file declaring the bundle, which must stay inside the catalog folder.
 */
async function bundleObjects(objects: Doc[], root: CatalogRoot, baseDir: string, where: string): Promise<string[]> {
  const out: string[] = [];
  for (const [i, obj] of objects.entries()) {
    let text: string;
    let source: string;
    if (typeof obj.data === 'string') {
      text = Buffer.from(obj.data, 'base64').toString('utf8');
      source = `${where} olm.bundle.object[${i}]`;
    } else if (typeof obj.ref === 'string') {
      source = resolve(baseDir, obj.ref);
      const what = `${where}: olm.bundle.object ref ${obj.ref}`;
      if (isAbsolute(obj.ref) || !isInside(root.path, source)) throw new CatalogError(`${what} points outside the catalog folder ${root.path}`);
      await requireInside(root, source, what);
      try {
        text = await readFile(source, 'utf8');
      } catch (err) {
        throw new CatalogError(`${what}: ${(err as Error).message}`);
      }
    } else {
      throw new CatalogError(`${where}: olm.bundle.object[${i}] has neither data nor ref`);
    }
    const doc = parseDocuments(text, source, { firstOnly: true })[0];
    if (doc) out.push(goJson(doc.value));
  }
  return out;
}

function deprecatedBundleNames(doc: Doc, at: string): string[] {
  if (!Array.isArray(doc.entries)) return [];
  return doc.entries.flatMap((e, i) => {
    const ref = isMapping(e) ? e.reference : undefined;
    if (!isMapping(ref)) throw new CatalogError(`${at}: entries[${i}] needs a reference`);
    return ref.schema === 'olm.bundle' && typeof ref.name === 'string' ? [ref.name] : [];
  });
}

/** The catalog folder as given (for messages) and with symlinks resolved (for containment checks). */
interface CatalogRoot {
  readonly path: string;
  readonly real: string;
}

async function catalogRoot(dir: string): Promise<CatalogRoot> {
  try {
    return { path: dir, real: await realpath(dir) };
  } catch (err) {
    throw new CatalogError(`cannot read file-based catalog folder ${dir}: ${(err as Error).message}`);
  }
}

/** True when `path` is strictly below `folder` (both absolute or both relative to the same place). */
function isInside(folder: string, path: string): boolean {
  const rel = relative(resolve(folder), resolve(path));
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/**
 * An untrusted catalog image must not make the tool read host files (e.g. ~/.docker/config.json):
 * fails when `path`, symlinks followed, leaves the catalog folder. The message never shows the target.
 */
async function requireInside(root: CatalogRoot, path: string, what: string): Promise<void> {
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    throw new CatalogError(`${what}: ${(err as Error).message}`);
  }
  if (!isInside(root.real, real)) throw new CatalogError(`${what} is a symbolic link leading outside the catalog folder ${root.path}`);
}

/** Files in lexical walk order, without `.indexignore` files and what they exclude. */
async function catalogFiles(root: CatalogRoot): Promise<string[]> {
  const matcher = new IgnoreMatcher();
  const files: string[] = [];
  const visit = async (rel: string): Promise<void> => {
    const dir = rel === '' ? root.path : join(root.path, rel);
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      throw new CatalogError(`cannot read file-based catalog folder ${dir}: ${(err as Error).message}`);
    }
    entries.sort((a, b) => compareCodeUnits(a.name, b.name));
    const ignoreFile = entries.find((e) => e.name === INDEX_IGNORE && !e.isDirectory());
    if (ignoreFile) {
      const file = join(dir, INDEX_IGNORE);
      if (ignoreFile.isSymbolicLink()) await requireInside(root, file, file);
      matcher.add(rel, await readFile(file, 'utf8'));
    }
    for (const entry of entries) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        if (!matcher.matches(path, true)) await visit(path);
      } else if (entry.name !== INDEX_IGNORE && !matcher.matches(path, false)) {
        const file = join(root.path, path);
        if (entry.isSymbolicLink()) await requireInside(root, file, file);
        files.push(file);
      }
    }
  };
  await visit('');
  return files;
}

function requiredString(doc: Doc, key: string, at: string): string {
  const value = doc[key];
  if (typeof value !== 'string' || value === '') throw new CatalogError(`${at}: ${key} must be a non-empty string`);
  return value;
}
