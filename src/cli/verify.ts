// `olm-mirror verify`: flags -> mappings -> verifyMirror (-> repair) -> report.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { describeMapping, mergeMappings, readMappingFiles } from '../mirror/mapping.js';
import { ProgressReporter, type ProgressStreams } from '../mirror/progress.js';
import type { VerifyResult } from '../mirror/verify.js';
import { addRegistryFlags, clientOptionsFrom, collect, ExitCode, regexArgument, UsageError, type RegistryFlags } from './common.js';

export interface VerifyFlags extends RegistryFlags {
  filename?: string[];
  filterByOs?: string;
  keepManifestList?: boolean;
  repair?: boolean;
}

const HELP = `
Checks, without copying anything, that every destination of the mappings holds the source's image:
the tag (or digest) points at the source digest (for --filter-by-os, at the filtered list the
mirror made) and every manifest and blob of the image is there. This is the check to run before an
upgrade, when a registry may have garbage-collected or lost content.

DIR is a manifests directory written by catalog mirror (its mapping.txt is read).

Exit status: 0 when every image is intact (after --repair: when the repair made it so), 1 when any
image is missing, wrong or incomplete, or its source cannot be read, 2 for bad flags or mapping files.

Examples:
  olm-mirror verify -f mapping.txt
  olm-mirror verify manifests-redhat-operator-index-1764144000 --repair
`;

export function verifyCommand(): Command {
  const cmd = new Command('verify')
    .summary('check that mirrored images are complete and unchanged (and repair them)')
    .description('Check every destination of a mapping file or manifests directory against its source, without copying; --repair re-mirrors what is missing or wrong.')
    .argument('[dir]', 'a manifests directory from catalog mirror (its mapping.txt)')
    .option('-f, --filename <file>', 'mapping file to check, - for standard input (repeatable)', collect);
  addRegistryFlags(cmd)
    .addOption(new Option('--filter-by-os <regex>', 'the --filter-by-os the mirror was made with').argParser(regexArgument))
    .option('--keep-manifest-list', 'the --keep-manifest-list the mirror was made with')
    .option('--repair', 're-mirror exactly the images found missing, wrong or incomplete, then check them again')
    .addHelpText('after', HELP)
    .action(async (dir: string | undefined, flags: VerifyFlags) => {
      const code = await runVerify(dir, flags, { stdout: process.stdout, stderr: process.stderr });
      if (code !== ExitCode.Ok) process.exitCode = code;
    });
  return cmd;
}

export async function runVerify(dir: string | undefined, flags: VerifyFlags, streams: ProgressStreams): Promise<number> {
  // Loaded here, not at start-up: `--help` and the other commands never pay for them.
  const { runMirror } = await import('../mirror/run.js');
  const { describeCheck, verifyMirror } = await import('../mirror/verify.js');
  const show = (result: VerifyResult) => print(result, describeCheck, streams);
  const { RegistryClient } = await import('../registry/client.js');
  const { RegistryStores } = await import('../transport/registry.js');
  const files = [...(flags.filename ?? []), ...(dir === undefined ? [] : [await mappingFileIn(dir)])];
  if (files.length === 0) throw new UsageError('nothing to verify: give a manifests directory or -f MAPPING_FILE');
  const mappings = mergeMappings(await readMappingFiles(files));
  const filterByOs = flags.filterByOs === undefined ? undefined : new RegExp(flags.filterByOs);
  const options = { filterByOs, keepManifestList: flags.keepManifestList, maxPerRegistry: flags.maxPerRegistry };

  const reporter = new ProgressReporter(streams);
  const client = new RegistryClient({ ...(await clientOptionsFrom(flags)), onEvent: reporter.onClientEvent });
  const stores = new RegistryStores(client);
  try {
    let result = await verifyMirror(stores, mappings, options);
    show(result);
    if (flags.repair && result.broken.length > 0) {
      const broken = result.broken.map((c) => c.mapping);
      streams.stderr.write(`info: repairing ${broken.length} image(s)\n`);
      // force: a deleted blob under a manifest that is still there is written again too.
      await runMirror(stores, broken, { ...options, force: true, continueOnError: true }, streams, reporter);
      result = await verifyMirror(stores, mappings, options);
      show(result);
    }
    return result.broken.length + result.unreadable.length > 0 ? ExitCode.Failed : ExitCode.Ok;
  } finally {
    await client.close();
  }
}

async function mappingFileIn(dir: string): Promise<string> {
  const file = join(dir, 'mapping.txt');
  const found = await stat(file).then((s) => s.isFile(), () => false);
  if (!found) throw new UsageError(`${dir} is no manifests directory: it has no mapping.txt`);
  return file;
}

function print(result: VerifyResult, describeCheck: (c: VerifyResult['broken'][number]) => string[], streams: ProgressStreams): void {
  for (const check of result.broken) for (const line of describeCheck(check)) streams.stdout.write(`${line}\n`);
  for (const f of result.unreadable) streams.stderr.write(`error: ${describeMapping(f.mapping)}: cannot read the source: ${f.error.message}\n`);
  streams.stderr.write(`info: verified ${result.ok.length + result.broken.length + result.unreadable.length} image(s): `
    + `${result.ok.length} intact, ${result.broken.length} missing, wrong or incomplete, ${result.unreadable.length} with an unreadable source\n`);
}
