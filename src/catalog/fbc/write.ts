// Writes a catalog model as a file-based catalog: one folder per package holding `catalog.json`, a
// stream of olm.package, olm.channel (by name), olm.bundle (by name) and olm.deprecations documents.
// Everything is sorted and nothing depends on the clock, so the same catalog gives the same bytes.
// The folder is built beside the target and renamed into place when complete.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CatalogError, isMapping } from '../documents.js';
import type { Bundle, Catalog, Channel, Package } from '../model.js';
import { compareCodeUnits } from '../../util/compare.js';

/** The file each package folder holds. */
export const FBC_PACKAGE_FILE = 'catalog.json';

/** `dir` must not exist or be empty. Read the source with its manifests, or olm.bundle.object properties are not there to write. */
export async function writeFileBasedCatalog(catalog: Catalog, dir: string): Promise<void> {
  const existing = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new CatalogError(`cannot write file-based catalog to ${dir}: ${err.message}`);
  });
  if (existing && existing.length > 0) throw new CatalogError(`cannot write file-based catalog to ${dir}: the folder is not empty`);
  const temp = join(dirname(dir), `.${basename(dir)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await mkdir(temp, { recursive: true });
    for (const pkg of [...catalog.packages].sort((a, b) => compareCodeUnits(a.name, b.name))) {
      await mkdir(join(temp, pkg.name));
      await writeFile(join(temp, pkg.name, FBC_PACKAGE_FILE), packageDocuments(pkg).map((d) => `${JSON.stringify(d, null, 2)}\n`).join(''));
    }
    if (existing) await rmdir(dir);
    await rename(temp, dir);
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    if (err instanceof CatalogError) throw err;
    throw new CatalogError(`writing file-based catalog ${dir}: ${(err as Error).message}`);
  }
}

/** The documents of one package, in the order they are written. */
function packageDocuments(pkg: Package): Record<string, unknown>[] {
  const bundles = [...pkg.bundles].sort((a, b) => compareCodeUnits(a.name, b.name));
  const deprecated = bundles.filter((b) => b.deprecated);
  return [
    { schema: 'olm.package', name: pkg.name, ...(pkg.defaultChannel !== '' ? { defaultChannel: pkg.defaultChannel } : {}) },
    ...[...pkg.channels].sort((a, b) => compareCodeUnits(a.name, b.name)).map((c) => channelDocument(pkg.name, c)),
    ...bundles.map(bundleDocument),
    ...(deprecated.length > 0
      ? [{
          schema: 'olm.deprecations',
          package: pkg.name,
          entries: deprecated.map((b) => ({ reference: { schema: 'olm.bundle', name: b.name }, message: `${b.name} is deprecated` })),
        }]
      : []),
  ];
}

function channelDocument(pkg: string, channel: Channel): Record<string, unknown> {
  const entries = [...channel.entries].sort((a, b) => compareCodeUnits(a.bundle, b.bundle)).map((e) => ({
    name: e.bundle,
    ...(e.replaces ? { replaces: e.replaces } : {}),
    ...(e.skips.length > 0 ? { skips: [...e.skips] } : {}),
    ...(e.skipRange ? { skipRange: e.skipRange } : {}),
  }));
  return { schema: 'olm.channel', name: channel.name, package: pkg, entries };
}

function bundleDocument(bundle: Bundle): Record<string, unknown> {
  return {
    schema: 'olm.bundle',
    name: bundle.name,
    package: bundle.package,
    image: bundle.image,
    properties: bundleProperties(bundle),
    relatedImages: bundle.relatedImages.map((r) => ({ ...(r.name ? { name: r.name } : {}), image: r.image })),
  };
}

/**
 * The bundle's properties as the source had them; what a file-based catalog needs and a SQLite or
 * package-manifest source keeps elsewhere is derived: olm.package, olm.gvk (provided APIs),
 * olm.gvk.required (required APIs), olm.package.required (package dependencies) and olm.bundle.object
 * (the manifests, inline: a `ref` would point into the source folder).
 */
function bundleProperties(bundle: Bundle): { type: string; value: unknown }[] {
  let objectIndex = 0;
  const properties = bundle.properties.map((p) => {
    const value: unknown = JSON.parse(p.value);
    if (p.type !== 'olm.bundle.object') return { type: p.type, value };
    const object = bundle.objects?.[objectIndex++];
    return isMapping(value) && typeof value.ref === 'string' && object !== undefined ? { type: p.type, value: { data: base64(object) } } : { type: p.type, value };
  });
  const has = (type: string) => properties.some((p) => p.type === type);
  const derived: { type: string; value: unknown }[] = [];
  if (!has('olm.package')) derived.push({ type: 'olm.package', value: { packageName: bundle.package, version: bundle.version } });
  if (!has('olm.gvk')) for (const a of bundle.providedApis) derived.push({ type: 'olm.gvk', value: { group: a.group, kind: a.kind, version: a.version } });
  if (!has('olm.gvk.required')) {
    const required = new Map<string, unknown>();
    const gvkDependencies = bundle.dependencies.filter((d) => d.type === 'olm.gvk').map((d) => JSON.parse(d.value) as Record<string, unknown>);
    for (const a of [...bundle.requiredApis, ...gvkDependencies]) {
      const value = { group: String(a.group ?? ''), kind: String(a.kind ?? ''), version: String(a.version ?? '') };
      required.set(JSON.stringify(value), value);
    }
    for (const value of required.values()) derived.push({ type: 'olm.gvk.required', value });
  }
  if (!has('olm.package.required')) {
    for (const d of bundle.dependencies.filter((dep) => dep.type === 'olm.package')) {
      const value: unknown = JSON.parse(d.value);
      if (isMapping(value)) derived.push({ type: 'olm.package.required', value: { packageName: value.packageName, versionRange: value.version ?? '' } });
    }
  }
  if (!has('olm.bundle.object')) for (const object of bundle.objects ?? []) derived.push({ type: 'olm.bundle.object', value: { data: base64(object) } });
  return [...properties, ...derived];
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
