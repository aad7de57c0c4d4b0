// `catalog mirror`, the library side: pull a catalog image, read its catalog, name a target for
// every image it references (oc's rules), write the manifests directory, then hand the mapping to
// the mirror engine. The CLI only turns flags into CatalogMirrorOptions.
import { writeFileAtomically } from '../util/atomic-write.js';
import type { KeyObject } from 'node:crypto';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { CONFIGS_LABEL, DATABASE_LABEL } from '../catalog/image/labels.js';
import { isInImagePathWithin, normalizeInImagePath } from '../catalog/image/extract.js';
import { DEFAULT_CATALOG_PLATFORM, pullCatalogImage, type PulledCatalogImage } from '../catalog/image/pull.js';
import { blockedImages, type BlockedImageReport } from '../catalog/filter/blocked.js';
import { filterCatalog, type CatalogSelection, type FilterResult } from '../catalog/filter/index.js';
import { writeFilteredCatalog } from '../catalog/filter/output.js';
import { rebuildCatalogImage, type RebuiltCatalogImage } from '../catalog/image/rebuild.js';
import { bundlesWithImage, catalogImages, type Catalog } from '../catalog/model.js';
import type { BlockedImage } from '../config/imageset.js';
import { openCatalog } from '../catalog/open.js';
import { tagOnlySources, type MirrorScope } from '../cluster/mirror-sets.js';
import { RESOURCE_WRITERS, type ManifestsContent } from '../cluster/writers.js';
import type { Mapping } from '../mirror/mapping.js';
import { ProgressReporter } from '../mirror/progress.js';
import type { MirrorRunOptions, MirrorRunOutcome } from '../mirror/run.js';
import { mirrorMapping, mirrorTarget, parseMirrorDestination, validateMaxComponents, type MirrorDestination } from '../reference/naming.js';
import { formatReference, parseReference, withTag, type ImageReference } from '../reference/reference.js';
import { diskLocation } from '../transport/resolve.js';
import type { ImageStore, StoreResolver } from '../transport/store.js';
import { diskCatalog, recordDiskCatalog } from './disk-record.js';
import { mirrorImagesWith, withDiskStores } from './image-mirror.js';
import { OlmMirrorError } from '../errors.js';
import { makeTempDir, type TempDir } from '../util/temp.js';

export interface CatalogMirrorOptions {
  /** The catalog image, e.g. `registry.redhat.io/redhat/redhat-operator-index:v4.14`. */
  source: string;
  /** Where to mirror to: `registry[:port][/namespace...]`. */
  destination: string;
  /** Regex for the catalog image's platform when it is a manifest list (default `linux/amd64`). */
  indexPlatform?: string;
  /** The manifests directory (default `manifests-<catalog name>-<unix seconds>` in the current folder). */
  manifestsDir?: string;
  /** Where the catalog is extracted and kept (default a new folder under the system temp dir). */
  extractDir?: string;
  /**
   * The in-image part of oc's `--path IN:LOCAL`: the catalog must be at or under it (`/` always fits).
   * Only the catalog itself is extracted either way; it is echoed in the path mapping message.
   */
  extractFrom?: string;
  /** The most catalog extraction may write to disk (default 4 GiB). */
  maxExtractBytes?: number;
  /** oc's --max-components: 0 = no limit, default 2. */
  maxComponents?: number;
  icspScope?: MirrorScope;
  maxIcspSize?: number;
  /** Write the manifests directory only; copy nothing. */
  manifestsOnly?: boolean;
  /** Write the manifests directory and print the mirror plan; copy nothing. */
  dryRun?: boolean;
  /** Keep mirroring after an image failed (default true, as in oc). */
  continueOnError?: boolean;
  maxPerRegistry?: number;
  /** Write the run report (JSON) of the mirror here. */
  report?: string;
  /** With `file://DIR` as DEST: cut what the run added into tar segments of at most this many bytes. */
  archiveSize?: number;
  /** Mirror only what this selects (and what it depends on), with a rebuilt catalog image holding just that. */
  selection?: CatalogSelection;
  /** The rebuilt catalog's repository below DEST (default: the source's, named as oc names it) and tag (default: the source's). */
  targetCatalog?: string;
  targetTag?: string;
  /** Images matching any of these are not mirrored; each is reported with the bundles that need it. */
  blockedImages?: readonly BlockedImage[];
  /** With `file://DIR` as SRC: which of the catalogs mirrored into DIR (its original reference); needed when there are several. */
  catalog?: string;
  /** Leave out the images' signatures, attestations, SBOMs and referrers (copied by default). */
  removeSignatures?: boolean;
  /** Mirror only images with a cosign signature this public key verifies. */
  verifySignatures?: KeyObject;
  /** Clock for the default manifests directory name. */
  now?: () => Date;
  onEvent?: (event: CatalogMirrorEvent) => void;
}

