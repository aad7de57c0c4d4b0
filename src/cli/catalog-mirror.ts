// `olm-mirror catalog mirror SRC DEST`: flags -> mirrorCatalog -> exit code.
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_CATALOG_PLATFORM } from '../catalog/image/labels.js';
import { MAX_MIRROR_SET_SIZE } from '../cluster/names.js';
import type { MirrorScope } from '../cluster/mirror-sets.js';
import type { CatalogMirrorEvent, CatalogMirrorStreams } from '../workflows/catalog-mirror.js';
import { ProgressReporter } from '../mirror/progress.js';
import { parseMirrorDestination, validateMaxComponents } from '../reference/naming.js';
import { formatReference, parseReference } from '../reference/reference.js';
import { diskLocation } from '../transport/location.js';
import { addSelectionFlags, formatFilterResult, SELECTION_HELP, selectionFromFlags, type SelectionFlags } from './selection.js';
import {
  addExtractionFlag, addRegistryFlags, addReportFlag, addSignatureFlags, archiveSizeArgument, clientOptionsFrom, ExitCode, regexArgument, UsageError, type RegistryFlags,
} from './common.js';

export interface CatalogMirrorFlags extends RegistryFlags, SelectionFlags {
  indexFilterByOs: string;
  manifestsOnly: boolean;
  toManifests?: string;
  maxComponents: number;
  icspScope: MirrorScope;
  maxIcspSize: number;
  path?: string;
  dryRun: boolean;
  continueOnError: boolean;
  report?: string;
  archiveSize?: number;
  catalog?: string;
  targetCatalog?: string;
  targetTag?: string;
  removeSignatures?: boolean;
  verifySignatures?: string;
  maxExtractSize: number;
}

const HELP = `
What it does:
  1. pulls the catalog image (for a manifest list, the entry matching --index-filter-by-os) and extracts
     its catalog: a file-based catalog (/configs), a bundle-format index (/database/index.db) or a
     Package Manifest Format database (/bundles.db). The database is kept, so you can query it:
       sqlite3 -line <dir>/bundles.db "select * from related_image where operatorbundle_name like 'etcdoperator.v0.9%';"
  2. writes the manifests directory: mapping.txt, catalogSource.yaml, imageContentSourcePolicy.yaml,
     imageDigestMirrorSet.yaml, imageTagMirrorSet.yaml, clusterCatalog.yaml (OLM v1) and registries.conf
     (CRI-O and podman nodes), sorted: the same output for the same catalog;
  3. unless --manifests-only, mirrors the catalog image, every bundle image and every related image to
     DEST, manifest lists kept whole so every digest stays the same.

Across an air gap, with a folder on a disk carried from one side to the other:
  - DEST file://DIR (mirror to disk): the catalog image, every bundle and related image go into DIR, an
    OCI image layout, each under its source reference, with the extracted catalog and olm-mirror.json
    (what was mirrored). Running it again adds only what is missing (after a kill, or for a newer catalog).
    --archive-size SIZE also cuts what the run added into tar segments of at most SIZE.
  - SRC file://DIR (mirror from disk): everything is read from DIR (a layout, or the segments as carried);
    no source registry is contacted. The manifests directory is the same as a direct run would write.

Target names follow oc adm catalog mirror: DEST's path, then the source's path, flattened to at most
--max-components components; images pinned by digest get a tag made from a hash of the reference.

Exit status: 0 when every image was mirrored, 1 when any image or the catalog failed, 2 for bad flags.

Examples:
  olm-mirror catalog mirror registry.redhat.io/redhat/redhat-operator-index:v4.14 mirror.example.com:5000/olm -a auth.json
  olm-mirror catalog mirror --manifests-only quay.io/ns/catalog:v1 mirror.example.com
  # then mirror only some of the images: edit mapping.txt, and
  olm-mirror image mirror -f manifests-catalog-1700000000/mapping.txt --filter-by-os '.*'
  # air gap: on the connected side, then on the disconnected side
  olm-mirror catalog mirror registry.redhat.io/redhat/redhat-operator-index:v4.14 file:///media/usb/olm --archive-size 4GiB
  olm-mirror catalog mirror file:///media/usb/olm mirror.example.com:5000/olm
`;

