// Writing a finished OCI layout as segments (format.ts): only blobs no earlier segment holds,
// each verified against its digest while it is copied.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { OlmMirrorError } from '../../errors.js';
import { DigestAccumulator } from '../../manifest/digest.js';
import { parseManifest } from '../../manifest/manifest.js';
import {
  blobRelativePath, INDEX_FILE, IO_CHUNK_BYTES, LAYOUT_FILE, layoutMarkerBytes, parseIndex, serializeIndex, writeAll, writeFileAtomically,
} from '../oci-layout/files.js';
import { EntryTable, nameOf } from '../oci-layout/lookup.js';
import type { OciLayoutStore } from '../oci-layout/store.js';
import { walkTree } from '../oci-layout/walk.js';
import {
  BLOCK, CHECKSUMS_FILE, emptyRecord, END_OF_ARCHIVE, MAX_ENTRY_BYTES, MIN_SEGMENT_BYTES, paddedSize, readRecord, RECORD_FILE,
  SEGMENT_RE, segmentName, serializeChecksums, serializeRecord, tarHeader, type ArchiveRecord, type Extent,
} from './format.js';

export interface ArchiveExportOptions {
  /** No segment file is larger than this (bytes; see parseArchiveSize). */
  segmentSize: number;
}

export interface ArchiveExportSummary {
  /** Segments this export wrote, in order. */
  segments: string[];
  /** Blobs written, and the bytes of their content. */
  blobs: number;
  bytes: number;
  /** Blobs earlier segments already hold. */
  skippedBlobs: number;
  /** Manifests earlier segments hold that this export carries again. */
  repeatedManifests: number;
}

/**
 * Appends the blobs of `layout` (everything its index entries reach) that `archiveDir` does not hold
 * yet as new segments, then rewrites archive.json and checksums.sha256. `archiveDir` may be the
 * layout's own folder.
 */
