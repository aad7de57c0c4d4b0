// `npm run bench`: every benchmark, one after the other (they share the machine, so never in parallel).
import { formatCatalogLoadBench, runCatalogLoadBench } from './catalog-load.js';
import { runCatalogFilterBench } from './catalog-filter.js';
import { runDiskMirrorBench } from './disk-mirror.js';
import { runSpeedBench } from './speed.js';

await runSpeedBench();
console.log();
await runDiskMirrorBench();
console.log();
console.log(formatCatalogLoadBench(await runCatalogLoadBench()));
console.log();
const filter = await runCatalogFilterBench();
console.log(`catalog filter benchmark: ${filter.bundles} bundles (loaded in ${filter.loadMs.toFixed(0)} ms): ` +
  filter.filters.map((f) => `${f.name} ${f.ms.toFixed(0)} ms`).join('; '));
