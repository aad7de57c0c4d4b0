// A segmented archive (format.ts) as a read-only image store: images and blobs are streamed straight
// out of the segments by the byte ranges archive.json records, every blob verified while it streams.
// A segment that is missing, or whose bytes do not verify, is an error naming the segment and the blob;
// `segmentsOf` lets a caller map it to the images it affects, and the other images still read.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NotFoundError, OlmMirrorError } from '../../errors.js';
import { createDigestVerifier, parseDigest } from '../../manifest/digest.js';
import { parseManifest, type Descriptor } from '../../manifest/manifest.js';
import { isIndexMediaType } from '../../manifest/media-types.js';
import { formatReference, type ImageReference } from '../../reference/reference.js';
import { IO_CHUNK_BYTES, parseIndex } from '../oci-layout/files.js';
import { EntryTable, nameOf } from '../oci-layout/lookup.js';
import { walkTree } from '../oci-layout/walk.js';
import type { ImageStore, LookupOptions, ManifestHead, RepositoryRef, StoredManifest } from '../store.js';
import { readRecord, RECORD_FILE, type ArchiveRecord, type Extent } from './format.js';

/** A blob whose segment is not in the archive folder (not carried over, or deleted). */
export class MissingSegmentError extends OlmMirrorError {
  constructor(readonly segment: string, readonly digest: string, dir: string) {
    super('not-found', `blob ${digest} is in archive segment ${segment}, which is missing from ${dir}`);
  }
}

const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;

export class ArchiveStore implements ImageStore {
  readonly id: string;
  readonly description: string;
  readonly sharedBlobs = true;
  readonly local = true;
  private readonly table: EntryTable;
  private readonly childrenCache = new Map<string, readonly Descriptor[]>();

  private constructor(readonly dir: string, private readonly record: ArchiveRecord, private readonly present: ReadonlySet<string>) {
    this.id = `archive ${dir}`;
    this.description = `archive ${dir}`;
    const index = parseIndex(Buffer.from(JSON.stringify(record.index)), `${this.description}: ${RECORD_FILE} index`);
    this.table = new EntryTable(index.entries, (d) => this.childrenOf(d));
  }

  /** Opens the archive in `dir`; segments listed but absent are noted, not fatal (an incremental import carries only new ones). */
  static async open(dir: string): Promise<ArchiveStore> {
    const root = resolve(dir);
    const record = await readRecord(root);
    if (record === undefined) throw new OlmMirrorError('usage', `${root} is not an olm-mirror archive (it has no ${RECORD_FILE})`);
    const present = new Set<string>();
    for (const segment of record.segments) {
      if (await stat(join(root, segment.file)).then(() => true, () => false)) present.add(segment.file);
    }
    return new ArchiveStore(root, record, present);
  }

  /** Segments archive.json lists that the folder lacks. */
  missingSegments(): string[] {
    return this.record.segments.map((s) => s.file).filter((f) => !this.present.has(f));
  }

  /** The segments holding a blob's bytes (empty when the archive has no such blob). */
  segmentsOf(digest: string): string[] {
    return [...new Set(this.extentsOf(digest)?.map((e) => e.segment) ?? [])];
  }

  /**
   * The names of the images (index entries) whose content lies partly in `segment`: what a damaged or
   * missing segment costs. An entry whose own manifest cannot be read there counts as affected.
   */
  async imagesIn(segment: string): Promise<string[]> {
    const affected: string[] = [];
    for (const { descriptor: entry } of this.table.entries()) {
      let hit = false;
      await walkTree(entry, async (d, role) => {
        if (this.segmentsOf(d.digest).includes(segment)) hit = true;
        if (hit || role !== 'manifest' || !this.readable(d.digest)) return undefined;
        try {
          return parseManifest(await this.readSmallBlob(d.digest), d.mediaType, d.digest);
        } catch {
          hit = true; // its manifest does not read: the image is lost with whatever else is damaged
          return undefined;
        }
      });
      if (hit) affected.push(nameOf(entry) ?? entry.digest);
    }
    return affected;
  }

