// Benchmark for the air-gap path: `olm-mirror image mirror --to-dir` then `--from-dir` against a direct
// registry-to-registry mirror of the same images, and against the same two legs done by a loop of
// `skopeo copy --all` through `oci:DIR:<source ref>`; also `--archive-size` segments, read back from a
// folder holding only them (as carried across). Every run writes into a fresh registry or folder.
// The images are harness.ts's seedImages set.
//
// Every way runs once per round (the order reversed every other round); the tables show medians, and the
// target's ratio is the median (and range) of the per-round ratios, as in speed.ts: a disturbance of the
// machine during one round hits both sides of that round's ratio alike.
//
// Environment: OLM_MIRROR_BENCH_DISK_IMAGES (image count, default 48), OLM_MIRROR_BENCH_LAYER_MIB (own layer
// size of each image, default 2), OLM_MIRROR_BENCH_ARCHIVE_MIB (segment size, default 64),
// OLM_MIRROR_BENCH_DISK_ROUNDS (default 5).
import { mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CHECKSUMS_FILE, RECORD_FILE, SEGMENT_RE } from '../src/transport/archive/format.js';
import type { TestRegistry } from '../test/support/registry.js';
import { skopeoCopyAllFromLayout, skopeoCopyAllToLayout } from '../test/support/skopeo.js';
import {
  cpu, envInt, fmt, measure, median, medianOf, MiB, ratio, runOlmMirror, seedImages, table, verdict, withBenchEnvironment, writeMapping,
  type ChildRun, type Measured,
} from './harness.js';

const TARGETS = { diskOverDirect: 1.3, skopeoSpeedup: 2 };

/** Bytes of the files directly in `dir` (segments) or in its blobs/sha256 (a layout). */
function folderBytes(dir: string, names: (name: string) => boolean = () => true): number {
  return readdirSync(dir).filter(names).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}

/** Moves the segments and their record out of the layout they were cut from, as carrying them across would. */
function carrySegments(from: string, to: string): string[] {
  mkdirSync(to, { recursive: true });
  const moved = readdirSync(from).filter((name) => SEGMENT_RE.test(name) || name === RECORD_FILE || name === CHECKSUMS_FILE);
  for (const name of moved) renameSync(join(from, name), join(to, name));
  return moved.filter((name) => SEGMENT_RE.test(name));
}

/** One timing of each way; `Run` also carries olm-mirror's peak memory. */
interface Round {
  direct: Run; toDisk: Run; fromDisk: Run; skopeoToDisk: Measured; skopeoFromDisk: Measured; toArchive: Run; fromArchive: Run;
  layoutMiB: number; segments: number; segmentsMiB: number;
}
type Run = Measured & { result: ChildRun };

/** The median of each figure over the rounds (peak memory: the highest, 0 for skopeo), so one disturbed run does not decide. */
function medianRun(runs: (Measured & { result?: ChildRun | void })[]): Run {
  const peak = Math.max(...runs.map((r) => r.result?.peakRssMiB ?? 0));
  return { ...medianOf(runs), result: { peakRssMiB: peak, stderr: '' } };
}