/** What the workflow did, for the caller to show (the CLI prints oc's messages for them). */
export type CatalogMirrorEvent =
  /** The catalog image is a manifest list: this entry was read. */
  | { type: 'platform-chosen'; digest: string; indexDigest: string; platform: string }
  /** The catalog is on disk: `localPath` inside `extractDir`, from `inImagePath` in the image. */
  | { type: 'catalog-extracted'; kind: 'fbc' | 'sqlite'; labelled: boolean; mappedFrom: string; inImagePath: string; extractDir: string; localPath: string }
  /** An image the catalog names that is no valid reference (or has no valid target): never mirrored. */
  | { type: 'invalid-image'; image: string; reason: string }
  /** Several sources get one target name, which can hold only one of them. */
  | { type: 'shared-target'; target: ImageReference; sources: ImageReference[] }
  | { type: 'manifests-written'; dir: string }
  /** Nothing is copied (--manifests-only): this mapping file does it later. */
  | { type: 'copy-later'; mappingFile: string }
  /** The selection was applied: what was kept and why. */
  | { type: 'filtered'; result: FilterResult }
  /** An image the kept bundles need matches a blocked pattern: not mirrored. */
  | { type: 'blocked-image'; report: BlockedImageReport }
  /** A mirror to disk is done: this command, on the far side, mirrors it into DEST. */
  | { type: 'next-step'; command: string };

export interface CatalogMirrorStreams {
  stdout: Writable;
  stderr: Writable & { isTTY?: boolean; columns?: number };
}

export interface CatalogMirrorOutcome {
  catalog: Catalog;
  pulled: PulledCatalogImage;
  /** Undefined for a mirror to disk (the far side writes it). */
  manifestsDir?: string;
  /** The mirrored catalog image, as written into catalogSource.yaml. */
  catalogTarget: ImageReference;
  mappings: Mapping[];
  /** Images of the catalog that are no valid reference: reported, never mirrored. */
  invalidImages: { image: string; reason: string }[];
  /** Undefined with manifestsOnly. */
  mirror?: MirrorRunOutcome;
  /** What the selection kept, and the filtered catalog image (by digest) that was mirrored in place of the source's. */
  filter?: FilterResult;
  rebuilt?: ImageReference;
}

/** Every image the catalog references plus the catalog image itself, each with its target (oc's naming). */
export function catalogMappings(catalogRef: ImageReference, images: readonly string[], dest: MirrorDestination, maxComponents: number)
  : { mappings: Mapping[]; invalid: { image: string; reason: string }[] } {
  const origin = `catalog ${formatReference(catalogRef)}`;
  const mappings: Mapping[] = [{ source: catalogRef, destination: mirrorTarget(catalogRef, dest, maxComponents), origin }];
  // Different spellings of one image (`quay.io/a/b:1`, `docker.io/x` and `x`) are mirrored once.
  const seen = new Set([formatReference(catalogRef)]);
  const invalid: { image: string; reason: string }[] = [];
  for (const image of images) {
    let entry: Mapping;
    try {
      entry = { ...mirrorMapping(image, dest, maxComponents), origin };
    } catch (err) {
      // One unusable image (bad reference, target name too long) is reported; the others are mirrored.
      invalid.push({ image, reason: (err as Error).message });
      continue;
    }
    if (seen.has(formatReference(entry.source))) continue;
    seen.add(formatReference(entry.source));
    mappings.push(entry);
  }
  return { mappings, invalid };
}

