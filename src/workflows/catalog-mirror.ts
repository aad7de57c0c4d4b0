// `catalog mirror`, the library side: pull a catalog image, read its catalog, name a target for
// every image it references (oc's rules), write the manifests directory, then hand the mapping to
// the mirror engine. The CLI only turns flags into CatalogMirrorOptions.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { CONFIGS_LABEL, DATABASE_LABEL } from '../catalog/image/labels.js';
import { isInImagePathWithin, normalizeInImagePath } from '../catalog/image/extract.js';
import { DEFAULT_CATALOG_PLATFORM, pullCatalogImage, type PulledCatalogImage } from '../catalog/image/pull.js';
import { catalogImages, type Catalog } from '../catalog/model.js';
import { openCatalog } from '../catalog/open.js';
import { catalogSourceYaml } from '../cluster/catalog-source.js';
import { imageContentSourcePolicies } from '../cluster/icsp.js';
import { imageDigestMirrorSets } from '../cluster/idms.js';
import { formatMappingFile, type MappingEntry } from '../cluster/mapping.js';
import type { MirrorScope } from '../cluster/mirror-sets.js';
import { resourceNameFrom } from '../cluster/names.js';
import type { Mapping } from '../mirror/mapping.js';
import { ProgressReporter } from '../mirror/progress.js';
import { runMirror, type MirrorRunOutcome } from '../mirror/run.js';
import { mirrorTarget, parseMirrorDestination, validateMaxComponents, type MirrorDestination } from '../reference/naming.js';
import { formatReference, parseReference, withTag, type ImageReference } from '../reference/reference.js';
import type { RegistryClient } from '../registry/client.js';
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
  /** Clock for the default manifests directory name. */
  now?: () => Date;
}

export interface CatalogMirrorStreams {
  stdout: Writable;
  stderr: Writable & { isTTY?: boolean; columns?: number };
}

export interface CatalogMirrorOutcome {
  catalog: Catalog;
  pulled: PulledCatalogImage;
  manifestsDir: string;
  /** The mirrored catalog image, as written into catalogSource.yaml. */
  catalogTarget: ImageReference;
  mappings: MappingEntry[];
  /** Images of the catalog that are no valid reference: reported, never mirrored. */
  invalidImages: { image: string; reason: string }[];
  /** Undefined with manifestsOnly. */
  mirror?: MirrorRunOutcome;
}

