// `olm-mirror image mirror`: flags -> mappings -> plan -> execute -> output.
import { Command, Option } from 'commander';
import { mappingsFromArgs, mergeMappings, readMappingFiles, type Mapping } from '../mirror/mapping.js';
import { ProgressReporter, type ProgressStreams } from '../mirror/progress.js';
import { addRegistryFlags, addReportFlag, addSignatureFlags, archiveSizeArgument, clientOptionsFrom, collect, ExitCode, regexArgument, UsageError, type RegistryFlags } from './common.js';

export interface ImageMirrorFlags extends RegistryFlags {
  filename?: string[];
  filterByOs?: string;
  keepManifestList?: boolean;
  dryRun?: boolean;
  skipMissing?: boolean;
  continueOnError?: boolean;
  skipMount?: boolean;
  force?: boolean;
  report?: string;
  toDir?: string;
  fromDir?: string;
  archiveSize?: number;
  removeSignatures?: boolean;
  verifySignatures?: string;
}

const EXAMPLES = `
Mapping files (-f) hold one mapping per line: SRC=DST, or SRC DST [DST...] separated by any
whitespace; text after # is a comment. A destination without a tag takes the source's tag; a
source given only by digest and a destination without tag is pushed by digest only.

Manifest lists are copied whole, so digests stay the same, unless --filter-by-os is given.

Exit status: 0 when every image was mirrored or skipped on request, 1 when any image failed,
2 for bad flags or mapping files (nothing is done).

Examples:
  # Copy one image to another registry, keeping its tag
  olm-mirror image mirror quay.io/ns/app:1.0 mirror.example.com:5000/ns/app

  # Copy one image to several destinations
  olm-mirror image mirror quay.io/ns/app:1.0 mirror.example.com/ns/app:1.0 mirror.example.com/ns/app:stable

  # Copy what a mapping file lists (oc adm catalog mirror writes mapping.txt), showing the plan first
  olm-mirror image mirror -f mapping.txt --dry-run
  olm-mirror image mirror -f mapping.txt --continue-on-error

  # Across an air gap: to disk on the connected side (segments of at most 4 GiB), from disk on the other
  olm-mirror image mirror -f mapping.txt --to-dir /media/usb/mirror --archive-size 4GiB
  olm-mirror image mirror -f mapping.txt --from-dir /media/usb/mirror

  # Only the linux/arm64 image of a multi-arch image (the digest changes)
  olm-mirror image mirror --filter-by-os 'linux/arm64' quay.io/ns/app:1.0 mirror.example.com/ns/app:1.0-arm64
`;

export function imageMirrorCommand(): Command {
  const cmd = new Command('mirror')
    .summary('copy images from one registry to another')
    .description('Copy images between registries, streaming every blob from source to destination and verifying it on the way. ' +
      'Blobs the destination already has are skipped, blobs in another repository of the same registry are mounted, ' +
      'and tags are written last, so a tag never points at an incomplete image.')
    .argument('[mappings...]', 'SRC DST [DST...], or SRC=DST [SRC=DST...]')
    .option('-f, --filename <file>', 'read mappings from this file, - for standard input (repeatable)', collect);
  addRegistryFlags(cmd)
    .addOption(new Option('--filter-by-os <regex>', 'mirror only the manifest-list entries whose os/arch[/variant] matches (anywhere; anchor with ^...$); '
      + 'a list left with several entries is rewritten (new digest), a single entry is mirrored alone').argParser(regexArgument))
    .option('--keep-manifest-list', 'with --filter-by-os: push a manifest list even when a single entry is left')
    .option('--dry-run', 'print the plan (what would be uploaded, mounted, skipped) and change nothing')
    .option('--skip-missing', 'a source image that does not exist is a warning instead of a failure')
    .option('--continue-on-error', 'keep mirroring the other images after one failed (exit status is still 1)')
    .option('--skip-mount', 'upload blobs instead of mounting them from another repository of the same registry')
    .option('--force', 'write blobs and manifests even when the destination already has them')
    .option('--to-dir <dir>', 'mirror to disk: keep every source in this OCI layout, under its source reference (the destinations are ignored)')
    .option('--from-dir <dir>', 'mirror from disk: read every source from this OCI layout or archive instead of its registry')
    .addOption(new Option('--archive-size <size>', 'with --to-dir: also cut what the run added into tar segments of at most SIZE '
      + '(e.g. 4GiB, 700MiB) to carry across; the far side reads them with --from-dir').argParser(archiveSizeArgument));
  addReportFlag(addSignatureFlags(cmd))
    .addHelpText('after', EXAMPLES)
    .action(async (args: string[], flags: ImageMirrorFlags) => {
      const code = await runImageMirror(args, flags, { stdout: process.stdout, stderr: process.stderr });
      if (code !== ExitCode.Ok) process.exitCode = code;
    });
  return cmd;
}

/** The command without commander: usable from tests and other commands. Returns the exit code. */
export async function runImageMirror(args: string[], flags: ImageMirrorFlags, streams: ProgressStreams): Promise<number> {
  // Loaded here, not at start-up: `--help` and the other commands never pay for them.
  const { loadSignatureKey } = await import('../mirror/signatures.js');
  const { RegistryClient } = await import('../registry/client.js');
  const { RegistryStores } = await import('../transport/registry.js');
  const { mirrorImages } = await import('../workflows/image-mirror.js');
  const filterByOs = compileFilter(flags.filterByOs);
  const mappings = await readMappings(args, flags.filename ?? []);
  if (mappings.length === 0) throw new UsageError('nothing to mirror: give SRC DST [DST...], SRC=DST pairs, or -f FILE');
  const verifySignatures = flags.verifySignatures === undefined ? undefined : await loadSignatureKey(flags.verifySignatures);

  const reporter = new ProgressReporter(streams);
  const client = new RegistryClient({ ...(await clientOptionsFrom(flags)), onEvent: reporter.onClientEvent });
  try {
    const { failures } = await mirrorImages(new RegistryStores(client), mappings, {
      filterByOs, keepManifestList: flags.keepManifestList, force: flags.force, skipMissing: flags.skipMissing,
      skipMount: flags.skipMount, maxPerRegistry: flags.maxPerRegistry, dryRun: flags.dryRun, continueOnError: flags.continueOnError,
      report: flags.report, toDir: flags.toDir, fromDir: flags.fromDir, archiveSize: flags.archiveSize,
      attachments: !flags.removeSignatures, verifySignatures,
    }, streams, reporter);
    return failures > 0 ? ExitCode.Failed : ExitCode.Ok;
  } finally {
    await client.close();
  }
}

async function readMappings(args: string[], files: string[]): Promise<Mapping[]> {
  return mergeMappings(mappingsFromArgs(args), await readMappingFiles(files));
}

function compileFilter(pattern: string | undefined): RegExp | undefined {
  return pattern === undefined ? undefined : new RegExp(pattern);
}