/**
 * Targets that several sources map to. oc's naming drops the source registry and joins deep paths,
 * so `quay.io/ns/app:1` and `registry.example.com/ns/app:1` both become `DEST/ns-app:1`.
 */
export function sharedTargets(mappings: readonly Mapping[]): { target: ImageReference; sources: ImageReference[] }[] {
  const byTarget = new Map<string, Mapping[]>();
  for (const m of mappings) {
    const key = formatReference(m.destination);
    byTarget.set(key, [...(byTarget.get(key) ?? []), m]);
  }
  return [...byTarget.values()].filter((group) => group.length > 1)
    .map((group) => ({ target: group[0]!.destination, sources: group.map((m) => m.source) }));
}

/** An absolute in-image path, normalised (`/` for the root); only paths inside the image are accepted. */
function inImagePathOf(path: string): string {
  const normalized = path.startsWith('/') ? normalizeInImagePath(path) : null;
  if (normalized === null) throw new InvalidPathMappingError(`--path: "${path}" is no absolute path inside the image (e.g. / or /database/index.db)`);
  return `/${normalized}`;
}

/** The in-image part of a path mapping is no path inside an image: a usage error, found before anything is pulled. */
export class InvalidPathMappingError extends OlmMirrorError {
  constructor(message: string) {
    super('usage', message);
  }
}

/** The last path component of the catalog repository: `redhat-operator-index`. */
export function catalogName(ref: ImageReference): string {
  return ref.repository.slice(ref.repository.lastIndexOf('/') + 1);
}

/**
 * SRC and DEST are registries, or one of them is a folder (`file://DIR`): a mirror to disk stores the
 * catalog image and everything it references in DIR under their source references (with the extracted
 * catalog and a record of the run); a mirror from disk reads all of it from DIR, never asking a source
 * registry, and writes the same manifests directory as a direct run would.
 * Pass the `reporter` whose `onClientEvent` the client was made with, so retries and resumed
 * downloads show up in the mirror's output; by default one is made for `out`.
 */
export async function mirrorCatalog(registries: StoreResolver, opts: CatalogMirrorOptions, out: CatalogMirrorStreams,
  reporter = new ProgressReporter(out)): Promise<CatalogMirrorOutcome> {
  const fromDir = diskLocation(opts.source);
  const toDir = diskLocation(opts.destination);
  return withDiskStores(registries, { fromDir, toDir, archiveSize: opts.archiveSize }, async (stores, layout) => {
    const emit = opts.onEvent ?? (() => undefined);
    const prepared = await prepareCatalog(stores, opts, out);
    const { outcome } = prepared;
    if (opts.manifestsOnly) {
      if (outcome.manifestsDir !== undefined) emit({ type: 'copy-later', mappingFile: join(outcome.manifestsDir, 'mapping.txt') });
      prepared.temp?.keep();
      return outcome;
    }
    const mirrorOptions = { ...catalogRunOptions(opts), toDir, archiveSize: opts.archiveSize };
    outcome.mirror = await mirrorImagesWith(prepared.stores, layout, prepared.mirrorMappings, mirrorOptions, out, reporter);
    if (toDir !== undefined && !opts.dryRun) {
      await recordDiskCatalog(toDir, {
        catalog: formatReference(prepared.catalogRef), digest: prepared.catalogDigest, images: prepared.mirrorMappings.length,
        mirroredAt: new Date().toISOString(), ...(prepared.filtered ? { filtered: prepared.filtered } : {}),
      });
      emit({ type: 'next-step', command: `olm-mirror catalog mirror file://${resolve(toDir)} DEST` });
    }
    prepared.temp?.keep();
    return outcome;
  });
}

/** How a catalog's images are mirrored, from the catalog options. */
export function catalogRunOptions(opts: Omit<CatalogMirrorOptions, 'source'>): MirrorRunOptions {
  return {
    // oc mirrors what a catalog references as it is: lists whole, a missing image reported but not fatal.
    skipMissing: false,
    dryRun: opts.dryRun ?? false,
    continueOnError: opts.continueOnError ?? true,
    maxPerRegistry: opts.maxPerRegistry,
    report: opts.report,
    attachments: !(opts.removeSignatures ?? false),
    verifySignatures: opts.verifySignatures,
  };
}