export function parseMaxComponents(value: string): number {
  const n = Number(value);
  try {
    validateMaxComponents(n);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return n;
}

function parseIcspSize(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_MIRROR_SET_SIZE) {
    throw new InvalidArgumentError(`expected an integer between 1 and ${MAX_MIRROR_SET_SIZE}, got "${value}"`);
  }
  return n;
}

function parseBoolean(value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new InvalidArgumentError(`expected true or false, got "${value}"`);
}

export function catalogMirrorCommand(): Command {
  const cmd = new Command('mirror')
    .summary('mirror an operator catalog and every image it references')
    .description('Mirror an operator catalog image and every image it references to DEST, and write the files that point a cluster at the mirror.')
    .argument('<src>', 'the catalog image, e.g. registry.redhat.io/redhat/redhat-operator-index:v4.14, or file://DIR (mirror from disk)')
    .argument('<dest>', 'the mirror registry, with an optional namespace: host[:port][/namespace], or file://DIR (mirror to disk)');
  addExtractionFlag(addRegistryFlags(cmd))
    .addOption(new Option('--index-filter-by-os <regex>', 'platform of the catalog image to read when it is a manifest list: a regex matched anywhere in os/arch[/variant] (anchor with ^...$)')
      .argParser(regexArgument).default(DEFAULT_CATALOG_PLATFORM))
    .option('--manifests-only', 'write the manifests directory and the database, copy no image', false)
    .option('--to-manifests <dir>', 'the manifests directory (default: manifests-<catalog name>-<unix seconds>)')
    .addOption(new Option('--max-components <n>', 'maximum path components of target repositories; 0 = no limit')
      .argParser(parseMaxComponents).default(2))
    .addOption(new Option('--icsp-scope <scope>', 'ImageContentSourcePolicy/ImageDigestMirrorSet entries per repository or per registry')
      .choices(['repository', 'registry']).default('repository'))
    .addOption(new Option('--max-icsp-size <bytes>', 'maximum size of one ImageContentSourcePolicy object')
      .argParser(parseIcspSize).default(MAX_MIRROR_SET_SIZE))
    .option('--path <in-image:local>', 'where the catalog is extracted and kept: IN is / or the catalog\'s in-image path, LOCAL a new or empty '
      + 'folder (e.g. /:/srv/catalog; default: a new temp folder)')
    .option('--dry-run', 'write the manifests directory and print the mirror plan, copy no image', false)
    .addOption(new Option('--continue-on-error [bool]', 'keep mirroring when an image fails (the exit status is still 1)')
      .argParser(parseBoolean).default(true).preset(true))
    .addOption(new Option('--archive-size <size>', 'with DEST file://DIR: also cut what the run added into tar segments of at most SIZE '
      + '(e.g. 4GiB, 700MiB); carry them with archive.json, checksums.sha256 and olm-mirror.json').argParser(archiveSizeArgument))
    .option('--target-catalog <path>', 'with a selection: the rebuilt catalog\'s repository below DEST (default: the source catalog\'s, named as oc names it)')
    .option('--target-tag <tag>', 'with a selection: the rebuilt catalog\'s tag (default: the source catalog\'s)')
    .option('--catalog <ref>', 'with SRC file://DIR holding several catalogs: the one to mirror (its original reference)');
  addSelectionFlags(cmd, { withConfig: true });
  addReportFlag(addSignatureFlags(cmd))
    .addHelpText('after', `${HELP}${SELECTION_HELP}`)
    .action(async (src: string, dest: string, flags: CatalogMirrorFlags) => {
      const code = await runCatalogMirror(src, dest, flags, { stdout: process.stdout, stderr: process.stderr });
      if (code !== ExitCode.Ok) process.exitCode = code;
    });
  return cmd;
}

/** Splits `--path IN:LOCAL`; IN must hold the catalog: the whole image (`/`) or the catalog's own path. */
function pathMappingFrom(path: string | undefined): { extractFrom?: string; extractDir?: string } {
  if (path === undefined) return {};
  const colon = path.indexOf(':');
  if (colon <= 0 || colon === path.length - 1 || !path.startsWith('/')) {
    throw new UsageError(`--path "${path}": expected <in-image path>:<local folder>, e.g. /:/srv/catalog`);
  }
  return { extractFrom: path.slice(0, colon), extractDir: path.slice(colon + 1) };
}

