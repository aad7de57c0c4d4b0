// The speed benchmark of issue 11 ("Faster than a raw copy"): olm-mirror (the CLI as a child process,
// `image mirror -f mapping.txt --insecure`) against
// - a raw copy: plain GET/PUT, 8 workers, no checks, no mounts (raw-copy.ts), the floor for moving the bytes
//   (for the first mirror, the tiny images and the big layers);
//   for the big layers also the same raw copy hashing each blob, the floor for a copier that verifies, in this
//   process and in one of its own (started cold, as olm-mirror is);
// - skopeo: `skopeo copy --all --preserve-digests`, 6 images in parallel (skopeo -P6);
// - for the re-run, a raw re-check: the three requests per image that any careful re-run needs, sent by the
//   leanest client in a process of its own (raw-recheck.ts), the floor for telling a target is up to date;
// - bare `node -e 0` for `olm-mirror --help`.
// Cases: a first mirror of 100 images (4 layers of 256 KiB, 2 of them shared by all images, every 4th image a
// 3-platform manifest list) and its re-run onto the filled target; 2,000 tiny images (one 1 KiB layer each);
// 20 images x 2 layers x 32 MiB into a target registry whose storage is on tmpfs (/dev/shm); `--help`; and a
// 1 GiB single-layer image for olm-mirror's peak memory, which must not grow with the blob size.
//
// Every way copies into a fresh registry of its own, so every first run is a real first run. Each round runs
// every way of a case once, the order reversed every other round; the table shows the median seconds and
// the median (and range) of the per-round ratios, so that a disturbance hits both sides of a ratio alike.
// Peak RSS is olm-mirror's VmHWM, sampled every 20 ms (for --help a lower bound); CPU is user + system
// seconds of the tool and of the registries involved, medians.
//
// Environment (a count of 0 skips its case):
//   OLM_MIRROR_BENCH_IMAGES=100       images of the first mirror / re-run case
//   OLM_MIRROR_BENCH_PAIRS=5          rounds of the first mirror / re-run case and of the 32 MiB case (3 left
//                                     the first mirror's median at the mercy of one disturbed round)
//   OLM_MIRROR_BENCH_TINY=2000        tiny images
//   OLM_MIRROR_BENCH_TINY_PAIRS=1     rounds of the tiny case (a skopeo run of 2,000 images takes about 1.5 min)
//   OLM_MIRROR_BENCH_LARGE=20         images of the tmpfs case
//   OLM_MIRROR_BENCH_LARGE_MIB=32     size of each of their two layers
//   OLM_MIRROR_BENCH_HELP_PAIRS=20    rounds of --help against node -e 0
//   OLM_MIRROR_BENCH_BIG_MIB=1024     the single-layer image
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TestRegistry } from '../test/support/registry.js';
import { makeLayer, seedImage } from '../test/support/seed.js';
import { skopeoCopyAll } from '../test/support/skopeo.js';
import {
  envInt, measure, median, medianOf, MiB, olmMirrorMain, runNode, runOlmMirror, seedImageSet, table, verdict,
  withBenchEnvironment, writeMapping, type BenchEnvironment, type ChildRun, type ImageSet, type Measured,
} from './harness.js';
import { rawCopy } from './raw-copy.js';
import { repoRoot } from '../test/support/paths.js';
import { inParallel } from '../src/util/in-parallel.js';

const KiB = 1024;
const MB = 1e6;
const SKOPEO_PARALLEL = 6;
const rawRecheckMain = join(repoRoot, 'dist', 'bench', 'raw-recheck.js');
const rawCopyMain = join(repoRoot, 'dist', 'bench', 'raw-copy.js');
/** olm-mirror time / the other's, at most; peak RSS in MB (10^6 bytes), below. */
const TARGETS = { firstVsRaw: 0.9, rerunVsSkopeo: 0.08, tinyVsSkopeo: 0.35, largeVsRaw: 1.1, helpVsNode: 2.5, peakRssMB: 200 };

