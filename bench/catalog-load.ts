// Benchmark: catalog loading at the size of real catalogs, each measurement in its own process so that
// its peak memory is its own.
// - package manifests -> SQLite: 500 packages x 5 versions, CSVs of 20-100 KB with two CRDs beside each
//   (what `catalog build --from-dir DIR --to-db FILE` does);
// - a file-based catalog of about 150 MB (267 packages x 20 bundles, each with its CSV inline), read
//   as `catalog list` and `catalog mirror` read it (no bundle manifests decoded).
// Run: node dist/bench/catalog-load.js
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { allBundles } from '../src/catalog/model.js';
import { openCatalog } from '../src/catalog/open.js';
import { loadPackageManifestFolder } from '../src/catalog/packagemanifest/index.js';
import { writeCatalogDatabase } from '../src/catalog/sqlite/index.js';
import { writeRealisticCatalog, writeRealisticFileBasedCatalog } from '../test/catalog/synthetic.js';

export interface Measurement {
  /** Wall clock, milliseconds. */
  ms: number;
  /** User + system CPU, milliseconds. */
  cpuMs: number;
  /** Peak resident set size of the measuring process, MB. */
  rssMb: number;
  bundles: number;
}

export interface CatalogLoadBenchResult {
  packageManifests: Measurement;
  fileBasedCatalog: Measurement & { megabytes: number };
}

const SHAPE = { packages: 500, versions: 5, fbcPackages: 267, fbcBundles: 20 };

/**
 * The same two measurements with the loaders as they were before they read YAML with js-yaml (the
 * `yaml` package's document API, every file's first document kept at once): this benchmark run on
 * commit 68a56ee on the shared 2-core machine (load average about 8, so wall times are inflated),
 * 2026-12-01. The ratios below compare against these.
 */
const BEFORE: Record<'packageManifests' | 'fileBasedCatalog', Omit<Measurement, 'bundles'>> = {
  packageManifests: { ms: 215_450, cpuMs: 142_910, rssMb: 2367 },
  fileBasedCatalog: { ms: 36_317, cpuMs: 18_220, rssMb: 727 },
};

export async function runCatalogLoadBench(): Promise<CatalogLoadBenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'olm-mirror-bench-catalog-'));
  try {
    await writeRealisticCatalog(join(dir, 'manifests'), SHAPE.packages, SHAPE.versions);
    await writeRealisticFileBasedCatalog(join(dir, 'configs'), SHAPE.fbcPackages, SHAPE.fbcBundles);
    const packageManifests = measure('package-manifests', join(dir, 'manifests'), join(dir, 'bundles.db'));
    if (packageManifests.bundles !== SHAPE.packages * SHAPE.versions) throw new Error(`expected ${SHAPE.packages * SHAPE.versions} bundles, loaded ${packageManifests.bundles}`);
    const fileBasedCatalog = measure('file-based-catalog', join(dir, 'configs'));
    if (fileBasedCatalog.bundles !== SHAPE.fbcPackages * SHAPE.fbcBundles) throw new Error(`expected ${SHAPE.fbcPackages * SHAPE.fbcBundles} bundles, read ${fileBasedCatalog.bundles}`);
    const megabytes = Number(execFileSync('du', ['-sm', '--apparent-size', join(dir, 'configs')], { encoding: 'utf8' }).split('\t')[0]);
    return { packageManifests, fileBasedCatalog: { ...fileBasedCatalog, megabytes } };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs one measurement in a fresh node process (this file with --measure). */
function measure(what: string, ...args: string[]): Measurement {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--measure', what, ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out) as Measurement;
}

async function measureHere(what: string, args: string[]): Promise<Measurement> {
  const start = performance.now();
  const cpu = process.cpuUsage();
  let bundles: number;
  if (what === 'package-manifests') {
    // What `catalog build --from-dir DIR --to-db FILE` does.
    const load = await loadPackageManifestFolder(args[0]!, { manifests: false });
    writeCatalogDatabase(load.catalog, args[1]!, { manifestsOf: load.manifestsOf });
    bundles = allBundles(load.catalog).length;
  } else {
    bundles = allBundles((await openCatalog(args[0]!, { manifests: false })).catalog).length;
  }
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - start, cpuMs: (used.user + used.system) / 1000, rssMb: process.resourceUsage().maxRSS / 1024, bundles };
}

export function formatCatalogLoadBench(r: CatalogLoadBenchResult): string {
  const line = (label: string, m: Omit<Measurement, 'bundles'>): string =>
    `  ${label.padEnd(44)} ${(m.ms / 1000).toFixed(2).padStart(6)} s wall ${(m.cpuMs / 1000).toFixed(2).padStart(6)} s CPU ${m.rssMb.toFixed(0).padStart(5)} MB peak RSS`;
  const ratios = (now: Measurement, before: Omit<Measurement, 'bundles'>): string =>
    `  ${'  vs before'.padEnd(44)} ${(before.ms / now.ms).toFixed(1).padStart(6)} x faster ${(before.cpuMs / now.cpuMs).toFixed(1).padStart(4)} x less CPU ${(before.rssMb / now.rssMb).toFixed(1).padStart(5)} x less memory`;
  return [
    `catalog load: ${SHAPE.packages} packages x ${SHAPE.versions} versions of package manifests; a ${r.fileBasedCatalog.megabytes} MB file-based catalog of ${r.fileBasedCatalog.bundles} bundles`,
    line('package manifests -> SQLite database', r.packageManifests),
    line('  before', BEFORE.packageManifests),
    ratios(r.packageManifests, BEFORE.packageManifests),
    line(`file-based catalog read (${r.fileBasedCatalog.megabytes} MB)`, r.fileBasedCatalog),
    line('  before', BEFORE.fileBasedCatalog),
    ratios(r.fileBasedCatalog, BEFORE.fileBasedCatalog),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.argv[2] === '--measure') {
    process.stdout.write(JSON.stringify(await measureHere(process.argv[3]!, process.argv.slice(4))));
  } else {
    console.log(formatCatalogLoadBench(await runCatalogLoadBench()));
  }
}
