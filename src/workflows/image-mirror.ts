// `image mirror` as a library call: between registries, to a folder on disk (an OCI layout, optionally
// cut into archive segments to carry across an air gap) or from one. The mapping is the same in all
// three: on disk every image is kept under its source reference.
import type { Writable } from 'node:stream';
import { OlmMirrorError } from '../errors.js';
import { storedUnderSource, type Mapping } from '../mirror/mapping.js';
import { ProgressReporter, type ProgressStreams } from '../mirror/progress.js';
import { runMirror, type MirrorRunOptions, type MirrorRunOutcome } from '../mirror/run.js';
import { exportArchive, type ArchiveExportSummary } from '../transport/archive/export.js';
import { MirrorStores, openDiskDestination, openDiskSource } from '../transport/resolve.js';
import type { OciLayoutStore } from '../transport/oci-layout/store.js';
import type { StoreResolver } from '../transport/store.js';

export interface DiskOptions {
  /** Mirror into this folder (an OCI layout, created when missing) instead of the destinations. */
  toDir?: string;
  /** Read every source from this folder (a layout or archive segments) instead of its registry. */
  fromDir?: string;
  /** With toDir: also cut what this run added into tar segments of at most this many bytes. */
  archiveSize?: number;
}

export interface ImageMirrorOutcome extends MirrorRunOutcome {
  /** The segments written, with toDir and archiveSize. */
  archive?: ArchiveExportSummary;
}

export async function mirrorImages(registries: StoreResolver, mappings: readonly Mapping[], opts: MirrorRunOptions & DiskOptions,
  streams: ProgressStreams, reporter = new ProgressReporter(streams)): Promise<ImageMirrorOutcome> {
  return withDiskStores(registries, opts, (stores, layout) => mirrorImagesWith(stores, layout, mappings, opts, streams, reporter));
}

/** The mirror itself, with the stores already open (`layout`: the folder of opts.toDir). */
export async function mirrorImagesWith(stores: StoreResolver, layout: OciLayoutStore | undefined, mappings: readonly Mapping[],
  opts: MirrorRunOptions & DiskOptions, streams: ProgressStreams, reporter: ProgressReporter): Promise<ImageMirrorOutcome> {
  const work = opts.toDir === undefined ? [...mappings] : storedUnderSource(mappings);
  // Segments are a second copy of what the run adds to the layout.
  const diskSpace = opts.toDir === undefined ? undefined : { dir: opts.toDir, factor: opts.archiveSize === undefined ? 1 : 2 };
  const outcome: ImageMirrorOutcome = await runMirror(stores, work, { ...opts, diskSpace }, streams, reporter);
  if (layout !== undefined && opts.archiveSize !== undefined && outcome.result !== undefined) {
    await layout.commit();
    outcome.archive = await exportArchive(layout, opts.toDir!, { segmentSize: opts.archiveSize });
    describeArchive(outcome.archive, opts.toDir!, streams.stderr);
  }
  return outcome;
}

/** Opens the folders the options name, runs `work` with stores that use them, and closes them whatever happens. */
export async function withDiskStores<T>(registries: StoreResolver, opts: DiskOptions,
  work: (stores: StoreResolver, layout: OciLayoutStore | undefined) => Promise<T>): Promise<T> {
  if (opts.toDir !== undefined && opts.fromDir !== undefined) {
    throw new OlmMirrorError('usage', 'give either a folder to mirror to or one to mirror from, not both');
  }
  if (opts.archiveSize !== undefined && opts.toDir === undefined) {
    throw new OlmMirrorError('usage', 'an archive size applies only to a mirror to disk');
  }
  const source = opts.fromDir === undefined ? undefined : await openDiskSource(opts.fromDir);
  const layout = opts.toDir === undefined ? undefined : await openDiskDestination(opts.toDir);
  const stores = new MirrorStores(registries, { source, destination: layout });
  try {
    return await work(stores, layout);
  } finally {
    await stores.close();
  }
}

function describeArchive(summary: ArchiveExportSummary, dir: string, out: Writable): void {
  if (summary.segments.length === 0) {
    out.write(`info: archive ${dir}: nothing new to add, its segments already hold every blob\n`);
    return;
  }
  out.write(`info: archive ${dir}: wrote ${summary.segments.join(', ')} (${summary.blobs} blobs; ${summary.skippedBlobs} already in earlier segments); `
    + 'carry the new segments with archive.json, checksums.sha256 and, for a catalog, olm-mirror.json\n');
}