/** One timed run; olm-mirror's carry their peak resident memory. */
type Run = Measured & { peakRssMB?: number };

/** A line of the table: olm-mirror's runs against another way's, round by round. */
interface Row {
  label: string;
  against: string;
  ours: Run[];
  theirs: Run[];
  target?: number;
  /** e.g. throughput or time per image, from the medians. */
  note?: (ours: Measured, theirs?: Measured) => string;
}

/** Runs `work` into a registry of its own, stopped (its storage removed) right after. */
async function intoFresh(env: BenchEnvironment, storage: 'disk' | 'tmpfs', work: (target: TestRegistry) => Promise<Run>): Promise<Run> {
  const target = await env.startRegistry(storage);
  try {
    return await work(target);
  } finally {
    await target.stop();
  }
}

/** Runs the ways of one round, in order on even rounds and reversed on odd ones. */
async function alternate(round: number, ways: (() => Promise<void>)[]): Promise<void> {
  for (const way of round % 2 === 0 ? ways : [...ways].reverse()) await way();
}

function rounds(name: string, fallback: number): number {
  return Math.max(1, envInt(name, fallback));
}

/** The ratio of each round: `runs` against `others` of the same rounds. */
const roundRatios = (runs: Measured[], others: Measured[]): number[] => runs.map((run, i) => run.seconds / others[i]!.seconds);

/** The median of the per-round ratios, for a row's note (a floor's own ratio to the other way). */
const medianRatio = (runs: Measured[], others: Measured[]): string => median(roundRatios(runs, others)).toFixed(2);

/** An olm-mirror run with its peak memory in MB. */
const withPeak = (run: Measured & { result: ChildRun }): Run => ({ ...run, peakRssMB: (run.result.peakRssMiB * MiB) / MB });

/** The three copiers, each timed with the CPU of the registries it talks to. */
function copiers(env: BenchEnvironment) {
  return {
    olmMirror: async (source: TestRegistry, target: TestRegistry, repositories: string[]): Promise<Run> => {
      const mapping = writeMapping(env.workDir, source, target, repositories);
      return withPeak(await measure([source, target], () => runOlmMirror(['-f', mapping], env.authFile)));
    },
    raw: (source: TestRegistry, target: TestRegistry, repositories: string[]): Promise<Run> =>
      measure([source, target], () => rawCopy(source, target, repositories), true),
    rawHashing: (source: TestRegistry, target: TestRegistry, repositories: string[]): Promise<Run> =>
      measure([source, target], () => rawCopy(source, target, repositories, { hashing: true }), true),
    /** The hashing raw copy as a process of its own, as olm-mirror is. */
    rawHashingProcess: (source: TestRegistry, target: TestRegistry, repositories: string[]): Promise<Run> =>
      measure([source, target], () => runNode([rawCopyMain, '--hashing', source.url, target.url, ...repositories], env.authFile)),
    /** The floor of a re-run (raw-recheck.ts), a process of its own as olm-mirror is. */
    rawRecheck: (source: TestRegistry, target: TestRegistry, repositories: string[]): Promise<Run> =>
      measure([source, target], () => runNode([rawRecheckMain, source.url, target.url, 'v1', ...repositories], env.authFile)),
    skopeo: (source: TestRegistry, target: TestRegistry, repositories: string[]): Promise<Run> =>
      measure([source, target], () => inParallel(repositories, SKOPEO_PARALLEL, (r) => skopeoCopyAll(source, `${r}:v1`, target, `${r}:v1`))),
  };
}

