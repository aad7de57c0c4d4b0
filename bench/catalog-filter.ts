// Benchmark: filter a generated 2,500-bundle catalog (500 packages x 5 versions, the catalog-load
// generator) after loading it. Every bundle of operator-N also requires the API of operator-N+1 and the
// package operator-N+2 in a version range, so selecting operator-0 resolves dependencies through the
// whole catalog. Goal: each filter well under 1 s beyond loading.
// Run: node dist/bench/catalog-filter.js
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { goJson } from '../src/catalog/documents.js';
import { filterCatalog, type CatalogSelection } from '../src/catalog/filter/index.js';
import { allBundles, type Catalog } from '../src/catalog/model.js';
import { loadPackageManifests } from '../src/catalog/packagemanifest/index.js';
import { writeSyntheticCatalog } from '../test/catalog/synthetic.js';

export interface CatalogFilterBenchResult {
  bundles: number;
  loadMs: number;
  /** Per scenario: milliseconds and bundles kept. */
  filters: { name: string; ms: number; kept: number }[];
}

export async function runCatalogFilterBench(opts: { packages?: number; versions?: number } = {}): Promise<CatalogFilterBenchResult> {
  const packages = opts.packages ?? 500;
  const versions = opts.versions ?? 5;
  const dir = await mkdtemp(join(tmpdir(), 'olm-mirror-bench-filter-'));
  try {
    await writeSyntheticCatalog(join(dir, 'manifests'), packages, versions);
    let start = performance.now();
    const catalog = withDependencies(await loadPackageManifests(join(dir, 'manifests')));
    const loadMs = performance.now() - start;
    const scenarios: [string, CatalogSelection][] = [
      ['heads only, every package', {}],
      ['one package from a minVersion, dependencies through the catalog', { packages: [{ name: 'operator-0', minVersion: '1.1.0' }] }],
      ['every package with a version range', { packages: catalog.packages.map((p) => ({ name: p.name, minVersion: '1.1.0', maxVersion: '1.3.0' })) }],
      ['full, every package listed', { full: true, packages: catalog.packages.map((p) => ({ name: p.name })) }],
    ];
    const filters = scenarios.map(([name, selection]) => {
      start = performance.now();
      const result = filterCatalog(catalog, selection);
      return { name, ms: performance.now() - start, kept: allBundles(result.catalog).length };
    });
    return { bundles: allBundles(catalog).length, loadMs, filters };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** operator-N provides API OpN and its bundles require Op(N+1) and operator-N+2 >=1.0.0 <2.0.0 (when those exist). */
function withDependencies(catalog: Catalog): Catalog {
  const byName = new Map(catalog.packages.map((p) => [p.name, p]));
  const api = (n: number) => ({ group: 'bench.example.com', version: 'v1', kind: `Op${n}`, plural: `op${n}s` });
  return {
    packages: catalog.packages.map((pkg, i) => {
      return {
        ...pkg,
        bundles: pkg.bundles.map((b) => ({
          ...b,
          providedApis: [...b.providedApis, api(i)],
          requiredApis: byName.has(`operator-${i + 1}`) ? [api(i + 1)] : [],
          dependencies: byName.has(`operator-${i + 2}`) ? [{ type: 'olm.package', value: goJson({ packageName: `operator-${i + 2}`, version: '>=1.0.0 <2.0.0' }) }] : [],
        })),
      };
    }),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await runCatalogFilterBench();
  console.log(`catalog-filter: ${r.bundles} bundles, loaded in ${r.loadMs.toFixed(0)} ms`);
  for (const f of r.filters) console.log(`  ${f.name.padEnd(66)} ${f.ms.toFixed(0).padStart(5)} ms, ${f.kept} bundles kept`);
}
