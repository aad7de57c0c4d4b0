// `olm-mirror mirror -c imageset.yaml DEST`: every catalog an oc-mirror ImageSetConfiguration names
// (each filtered and rebuilt as `catalog mirror` does) plus its additional images, in ONE run: one
// plan, so a blob shared by several catalogs is uploaded once. Each catalog gets its manifests
// directory below the root; the additional images get one of their own.
import { join, resolve } from 'node:path';
import { writeManifestsDir } from './catalog-mirror.js';
import type { ImageSetConfiguration } from '../config/imageset.js';
import { OlmMirrorError } from '../errors.js';
import type { Mapping } from '../mirror/mapping.js';
import { ProgressReporter } from '../mirror/progress.js';
import type { MirrorRunOutcome } from '../mirror/run.js';
import { mirrorTarget, parseMirrorDestination, validateMaxComponents } from '../reference/naming.js';
import { formatReference, parseReference } from '../reference/reference.js';
import { diskLocation } from '../transport/resolve.js';
import type { StoreResolver } from '../transport/store.js';
import type { TempDir } from '../util/temp.js';
import { catalogName, catalogRunOptions, prepareCatalog, type CatalogMirrorOptions, type CatalogMirrorOutcome, type CatalogMirrorStreams } from './catalog-mirror.js';
import { mirrorImagesWith, withDiskStores } from './image-mirror.js';

export type ImageSetMirrorOptions = Omit<CatalogMirrorOptions, 'source' | 'selection' | 'targetCatalog' | 'targetTag' | 'blockedImages' | 'manifestsDir' | 'extractDir' | 'extractFrom' | 'catalog'> & {
  config: ImageSetConfiguration;
  /** Holds one manifests directory per catalog, and `additional-images/` (default `manifests-imageset-<unix seconds>`). */
  manifestsRoot?: string;
};

export interface ImageSetMirrorOutcome {
  catalogs: CatalogMirrorOutcome[];
  /** The additional images' manifests directory, when there are any. */
  additionalManifestsDir?: string;
  /** Undefined with manifestsOnly. */
  mirror?: MirrorRunOutcome;
}

export async function mirrorImageSet(registries: StoreResolver, opts: ImageSetMirrorOptions, out: CatalogMirrorStreams,
  reporter = new ProgressReporter(out)): Promise<ImageSetMirrorOutcome> {
  if (diskLocation(opts.destination) !== undefined) {
    throw new OlmMirrorError('usage', 'mirror -c to a folder (file://) is not supported yet: its catalogs are filtered, and filtered catalogs '
      + 'go to a registry; mirror the whole catalogs to disk with catalog mirror SRC file://DIR');
  }
  const dest = parseMirrorDestination(opts.destination);
  const maxComponents = opts.maxComponents ?? 2;
  validateMaxComponents(maxComponents);
  const now = opts.now ?? (() => new Date());
  const root = resolve(opts.manifestsRoot ?? `manifests-imageset-${Math.floor(now().getTime() / 1000)}`);
  const blocked = opts.config.blockedImages;

  return withDiskStores(registries, {}, async (stores) => {
    let runStores = stores;
    const catalogs: CatalogMirrorOutcome[] = [];
    const mappings: Mapping[] = [];
    const temps: (TempDir | undefined)[] = [];
    for (const entry of opts.config.operators) {
      const catalogOpts: CatalogMirrorOptions = {
        ...opts, source: entry.catalog, selection: entry.selection, targetCatalog: entry.targetCatalog, targetTag: entry.targetTag,
        blockedImages: blocked, manifestsDir: join(root, catalogName(parseReference(entry.catalog))),
      };
      const prepared = await prepareCatalog(runStores, catalogOpts, out);
      runStores = prepared.stores;
      temps.push(prepared.temp);
      catalogs.push(prepared.outcome);
      mappings.push(...prepared.mirrorMappings);
    }

    const additional = additionalMappings(opts.config, dest, maxComponents, (image, pattern) => {
      out.stderr.write(`warning: additional image ${image} is blocked (${pattern}) and not mirrored\n`);
    });
    let additionalManifestsDir: string | undefined;
    if (additional.length > 0) {
      additionalManifestsDir = join(root, 'additional-images');
      await writeManifestsDir(additionalManifestsDir, {
        name: 'additional-images', mappings: additional, scope: opts.icspScope ?? 'repository', maxSize: opts.maxIcspSize ?? 250_000,
      }, out.stderr);
      mappings.push(...additional);
    }
    const outcome: ImageSetMirrorOutcome = { catalogs, additionalManifestsDir };
    // The extracted catalogs stay (their paths were printed), whatever the copy does.
    for (const t of temps) t?.keep();
    if (opts.manifestsOnly) return outcome;
    outcome.mirror = await mirrorImagesWith(runStores, undefined, dedupe(mappings), catalogRunOptions(opts), out, reporter);
    return outcome;
  });
}

/** Targets of the additional images (oc's naming), leaving out the blocked ones. */
function additionalMappings(config: ImageSetConfiguration, dest: ReturnType<typeof parseMirrorDestination>, maxComponents: number,
  onBlocked: (image: string, pattern: string) => void): Mapping[] {
  const entries: Mapping[] = [];
  for (const image of config.additionalImages) {
    const hit = config.blockedImages.find((b) => b.pattern.test(image));
    if (hit) {
      onBlocked(image, hit.name);
      continue;
    }
    const source = parseReference(image);
    entries.push({ source, destination: mirrorTarget(source, dest, maxComponents), origin: 'mirror.additionalImages' });
  }
  return entries;
}

/** One mapping per source and destination (two catalogs may name the same image). */
function dedupe(mappings: readonly Mapping[]): Mapping[] {
  const seen = new Set<string>();
  return mappings.filter((m) => {
    const key = `${formatReference(m.source)}=${formatReference(m.destination)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

