// `npm run bench`: every benchmark, one after the other (they share the machine, so never in parallel).
import { formatCatalogLoadBench, runCatalogLoadBench } from './catalog-load.js';
import { runImageMirrorBench } from './image-mirror.js';

await runImageMirrorBench();
console.log();
console.log(formatCatalogLoadBench(await runCatalogLoadBench()));