/** A catalog ready to be mirrored: read, filtered, rebuilt, its manifests directory written. */
export interface PreparedCatalog {
  outcome: CatalogMirrorOutcome;
  /** What to copy: the catalog image (or its rebuilt form) and every kept image. */
  mirrorMappings: Mapping[];
  /** The run's stores, with the rebuilt catalog image's own store where there is one. */
  stores: StoreResolver;
  catalogRef: ImageReference;
  /** The digest that was read, or the rebuilt image's when the catalog was filtered. */
  catalogDigest: string;
  /** Set when the catalog mirrored is a filtered, rebuilt one: how its target is named. */
  filtered?: { targetCatalog?: string; targetTag?: string };
  /** Our temp folder holding the extracted catalog: removed if the run is interrupted, kept (call keep()) once it is through. */
  temp?: TempDir;
}

/**
 * Everything before the copy: pulls and reads the catalog (from `stores`, which already include any
 * disk folder), applies the selection, rebuilds the filtered catalog image, names every target and
 * writes the manifests directory (not for a mirror to disk: the far side writes it).
 */
export async function prepareCatalog(stores: StoreResolver, opts: CatalogMirrorOptions, out: CatalogMirrorStreams): Promise<PreparedCatalog> {
  const fromDir = diskLocation(opts.source);
  const toDir = diskLocation(opts.destination);
  const emit = opts.onEvent ?? (() => undefined);
  const fromDisk = fromDir === undefined ? undefined : await diskCatalog(fromDir, opts.catalog);
  const catalogRef = fromDisk?.ref ?? catalogReference(opts.source);
  const dest = toDir === undefined ? parseMirrorDestination(opts.destination) : undefined;
  const maxComponents = opts.maxComponents ?? 2;
  validateMaxComponents(maxComponents);
  const name = catalogName(catalogRef);

  const selecting = opts.selection !== undefined || (opts.blockedImages?.length ?? 0) > 0;
  const extractDir = opts.extractDir ?? (toDir === undefined ? undefined : await freshCatalogDir(toDir));
  // Our temp folder goes when the run is interrupted or fails; it is kept (and named) once the run is through.
  const temp = extractDir === undefined ? await makeTempDir('olm-mirror-catalog-') : undefined;
  // From disk, the catalog is read by the digest the near side read, so both sides see one catalog.
  const pulled = await pullAndReport(stores, fromDisk ? { ...catalogRef, digest: fromDisk.digest } : catalogRef, { ...opts, extractDir }, temp, emit);
  // Only images are needed unless filtering: leave the (large) CSV and bundle manifests unread then.
  const { catalog } = await openCatalog(pulled.localPath, { manifests: selecting });
  const filter = opts.selection === undefined ? undefined : filterCatalog(catalog, opts.selection);
  if (filter !== undefined) emit({ type: 'filtered', result: filter });
  const kept = filter?.catalog ?? catalog;
  const blocked = opts.blockedImages === undefined ? [] : blockedImages(kept, opts.blockedImages);
  for (const b of blocked) emit({ type: 'blocked-image', report: b });
  const blockedSet = new Set(blocked.map((b) => b.image));
  const images = catalogImages(kept).filter((image) => !blockedSet.has(image));
  const catalogDigest = pulled.indexDigest ?? pulled.digest;
  // A mirror to disk keeps every image under its own name: the target names do not matter there.
  const named = catalogMappings(catalogRef, images, dest ?? DISK_TARGET, maxComponents);
  for (const bad of named.invalid) emit({ type: 'invalid-image', image: bad.image, reason: `${bad.reason} (bundle ${bundlesWithImage(kept, bad.image).join(', ')})` });
  const readCatalog = { ...catalogRef, digest: catalogDigest };
  // A filtered catalog is a new image: it is no copy of the source's, so mapping.txt and the mirror sets leave it out.
  const rebuilt = filter === undefined ? undefined : await rebuildFiltered(stores.source(readCatalog), readCatalog, pulled, filter);
  // A catalog filtered before it was carried across is the rebuilt image already: named and left out of mapping.txt as one.
  const carriedFiltered = rebuilt === undefined ? fromDisk?.filtered : undefined;
  const targets = { ...opts, targetCatalog: opts.targetCatalog ?? carriedFiltered?.targetCatalog, targetTag: opts.targetTag ?? carriedFiltered?.targetTag };
  const isRebuilt = rebuilt !== undefined || carriedFiltered !== undefined;
  const catalogTarget = isRebuilt ? rebuiltTarget(named.mappings[0]!.destination, dest ?? DISK_TARGET, targets) : named.mappings[0]!.destination;
  const mappings = isRebuilt ? named.mappings.slice(1) : named.mappings;
  if (dest !== undefined) for (const shared of sharedTargets(named.mappings)) emit({ type: 'shared-target', ...shared });

  let manifestsDir: string | undefined;
  if (toDir === undefined) {
    const now = opts.now ?? (() => new Date());
    manifestsDir = resolve(opts.manifestsDir ?? `manifests-${name}-${Math.floor(now().getTime() / 1000)}`);
    await writeManifestsDir(manifestsDir, {
      name, catalog: { target: catalogTarget, digest: rebuilt?.ref.digest ?? catalogDigest }, mappings, scope: opts.icspScope ?? 'repository', maxSize: opts.maxIcspSize ?? 250_000,
    }, out.stderr);
    emit({ type: 'manifests-written', dir: manifestsDir });
  }

  // The catalog image is copied by the digest that was read, so the mirror holds exactly the catalog the
  // files above were made from, even if its tag moves meanwhile; mapping.txt keeps the tag, as oc's does.
  const origin = `catalog ${formatReference(catalogRef)}`;
  const filteredCatalog = rebuilt?.ref ?? (carriedFiltered ? readCatalog : undefined);
  const mirrorMappings: Mapping[] = [
    ...(filteredCatalog === undefined ? [] : [{ source: filteredCatalog, destination: catalogTarget, origin: `filtered ${origin}` }]),
    ...mappings.map((m) => (m.source === catalogRef ? { ...m, source: readCatalog } : m)),
  ];
  return {
    outcome: { catalog: kept, pulled, manifestsDir, catalogTarget, mappings, invalidImages: named.invalid, filter, rebuilt: rebuilt?.ref },
    mirrorMappings,
    stores: rebuilt === undefined ? stores : new RebuiltCatalogStores(stores, rebuilt),
    catalogRef,
    catalogDigest: rebuilt?.ref.digest ?? catalogDigest,
    filtered: isRebuilt ? { targetCatalog: targets.targetCatalog, targetTag: targets.targetTag } : undefined,
    temp,
  };
}