/** Every image the catalog references plus the catalog image itself, each with its target (oc's naming). */
export function catalogMappings(catalogRef: ImageReference, images: readonly string[], dest: MirrorDestination, maxComponents: number)
  : { mappings: MappingEntry[]; invalid: { image: string; reason: string }[] } {
  const mappings: MappingEntry[] = [{ source: catalogRef, target: mirrorTarget(catalogRef, dest, maxComponents) }];
  // Different spellings of one image (`quay.io/a/b:1`, `docker.io/x` and `x`) are mirrored once.
  const seen = new Set([formatReference(catalogRef)]);
  const invalid: { image: string; reason: string }[] = [];
  for (const image of images) {
    let entry: MappingEntry;
    try {
      const source = parseReference(image);
      entry = { source, target: mirrorTarget(source, dest, maxComponents) };
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
export function sharedTargets(mappings: readonly MappingEntry[]): { target: ImageReference; sources: ImageReference[] }[] {
  const byTarget = new Map<string, MappingEntry[]>();
  for (const m of mappings) {
    const key = formatReference(m.target);
    byTarget.set(key, [...(byTarget.get(key) ?? []), m]);
  }
  return [...byTarget.values()].filter((group) => group.length > 1)
    .map((group) => ({ target: group[0]!.target, sources: group.map((m) => m.source) }));
}

/** An absolute in-image path, normalised (`/` for the root); only paths inside the image are accepted. */
function inImagePathOf(path: string): string {
  const normalized = path.startsWith('/') ? normalizeInImagePath(path) : null;
  if (normalized === null) throw new InvalidPathMappingError(`--path: "${path}" is no absolute path inside the image (e.g. / or /database/index.db)`);
  return `/${normalized}`;
}

/** The in-image part of a path mapping is no path inside an image: a usage error, found before anything is pulled. */
export class InvalidPathMappingError extends Error {
  override name = 'InvalidPathMappingError';
}

/** The last path component of the catalog repository: `redhat-operator-index`. */
export function catalogName(ref: ImageReference): string {
  return ref.repository.slice(ref.repository.lastIndexOf('/') + 1);
}

/**
 * Pass the `reporter` whose `onClientEvent` the client was made with, so retries and resumed
 * downloads show up in the mirror's output; by default one is made for `out`.
 */
export async function mirrorCatalog(client: RegistryClient, opts: CatalogMirrorOptions, out: CatalogMirrorStreams,
  reporter = new ProgressReporter(out)): Promise<CatalogMirrorOutcome> {
  const parsed = parseReference(opts.source);
  // An untagged catalog means :latest, as for any pull; the tag also names the mirrored catalog.
  const catalogRef = parsed.tag === undefined && parsed.digest === undefined ? withTag(parsed, 'latest') : parsed;
  const dest = parseMirrorDestination(opts.destination);
  const maxComponents = opts.maxComponents ?? 2;
  validateMaxComponents(maxComponents);
  const name = catalogName(catalogRef);

  // Our temp folder goes when the run is interrupted or fails; it is kept (and named) once the run is through.
  const temp = opts.extractDir === undefined ? await makeTempDir('olm-mirror-catalog-') : undefined;
  const pulled = await pullAndReport(client, catalogRef, opts, temp, out);
  // Only images are needed: leave the (large) CSV and bundle manifests unread.
  const { catalog } = await openCatalog(pulled.localPath, { manifests: false });
  const { mappings, invalid } = catalogMappings(catalogRef, catalogImages(catalog), dest, maxComponents);
  for (const bad of invalid) out.stderr.write(`error: catalog image reference skipped: ${bad.reason}\n`);
  for (const { target, sources } of sharedTargets(mappings)) {
    out.stderr.write(`warning: ${sources.map(formatReference).join(' and ')} are all mirrored to ${formatReference(target)}, which can hold `
      + 'only one of them (target names leave out the source registry and join the components beyond --max-components)\n');
  }
  const catalogTarget = mappings[0]!.target;

  const now = opts.now ?? (() => new Date());
  const manifestsDir = resolve(opts.manifestsDir ?? `manifests-${name}-${Math.floor(now().getTime() / 1000)}`);
  await writeManifestsDir(manifestsDir, {
    name, catalogTarget, mappings, scope: opts.icspScope ?? 'repository', maxSize: opts.maxIcspSize ?? 250_000,
  }, out.stderr);
  out.stdout.write(`wrote mirroring manifests to ${manifestsDir}\n`);

  const outcome: CatalogMirrorOutcome = { catalog, pulled, manifestsDir, catalogTarget, mappings, invalidImages: invalid };
  if (opts.manifestsOnly) {
    out.stdout.write(`to upload the images, run: olm-mirror image mirror -f ${join(manifestsDir, 'mapping.txt')}\n`);
    temp?.keep();
    return outcome;
  }
  // The catalog image is copied by the digest that was read, so the mirror holds exactly the catalog the
  // files above were made from, even if its tag moves meanwhile; mapping.txt keeps the tag, as oc's does.
  const readCatalog = { ...catalogRef, digest: pulled.indexDigest ?? pulled.digest };
  const mirrorMappings: Mapping[] = mappings.map((m) => ({
    source: m.source === catalogRef ? readCatalog : m.source, destination: m.target, origin: `catalog ${formatReference(catalogRef)}`,
  }));
  outcome.mirror = await runMirror(client, mirrorMappings, {
    // oc mirrors what a catalog references as it is: lists whole, a missing image reported but not fatal.
    skipMissing: false,
    dryRun: opts.dryRun ?? false,
    continueOnError: opts.continueOnError ?? true,
    maxPerRegistry: opts.maxPerRegistry,
  }, out, reporter);
  temp?.keep();
  return outcome;
}

/** Pulls and extracts the catalog, printing oc's messages, which users and scripts look for (the database path is where they query it). */
async function pullAndReport(client: RegistryClient, catalogRef: ImageReference, opts: CatalogMirrorOptions, temp: TempDir | undefined,
  out: CatalogMirrorStreams): Promise<PulledCatalogImage> {
  const extractFrom = opts.extractFrom === undefined ? undefined : inImagePathOf(opts.extractFrom);
  const extractDir = resolve(opts.extractDir ?? temp!.path);
  const pulled = await pullCatalogImage(client, catalogRef, {
    platform: opts.indexPlatform, workDir: extractDir, maxExtractBytes: opts.maxExtractBytes,
  }).catch(async (err: unknown) => {
    // A temp folder of ours is no use to anyone without its catalog; a folder the user named is theirs to look into.
    await temp?.remove();
    throw err;
  });
  if (extractFrom !== undefined && !isInImagePathWithin(pulled.inImagePath, extractFrom)) {
    throw new Error(`--path: ${formatReference(catalogRef)} keeps its catalog at ${pulled.inImagePath}, which is not under `
      + `${extractFrom}; give / or ${pulled.inImagePath} as the in-image path`);
  }
  if (pulled.indexDigest !== undefined) {
    out.stdout.write(`chose ${pulled.digest} from manifest list ${pulled.indexDigest} `
      + `(the entry matching --index-filter-by-os ${opts.indexPlatform ?? DEFAULT_CATALOG_PLATFORM})\n`);
  }
  const what = pulled.kind === 'fbc' ? 'declarative configs' : 'database';
  const labelled = pulled.labels[CONFIGS_LABEL] !== undefined || pulled.labels[DATABASE_LABEL] !== undefined;
  if (labelled) out.stdout.write(`src image has index label for ${what} path: ${pulled.inImagePath}\n`);
  const mappedFrom = extractFrom ?? (labelled ? pulled.inImagePath : '/');
  out.stdout.write(`using ${pulled.kind === 'fbc' ? 'index' : 'database'} path mapping: ${mappedFrom}:${extractDir}\n`);
  out.stdout.write(`wrote ${what} to ${extractDir}\n`);
  out.stdout.write(`using ${what} at: ${pulled.localPath}\n`);
  return pulled;
}

interface ManifestsContent {
  name: string;
  catalogTarget: ImageReference;
  mappings: MappingEntry[];
  scope: MirrorScope;
  maxSize: number;
}

/** mapping.txt, catalogSource.yaml, imageContentSourcePolicy.yaml and imageDigestMirrorSet.yaml; each file written whole or not at all. */
export async function writeManifestsDir(dir: string, content: ManifestsContent, warnings: Writable): Promise<void> {
  const resourceName = resourceNameFrom(content.name);
  const mirrorSetOptions = { catalogName: content.name, mappings: content.mappings, scope: content.scope, maxSize: content.maxSize };
  const icsp = imageContentSourcePolicies(mirrorSetOptions);
  const idms = imageDigestMirrorSets(mirrorSetOptions);
  for (const source of icsp.skipped) {
    warnings.write(`no digest mapping available for ${formatReference(source)}, skip writing to ImageContentSourcePolicy\n`);
  }
  const files: [string, string][] = [
    ['mapping.txt', formatMappingFile(content.mappings)],
    ['catalogSource.yaml', catalogSourceYaml({ name: resourceName, image: content.catalogTarget })],
    ['imageContentSourcePolicy.yaml', icsp.yaml],
    ['imageDigestMirrorSet.yaml', idms.yaml],
  ];
  await mkdir(dir, { recursive: true });
  for (const [file, text] of files) {
    if (text === '') continue;
    const target = join(dir, file);
    await writeFile(`${target}.tmp`, text);
    await rename(`${target}.tmp`, target);
  }
}