export async function exportArchive(layout: OciLayoutStore, archiveDir: string, opts: ArchiveExportOptions): Promise<ArchiveExportSummary> {
  if (!Number.isSafeInteger(opts.segmentSize) || opts.segmentSize < MIN_SEGMENT_BYTES) {
    throw new OlmMirrorError('usage', `archive segment size ${opts.segmentSize} is below the minimum of ${MIN_SEGMENT_BYTES} bytes`);
  }
  await layout.commit();
  await mkdir(archiveDir, { recursive: true });
  const record = await readRecord(archiveDir) ?? emptyRecord();
  await removeUnrecordedSegments(archiveDir, record);
  const exportNumber = Math.max(0, ...record.segments.map((s) => s.export)) + 1;
  const writer = new SegmentWriter(archiveDir, opts.segmentSize, record.segments.length + 1);
  const summary: ArchiveExportSummary = { segments: [], blobs: 0, bytes: 0, skippedBlobs: 0, repeatedManifests: 0 };

  let segments;
  try {
    await writeNewBlobs(layout, record, writer, summary);
    // The index as of now, entries of earlier exports kept unless replaced by name; also as a tar entry.
    const index = mergedIndex(record, layout, archiveDir);
    const unchanged = summary.blobs === 0 && index.equals(serializeIndex(parseIndex(Buffer.from(JSON.stringify(record.index)), RECORD_FILE)));
    if (unchanged) {
      // Nothing to carry (the repeated manifests aside): no segment, the record stays as it is.
      await writer.abort();
      await removeUnrecordedSegments(archiveDir, record);
      return { ...summary, skippedBlobs: summary.skippedBlobs + summary.repeatedManifests, repeatedManifests: 0 };
    }
    record.index = JSON.parse(index.toString('utf8')) as Record<string, unknown>;
    const marker = layoutMarkerBytes();
    await writer.add(LAYOUT_FILE, marker.length, oneChunk(marker));
    await writer.add(INDEX_FILE, index.length, oneChunk(index));
    segments = await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  for (const segment of segments) {
    record.segments.push({ ...segment, export: exportNumber });
    summary.segments.push(segment.file);
  }
  await writeFileAtomically(archiveDir, join(archiveDir, CHECKSUMS_FILE), serializeChecksums(record));
  await writeFileAtomically(archiveDir, join(archiveDir, RECORD_FILE), serializeRecord(record));
  return summary;
}

/** Every blob the layout's entries reach that the record does not list yet, appended and recorded. */
async function writeNewBlobs(layout: OciLayoutStore, record: ArchiveRecord, writer: SegmentWriter, summary: ArchiveExportSummary): Promise<void> {
  const seen = new Set<string>();
  for (const entry of layout.entries()) {
    await walkTree(entry, async (d, role) => {
      if (seen.has(d.digest)) return undefined;
      seen.add(d.digest);
      const path = join(layout.dir, blobRelativePath(d.digest));
      const present = await exists(path);
      if (record.blobs[d.digest] !== undefined && !(role === 'manifest' && present)) {
        summary.skippedBlobs++;
        // An archived tree is complete: when the layout no longer has its manifest, nothing below needs writing.
        if (!present) return undefined;
      } else if (record.blobs[d.digest] !== undefined) {
        // Manifests (kilobytes) travel with every export, so the new segments alone describe every image: a
        // target holding an earlier import then learns from them that it has the rest.
        const subject = `manifest ${d.digest} of ${nameOf(entry) ?? entry.digest}`;
        const earlier = record.blobs[d.digest]!;
        const extents = await writer.add(blobRelativePath(d.digest), d.size, verifiedFile(path, d.digest, d.size, subject));
        record.blobs[d.digest] = { size: d.size, extents, copies: [earlier.extents, ...(earlier.copies ?? [])] };
        summary.repeatedManifests++;
      } else if (d.urls !== undefined && !present) {
        return undefined; // a foreign layer that is not distributed with the image
      } else {
        const subject = `${role} ${d.digest} of ${nameOf(entry) ?? entry.digest}`;
        record.blobs[d.digest] = { size: d.size, extents: await writer.add(blobRelativePath(d.digest), d.size, verifiedFile(path, d.digest, d.size, subject)) };
        summary.blobs++;
        summary.bytes += d.size;
      }
      return role === 'manifest' ? parseManifest(await readFile(path), d.mediaType, d.digest) : undefined;
    });
  }
}

/** The layout's index over the record's: entries of earlier exports stay unless the layout has one of the same name. */
function mergedIndex(record: ArchiveRecord, layout: OciLayoutStore, archiveDir: string): Buffer {
  const previous = parseIndex(Buffer.from(JSON.stringify(record.index)), `archive ${archiveDir}: ${RECORD_FILE} index`);
  const current = parseIndex(layout.indexBytes(), `${layout.description}: ${INDEX_FILE}`);
  const table = new EntryTable([...previous.entries, ...current.entries], async () => []);
  return serializeIndex({ raw: current.raw, entries: table.entries() });
}

async function exists(path: string): Promise<boolean> {
  return open(path, 'r').then(async (h) => { await h.close(); return true; }, () => false);
}

async function* oneChunk(bytes: Buffer): AsyncGenerator<Buffer> {
  yield bytes;
}

/** The layout's blob file, failing (integrity) when it is not what its digest and size say: nothing unverified is archived. */
async function* verifiedFile(path: string, digest: string, size: number, subject: string): AsyncGenerator<Buffer> {
  const acc = new DigestAccumulator(digest);
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: IO_CHUNK_BYTES })) {
      acc.update(chunk as Buffer);
      yield chunk as Buffer;
    }
  } catch (err) {
    throw new OlmMirrorError((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'integrity' : 'transport', `archiving ${subject}: ${(err as Error).message}`, { cause: err });
  }
  const actual = acc.digest();
  if (actual !== digest || acc.bytes !== size) {
    throw new OlmMirrorError('integrity', `archiving ${subject}: the layout's ${path} holds ${acc.bytes} bytes hashing to ${actual}, not ${size} bytes of ${digest}; nothing was archived from it`);
  }
}

/** Segment files a killed export wrote but archive.json does not list: never part of the archive. */
async function removeUnrecordedSegments(dir: string, record: ArchiveRecord): Promise<void> {
  const listed = new Set(record.segments.map((s) => s.file));
  for (const name of await readdir(dir)) {
    if (SEGMENT_RE.test(name) && !listed.has(name)) await unlink(join(dir, name));
  }
}

/** Exactly `length` bytes at a time out of a chunk stream. */
class ChunkReader {
  private readonly iterator: AsyncIterator<Buffer>;
  private carry: Buffer | undefined;

  constructor(source: AsyncIterable<Buffer>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  async *take(length: number): AsyncGenerator<Buffer> {
    for (let remaining = length; remaining > 0;) {
      let chunk = this.carry;
      this.carry = undefined;
      if (chunk === undefined) {
        const next = await this.iterator.next();
        if (next.done) throw new OlmMirrorError('integrity', `content ended ${remaining} bytes early`);
        chunk = next.value;
      }
      if (chunk.length > remaining) {
        this.carry = chunk.subarray(remaining);
        chunk = chunk.subarray(0, remaining);
      }
      remaining -= chunk.length;
      yield chunk;
    }
  }

  /** Reads to the end (where the source checks itself); nothing may be left. */
  async end(): Promise<void> {
    if (this.carry !== undefined && this.carry.length > 0) throw new OlmMirrorError('integrity', 'content is longer than its size');
    for (;;) {
      const next = await this.iterator.next();
      if (next.done) return;
      if (next.value.length > 0) throw new OlmMirrorError('integrity', 'content is longer than its size');
    }
  }
}

/** Appends tar entries to numbered segment files, none of which grows beyond `segmentSize`. */
class SegmentWriter {
  /** `pending`: bytes counted in `used` and hashed, written to the file in batches of about IO_CHUNK_BYTES. */
  private current: { file: string; handle: FileHandle; used: number; hash: Hash; pending: Buffer[]; pendingBytes: number } | undefined;
  private readonly written: { file: string; size: number; sha256: string }[] = [];

