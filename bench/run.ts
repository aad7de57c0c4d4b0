// `npm run bench`: every benchmark, one after the other (they share the machine, so never in parallel).
import { runCatalogLoadBench } from './catalog-load.js';
import { runImageMirrorBench } from './image-mirror.js';

await runImageMirrorBench();
console.log();
const catalog = await runCatalogLoadBench();
console.log(`catalog load benchmark: ${catalog.packages} packages, ${catalog.bundles} bundles: ` +
  `load ${catalog.loadMs.toFixed(0)} ms, write SQLite ${catalog.writeMs.toFixed(0)} ms, ${catalog.bundlesPerSecond.toFixed(0)} bundles/s`);