/** Writes the filtered catalog in the source's format and rebuilds the catalog image around it. */
async function rebuildFiltered(source: ImageStore, readCatalog: ImageReference & { digest: string }, pulled: PulledCatalogImage,
  filter: FilterResult): Promise<RebuiltCatalogImage> {
  // Removed when the process ends: the mirror reads the new layer from it until then.
  const workDir = await makeTempDir('olm-mirror-rebuild-');
  const content = join(workDir.path, pulled.kind === 'fbc' ? 'configs' : 'catalog.db');
  await writeFilteredCatalog(pulled.kind, filter.catalog, content);
  return rebuildCatalogImage({ source, ref: readCatalog, kind: pulled.kind, inImagePath: pulled.inImagePath, content, workDir: workDir.path });
}

/** Where the rebuilt catalog goes: DEST/<targetCatalog> when given, else oc's name for the catalog; the target tag, else the source's. */
function rebuiltTarget(ocTarget: ImageReference, dest: MirrorDestination, opts: CatalogMirrorOptions): ImageReference {
  const repository = opts.targetCatalog === undefined ? ocTarget.repository
    : [dest.namespace, opts.targetCatalog].filter((p) => p !== undefined && p !== '').join('/');
  return { registry: ocTarget.registry, repository, tag: opts.targetTag ?? ocTarget.tag ?? 'latest' };
}