/** First mirror against the raw copy (and skopeo), then the re-run of olm-mirror and skopeo onto their filled targets. */
async function firstAndRerun(env: BenchEnvironment, count: number, pairs: number): Promise<Row[]> {
  const set: ImageSet = {
    name: 'app', count,
    sharedLayers: [makeLayer('bench-shared-0', 256 * KiB), makeLayer('bench-shared-1', 256 * KiB)],
    layerSizes: [256 * KiB, 256 * KiB],
    listPlatforms: ['linux/amd64', 'linux/arm64', 'linux/ppc64le'],
  };
  const source = await env.startRegistry();
  const repositories = await seedImageSet(source, set);
  const copy = copiers(env);
  const first = { ours: [] as Run[], raw: [] as Run[], skopeo: [] as Run[] };
  const again = { ours: [] as Run[], skopeo: [] as Run[], recheck: [] as Run[] };
  for (let round = 0; round < pairs; round++) {
    const [ours, raw, theirs] = [await env.startRegistry(), await env.startRegistry(), await env.startRegistry()];
    await alternate(round, [
      async () => { first.ours.push(await copy.olmMirror(source, ours, repositories)); },
      async () => { first.raw.push(await copy.raw(source, raw, repositories)); },
      async () => { first.skopeo.push(await copy.skopeo(source, theirs, repositories)); },
    ]);
    await alternate(round, [
      async () => { again.ours.push(await copy.olmMirror(source, ours, repositories)); },
      async () => { again.skopeo.push(await copy.skopeo(source, theirs, repositories)); },
      async () => { again.recheck.push(await copy.rawRecheck(source, ours, repositories)); },
    ]);
    await Promise.all([ours, raw, theirs].map((r) => r.stop()));
  }
  await source.stop();
  const label = `first mirror, ${count} images`;
  return [
    { label, against: 'raw copy', ours: first.ours, theirs: first.raw, target: TARGETS.firstVsRaw },
    { label, against: `skopeo -P${SKOPEO_PARALLEL}`, ours: first.ours, theirs: first.skopeo },
    {
      label: 're-run onto the filled target', against: `skopeo -P${SKOPEO_PARALLEL}`, ours: again.ours, theirs: again.skopeo, target: TARGETS.rerunVsSkopeo,
      note: () => `the raw re-check's ratio: ${medianRatio(again.recheck, again.skopeo)}`,
    },
    { label: 're-run onto the filled target', against: 'raw re-check', ours: again.ours, theirs: again.recheck },
  ];
}

async function tinyImages(env: BenchEnvironment, count: number, pairs: number): Promise<Row[]> {
  const source = await env.startRegistry();
  const repositories = await seedImageSet(source, { name: 'tiny', count, sharedLayers: [], layerSizes: [KiB] });
  const copy = copiers(env);
  const ours: Run[] = [];
  const theirs: Run[] = [];
  const raw: Run[] = [];
  for (let round = 0; round < pairs; round++) {
    await alternate(round, [
      async () => { ours.push(await intoFresh(env, 'disk', (target) => copy.olmMirror(source, target, repositories))); },
      async () => { theirs.push(await intoFresh(env, 'disk', (target) => copy.skopeo(source, target, repositories))); },
      async () => { raw.push(await intoFresh(env, 'disk', (target) => copy.raw(source, target, repositories))); },
    ]);
  }
  await source.stop();
  const perImage = (m?: Measured) => (m ? `${((m.seconds / count) * 1000).toFixed(1)}` : '-');
  const label = `${count.toLocaleString('en')} tiny images, first mirror`;
  return [
    {
      label, against: `skopeo -P${SKOPEO_PARALLEL}`, ours, theirs, target: TARGETS.tinyVsSkopeo,
      note: (o, t) => `${perImage(o)} / ${perImage(t)} ms per image; the raw copy's ratio: ${medianRatio(raw, theirs)}`,
    },
    { label, against: 'raw copy', ours, theirs: raw, note: (o, t) => `${perImage(o)} / ${perImage(t)} ms per image` },
  ];
}

