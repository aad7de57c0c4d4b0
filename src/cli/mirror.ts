// `olm-mirror mirror -c imageset.yaml DEST`: flags -> mirrorImageSet -> exit code.
import { Command, Option } from 'commander';
import { DEFAULT_CATALOG_PLATFORM } from '../catalog/image/labels.js';
import { ProgressReporter } from '../mirror/progress.js';
import type { CatalogMirrorStreams } from '../workflows/catalog-mirror.js';
import { parseMaxComponents, printEvent } from './catalog-mirror.js';
import { addRegistryFlags, addReportFlag, addSignatureFlags, archiveSizeArgument, clientOptionsFrom, ExitCode, regexArgument, type RegistryFlags } from './common.js';

export interface MirrorFlags extends RegistryFlags {
  config: string;
  toManifests?: string;
  maxComponents: number;
  indexFilterByOs: string;
  manifestsOnly: boolean;
  dryRun: boolean;
  removeSignatures?: boolean;
  verifySignatures?: string;
  report?: string;
  fromDir?: string;
  archiveSize?: number;
}

const HELP = `
Reads an oc-mirror ImageSetConfiguration (apiVersion mirror.openshift.io/v2alpha1): mirror.operators[]
(catalog, packages, channels, minVersion/maxVersion, defaultChannel, full, targetCatalog, targetTag,
skipDependencies), mirror.additionalImages[] and mirror.blockedImages[]. A field olm-mirror does not
implement (platform, helm, ...) is an error naming it and its line: nothing is silently ignored.

Every catalog is filtered (a catalog without packages keeps the head of every channel, as oc-mirror
does), rebuilt, and mirrored with the images it keeps; the additional images are mirrored too; all of it
in one run, so a blob that several catalogs share is uploaded once. The manifests root holds one
manifests directory per catalog (mapping.txt, catalogSource.yaml, ICSP, IDMS, ITMS, ClusterCatalog,
registries.conf) and additional-images/ for the additional images.

Across an air gap: \`mirror -c FILE file://DIR\` stores everything (filtered catalogs rebuilt) in DIR;
on the far side \`mirror -c FILE DEST --from-dir DIR\` mirrors it without contacting any source registry.

Exit status: 0 when everything was mirrored, 1 when any image or catalog failed, 2 for bad flags or an
ImageSetConfiguration that cannot be used.

Example:
  olm-mirror mirror -c imageset.yaml mirror.example.com:5000/olm -a auth.json --to-manifests ./manifests
`;

export function mirrorCommand(): Command {
  const cmd = new Command('mirror')
    .summary('mirror what an ImageSetConfiguration selects (catalogs, filtered, and additional images) in one run')
    .description('Mirror every catalog of an oc-mirror ImageSetConfiguration, filtered and rebuilt, plus its additional images, in one run.')
    .argument('<dest>', 'the mirror registry, with an optional namespace: host[:port][/namespace], or file://DIR (mirror to disk)')
    .requiredOption('-c, --config <file>', 'the ImageSetConfiguration');
  addRegistryFlags(cmd)
    .option('--to-manifests <dir>', 'the manifests root (default: manifests-imageset-<unix seconds>)')
    .addOption(new Option('--max-components <n>', 'maximum path components of target repositories; 0 = no limit').argParser(parseMaxComponents).default(2))
    .addOption(new Option('--index-filter-by-os <regex>', 'platform of catalog images to read when they are manifest lists').argParser(regexArgument).default(DEFAULT_CATALOG_PLATFORM))
    .option('--manifests-only', 'write the manifests directories, copy no image', false)
    .option('--dry-run', 'write the manifests directories and print the mirror plan, copy no image', false)
    .option('--from-dir <dir>', 'the far side of an air gap: read every catalog and image from this folder, made by mirror -c FILE file://DIR')
    .addOption(new Option('--archive-size <size>', 'with DEST file://DIR: also cut what the run added into tar segments of at most SIZE '
      + '(default: the configuration\'s archiveSize, in GiB)').argParser(archiveSizeArgument));
  addReportFlag(addSignatureFlags(cmd))
    .addHelpText('after', HELP)
    .action(async (dest: string, flags: MirrorFlags) => {
      const code = await runMirrorCommand(dest, flags, { stdout: process.stdout, stderr: process.stderr });
      if (code !== ExitCode.Ok) process.exitCode = code;
    });
  return cmd;
}

export async function runMirrorCommand(dest: string, flags: MirrorFlags, streams: CatalogMirrorStreams): Promise<number> {
  // Loaded here, not at start-up: `--help` and the other commands never pay for them.
  const { loadImageSetConfiguration } = await import('../config/imageset.js');
  const { loadSignatureKey } = await import('../mirror/signatures.js');
  const { RegistryClient } = await import('../registry/client.js');
  const { RegistryStores } = await import('../transport/registry.js');
  const { mirrorImageSet } = await import('../workflows/imageset-mirror.js');
  const config = await loadImageSetConfiguration(flags.config);
  const verifySignatures = flags.verifySignatures === undefined ? undefined : await loadSignatureKey(flags.verifySignatures);
  const reporter = new ProgressReporter(streams);
  const client = new RegistryClient({ ...(await clientOptionsFrom(flags)), onEvent: reporter.onClientEvent });
  try {
    const outcome = await mirrorImageSet(new RegistryStores(client), {
      config, configFile: flags.config, fromDir: flags.fromDir, archiveSize: flags.archiveSize, destination: dest, manifestsRoot: flags.toManifests, maxComponents: flags.maxComponents, indexPlatform: flags.indexFilterByOs,
      manifestsOnly: flags.manifestsOnly, dryRun: flags.dryRun, maxPerRegistry: flags.maxPerRegistry, report: flags.report,
      removeSignatures: flags.removeSignatures, verifySignatures, onEvent: (event) => printEvent(event, streams),
    }, streams, reporter);
    const failures = (outcome.mirror?.failures ?? 0) + outcome.catalogs.reduce((n, c) => n + c.invalidImages.length, 0);
    return failures > 0 ? ExitCode.Failed : ExitCode.Ok;
  } finally {
    await client.close();
  }
}