export async function runDiskMirrorBench(): Promise<void> {
  const count = envInt('OLM_MIRROR_BENCH_DISK_IMAGES', 48);
  const layerMiB = envInt('OLM_MIRROR_BENCH_LAYER_MIB', 2);
  const archiveMiB = envInt('OLM_MIRROR_BENCH_ARCHIVE_MIB', 64);
  const rounds = Math.max(1, envInt('OLM_MIRROR_BENCH_DISK_ROUNDS', 5));
  await withBenchEnvironment(async ({ workDir, authFile, startRegistry }) => {
    console.log('disk mirror benchmark: to disk (--to-dir) and from disk (--from-dir) against a direct mirror and against');
    console.log('a `skopeo copy --all` loop through oci:DIR:<source ref>, on the same images; each run into a fresh registry or folder.');
    console.log(`${count} images (${layerMiB} MiB own layer each, 1.5 MiB shared base layers, every 4th two-platform); ` +
      `median of ${rounds} rounds, the order of the ways reversed every other round`);
    const source = await startRegistry();
    const repositories = await seedImages(source, count, layerMiB);
    const olmMirror = async (target: TestRegistry, args: string[], registries = [source, target]): Promise<Run> => {
      const mapping = writeMapping(workDir, source, target, repositories);
      return measure(registries, () => runOlmMirror(['-f', mapping, ...args], authFile));
    };
    const nameOf = (repository: string) => `${source.host}/${repository}:v1`;

    const round = async (n: number): Promise<Round> => {
      const dir = join(workDir, `round-${n}`);
      const layoutDir = join(dir, 'layout');
      const skopeoDir = join(dir, 'skopeo-layout');
      const archiveLayout = join(dir, 'archive-layout');
      const carried = join(dir, 'carried');
      const r: Partial<Round> = {};
      const ways = [
        async () => { r.direct = await olmMirror(await startRegistry(), []); },
        async () => {
          // A mirror to disk ignores the mapping's destinations (they only need to differ from the sources).
          r.toDisk = await olmMirror(await startRegistry(), ['--to-dir', layoutDir], [source]);
          const target = await startRegistry();
          r.fromDisk = await olmMirror(target, ['--from-dir', layoutDir], [target]);
          r.layoutMiB = folderBytes(join(layoutDir, 'blobs', 'sha256')) / MiB;
        },
        async () => {
          // One image after the other: concurrent skopeo copies into one layout race on its index.json.
          r.skopeoToDisk = await measure([source], async () => {
            for (const repo of repositories) await skopeoCopyAllToLayout(source, `${repo}:v1`, skopeoDir, nameOf(repo));
          });
          const target = await startRegistry();
          r.skopeoFromDisk = await measure([target], async () => {
            for (const repo of repositories) await skopeoCopyAllFromLayout(skopeoDir, nameOf(repo), target, `${repo}:v1`);
          });
        },
        async () => {
          r.toArchive = await olmMirror(await startRegistry(), ['--to-dir', archiveLayout, '--archive-size', `${archiveMiB}MiB`], [source]);
          const segments = carrySegments(archiveLayout, carried);
          r.segments = segments.length;
          r.segmentsMiB = folderBytes(carried, (name) => SEGMENT_RE.test(name)) / MiB;
          const target = await startRegistry();
          r.fromArchive = await olmMirror(target, ['--from-dir', carried], [target]);
        },
      ];
      for (const way of n % 2 === 0 ? ways : ways.reverse()) await way();
      return r as Round;
    };
    const all: Round[] = [];
    for (let n = 0; n < rounds; n++) all.push(await round(n));
    const [direct, toDisk, fromDisk, toArchive, fromArchive, skopeoToDisk, skopeoFromDisk] = ([
      'direct', 'toDisk', 'fromDisk', 'toArchive', 'fromArchive', 'skopeoToDisk', 'skopeoFromDisk',
    ] as const).map((key) => medianRun(all.map((r) => r[key])));
    const { layoutMiB, segments, segmentsMiB } = all[0]!;

    const diskSum = toDisk.seconds + fromDisk.seconds;
    const perRound = all.map((r) => (r.toDisk.seconds + r.fromDisk.seconds) / r.direct.seconds);
    const diskRatio = median(perRound);
    const rss = (run: Run) => `${run.result.peakRssMiB.toFixed(0)} MiB`;
    const skopeoRatio = (theirs: Measured, ours: Measured) => {
      const r = theirs.seconds / ours.seconds;
      return [ratio(theirs.seconds, ours.seconds), `>= ${TARGETS.skopeoSpeedup}x ${verdict(r >= TARGETS.skopeoSpeedup)}`];
    };
    const range = (key: keyof Round) => {
      const seconds = all.map((r) => (r[key] as Measured).seconds);
      return `${Math.min(...seconds).toFixed(2)}-${Math.max(...seconds).toFixed(2)}`;
    };
    console.log(`layout: ${layoutMiB.toFixed(1)} MiB of blobs; archive: ${segments} segments of at most ${archiveMiB} MiB, ${segmentsMiB.toFixed(1)} MiB`);
    console.log(table([
      ['', 'olm-mirror', '(range)', 'peak RSS', 'skopeo loop', '(range)', 'skopeo / olm-mirror', 'target'],
      ['direct (registry to registry)', fmt(direct.seconds), range('direct'), rss(direct), '', '', '', ''],
      ['to disk (--to-dir)', fmt(toDisk.seconds), range('toDisk'), rss(toDisk), fmt(skopeoToDisk.seconds), range('skopeoToDisk'),
        ...skopeoRatio(skopeoToDisk, toDisk)],
      ['from disk (--from-dir)', fmt(fromDisk.seconds), range('fromDisk'), rss(fromDisk), fmt(skopeoFromDisk.seconds), range('skopeoFromDisk'),
        ...skopeoRatio(skopeoFromDisk, fromDisk)],
      ['to + from disk', fmt(diskSum), '', '', fmt(skopeoToDisk.seconds + skopeoFromDisk.seconds), '',
        ratio(skopeoToDisk.seconds + skopeoFromDisk.seconds, diskSum),
        `${diskRatio.toFixed(2)}x of direct (${Math.min(...perRound).toFixed(2)}-${Math.max(...perRound).toFixed(2)}), ` +
          `<= ${TARGETS.diskOverDirect}x ${verdict(diskRatio <= TARGETS.diskOverDirect)}`],
      [`to disk, --archive-size ${archiveMiB}MiB`, fmt(toArchive.seconds), range('toArchive'), rss(toArchive), '', '', '', ''],
      ['from the segments alone', fmt(fromArchive.seconds), range('fromArchive'), rss(fromArchive), '', '', '', ''],
      ['archive to + from', fmt(toArchive.seconds + fromArchive.seconds), '', '', '', '', '',
        `${ratio(toArchive.seconds + fromArchive.seconds, direct.seconds)} of direct`],
    ]));
    // Wall times depend on what else the machine runs; CPU seconds show the work each approach costs.
    console.log(table([
      ['CPU (tool + registries)', 'olm-mirror', 'skopeo loop'],
      ['direct', cpu(direct), ''],
      ['to disk', cpu(toDisk), cpu(skopeoToDisk)],
      ['from disk', cpu(fromDisk), cpu(skopeoFromDisk)],
      ['to disk, archive', cpu(toArchive), ''],
      ['from the segments', cpu(fromArchive), ''],
    ]));
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runDiskMirrorBench();
