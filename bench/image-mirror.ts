// Benchmark for `olm-mirror image mirror` against the usual alternative, a loop of `skopeo copy --all`,
// and against the floor for moving the same bytes (cp -r of the source registry's storage).
// Each tool mirrors into a fresh registry of its own, so every first run is a real first run, then runs
// again on its filled target. A last run copies one 1 GiB single-layer image and records olm-mirror's
// peak resident memory (VmHWM of the child process), which must not grow with the blob size.
//
// Environment: OLM_MIRROR_BENCH_IMAGES (image counts to compare, default 24,96), OLM_MIRROR_BENCH_LAYER_MIB (own layer size of each
// image, default 2), OLM_MIRROR_BENCH_BIG_MIB (the big image, default 1024; 0 skips that part).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestRegistry } from '../test/support/registry.js';
import { seedImage } from '../test/support/seed.js';
import { skopeoCopyAll } from '../test/support/skopeo.js';
import {
  cpu, envInt, fmt, measure, MiB, ratio, runOlmMirror, seedImages, table, verdict, withBenchEnvironment, writeMapping, type Measured,
} from './harness.js';
const TARGETS = { firstSpeedup: 2, rerunSpeedup: 5, peakRssMiB: 200 };

function skopeoLoop(source: TestRegistry, target: TestRegistry, repositories: string[]): Promise<Measured> {
  return measure([source, target], async () => {
    for (const r of repositories) await skopeoCopyAll(source, `${r}:v1`, target, `${r}:v1`);
  });
}

/** Image counts compared, from OLM_MIRROR_BENCH_IMAGES (comma-separated). */
function imageCounts(): number[] {
  const raw = process.env.OLM_MIRROR_BENCH_IMAGES ?? '24,96';
  const counts = raw.split(',').map((part) => Number(part.trim()));
  if (counts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`OLM_MIRROR_BENCH_IMAGES must be positive integers separated by commas, got "${raw}"`);
  return counts;
}

/** One comparison: the same N images mirrored by olm-mirror and by a skopeo loop, each into a fresh registry, then again. */
async function compareWithSkopeo(count: number, layerMiB: number, workDir: string, authFile: string, start: () => Promise<TestRegistry>)
  : Promise<void> {
  console.log(`\n${count} images (${layerMiB} MiB own layer each, 1.5 MiB shared base layers, every 4th two-platform)`);
  const source = await start();
  const repositories = await seedImages(source, count, layerMiB);

  const ours = await start();
  const mapping = writeMapping(workDir, source, ours, repositories);
  const olmMirror = () => runOlmMirror(['-f', mapping], authFile);
  const oursFirst = await measure([source, ours], olmMirror);
  const oursAgain = await measure([source, ours], olmMirror);

  const theirs = await start();
  const skopeoFirst = await skopeoLoop(source, theirs, repositories);
  const skopeoAgain = await skopeoLoop(source, theirs, repositories);

  const rawDir = join(workDir, `raw-copy-${count}`);
  const rawCopy = await measure([], () => promisify(execFile)('cp', ['-r', source.storageDir, rawDir]));

  console.log(table([
    ['', 'olm-mirror', 'skopeo loop', 'skopeo / olm-mirror', 'target'],
    ['first mirror', fmt(oursFirst.seconds), fmt(skopeoFirst.seconds), ratio(skopeoFirst.seconds, oursFirst.seconds),
      `>= ${TARGETS.firstSpeedup}x ${verdict(skopeoFirst.seconds / oursFirst.seconds >= TARGETS.firstSpeedup)}`],
    ['re-run (all present)', fmt(oursAgain.seconds), fmt(skopeoAgain.seconds), ratio(skopeoAgain.seconds, oursAgain.seconds),
      `>= ${TARGETS.rerunSpeedup}x ${verdict(skopeoAgain.seconds / oursAgain.seconds >= TARGETS.rerunSpeedup)}`],
    ['raw copy (cp -r storage)', fmt(rawCopy.seconds), '', `olm-mirror / raw: ${ratio(oursFirst.seconds, rawCopy.seconds)}`, ''],
  ]));
  // Wall times depend on what else the machine runs; CPU seconds show the work each approach costs.
  console.log(table([
    ['CPU (tool + registries)', 'olm-mirror', 'skopeo loop'],
    ['first mirror', cpu(oursFirst), cpu(skopeoFirst)],
    ['re-run (all present)', cpu(oursAgain), cpu(skopeoAgain)],
  ]));
}

export async function runImageMirrorBench(): Promise<void> {
  const counts = imageCounts();
  const layerMiB = envInt('OLM_MIRROR_BENCH_LAYER_MIB', 2);
  const bigMiB = envInt('OLM_MIRROR_BENCH_BIG_MIB', 1024);
  await withBenchEnvironment(async ({ workDir, authFile, startRegistry: start }) => {
    console.log('image mirror benchmark: olm-mirror against a `skopeo copy --all` loop over the same mapping and a raw copy of the bytes.');
    console.log('A small run shows the fixed costs (process start, connections); a catalog-sized run shows how each scales.');
    for (const count of counts) await compareWithSkopeo(count, layerMiB, workDir, authFile, start);

    if (bigMiB > 0) {
      const source = await start();
      await seedImage(source, 'bench/big', 'v1', { layerSizes: [bigMiB * MiB], seed: 'bench-big' });
      const bigTarget = await start();
      const big = await measure([source, bigTarget], () => runOlmMirror([`${source.host}/bench/big:v1`, `${bigTarget.host}/bench/big`], authFile));
      const peak = big.result.peakRssMiB;
      console.log(table([
        ['', 'seconds', 'throughput', 'peak RSS', 'target'],
        [`${bigMiB} MiB single-layer image`, fmt(big.seconds), `${(bigMiB / big.seconds).toFixed(0)} MiB/s`, `${peak.toFixed(0)} MiB`,
          `< ${TARGETS.peakRssMiB} MiB ${verdict(peak < TARGETS.peakRssMiB)}`],
      ]));
    }
  });
}