/** Big layers into a registry on tmpfs, so that the target's disk is not what is measured. */
async function largeLayers(env: BenchEnvironment, count: number, layerMiB: number, pairs: number): Promise<Row[]> {
  const source = await env.startRegistry();
  const repositories = await seedImageSet(source, { name: 'large', count, sharedLayers: [], layerSizes: [layerMiB * MiB, layerMiB * MiB] });
  const copy = copiers(env);
  const runs = { ours: [] as Run[], raw: [] as Run[], rawHashing: [] as Run[], rawHashingProcess: [] as Run[], skopeo: [] as Run[] };
  // Each target is stopped right after its run: only one copy sits in memory at a time.
  const intoTmpfs = (way: keyof typeof runs, copier: typeof copy.raw) => async () => {
    runs[way].push(await intoFresh(env, 'tmpfs', (target) => copier(source, target, repositories)));
  };
  for (let round = 0; round < pairs; round++) {
    await alternate(round, [
      intoTmpfs('ours', copy.olmMirror), intoTmpfs('raw', copy.raw), intoTmpfs('rawHashing', copy.rawHashing),
      intoTmpfs('rawHashingProcess', copy.rawHashingProcess), intoTmpfs('skopeo', copy.skopeo),
    ]);
  }
  await source.stop();
  const totalMiB = count * 2 * layerMiB;
  const throughput = (m?: Measured) => (m ? `${(totalMiB / m.seconds).toFixed(0)}` : '-');
  const note = (o: Measured, t?: Measured) => `${throughput(o)} / ${throughput(t)} MiB/s`;
  const label = `${count} images x 2 layers x ${layerMiB} MiB, target on tmpfs`;
  return [
    {
      label, against: 'raw copy', ours: runs.ours, theirs: runs.raw, target: TARGETS.largeVsRaw,
      note: (o, t) => `${note(o, t)}; the hashing raw copy's ratio: ${medianRatio(runs.rawHashing, runs.raw)}, in a process of its own: ${medianRatio(runs.rawHashingProcess, runs.raw)}`,
    },
    { label, against: 'raw copy, hashing', ours: runs.ours, theirs: runs.rawHashing, note },
    { label, against: 'raw copy, hashing, own process', ours: runs.ours, theirs: runs.rawHashingProcess, note },
    { label, against: `skopeo -P${SKOPEO_PARALLEL}`, ours: runs.ours, theirs: runs.skopeo, note },
  ];
}

async function help(env: BenchEnvironment, pairs: number): Promise<Row[]> {
  const ours: Run[] = [];
  const theirs: Run[] = [];
  for (let round = 0; round < pairs; round++) {
    await alternate(round, [
      async () => { ours.push(withPeak(await measure([], () => runNode([olmMirrorMain, '--help'], env.authFile)))); },
      async () => { theirs.push(await measure([], () => runNode(['-e', '0'], env.authFile))); },
    ]);
  }
  return [{ label: 'olm-mirror --help', against: 'node -e 0', ours, theirs, target: TARGETS.helpVsNode }];
}

/** One image of one big layer: olm-mirror's peak memory must not follow the blob size. */
async function singleLayer(env: BenchEnvironment, layerMiB: number): Promise<Row[]> {
  const source = await env.startRegistry();
  await seedImage(source, 'bench/big', 'v1', { layerSizes: [layerMiB * MiB], seed: 'bench-big' });
  const ours = await intoFresh(env, 'disk', (target) => copiers(env).olmMirror(source, target, ['bench/big']));
  await source.stop();
  return [{
    label: `${layerMiB} MiB single-layer image`, against: '', ours: [ours], theirs: [],
    note: (o) => `${(layerMiB / o.seconds).toFixed(0)} MiB/s`,
  }];
}