export async function runCatalogMirror(src: string, dest: string, flags: CatalogMirrorFlags, streams: CatalogMirrorStreams): Promise<number> {
  // Loaded here, not at start-up: `--help` and the other commands never pay for them.
  const { loadSignatureKey } = await import('../mirror/signatures.js');
  const { RegistryClient } = await import('../registry/client.js');
  const { RegistryStores } = await import('../transport/registry.js');
  const { mirrorCatalog } = await import('../workflows/catalog-mirror.js');
  const { extractFrom, extractDir } = pathMappingFrom(flags.path);
  try {
    if (diskLocation(src) === undefined) parseReference(src);
    if (diskLocation(dest) === undefined) parseMirrorDestination(dest);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const verifySignatures = flags.verifySignatures === undefined ? undefined : await loadSignatureKey(flags.verifySignatures);
  const reporter = new ProgressReporter(streams);
  const client = new RegistryClient({ ...(await clientOptionsFrom(flags)), onEvent: reporter.onClientEvent });
  try {
    const outcome = await mirrorCatalog(new RegistryStores(client), {
      source: src,
      destination: dest,
      indexPlatform: flags.indexFilterByOs,
      manifestsDir: flags.toManifests,
      extractFrom,
      extractDir,
      maxExtractBytes: flags.maxExtractSize,
      maxComponents: flags.maxComponents,
      icspScope: flags.icspScope,
      maxIcspSize: flags.maxIcspSize,
      manifestsOnly: flags.manifestsOnly,
      dryRun: flags.dryRun,
      continueOnError: flags.continueOnError,
      maxPerRegistry: flags.maxPerRegistry,
      report: flags.report,
      archiveSize: flags.archiveSize,
      catalog: flags.catalog,
      selection: await selectionFromFlags(src, flags),
      targetCatalog: flags.targetCatalog,
      targetTag: flags.targetTag,
      removeSignatures: flags.removeSignatures,
      verifySignatures,
      onEvent: (event) => printEvent(event, streams),
    }, streams, reporter);
    const failures = (outcome.mirror?.failures ?? 0) + outcome.invalidImages.length;
    if (failures > 0) {
      streams.stderr.write(`error: errors during mirroring: ${failures} image(s) failed, the full contents of the catalog may not have been mirrored\n`);
      return ExitCode.Failed;
    }
    return ExitCode.Ok;
  } finally {
    await client.close();
  }
}

/** oc's own messages where oc has one: scripts look for them (the database path is where users query it). */
export function printEvent(e: CatalogMirrorEvent, streams: CatalogMirrorStreams): void {
  const out = (line: string): void => void streams.stdout.write(`${line}\n`);
  const err = (line: string): void => void streams.stderr.write(`${line}\n`);
  switch (e.type) {
    case 'platform-chosen':
      return out(`chose ${e.digest} from manifest list ${e.indexDigest} (the entry matching --index-filter-by-os ${e.platform})`);
    case 'catalog-extracted': {
      const what = e.kind === 'fbc' ? 'declarative configs' : 'database';
      if (e.labelled) out(`src image has index label for ${what} path: ${e.inImagePath}`);
      out(`using ${e.kind === 'fbc' ? 'index' : 'database'} path mapping: ${e.mappedFrom}:${e.extractDir}`);
      out(`wrote ${what} to ${e.extractDir}`);
      return out(`using ${what} at: ${e.localPath}`);
    }
    case 'invalid-image':
      return err(`error: catalog image reference skipped: ${e.reason}`);
    case 'shared-target':
      return err(`warning: ${e.sources.map(formatReference).join(' and ')} are all mirrored to ${formatReference(e.target)}, which can hold `
        + 'only one of them (target names leave out the source registry and join the components beyond --max-components)');
    case 'manifests-written':
      return out(`wrote mirroring manifests to ${e.dir}`);
    case 'copy-later':
      return out(`to upload the images, run: olm-mirror image mirror -f ${e.mappingFile}`);
    case 'filtered':
      for (const warning of e.result.warnings) err(`warning: ${warning}`);
      for (const note of e.result.notes) err(`info: ${note}`);
      return err(`the selection keeps:\n${formatFilterResult(e.result, false)}`);
    case 'blocked-image':
      return err(`warning: ${e.report.image} is blocked (${e.report.blockedBy}) and not mirrored; needed by ${e.report.neededBy.join(', ')}`);
    case 'next-step':
      return out(`to mirror from disk on the other side, run: ${e.command}`);
  }
}