  constructor(private readonly dir: string, private readonly segmentSize: number, private nextNumber: number) {}

  /** Room for entry data in the open segment after one more header of `headerBytes`. */
  private room(headerBytes: number): number {
    return Math.max(0, this.segmentSize - this.current!.used - END_OF_ARCHIVE - headerBytes);
  }

  /**
   * Writes `size` bytes from `source` under `path`: whole when it fits the open segment or a fresh one,
   * else split into parts filling each segment. Returns where the bytes are.
   */
  async add(path: string, size: number, source: AsyncIterable<Buffer>): Promise<Extent[]> {
    const reader = new ChunkReader(source);
    const extents: Extent[] = [];
    if (this.current === undefined) await this.startSegment();
    const header = tarHeader(path, size).length;
    const whole = paddedSize(size) <= this.segmentSize - END_OF_ARCHIVE - header && size <= MAX_ENTRY_BYTES;
    if (whole && paddedSize(size) > this.room(header)) await this.startSegment();
    if (whole) {
      extents.push(await this.writeEntry(path, size, reader));
    } else {
      for (let part = 1, left = size; left > 0; part++) {
        const name = `${path}.part-${String(part).padStart(6, '0')}`;
        const partHeader = tarHeader(name, 0).length;
        if (this.room(partHeader) < BLOCK) await this.startSegment();
        const length = Math.min(left, Math.floor(this.room(partHeader) / BLOCK) * BLOCK, MAX_ENTRY_BYTES);
        extents.push(await this.writeEntry(name, length, reader));
        left -= length;
      }
    }
    await reader.end();
    return extents;
  }

  private async writeEntry(name: string, length: number, reader: ChunkReader): Promise<Extent> {
    const segment = this.current!;
    await this.write(tarHeader(name, length));
    const offset = segment.used;
    for await (const chunk of reader.take(length)) await this.write(chunk);
    const padding = paddedSize(length) - length;
    if (padding > 0) await this.write(Buffer.alloc(padding));
    return { segment: segment.file, offset, length };
  }

  private async write(bytes: Buffer): Promise<void> {
    const segment = this.current!;
    segment.hash.update(bytes);
    segment.used += bytes.length;
    segment.pending.push(bytes);
    segment.pendingBytes += bytes.length;
    if (segment.pendingBytes >= IO_CHUNK_BYTES) await this.flush(segment);
  }

  private async flush(segment: NonNullable<SegmentWriter['current']>): Promise<void> {
    const { pending, pendingBytes } = segment;
    segment.pending = [];
    segment.pendingBytes = 0;
    if (pendingBytes > 0) await writeAll(segment.handle, pending, pendingBytes);
  }

  private async startSegment(): Promise<void> {
    await this.closeSegment();
    const file = segmentName(this.nextNumber++);
    this.current = { file, handle: await open(join(this.dir, file), 'w'), used: 0, hash: createHash('sha256'), pending: [], pendingBytes: 0 };
  }

  private async closeSegment(): Promise<void> {
    const segment = this.current;
    if (segment === undefined) return;
    this.current = undefined;
    try {
      segment.hash.update(Buffer.alloc(END_OF_ARCHIVE));
      segment.pending.push(Buffer.alloc(END_OF_ARCHIVE));
      segment.pendingBytes += END_OF_ARCHIVE;
      await this.flush(segment);
      await segment.handle.sync();
    } finally {
      await segment.handle.close();
    }
    this.written.push({ file: segment.file, size: segment.used + END_OF_ARCHIVE, sha256: segment.hash.digest('hex') });
  }

  /** After a failure: the open segment is closed; its file stays unlisted, and the next export removes it. */
  async abort(): Promise<void> {
    const segment = this.current;
    this.current = undefined;
    await segment?.handle.close().catch(() => undefined);
  }

  async finish(): Promise<{ file: string; size: number; sha256: string }[]> {
    await this.closeSegment();
    return this.written;
  }
}