const seconds = (s: number) => (s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`);
const cpuOf = (m: Measured) => `${m.toolCpu.toFixed(2)} + ${m.registryCpu.toFixed(2)}`;
const peakOf = (runs: Run[]) => Math.max(...runs.map((r) => r.peakRssMB ?? 0));

function formatRows(rows: Row[]): string {
  const lines = [['case', 'olm-mirror', 'against', 'other', 'ratio', '(range)', 'target', '', 'peak RSS', 'CPU olm-mirror', 'CPU other', 'note']];
  for (const row of rows) {
    const ours = medianOf(row.ours);
    const theirs = row.theirs.length > 0 ? medianOf(row.theirs) : undefined;
    const ratios = theirs ? roundRatios(row.ours, row.theirs) : [];
    const ratio = ratios.length > 0 ? median(ratios) : undefined;
    lines.push([
      row.label, seconds(ours.seconds), row.against, theirs ? seconds(theirs.seconds) : '',
      ratio === undefined ? '' : ratio.toFixed(2),
      ratios.length > 1 ? `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}` : '',
      row.target === undefined ? '' : `<= ${row.target}`,
      row.target === undefined || ratio === undefined ? '' : verdict(ratio <= row.target),
      row.ours.some((r) => r.peakRssMB !== undefined) ? `${peakOf(row.ours).toFixed(0)} MB` : '',
      cpuOf(ours), theirs ? cpuOf(theirs) : '', row.note ? row.note(ours, theirs) : '',
    ]);
  }
  // Rows can share runs (one first mirror against two others): each run counts once.
  const peak = peakOf([...new Set(rows.flatMap((r) => r.ours))]);
  lines.push(['peak RSS, every olm-mirror run above', '', '', '', '', '', `< ${TARGETS.peakRssMB} MB`, verdict(peak < TARGETS.peakRssMB),
    `${peak.toFixed(0)} MB`, '', '', '']);
  return table(lines);
}

export async function runSpeedBench(): Promise<void> {
  const started = process.hrtime.bigint();
  const images = envInt('OLM_MIRROR_BENCH_IMAGES', 100);
  const tiny = envInt('OLM_MIRROR_BENCH_TINY', 2000);
  const large = envInt('OLM_MIRROR_BENCH_LARGE', 20);
  const largeMiB = envInt('OLM_MIRROR_BENCH_LARGE_MIB', 32);
  const bigMiB = envInt('OLM_MIRROR_BENCH_BIG_MIB', 1024);
  const pairs = rounds('OLM_MIRROR_BENCH_PAIRS', 5);
  const tinyPairs = rounds('OLM_MIRROR_BENCH_TINY_PAIRS', 1);
  const helpPairs = rounds('OLM_MIRROR_BENCH_HELP_PAIRS', 20);
  console.log('speed benchmark (issue 11): olm-mirror against a raw copy (GET/PUT, 8 workers, no checks, no mounts),');
  console.log(`skopeo copy --all --preserve-digests ${SKOPEO_PARALLEL} in parallel, and bare node; every way into a fresh registry.`);
  console.log(`Medians of ${pairs} rounds (tiny: ${tinyPairs}, --help: ${helpPairs}), the order reversed every other round; ratio = olm-mirror / other,`);
  console.log('the median of the per-round ratios. CPU: user + system seconds of the tool + of the registries (raw copy: in this process).');
  const elapsed = (since: bigint) => seconds(Number(process.hrtime.bigint() - since) / 1e9);
  // A line per case as it ends, so that a long run shows where it is and where the time goes.
  const timed = async (name: string, run: boolean, work: () => Promise<Row[]>): Promise<Row[]> => {
    if (!run) return [];
    const since = process.hrtime.bigint();
    const rows = await work();
    console.log(`  ${name}: ${elapsed(since)} with seeding`);
    return rows;
  };
  const rows = await withBenchEnvironment(async (env) => [
    ...await timed('first mirror and re-run', images > 0, () => firstAndRerun(env, images, pairs)),
    ...await timed('tiny images', tiny > 0, () => tinyImages(env, tiny, tinyPairs)),
    ...await timed('big layers on tmpfs', large > 0 && largeMiB > 0, () => largeLayers(env, large, largeMiB, pairs)),
    ...await timed('--help', true, () => help(env, helpPairs)),
    ...await timed('single layer', bigMiB > 0, () => singleLayer(env, bigMiB)),
  ]);
  console.log(formatRows(rows));
  console.log(`speed benchmark: ${elapsed(started)} in all`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runSpeedBench();
