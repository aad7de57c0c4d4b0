// `catalog mirror`, the library side: pull a catalog image, read its catalog, name a target for
// every image it references (oc's rules), write the manifests directory, then hand the mapping to
// the mirror engine. The CLI only turns flags into CatalogMirrorOptions.
import { mkdir, mkdtemp, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { CONFIGS_LABEL, DATABASE_LABEL } from '../catalog/image/labels.js';
import { pullCatalogImage, type PulledCatalogImage } from '../catalog/image/pull.js';
import { catalogImages, type Catalog } from '../catalog/model.js';
import { openCatalog } from '../catalog/open.js';
import { catalogSourceYaml } from '../cluster/catalog-source.js';
import { imageContentSourcePolicies } from '../cluster/icsp.js';
import { imageDigestMirrorSets } from '../cluster/idms.js';
import { formatMappingFile, type MappingEntry } from '../cluster/mapping.js';
import type { MirrorScope } from '../cluster/mirror-sets.js';
import { resourceNameFrom } from '../cluster/names.js';
import type { Mapping } from '../mirror/mapping.js';
import { runMirror, type MirrorRunOutcome } from '../mirror/run.js';
import { mirrorTarget, parseMirrorDestination, type MirrorDestination } from '../reference/naming.js';
import { formatReference, parseReference, withTag, type ImageReference } from '../reference/reference.js';
import type { RegistryClient } from '../registry/client.js';

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
  const invalid: { image: string; reason: string }[] = [];
  for (const image of images) {
    let source: ImageReference;
    try {
      source = parseReference(image);
    } catch (err) {
      invalid.push({ image, reason: (err as Error).message });
      continue;
    }
    mappings.push({ source, target: mirrorTarget(source, dest, maxComponents) });
  }
  return { mappings, invalid };
}

/** The last path component of the catalog repository: `redhat-operator-index`. */
export function catalogName(ref: ImageReference): string {
  return ref.repository.slice(ref.repository.lastIndexOf('/') + 1);
}

export async function mirrorCatalog(client: RegistryClient, opts: CatalogMirrorOptions, out: CatalogMirrorStreams): Promise<CatalogMirrorOutcome> {
  const parsed = parseReference(opts.source);
  // An untagged catalog means :latest, as for any pull; the tag also names the mirrored catalog.
  const catalogRef = parsed.tag === undefined && parsed.digest === undefined ? withTag(parsed, 'latest') : parsed;
  const dest = parseMirrorDestination(opts.destination);
  const maxComponents = opts.maxComponents ?? 2;
  const name = catalogName(catalogRef);

  const extractDir = resolve(opts.extractDir ?? await mkdtemp(join(tmpdir(), 'olm-mirror-catalog-')));
  const pulled = await pullCatalogImage(client, catalogRef, { platform: opts.indexPlatform, workDir: extractDir });
  const what = pulled.kind === 'fbc' ? 'declarative configs' : 'database';
  // As oc: a labelled image has just its catalog path extracted, an unlabelled one its whole filesystem.
  const labelled = pulled.labels[CONFIGS_LABEL] !== undefined || pulled.labels[DATABASE_LABEL] !== undefined;
  out.stdout.write(`using ${pulled.kind === 'fbc' ? 'index' : 'database'} path mapping: ${labelled ? pulled.inImagePath : '/'}:${extractDir}\n`);
  out.stdout.write(`wrote ${what} to ${extractDir}\n`);
  out.stdout.write(`using ${what} at: ${pulled.localPath}\n`);

  const { catalog } = await openCatalog(pulled.localPath);
  const { mappings, invalid } = catalogMappings(catalogRef, catalogImages(catalog), dest, maxComponents);
  for (const bad of invalid) out.stderr.write(`error: catalog image reference skipped: ${bad.reason}\n`);
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
    return outcome;
  }
  const mirrorMappings: Mapping[] = mappings.map((m) => ({ source: m.source, destination: m.target, origin: `catalog ${formatReference(catalogRef)}` }));
  outcome.mirror = await runMirror(client, mirrorMappings, {
    // oc mirrors what a catalog references as it is: lists whole, a missing image reported but not fatal.
    skipMissing: false,
    dryRun: opts.dryRun ?? false,
    continueOnError: opts.continueOnError ?? true,
    maxPerRegistry: opts.maxPerRegistry,
  }, out);
  return outcome;
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
