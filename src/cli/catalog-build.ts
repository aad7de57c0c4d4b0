// `olm-mirror catalog build --from-dir DIR (--to-db FILE | --to IMAGE)`: package manifests -> SQLite
// database -> optionally a catalog image pushed to a registry.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import type { PackageManifestsLoad } from '../catalog/packagemanifest/index.js';
import { formatReference, InvalidReferenceError, parseReference, type ImageReference } from '../reference/reference.js';
import { makeTempDir } from '../util/temp.js';
import { addRegistryFlags, clientOptionsFrom, ExitCode, UsageError, type RegistryFlags } from './common.js';

export interface CatalogBuildFlags extends RegistryFlags {
  fromDir: string;
  toDb?: string;
  to?: string;
  platform?: string[];
  permissive?: boolean;
}

const HELP = `
The database has upstream's final schema and the rows upstream's loader writes, so opm, oc and
sqlite3 read it. The image holds it at /bundles.db with the label
operators.operatorframework.io.index.database.v1=/bundles.db; it carries data only (no server),
and the same database always gives the same image digest.

Every problem is listed with its file and line. Without --permissive any problem means no database
(exit 1); with it, the packages that could not be loaded are named and left out, the rest is written,
and the exit status is still 1. Warnings (e.g. a related image without image:) do not change it.

Examples:
  olm-mirror catalog build --from-dir ./manifests --to-db bundles.db
  olm-mirror catalog build --from-dir ./manifests --to-db bundles.db --permissive
  olm-mirror catalog build --from-dir ./manifests --to mirror.example.com:5000/olm/catalog:v1 -a auth.json
  olm-mirror catalog build --from-dir ./manifests --to mirror.example.com/olm/catalog:v1 --platform linux/amd64 --platform linux/arm64
`;

export function catalogBuildCommand(): Command {
  const cmd = new Command('build')
    .summary('build a catalog database or image from package manifests')
    .description('Build an SQLite catalog database from a folder in the package manifest format, and optionally push it as a catalog image.')
    .requiredOption('--from-dir <dir>', 'package manifests: <package>/<package>.package.yaml plus CSVs and CRDs')
    .option('--to-db <file>', 'write the database to this file')
    .option('--to <image>', 'push a catalog image holding the database to this tag')
    .option('--platform <os/arch...>', 'platform of the image, repeatable; several give a manifest list (default linux/amd64)')
    .option('--permissive', 'leave out the packages that do not load (each problem is listed) and build from the rest; exit status 1 all the same');
  addRegistryFlags(cmd)
    .addHelpText('after', HELP)
    .action(async (flags: CatalogBuildFlags) => {
      const code = await runCatalogBuild(flags, process.stdout, process.stderr);
      if (code !== ExitCode.Ok) process.exitCode = code;
    });
  return cmd;
}

/** Returns the exit code: 1 when a permissive build left packages out (what loaded is written all the same). */
export async function runCatalogBuild(flags: CatalogBuildFlags, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): Promise<number> {
  // Loaded here, not at start-up: `--help` and the other commands never pay for them.
  const [{ buildCatalogImage, parsePlatform }, { loadPackageManifestFolder, skippedPackagesMessage }, { writeCatalogDatabase }, { RegistryClient }, { RegistryStores }] =
    await Promise.all([import('../catalog/image/build.js'), import('../catalog/packagemanifest/index.js'), import('../catalog/sqlite/index.js'),
      import('../registry/client.js'), import('../transport/registry.js')]);
  const { target, platforms } = checkFlags(flags, parsePlatform);
  // Bad credential or CA files, or no folder to read, are found before anything is written.
  const clientOptions = target === undefined ? undefined : await clientOptionsFrom(flags);
  await requireFolder(flags.fromDir);
  // The manifests are read again bundle by bundle while the database is written, never all at once.
  const load = await loadPackageManifestFolder(flags.fromDir, { permissive: flags.permissive ?? false, manifests: false });
  report(load, skippedPackagesMessage, stderr);
  const write = (dbPath: string): void => writeCatalogDatabase(load.catalog, dbPath, { manifestsOf: load.manifestsOf });

  if (flags.toDb !== undefined) {
    write(flags.toDb);
    stdout.write(`wrote database to ${flags.toDb}\n`);
  }
  if (target !== undefined) {
    const client = new RegistryClient(clientOptions);
    const tempDir = flags.toDb === undefined ? await makeTempDir('olm-mirror-catalog-') : undefined;
    try {
      const dbPath = flags.toDb ?? join(tempDir!.path, 'bundles.db');
      if (tempDir !== undefined) write(dbPath);
      const built = await buildCatalogImage(new RegistryStores(client).destination(target), { dbPath, target, platforms });
      stdout.write(`pushed ${formatReference(built.ref)}@${built.digest}\n`);
    } finally {
      await client.close();
      await tempDir?.remove();
    }
  }
  return load.errors.length > 0 ? ExitCode.Failed : ExitCode.Ok;
}

function report(load: PackageManifestsLoad, skippedPackagesMessage: (packages: PackageManifestsLoad['skippedPackages']) => string, stderr: NodeJS.WritableStream): void {
  for (const warning of load.warnings) stderr.write(`warning: ${warning}\n`);
  for (const error of load.errors) stderr.write(`error: ${error}\n`);
  if (load.skippedPackages.length > 0) stderr.write(`error: ${skippedPackagesMessage(load.skippedPackages)}\n`);
}

/** A --from-dir that is no folder is unusable input: exit 2, nothing done. */
async function requireFolder(dir: string): Promise<void> {
  const info = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`--from-dir ${dir}: ${err.code === 'ENOENT' ? 'no such folder' : err.message}`);
  });
  if (!info.isDirectory()) throw new UsageError(`--from-dir ${dir}: not a folder`);
}

/** Everything that can be wrong with the flags, found before any work is done. */
function checkFlags(flags: CatalogBuildFlags, parsePlatform: (value: string) => unknown): { target?: ImageReference; platforms?: string[] } {
  if (flags.toDb === undefined && flags.to === undefined) throw new UsageError('nothing to do: give --to-db FILE, --to IMAGE, or both');
  if (flags.platform !== undefined && flags.to === undefined) throw new UsageError('--platform only applies to the image of --to');
  let target: ImageReference | undefined;
  if (flags.to !== undefined) {
    try {
      target = parseReference(flags.to);
    } catch (err) {
      if (err instanceof InvalidReferenceError) throw new UsageError(`--to: ${err.message}`);
      throw err;
    }
    if (target.digest !== undefined) throw new UsageError(`--to ${flags.to}: give a tag, not a digest (the digest is the result)`);
  }
  for (const platform of flags.platform ?? []) {
    try {
      parsePlatform(platform);
    } catch (err) {
      throw new UsageError(`--platform: ${(err as Error).message}`);
    }
  }
  return { target, platforms: flags.platform };
}
