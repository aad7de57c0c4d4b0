// Benchmark for the air-gap path: `olm-mirror image mirror --to-dir` then `--from-dir` against a direct
// registry-to-registry mirror of the same images, and against the same two legs done by a loop of
// `skopeo copy --all` through `oci:DIR:<source ref>`; also `--archive-size` segments, read back from a
// folder holding only them (as carried across). Every run writes into a fresh registry or folder.
// The images are those of the image mirror benchmark (harness.ts).
//
// Environment: OLM_MIRROR_BENCH_DISK_IMAGES (image count, default 48), OLM_MIRROR_BENCH_LAYER_MIB (own layer
// size of each image, default 2), OLM_MIRROR_BENCH_ARCHIVE_MIB (segment size, default 64).
import { mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CHECKSUMS_FILE, RECORD_FILE, SEGMENT_RE } from '../src/transport/archive/format.js';
import type { TestRegistry } from '../test/support/registry.js';
import { skopeoCopyAllFromLayout, skopeoCopyAllToLayout } from '../test/support/skopeo.js';
import {
  cpu, envInt, fmt, measure, MiB, ratio, runOlmMirror, seedImages, table, verdict, withBenchEnvironment, writeMapping,
  type ChildRun, type Measured,
} from './harness.js';

const TARGETS = { diskOverDirect: 1.3, skopeoSpeedup: 2 };

type OlmMirrorRun = Measured & { result: ChildRun };

/** Bytes of the files directly in `dir` (segments) or in its blobs/sha256 (a layout). */
function folderBytes(dir: string, names: (name: string) => boolean = () => true): number {
  return readdirSync(dir).filter(names).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}

/** Moves the segments and their record out of the layout they were cut from, as carrying them across would. */
function carrySegments(from: string, to: string): string[] {
  mkdirSync(to);
  const moved = readdirSync(from).filter((name) => SEGMENT_RE.test(name) || name === RECORD_FILE || name === CHECKSUMS_FILE);
  for (const name of moved) renameSync(join(from, name), join(to, name));
  return moved.filter((name) => SEGMENT_RE.test(name));
}

export async function runDiskMirrorBench(): Promise<void> {
  const count = envInt('OLM_MIRROR_BENCH_DISK_IMAGES', 48);
  const layerMiB = envInt('OLM_MIRROR_BENCH_LAYER_MIB', 2);
  const archiveMiB = envInt('OLM_MIRROR_BENCH_ARCHIVE_MIB', 64);
  await withBenchEnvironment(async ({ workDir, authFile, startRegistry }) => {
    console.log('disk mirror benchmark: to disk (--to-dir) and from disk (--from-dir) against a direct mirror and against');
    console.log('a `skopeo copy --all` loop through oci:DIR:<source ref>, on the same images; each run into a fresh registry or folder.');
    console.log(`${count} images (${layerMiB} MiB own layer each, 1.5 MiB shared base layers, every 4th two-platform)`);
    const source = await startRegistry();
    const repositories = await seedImages(source, count, layerMiB);
    const olmMirror = async (target: TestRegistry, args: string[], registries = [source, target]): Promise<OlmMirrorRun> => {
      const mapping = writeMapping(workDir, source, target, repositories);
      return measure(registries, () => runOlmMirror(['-f', mapping, ...args], authFile));
    };

    const directTarget = await startRegistry();
    const direct = await olmMirror(directTarget, []);
    const layoutDir = join(workDir, 'layout');
    // A mirror to disk ignores the mapping's destinations.
    const toDisk = await olmMirror(directTarget, ['--to-dir', layoutDir], [source]);
    const fromDiskTarget = await startRegistry();
    const fromDisk = await olmMirror(fromDiskTarget, ['--from-dir', layoutDir], [fromDiskTarget]);
    const layoutMiB = folderBytes(join(layoutDir, 'blobs', 'sha256')) / MiB;

    const skopeoDir = join(workDir, 'skopeo-layout');
    const skopeoTarget = await startRegistry();
    const nameOf = (repository: string) => `${source.host}/${repository}:v1`;
    // One image after the other, as the image mirror benchmark runs skopeo (and as skopeo's oci: writes
    // need: concurrent copies into one layout race on its index.json).
    const skopeoToDisk = await measure([source], async () => {
      for (const r of repositories) await skopeoCopyAllToLayout(source, `${r}:v1`, skopeoDir, nameOf(r));
    });
    const skopeoFromDisk = await measure([skopeoTarget], async () => {
      for (const r of repositories) await skopeoCopyAllFromLayout(skopeoDir, nameOf(r), skopeoTarget, `${r}:v1`);
    });

    const archiveLayout = join(workDir, 'archive-layout');
    const toArchive = await olmMirror(directTarget, ['--to-dir', archiveLayout, '--archive-size', `${archiveMiB}MiB`], [source]);
    const carried = join(workDir, 'carried');
    const segments = carrySegments(archiveLayout, carried);
    const segmentsMiB = folderBytes(carried, (name) => SEGMENT_RE.test(name)) / MiB;
    const archiveTarget = await startRegistry();
    const fromArchive = await olmMirror(archiveTarget, ['--from-dir', carried], [archiveTarget]);

    const diskSum = toDisk.seconds + fromDisk.seconds;
    const rss = (run: OlmMirrorRun) => `${run.result.peakRssMiB.toFixed(0)} MiB`;
    const skopeoRatio = (theirs: Measured, ours: Measured) => {
      const r = theirs.seconds / ours.seconds;
      return [ratio(theirs.seconds, ours.seconds), `>= ${TARGETS.skopeoSpeedup}x ${verdict(r >= TARGETS.skopeoSpeedup)}`];
    };
    console.log(`layout: ${layoutMiB.toFixed(1)} MiB of blobs; archive: ${segments.length} segments of at most ${archiveMiB} MiB, ${segmentsMiB.toFixed(1)} MiB`);
    console.log(table([
      ['', 'olm-mirror', 'peak RSS', 'skopeo loop', 'skopeo / olm-mirror', 'target'],
      ['direct (registry to registry)', fmt(direct.seconds), rss(direct), '', '', ''],
      ['to disk (--to-dir)', fmt(toDisk.seconds), rss(toDisk), fmt(skopeoToDisk.seconds), ...skopeoRatio(skopeoToDisk, toDisk)],
      ['from disk (--from-dir)', fmt(fromDisk.seconds), rss(fromDisk), fmt(skopeoFromDisk.seconds), ...skopeoRatio(skopeoFromDisk, fromDisk)],
      ['to + from disk', fmt(diskSum), '', fmt(skopeoToDisk.seconds + skopeoFromDisk.seconds), ratio(skopeoToDisk.seconds + skopeoFromDisk.seconds, diskSum),
        `${ratio(diskSum, direct.seconds)} of direct, <= ${TARGETS.diskOverDirect}x ${verdict(diskSum <= TARGETS.diskOverDirect * direct.seconds)}`],
      [`to disk, --archive-size ${archiveMiB}MiB`, fmt(toArchive.seconds), rss(toArchive), '', '', ''],
      ['from the segments alone', fmt(fromArchive.seconds), rss(fromArchive), '', '', ''],
      ['archive to + from', fmt(toArchive.seconds + fromArchive.seconds), '', '', '', `${ratio(toArchive.seconds + fromArchive.seconds, direct.seconds)} of direct`],
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
