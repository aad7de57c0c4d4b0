// What `catalog list` shows, shaped from the catalog model: packages with their channel heads,
// bundles, or the images of bundles. Rendering (table or JSON) is the command's job.
import { OlmMirrorError } from '../errors.js';
import type { FilterResult } from './filter/index.js';
import type { Bundle, Catalog, Package } from './model.js';
import { compareCodeUnits } from '../util/compare.js';

export interface PackageRow {
  package: string;
  defaultChannel: string;
  channels: { name: string; head: string }[];
}

export interface BundleRow {
  package: string;
  bundle: string;
  version: string;
  /** Channels the bundle is in, sorted. */
  channels: string[];
  /** Bundle image; '' for bundles loaded from package manifests. */
  image: string;
  replaces?: string;
  skips: string[];
  skipRange?: string;
}

export interface ImageRow {
  package: string;
  bundle: string;
  /** The related image's name, or 'bundle' for the bundle image itself. */
  name: string;
  image: string;
}

export interface ListingFilter {
  /** Only this package. */
  package?: string;
  /** Bundle names matching this pattern; `%` and `*` match any run of characters, case-insensitive. */
  bundle?: string;
}

/** The package not found, with the names that exist, so the user can correct the flag. */
export class UnknownPackageError extends OlmMirrorError {
  constructor(readonly packageName: string, available: string[]) {
    super('usage', `no package "${packageName}" in the catalog; it has: ${available.length ? available.join(', ') : 'no packages'}`);
  }
}

export function listPackages(catalog: Catalog, filter: ListingFilter = {}): PackageRow[] {
  return selectPackages(catalog, filter.package).map((p) => ({
    package: p.name,
    defaultChannel: p.defaultChannel,
    channels: sortedChannels(p).map((c) => ({ name: c.name, head: c.head })),
  }));
}

export function listBundles(catalog: Catalog, filter: ListingFilter = {}): BundleRow[] {
  return selectBundles(catalog, filter).map(({ pkg, bundle }) => ({
    package: pkg.name,
    bundle: bundle.name,
    version: bundle.version,
    channels: channelsOf(pkg, bundle.name),
    image: bundle.image,
    ...(bundle.replaces ? { replaces: bundle.replaces } : {}),
    skips: [...bundle.skips],
    ...(bundle.skipRange ? { skipRange: bundle.skipRange } : {}),
  }));
}

/** The bundle image first (when there is one), then the related images in the bundle's order, without repeats. */
export function listImages(catalog: Catalog, filter: ListingFilter = {}): ImageRow[] {
  return selectBundles(catalog, filter).flatMap(({ pkg, bundle }) => {
    const seen = new Set<string>();
    const rows: ImageRow[] = [];
    const add = (name: string, image: string) => {
      if (image === '' || seen.has(image)) return;
      seen.add(image);
      rows.push({ package: pkg.name, bundle: bundle.name, name, image });
    };
    add('bundle', bundle.image);
    for (const related of bundle.relatedImages) add(related.name ?? '', related.image);
    return rows;
  });
}

/** `%` and `*` are wildcards (SQL LIKE habits and shell habits both work); everything else is literal. */
export function bundlePattern(pattern: string): RegExp {
  const body = pattern.split(/[%*]/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${body}$`, 'i');
}

function selectPackages(catalog: Catalog, name: string | undefined): Package[] {
  const sorted = [...catalog.packages].sort((a, b) => compareCodeUnits(a.name, b.name));
  if (name === undefined) return sorted;
  const found = sorted.filter((p) => p.name === name);
  if (found.length === 0) throw new UnknownPackageError(name, sorted.map((p) => p.name));
  return found;
}

function selectBundles(catalog: Catalog, filter: ListingFilter): { pkg: Package; bundle: Bundle }[] {
  const pattern = filter.bundle === undefined ? undefined : bundlePattern(filter.bundle);
  return selectPackages(catalog, filter.package).flatMap((pkg) => [...pkg.bundles]
    .filter((b) => pattern === undefined || pattern.test(b.name))
    .sort((a, b) => compareCodeUnits(a.name, b.name))
    .map((bundle) => ({ pkg, bundle })));
}

function sortedChannels(pkg: Package) {
  return [...pkg.channels].sort((a, b) => compareCodeUnits(a.name, b.name));
}

function channelsOf(pkg: Package, bundle: string): string[] {
  return sortedChannels(pkg).filter((c) => c.entries.some((e) => e.bundle === bundle)).map((c) => c.name);
}


/** A plain-text table: columns padded to their widest cell, two spaces apart, no trailing blanks. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [headers, ...rows]
    .map((cells) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

/** One kept bundle of a filter preview: where it is and why it was kept. */
export interface KeptRow {
  package: string;
  defaultChannel: string;
  channel: string;
  head: string;
  bundle: string;
  version: string;
  /** Why the bundle is kept: head, range, full, upgrade-path, dependency or default-channel. */
  reason: string;
}

/** What a filter kept, one row per bundle per channel, packages and channels sorted by name, each channel head first. */
export function listKept(result: Pick<FilterResult, 'packages'>): KeptRow[] {
  return [...result.packages].sort((a, b) => compareCodeUnits(a.name, b.name)).flatMap((p) =>
    [...p.channels].sort((a, b) => compareCodeUnits(a.name, b.name)).flatMap((c) =>
      c.bundles.map((b) => ({ package: p.name, defaultChannel: p.defaultChannel, channel: c.name, head: c.head, bundle: b.bundle, version: b.version, reason: b.reason }))));
}
