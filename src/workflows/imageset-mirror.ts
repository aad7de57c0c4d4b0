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
import { catalogName, catalogRunOptions, DISK_TARGET, prepareCatalog, type PreparedCatalog, type CatalogMirrorOptions, type CatalogMirrorOutcome, type CatalogMirrorStreams } from './catalog-mirror.js';
import { diskCatalog, recordDiskCatalog } from './disk-record.js';
import { mirrorImagesWith, withDiskStores } from './image-mirror.js';

export type ImageSetMirrorOptions = Omit<CatalogMirrorOptions, 'source' | 'selection' | 'targetCatalog' | 'targetTag' | 'blockedImages' | 'manifestsDir' | 'extractDir' | 'extractFrom' | 'catalog'> & {
  config: ImageSetConfiguration;
  /** Holds one manifests directory per catalog, and `additional-images/` (default `manifests-imageset-<unix seconds>`). */
  manifestsRoot?: string;
  /** The far side of an air gap: every catalog and image is read from this folder, made by `mirror -c … file://DIR`. */
  fromDir?: string;
  /** The configuration's file name, for the command printed for the far side. */
  configFile?: string;
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
  const toDir = diskLocation(opts.destination);
  if (toDir !== undefined && opts.fromDir !== undefined) throw new OlmMirrorError('usage', 'mirror -c: a folder to mirror to and one to mirror from, not both');
  // On disk every image keeps its source name: the target names do not matter there.
  const dest = toDir === undefined ? parseMirrorDestination(opts.destination) : DISK_TARGET;
  const maxComponents = opts.maxComponents ?? 2;
  validateMaxComponents(maxComponents);
  const now = opts.now ?? (() => new Date());
  const root = resolve(opts.manifestsRoot ?? `manifests-imageset-${Math.floor(now().getTime() / 1000)}`);
  const blocked = opts.config.blockedImages;

  const archiveSize = opts.archiveSize ?? (opts.config.archiveSize === undefined ? undefined : opts.config.archiveSize * 1024 ** 3);
  return withDiskStores(registries, { toDir, fromDir: opts.fromDir, archiveSize: toDir === undefined ? undefined : archiveSize }, async (stores, layout) => {
    let runStores = stores;
    const catalogs: CatalogMirrorOutcome[] = [];
    const mappings: Mapping[] = [];
    const temps: (TempDir | undefined)[] = [];
    const prepared: PreparedCatalog[] = [];
    for (const entry of opts.config.operators) {
      // From disk, a catalog filtered on the near side is mirrored as it was carried; filtering it again would change it.
      const carried = opts.fromDir === undefined ? undefined : await diskCatalog(opts.fromDir, entry.catalog);
      const catalogOpts: CatalogMirrorOptions = {
        ...opts, source: opts.fromDir === undefined ? entry.catalog : `file://${opts.fromDir}`, catalog: entry.catalog,
        selection: carried?.filtered ? undefined : entry.selection, targetCatalog: entry.targetCatalog, targetTag: entry.targetTag,
        blockedImages: blocked, manifestsDir: join(root, catalogName(parseReference(entry.catalog))),
      };
      const one = await prepareCatalog(runStores, catalogOpts, out);
      prepared.push(one);
      runStores = one.stores;
      temps.push(one.temp);
      catalogs.push(one.outcome);
      mappings.push(...one.mirrorMappings);
    }

    const additional = additionalMappings(opts.config, dest, maxComponents, (image, pattern) => {
      out.stderr.write(`warning: additional image ${image} is blocked (${pattern}) and not mirrored\n`);
    });
    let additionalManifestsDir: string | undefined;
    if (additional.length > 0 && toDir === undefined) {
      additionalManifestsDir = join(root, 'additional-images');
      await writeManifestsDir(additionalManifestsDir, {
        name: 'additional-images', mappings: additional, scope: opts.icspScope ?? 'repository', maxSize: opts.maxIcspSize ?? 250_000,
      }, out.stderr);
    }
    mappings.push(...additional);
    const outcome: ImageSetMirrorOutcome = { catalogs, additionalManifestsDir };
    // The extracted catalogs stay (their paths were printed), whatever the copy does.
    for (const t of temps) t?.keep();
    if (opts.manifestsOnly) return outcome;
    outcome.mirror = await mirrorImagesWith(runStores, layout, dedupe(mappings), { ...catalogRunOptions(opts), toDir, archiveSize }, out, reporter);
    if (toDir !== undefined && !opts.dryRun) {
      for (const one of prepared) {
        await recordDiskCatalog(toDir, {
          catalog: formatReference(one.catalogRef), digest: one.catalogDigest, images: one.mirrorMappings.length,
          mirroredAt: new Date().toISOString(), ...(one.filtered ? { filtered: one.filtered } : {}),
        });
      }
      out.stdout.write(`to mirror from disk on the other side, run: olm-mirror mirror -c ${opts.configFile ?? 'IMAGESET.yaml'} DEST --from-dir ${resolve(toDir)}\n`);
    }
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

