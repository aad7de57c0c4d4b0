// The operator catalog model shared by every catalog format (package manifests, SQLite, file-based
// catalogs): what the readers produce, what the SQLite writer stores, what `catalog mirror` walks.

/** Thrown by every catalog reader and writer; the message names the file (and line when known). */
export { CatalogError } from './errors.js';

/** An image a bundle needs at run time (operator, operands), as listed by the bundle. */
export interface RelatedImage {
  readonly name?: string;
  readonly image: string;
}

/** A Kubernetes API (group/version/kind) a bundle provides or requires. */
export interface Api {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** Resource plural; '' when the source does not say (e.g. file-based catalogs). */
  readonly plural: string;
}

/** A bundle property or dependency: `value` is compact JSON text, as upstream stores it. */
export interface TypedValue {
  readonly type: string;
  readonly value: string;
}

export interface Bundle {
  /** CSV metadata.name, e.g. etcdoperator.v0.9.2. */
  readonly name: string;
  readonly package: string;
  /** CSV spec.version; '' when absent. */
  readonly version: string;
  /** Bundle image reference; '' for bundles loaded from package manifests. */
  readonly image: string;
  readonly replaces?: string;
  readonly skips: readonly string[];
  /** The olm.skipRange annotation. */
  readonly skipRange?: string;
  readonly relatedImages: readonly RelatedImage[];
  readonly providedApis: readonly Api[];
  readonly requiredApis: readonly Api[];
  readonly properties: readonly TypedValue[];
  readonly dependencies: readonly TypedValue[];
  /** The CSV as compact JSON, when the source has it. */
  readonly csvJson?: string;
  /** Every manifest of the bundle (CSV, CRDs, ...) as compact JSON, when the source has them. */
  readonly objects?: readonly string[];
  /** Marked deprecated (SQLite `deprecated` table). */
  readonly deprecated?: boolean;
}

/** One bundle's place in a channel's upgrade graph. */
export interface ChannelEntry {
  readonly bundle: string;
  readonly replaces?: string;
  readonly skips: readonly string[];
  readonly skipRange?: string;
  /**
   * Distance from the channel head (head = 0): upstream's channel_entry depth for SQLite catalogs and
   * package manifests (each skip counts a level), the shortest replaces/skips path in file-based catalogs.
   */
  readonly depth: number;
}

export interface Channel {
  readonly name: string;
  /** Name of the bundle at the head of the channel. */
  readonly head: string;
  /** Bundles of the channel, head first, ordered by depth. */
  readonly entries: readonly ChannelEntry[];
}

export interface Package {
  readonly name: string;
  readonly defaultChannel: string;
  readonly channels: readonly Channel[];
  /** Every bundle of the package (each at least in one channel), in source order. */
  readonly bundles: readonly Bundle[];
}

export interface Catalog {
  readonly packages: readonly Package[];
  /**
   * Bundles in the database outside any channel (SQLite catalogs only): not installable, but their
   * images are mirrored like `oc adm catalog mirror` does. `package` is the olm.package property's
   * packageName, '' when the database does not say.
   */
  readonly looseBundles?: readonly Bundle[];
}

/**
 * Every image `catalog mirror` must copy: related images plus non-empty bundle images of every bundle,
 * loose ones included, sorted, unique.
 */
export function catalogImages(catalog: Catalog): string[] {
  const images = new Set<string>();
  for (const bundle of [...allBundles(catalog), ...(catalog.looseBundles ?? [])]) {
    if (bundle.image !== '') images.add(bundle.image);
    for (const related of bundle.relatedImages) if (related.image !== '') images.add(related.image);
  }
  return [...images].sort();
}

/** Every bundle of every package, in catalog order (not the loose bundles: this is what can be installed). */
export function allBundles(catalog: Catalog): Bundle[] {
  return catalog.packages.flatMap((p) => p.bundles);
}

/** Names of the bundles (loose ones included) whose bundle image or related images include `image`, for messages. */
export function bundlesWithImage(catalog: Catalog, image: string): string[] {
  return [...allBundles(catalog), ...(catalog.looseBundles ?? [])]
    .filter((b) => b.image === image || b.relatedImages.some((r) => r.image === image))
    .map((b) => b.name);
}