  /**
   * Each present segment checked against its sha256 in archive.json (what `sha256sum -c checksums.sha256`
   * does), for a verify command: the problems found, an empty list when every present segment is intact.
   */
  async checkSegments(): Promise<{ segment: string; message: string }[]> {
    const problems: { segment: string; message: string }[] = [];
    for (const segment of this.record.segments) {
      if (!this.present.has(segment.file)) {
        problems.push({ segment: segment.file, message: `${segment.file}: missing` });
        continue;
      }
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of createReadStream(join(this.dir, segment.file))) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      const actual = hash.digest('hex');
      if (size !== segment.size || actual !== segment.sha256) {
        problems.push({ segment: segment.file, message: `${segment.file}: ${size} bytes with sha256 ${actual}, expected ${segment.size} bytes with sha256 ${segment.sha256}` });
      }
    }
    return problems;
  }

  async getManifest(ref: ImageReference): Promise<StoredManifest> {
    const descriptor = await this.table.find(ref, false);
    if (descriptor === undefined) throw new NotFoundError(`image ${formatReference(ref)} not found in ${this.description}`);
    const bytes = await this.readSmallBlob(descriptor.digest);
    return { mediaType: descriptor.mediaType, digest: descriptor.digest, bytes };
  }

  async headManifest(ref: ImageReference, opts?: LookupOptions): Promise<ManifestHead | undefined> {
    const descriptor = await this.table.find(ref, opts?.forPush === true);
    if (descriptor === undefined || !this.readable(descriptor.digest)) return undefined;
    return { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size };
  }

  /** The size of a blob whose segments are all here; undefined otherwise. */
  async listTags(repo: RepositoryRef): Promise<string[]> {
    return this.table.tags(repo);
  }

  async blobSize(_repo: RepositoryRef, digest: string): Promise<number | undefined> {
    return this.readable(digest) ? this.record.blobs[digest]!.size : undefined;
  }

  async getBlob(_repo: RepositoryRef, digest: string, opts?: { size?: number }): Promise<Readable> {
    parseDigest(digest);
    const blob = this.record.blobs[digest];
    if (blob === undefined) throw new NotFoundError(`blob ${digest} not found in ${this.description}`);
    const extents = this.extentsOf(digest)!;
    const missing = extents.find((e) => !this.present.has(e.segment));
    if (missing) throw new MissingSegmentError(missing.segment, digest, this.dir);
    const segments = this.segmentsOf(digest).join(', ');
    const verifier = createDigestVerifier(digest, opts?.size ?? blob.size, `blob ${digest} read from archive segment ${segments} of ${this.dir}`);
    pipeline(Readable.from(this.extentChunks(extents)), verifier).catch(() => undefined); // errors reach the reader through the verifier
    return verifier;
  }

  putManifest(ref: ImageReference): Promise<string> {
    return Promise.reject(this.readOnly(`storing manifest ${formatReference(ref)}`));
  }

  pushBlob(_repo: RepositoryRef, digest: string): Promise<void> {
    return Promise.reject(this.readOnly(`storing blob ${digest}`));
  }

  pushBlobBytes(): Promise<string> {
    return Promise.reject(this.readOnly('storing a blob'));
  }

  async commit(): Promise<void> {}

  async close(): Promise<void> {}

  private readOnly(what: string): OlmMirrorError {
    return new OlmMirrorError('usage', `${what}: ${this.description} is read-only (archives are written by exporting a layout)`);
  }

  private readable(digest: string): boolean {
    return this.extentsOf(digest)?.every((e) => this.present.has(e.segment)) ?? false;
  }

  /** Where to read a blob from: the newest copy whose segments are all here, else the newest (to name what is missing). */
  private extentsOf(digest: string): Extent[] | undefined {
    const blob = this.record.blobs[digest];
    if (blob === undefined) return undefined;
    const all = [blob.extents, ...(blob.copies ?? [])];
    return all.find((extents) => extents.every((e) => this.present.has(e.segment))) ?? blob.extents;
  }

  private async *extentChunks(extents: readonly Extent[]): AsyncGenerator<Buffer> {
    for (const extent of extents) {
      if (extent.length === 0) continue;
      // A truncated segment just ends early here; the verifier then reports the blob short.
      for await (const chunk of createReadStream(join(this.dir, extent.segment), {
        start: extent.offset, end: extent.offset + extent.length - 1, highWaterMark: IO_CHUNK_BYTES,
      })) {
        yield chunk as Buffer;
      }
    }
  }

  private async readSmallBlob(digest: string): Promise<Buffer> {
    const blob = this.record.blobs[digest];
    if (blob !== undefined && blob.size > MAX_MANIFEST_BYTES) {
      throw new OlmMirrorError('input', `manifest ${digest} in ${this.description} is ${blob.size} bytes, which is not a manifest`);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of await this.getBlob({ registry: '', repository: '' }, digest)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  private async childrenOf(descriptor: Descriptor): Promise<readonly Descriptor[]> {
    if (!isIndexMediaType(descriptor.mediaType) || !this.readable(descriptor.digest)) return [];
    const cached = this.childrenCache.get(descriptor.digest);
    if (cached) return cached;
    try {
      const parsed = parseManifest(await this.readSmallBlob(descriptor.digest), descriptor.mediaType, descriptor.digest);
      const children = parsed.kind === 'index' ? parsed.manifests : [];
      this.childrenCache.set(descriptor.digest, children);
      return children;
    } catch {
      return []; // a damaged list leads nowhere here; reading it by its name reports the damage
    }
  }
}
