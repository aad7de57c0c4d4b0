// `olm-mirror catalog list SRC`: what a catalog holds (packages and channel heads, bundles, or
// images), from a catalog image, an SQLite database, a file-based catalog or package manifests.
import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import { DEFAULT_CATALOG_PLATFORM } from '../catalog/image/labels.js';
import {
  formatTable, listBundles, listImages, listPackages,
  type BundleRow, type ImageRow, type ListingFilter, type PackageRow,
} from '../catalog/listing.js';
import type { Catalog } from '../catalog/model.js';
import { InvalidReferenceError, parseReference } from '../reference/reference.js';
import { makeTempDir } from '../util/temp.js';
import { addExtractionFlag, addRegistryFlags, clientOptionsFrom, ExitCode, regexArgument, UsageError, type RegistryFlags } from './common.js';
import { addSelectionFlags, formatFilterResult, SELECTION_HELP, selectionFromFlags, type SelectionFlags } from './selection.js';

export interface CatalogListFlags extends RegistryFlags, SelectionFlags {
  bundle?: string;
  images: boolean;
  output: 'table' | 'json';
  indexFilterByOs: string;
  permissive?: boolean;
  maxExtractSize: number;
}

const HELP = `
SRC is tried as a local path first (an SQLite database, a file-based catalog folder, or a package
manifests folder), else as a catalog image, which is pulled and read without keeping anything.

What is listed:
  default     one row per package: default channel, and each channel with its head bundle
  --bundle    one row per matching bundle: version, channels, bundle image, replaces
  --images    one row per image of each (matching) bundle: the bundle image, then its related images
With a selection (below), what a filter keeps instead: one row per kept bundle and channel with why it
is kept (head, range, full, upgrade-path, dependency, default-channel), the bundles added for
dependencies and a count of packages, channels, bundles and images; --bundle and --images then list
the kept bundles and their images. Nothing is pushed.
${SELECTION_HELP}
Examples:
  olm-mirror catalog list registry.redhat.io/redhat/redhat-operator-index:v4.14 -a auth.json
  olm-mirror catalog list bundles.db --bundle 'etcdoperator.v0.9%'
  olm-mirror catalog list ./configs --images --output json
  olm-mirror catalog list bundles.db --package etcd --min-version etcd=0.9.0           # preview a filter
  olm-mirror catalog list bundles.db --channel etcd:stable --default-channel etcd=stable --max-version etcd:stable=0.9.0
  olm-mirror catalog list bundles.db -c imageset.yaml --output json
`;

export function catalogListCommand(): Command {
  const cmd = new Command('list')
    .summary('list the packages, bundles or images of a catalog')
    .description('List what an operator catalog holds: packages with their channel heads, bundles, or the images bundles need.')
    .argument('<src>', 'catalog image, SQLite database (.db), file-based catalog folder or package manifests folder')
    .option('--bundle <pattern>', 'list bundles whose name matches; % or * match any characters (case-insensitive)')
    .option('--images', 'list the images of each bundle', false)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .addOption(new Option('--index-filter-by-os <regex>', 'platform of the catalog image to read when it is a manifest list: a regex matched anywhere in os/arch[/variant] (anchor with ^...$)')
      .argParser(regexArgument).default(DEFAULT_CATALOG_PLATFORM))
    .option('--permissive', 'a catalog folder: list the packages that load, name those that do not (exit status 1)');
  addExtractionFlag(addRegistryFlags(addSelectionFlags(cmd, { withConfig: true })))
    .addHelpText('after', HELP)
    .action(async (src: string, flags: CatalogListFlags) => {
      await runCatalogList(src, flags, process.stdout);
    });
  return cmd;
}


export async function runCatalogList(src: string, flags: CatalogListFlags, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream = process.stderr): Promise<void> {
  const selection = await selectionFromFlags(src, flags);
  const { catalog, errors } = await loadCatalog(src, flags);
  for (const error of errors) stderr.write(`error: ${error}\n`);
  if (errors.length > 0) process.exitCode = ExitCode.Failed;
  const filter: ListingFilter = { bundle: flags.bundle };
  if (selection === undefined) {
    stdout.write(`${render(catalog, filter, flags)}\n`);
    return;
  }
  const { filterCatalog } = await import('../catalog/filter/index.js');
  const result = filterCatalog(catalog, selection);
  for (const note of result.notes) stderr.write(`note: ${note}\n`);
  for (const warning of result.warnings) stderr.write(`warning: ${warning}\n`);
  stdout.write(`${flags.images || flags.bundle !== undefined ? render(result.catalog, filter, flags) : formatFilterResult(result, flags.output === 'json')}\n`);
}

function render(catalog: Catalog, filter: ListingFilter, flags: CatalogListFlags): string {
  const json = flags.output === 'json';
  if (flags.images) {
    const rows = listImages(catalog, filter);
    return json ? toJson({ images: rows }) : imagesTable(rows);
  }
  if (flags.bundle !== undefined) {
    const rows = listBundles(catalog, filter);
    return json ? toJson({ bundles: rows }) : bundlesTable(rows);
  }
  const rows = listPackages(catalog, filter);
  return json ? toJson({ packages: rows }) : packagesTable(rows);
}

function toJson(value: object): string {
  return JSON.stringify(value, null, 2);
}

/** One line per channel so heads stay readable; the package and its default channel only on its first line. */
function packagesTable(rows: PackageRow[]): string {
  return formatTable(['PACKAGE', 'DEFAULT CHANNEL', 'CHANNEL', 'HEAD'], rows.flatMap((p) =>
    p.channels.map((c, i) => [i === 0 ? p.package : '', i === 0 ? p.defaultChannel : '', c.name, c.head])));
}

function bundlesTable(rows: BundleRow[]): string {
  return formatTable(['PACKAGE', 'BUNDLE', 'VERSION', 'CHANNELS', 'REPLACES', 'IMAGE'], rows.map((b) =>
    [b.package, b.bundle, b.version, b.channels.join(','), b.replaces ?? '', b.image]));
}

function imagesTable(rows: ImageRow[]): string {
  return formatTable(['PACKAGE', 'BUNDLE', 'NAME', 'IMAGE'], rows.map((r) => [r.package, r.bundle, r.name, r.image]));
}

async function loadCatalog(src: string, flags: CatalogListFlags): Promise<{ catalog: Catalog; errors: readonly string[] }> {
  // Loaded here, not at start-up: `--help` and the other commands never pay for them.
  const { openCatalog } = await import('../catalog/open.js');
  // Listing needs no CSV or bundle manifests: leave them unread.
  if (existsSync(src)) return openCatalog(src, { manifests: false, permissive: flags.permissive ?? false });
  let ref;
  try {
    ref = parseReference(src);
  } catch (err) {
    if (err instanceof InvalidReferenceError) {
      throw new UsageError(`"${src}" is neither an existing file or folder nor a valid image reference (${err.reason})`);
    }
    throw err;
  }
  const [{ pullCatalogImage }, { RegistryClient }, { RegistryStores }] =
    await Promise.all([import('../catalog/image/pull.js'), import('../registry/client.js'), import('../transport/registry.js')]);
  const client = new RegistryClient(await clientOptionsFrom(flags));
  const workDir = await makeTempDir('olm-mirror-list-');
  try {
    const pulled = await pullCatalogImage(new RegistryStores(client).source(ref), ref, {
      platform: flags.indexFilterByOs, workDir: workDir.path, maxExtractBytes: flags.maxExtractSize,
    });
    return await openCatalog(pulled.localPath, { manifests: false });
  } finally {
    await client.close();
    await workDir.remove();
  }
}