/** The stores of a run, with the rebuilt catalog image read from its own store. */
class RebuiltCatalogStores implements StoreResolver {
  constructor(private readonly inner: StoreResolver, private readonly rebuilt: RebuiltCatalogImage) {}

  source(ref: ImageReference): ImageStore {
    const { registry, repository } = this.rebuilt.ref;
    const isRebuilt = ref.registry === registry && ref.repository === repository && ref.digest !== undefined && this.rebuilt.manifests.has(ref.digest);
    return isRebuilt ? this.rebuilt.store : this.inner.source(ref);
  }

  destination(ref: ImageReference): ImageStore {
    return this.inner.destination(ref);
  }
}

/** An untagged catalog means :latest, as for any pull; the tag also names the mirrored catalog. */
function catalogReference(source: string): ImageReference {
  const parsed = parseReference(source);
  return parsed.tag === undefined && parsed.digest === undefined ? withTag(parsed, 'latest') : parsed;
}

/** Target names need a destination; a mirror to disk names nothing after it, so any valid one serves. */
export const DISK_TARGET: MirrorDestination = parseMirrorDestination('disk.invalid');

/** A new folder for the catalog inside the disk folder (`catalogs/…`), kept with the images it references. */
async function freshCatalogDir(toDir: string): Promise<string> {
  const parent = join(resolve(toDir), 'catalogs');
  await mkdir(parent, { recursive: true });
  return mkdtemp(join(parent, 'catalog-'));
}

/** Pulls and extracts the catalog, reporting what oc reports (users and scripts look for the database path, to query it). */
async function pullAndReport(stores: StoreResolver, catalogRef: ImageReference, opts: CatalogMirrorOptions, temp: TempDir | undefined,
  emit: (e: CatalogMirrorEvent) => void): Promise<PulledCatalogImage> {
  const extractFrom = opts.extractFrom === undefined ? undefined : inImagePathOf(opts.extractFrom);
  const extractDir = resolve(opts.extractDir ?? temp!.path);
  const pulled = await pullCatalogImage(stores.source(catalogRef), catalogRef, {
    platform: opts.indexPlatform, workDir: extractDir, maxExtractBytes: opts.maxExtractBytes,
  }).catch(async (err: unknown) => {
    // A temp folder of ours is no use to anyone without its catalog; a folder the user named is theirs to look into.
    await temp?.remove();
    throw err;
  });
  if (extractFrom !== undefined && !isInImagePathWithin(pulled.inImagePath, extractFrom)) {
    throw new InvalidPathMappingError(`--path: ${formatReference(catalogRef)} keeps its catalog at ${pulled.inImagePath}, which is not under `
      + `${extractFrom}; give / or ${pulled.inImagePath} as the in-image path`);
  }
  if (pulled.indexDigest !== undefined) {
    emit({ type: 'platform-chosen', digest: pulled.digest, indexDigest: pulled.indexDigest, platform: opts.indexPlatform ?? DEFAULT_CATALOG_PLATFORM });
  }
  const labelled = pulled.labels[CONFIGS_LABEL] !== undefined || pulled.labels[DATABASE_LABEL] !== undefined;
  emit({
    type: 'catalog-extracted', kind: pulled.kind, labelled, mappedFrom: extractFrom ?? (labelled ? pulled.inImagePath : '/'),
    inImagePath: pulled.inImagePath, extractDir, localPath: pulled.localPath,
  });
  return pulled;
}

/** Every file of RESOURCE_WRITERS that has content; each file written whole or not at all. */
export async function writeManifestsDir(dir: string, content: ManifestsContent, warnings: Writable): Promise<void> {
  // Every file is made before any is written: a writer that fails leaves no half-written directory.
  const files = RESOURCE_WRITERS.map((writer) => ({ file: writer.file, text: writer.produce(content) }));
  for (const source of tagOnlySources(content.mappings)) {
    warnings.write(`no digest mapping available for ${formatReference(source)}, skip writing to ImageContentSourcePolicy\n`);
  }
  await mkdir(dir, { recursive: true });
  for (const { file, text } of files) {
    if (text === undefined) continue;
    await writeFileAtomically(join(dir, file), text);
  }
}
