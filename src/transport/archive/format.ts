// Segmented archives of an OCI layout (`--archive-size SIZE`): the on-disk format.
//
// An archive folder holds
//   mirror_000001.tar, mirror_000002.tar, …  numbered segments, each a plain POSIX tar file (ustar; a
//                                            pax `path` record for names over 100 bytes, i.e. sha512
//                                            blobs) of at most SIZE bytes, end-of-archive blocks included;
//   archive.json                             the record: every segment (size, sha256, the export that
//                                            wrote it), where each blob's bytes are, the layout's index;
//   checksums.sha256                         `sha256sum -c` input for every segment.
// Tar entries are layout paths: `blobs/sha256/<hex>` for a blob that fits in one segment; a blob larger
// than what is left is split into `blobs/sha256/<hex>.part-000001`, `.part-000002`, … in consecutive
// segments (concatenated they are the blob). The last segment of each export also carries `oci-layout`
// and that export's `index.json`, so untarring every segment (and joining any parts) gives the layout.
// olm-mirror itself never untars: archive.json gives each blob's byte ranges and the reader streams
// them straight out of the segments, verifying the digest as it goes.
//
// Incremental: a later export into the same folder appends segments holding only blobs that no earlier
// segment holds and rewrites archive.json and checksums.sha256 (cumulative). Carrying only the new
// segments and the new archive.json to a target that imported the earlier ones is enough.
// A killed export leaves segments archive.json does not list; the next export removes them.
import { join } from 'node:path';
import { OlmMirrorError } from '../../errors.js';
import { isPlainObject } from '../../util/guards.js';
import { readJsonFile } from '../../util/json-file.js';
import { parseSize } from '../../util/size.js';

export const RECORD_FILE = 'archive.json';
export const CHECKSUMS_FILE = 'checksums.sha256';
export const RECORD_FORMAT = 'olm-mirror-archive/v1';
export const SEGMENT_RE = /^mirror_(\d{6})\.tar$/;

export function segmentName(number: number): string {
  return `mirror_${String(number).padStart(6, '0')}.tar`;
}

/** Where a blob's bytes (or one part of them) are: `length` bytes from `offset` in `segment`. */
export interface Extent { segment: string; offset: number; length: number }

export interface SegmentRecord { file: string; size: number; sha256: string; export: number }

export interface ArchiveRecord {
  format: typeof RECORD_FORMAT;
  segments: SegmentRecord[];
  /** Digest -> size and extents, in order; `copies`: where earlier exports put the same bytes (manifests travel with each). */
  blobs: Record<string, { size: number; extents: Extent[]; copies?: Extent[][] }>;
  /** The layout's index.json as of the last export (earlier exports' entries included). */
  index: Record<string, unknown>;
}

export function emptyRecord(): ArchiveRecord {
  return { format: RECORD_FORMAT, segments: [], blobs: {}, index: { schemaVersion: 2, manifests: [] } };
}

/** The record in `dir`, or undefined when there is none yet. */
export async function readRecord(dir: string): Promise<ArchiveRecord | undefined> {
  const json = await readJsonFile(join(dir, RECORD_FILE), `archive ${dir}: ${RECORD_FILE}`);
  if (json === undefined) return undefined;
  const fail = (what: string): never => { throw new OlmMirrorError('input', `archive ${dir}: ${RECORD_FILE}: ${what}`); };
  if (!isPlainObject(json) || json.format !== RECORD_FORMAT) fail(`not an ${RECORD_FORMAT} record`);
  const record = json as unknown as ArchiveRecord;
  if (!Array.isArray(record.segments) || !isPlainObject(record.blobs) || !isPlainObject(record.index)) fail('segments, blobs or index missing');
  for (const segment of record.segments) {
    if (!isPlainObject(segment) || typeof segment.file !== 'string' || !SEGMENT_RE.test(segment.file) || typeof segment.size !== 'number') {
      fail(`segment entry ${JSON.stringify(segment)} is not valid`);
    }
  }
  return record;
}

export function serializeRecord(record: ArchiveRecord): Buffer {
  return Buffer.from(`${JSON.stringify(record, null, 1)}\n`);
}

export function serializeChecksums(record: ArchiveRecord): Buffer {
  return Buffer.from(record.segments.map((s) => `${s.sha256}  ${s.file}\n`).join(''));
}

export const BLOCK = 512;
/** Two zero blocks end a tar file. */
export const END_OF_ARCHIVE = 2 * BLOCK;
/** ustar's 11 octal digits of size. */
export const MAX_ENTRY_BYTES = 8 ** 11 - 1 - (8 ** 11 - 1) % BLOCK;
/** The smallest segment that holds the longest header (pax entry, its records, ustar: 3 blocks), a data block and the end blocks. */
export const MIN_SEGMENT_BYTES = 8 * BLOCK;

export function paddedSize(length: number): number {
  return Math.ceil(length / BLOCK) * BLOCK;
}

/** One ustar header block for a regular file or a pax record set (mode 0644, owner 0, mtime 0). */
function ustarBlock(name: string, size: number, type: '0' | 'x'): Buffer {
  const head = Buffer.alloc(BLOCK);
  const field = (offset: number, length: number, value: string): void => { head.write(value.padEnd(length, '\0'), offset, length, 'ascii'); };
  field(0, 100, name);
  field(100, 8, '0000644');
  field(108, 8, '0000000');
  field(116, 8, '0000000');
  field(124, 12, size.toString(8).padStart(11, '0'));
  field(136, 12, '00000000000');
  field(148, 8, '        ');
  field(156, 1, type);
  field(257, 8, 'ustar\u000000');
  const checksum = head.reduce((sum, byte) => sum + byte, 0);
  field(148, 8, `${checksum.toString(8).padStart(6, '0')}\0 `);
  return head;
}

/**
 * The header of a regular file entry, so that the bytes depend only on name and size. A name longer
 * than ustar's 100 bytes (`blobs/sha512/<128 hex>`) goes into a pax `path` record before it.
 */
export function tarHeader(name: string, size: number): Buffer {
  if (Buffer.byteLength(name) <= 100) return ustarBlock(name, size, '0');
  const body = ` path=${name}\n`;
  let length = body.length + 2;
  while (`${length}${body}`.length !== length) length++; // the record's length counts its own digits
  const record = Buffer.from(`${length}${body}`, 'ascii');
  const padded = Buffer.alloc(paddedSize(record.length));
  record.copy(padded);
  return Buffer.concat([ustarBlock('PaxHeader', record.length, 'x'), padded, ustarBlock(name.slice(0, 100), size, '0')]);
}

/**
 * `4GiB`, `700MiB`, `1.5G`, `100M`, `65536`: binary units (K, M, G, T with or without `iB`/`B` mean
 * powers of 1024, as oc-mirror's archiveSize in GiB does); the result is a whole number of bytes.
 */
export function parseArchiveSize(text: string): number {
  const bytes = parseSize(text);
  if (bytes === undefined) {
    throw new OlmMirrorError('usage', `archive size "${text}" is not a size such as 4GiB, 700MiB or 1048576`);
  }
  if (bytes < MIN_SEGMENT_BYTES) throw new OlmMirrorError('usage', `archive size "${text}" is below the minimum of ${MIN_SEGMENT_BYTES} bytes`);
  return bytes;
}
