// Benchmark: load a generated package-manifest catalog (500 packages x 5 versions, each CSV with a
// deployment, one related image and one owned CRD) and write it as an SQLite catalog database.
// Run: node dist/bench/catalog-load.js
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { allBundles } from '../src/catalog/model.js';
import { loadPackageManifests } from '../src/catalog/packagemanifest/index.js';
import { writeCatalogDatabase } from '../src/catalog/sqlite/index.js';
import { writeSyntheticCatalog } from '../test/catalog/synthetic.js';

export interface CatalogLoadBenchResult {
  packages: number;
  bundles: number;
  generateMs: number;
  loadMs: number;
  writeMs: number;
  bundlesPerSecond: number;
}

export async function runCatalogLoadBench(opts: { packages?: number; versions?: number } = {}): Promise<CatalogLoadBenchResult> {
  const packages = opts.packages ?? 500;
  const versions = opts.versions ?? 5;
  const dir = await mkdtemp(join(tmpdir(), 'olm-mirror-bench-catalog-'));
  try {
    let start = performance.now();
    await writeSyntheticCatalog(join(dir, 'manifests'), packages, versions);
    const generateMs = performance.now() - start;
    start = performance.now();
    const catalog = await loadPackageManifests(join(dir, 'manifests'));
    const loadMs = performance.now() - start;
    start = performance.now();
    writeCatalogDatabase(catalog, join(dir, 'bundles.db'));
    const writeMs = performance.now() - start;
    const bundles = allBundles(catalog).length;
    if (bundles !== packages * versions) throw new Error(`expected ${packages * versions} bundles, loaded ${bundles}`);
    return { packages, bundles, generateMs, loadMs, writeMs, bundlesPerSecond: bundles / ((loadMs + writeMs) / 1000) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await runCatalogLoadBench();
  console.log(`catalog-load: ${r.packages} packages, ${r.bundles} bundles`);
  console.log(`  generate manifests   ${r.generateMs.toFixed(0)} ms`);
  console.log(`  loadPackageManifests ${r.loadMs.toFixed(0)} ms`);
  console.log(`  writeCatalogDatabase ${r.writeMs.toFixed(0)} ms`);
  console.log(`  load + write         ${r.bundlesPerSecond.toFixed(0)} bundles/s`);
}
