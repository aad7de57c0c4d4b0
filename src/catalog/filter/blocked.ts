// ImageSetConfiguration `blockedImages`: images that must not be mirrored, each reported with the
// bundles that need it, so a run can say what will be missing on the cluster.
import type { Catalog } from '../model.js';
import { compareCodeUnits } from '../../util/compare.js';

export interface BlockedImageReport {
  readonly image: string;
  /** The pattern (as written) that blocks it. */
  readonly blockedBy: string;
  /** `package/bundle` of every bundle that needs the image (as its bundle image or a related image), sorted. */
  readonly neededBy: readonly string[];
}

/** The catalog's images that match a pattern (anywhere in the reference, as oc-mirror matches), sorted by image. */
export function blockedImages(catalog: Catalog, patterns: readonly { name: string; pattern: RegExp }[]): BlockedImageReport[] {
  const found = new Map<string, { blockedBy: string; neededBy: Set<string> }>();
  for (const pkg of catalog.packages) {
    for (const bundle of pkg.bundles) {
      for (const image of [bundle.image, ...bundle.relatedImages.map((r) => r.image)]) {
        if (image === '') continue;
        const blocker = found.get(image)?.blockedBy ?? patterns.find((p) => p.pattern.test(image))?.name;
        if (blocker === undefined) continue;
        const entry = found.get(image) ?? { blockedBy: blocker, neededBy: new Set<string>() };
        entry.neededBy.add(`${pkg.name}/${bundle.name}`);
        found.set(image, entry);
      }
    }
  }
  return [...found].sort(([a], [b]) => compareCodeUnits(a, b))
    .map(([image, { blockedBy, neededBy }]) => ({ image, blockedBy, neededBy: [...neededBy].sort(compareCodeUnits) }));
}
