// An OCI image layout on disk as an image store (what `file://DIR` mirrors into and out of).
//
// - Each image is an index.json entry typed with its manifest's own media type (bytes and digests as
//   they came; a Docker manifest stays a Docker manifest), named with its full reference (see
//   lookup.ts). Every putManifest makes an entry, also a manifest list's children put by digest: a
//   run killed between the children and the list still left them reachable, and a child mirrored as an
//   image of its own keeps its own name. Debian's skopeo 1.9 reads only the OCI-typed entries, and
//   only names matching its ref-name grammar: components of letters and digits joined by one of
//   `-._:@+` or `--`, so tags with `__`, `.-` or a leading `_` and IPv6 hosts cannot be named on its
//   command line (olm-mirror stores and reads them all the same).
// - One blob namespace: blobs are stored once whatever repository they are asked for, so there is
//   no mount. A blob is written to a temp file, verified while it streams, synced, and only then
//   renamed into `blobs/`; a blob file that exists is therefore complete. Temp files of killed runs
//   are removed when the layout is next opened for writing.
// - index.json is kept in memory; commit() rewrites it atomically (temp + rename), also on its own
//   a moment after manifests were put, and close() commits. A commit re-reads index.json first when
//   someone else rewrote it, so entries another writer added are kept.
// - putManifest refuses a manifest whose blobs or child manifests the layout does not have, as a
//   registry does, so every entry's tree is complete.
import { mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NotFoundError, OlmMirrorError } from '../../errors.js';
import { createDigestVerifier, DigestMismatchError, digestLike, sha256Digest, verifiedDigestOf } from '../../manifest/digest.js';
import { parseManifest, type Descriptor } from '../../manifest/manifest.js';
import { isIndexMediaType } from '../../manifest/media-types.js';
import { formatReference, type ImageReference } from '../../reference/reference.js';
import type { ImageStore, LookupOptions, ManifestHead, RepositoryRef, StoredManifest } from '../store.js';
import {
  blobRelativePath, fileStamp, INDEX_FILE, IO_CHUNK_BYTES, LAYOUT_FILE, layoutMarkerBytes, readIndex, readLayoutMarker,
  readWhole, removeAbandonedTemps, serializeIndex, syncDirectory, tempPath, WHOLE_READ_MAX_BYTES, writeAll, writeFileAtomically, type IndexDocument,
} from './files.js';
import { EntryTable, entryName, REF_NAME_ANNOTATION, type IndexEntry } from './lookup.js';
import { validateLayout, type LayoutProblem } from './validate.js';

export interface OpenLayoutOptions {
  /** Create the folder and an empty layout when there is none (a mirror destination). Default false. */
  create?: boolean;
  /** How soon after a putManifest index.json is written without an explicit commit (default 1000 ms). */
  commitDelayMs?: number;
}

/** Manifests are small; more than this is not one. */
const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;


export class OciLayoutStore implements ImageStore {
  readonly id: string;
  readonly description: string;
  readonly sharedBlobs = true;
  readonly local = true;

  /** The index as last read from or written to disk, the entries put since (by name), and both together. */
  private committed: IndexDocument;
  private readonly changes = new Map<string, IndexEntry>();
  private table: EntryTable;
  private diskStamp: string | undefined;
  private readonly childrenCache = new Map<string, readonly Descriptor[]>();
  /** Blob writes in progress, so a second push of the same blob waits for the first. */
  private readonly writing = new Map<string, Promise<void>>();
  /** Blobs this store renamed into place or found complete (digest to size): a manifest's check need not look for them again. */
  private readonly stored = new Map<string, number>();
  /** Folders under blobs/ known to exist. */
  private readonly blobDirs = new Set<string>();
  private commitChain: Promise<void> = Promise.resolve();
  private commitTimer: NodeJS.Timeout | undefined;
  private backgroundError: unknown;
  private closed = false;

  private constructor(readonly dir: string, index: IndexDocument, stamp: string | undefined, private readonly commitDelayMs: number) {
    this.id = `oci ${dir}`;
    this.description = `OCI layout ${dir}`;
    this.committed = index;
    this.diskStamp = stamp;
    this.table = this.tableOf(index);
  }

  /** Opens the layout in `dir` (relative paths resolve against the working directory). */
  static async open(dir: string, opts: OpenLayoutOptions = {}): Promise<OciLayoutStore> {
    const root = resolve(dir);
    let isLayout: boolean;
    try {
      isLayout = await readLayoutMarker(root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') throw new OlmMirrorError('usage', `${root} is not a folder`, { cause: err });
      throw err;
    }
    if (!isLayout) {
      if (!opts.create) {
        const exists = await stat(root).then(() => true, () => false);
        throw new OlmMirrorError('usage', exists
          ? `${root} is not an OCI image layout (it has no ${LAYOUT_FILE} file)`
          : `OCI layout ${root} does not exist`);
      }
      await mkdir(root, { recursive: true });
      await writeFileAtomically(root, join(root, LAYOUT_FILE), layoutMarkerBytes());
    }
    if (opts.create) {
      await mkdir(join(root, 'blobs', 'sha256'), { recursive: true });
      await removeAbandonedTemps(root);
    }
    const stamp = await fileStamp(join(root, INDEX_FILE));
    const index = await readIndex(root);
    const store = new OciLayoutStore(root, index, stamp, opts.commitDelayMs ?? 1000);
    if (stamp === undefined && opts.create) await store.commitNow(true);
    return store;
  }

  /** Every entry of index.json, including those put and not yet committed. */
  entries(): Descriptor[] {
    return this.table.entries().map((e) => e.descriptor);
  }

  /** index.json as it reads now, entries put and not yet committed included. */
  indexBytes(): Buffer {
    return serializeIndex({ raw: this.committed.raw, entries: this.table.entries() });
  }

  async getManifest(ref: ImageReference): Promise<StoredManifest> {
    const descriptor = await this.find(ref, false);
    if (descriptor === undefined) throw new NotFoundError(`image ${display(ref)} not found in ${this.description}`);
    const bytes = await this.readManifestBlob(descriptor, display(ref));
    return { mediaType: descriptor.mediaType, digest: descriptor.digest, bytes };
  }

  async headManifest(ref: ImageReference, opts?: LookupOptions): Promise<ManifestHead | undefined> {
    const descriptor = await this.find(ref, opts?.forPush === true);
    if (descriptor === undefined) return undefined;
    // An entry whose manifest blob went missing is not an image: a writer puts it again.
    if (await this.fileSize(descriptor.digest) !== descriptor.size) return undefined;
    return { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size };
  }

  async putManifest(ref: ImageReference, manifest: { mediaType: string; bytes: Uint8Array }): Promise<string> {
    this.assertOpen();
    const subject = formatReference(ref);
    if (ref.tag === undefined && ref.digest === undefined) {
      throw new OlmMirrorError('input', `storing manifest ${subject} in ${this.description}: the reference needs a tag or a digest`);
    }
    const digest = ref.digest ? digestLike(ref.digest, manifest.bytes) : sha256Digest(manifest.bytes);
    if (ref.digest && digest !== ref.digest) throw new DigestMismatchError(ref.digest, digest, {}, `manifest for ${subject}`);
    await this.checkReferencedContent(manifest, subject);
    const bytes = Buffer.from(manifest.bytes);
    await this.storeBlob(digest, bytes.length, async () => Readable.from([bytes]), undefined, `manifest ${digest} of ${subject}`);

    const name = entryName(ref, digest);
    const descriptor: Descriptor = { mediaType: manifest.mediaType, digest, size: bytes.length, annotations: { [REF_NAME_ANNOTATION]: name } };
    const current = this.table.get(name)?.descriptor;
    if (current === undefined || current.digest !== digest || current.mediaType !== manifest.mediaType) {
      const entry = { raw: { ...descriptor } as Record<string, unknown>, descriptor };
      this.changes.set(name, entry);
      this.table.set(entry);
      this.scheduleCommit();
    }
    return digest;
  }

  async listTags(repo: RepositoryRef): Promise<string[]> {
    return this.table.tags(repo);
  }

  async blobSize(_repo: RepositoryRef, digest: string): Promise<number | undefined> {
    return this.fileSize(digest);
  }

  async getBlob(_repo: RepositoryRef, digest: string, opts?: { size?: number }): Promise<Readable> {
    let handle: FileHandle | undefined;
    let size: number;
    try {
      handle = await open(this.blobPath(digest), 'r');
      // The size the caller knows (from a manifest) spares asking the file system; a file of another size fails the check.
      size = opts?.size ?? (await handle.stat()).size;
    } catch (err) {
      await handle?.close().catch(() => undefined);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`blob ${digest} not found in ${this.description}`);
      throw err;
    }
    const subject = `blob ${digest} in ${this.description}`;
    const verifier = createDigestVerifier(digest, size, subject);
    if (size <= WHOLE_READ_MAX_BYTES) {
      readWhole(handle, size).then((bytes) => verifier.end(bytes), (err: unknown) => verifier.destroy(err as Error));
      return verifier;
    }
    // Errors of either side reach the reader through the verifier; the pipeline's own result is not needed.
    pipeline(handle.createReadStream({ highWaterMark: IO_CHUNK_BYTES }), verifier).catch(() => undefined);
    return verifier;
  }

  async pushBlob(_repo: RepositoryRef, digest: string, size: number, open: () => Promise<Readable>, onBytes?: (n: number) => void): Promise<void> {
    this.assertOpen();
    await this.storeBlob(digest, size, open, onBytes, `blob ${digest}`);
  }

  async pushBlobBytes(_repo: RepositoryRef, bytes: Uint8Array): Promise<string> {
    this.assertOpen();
    const digest = sha256Digest(bytes);
    const buffer = Buffer.from(bytes);
    await this.storeBlob(digest, buffer.length, async () => Readable.from([buffer]), undefined, `blob ${digest}`);
    return digest;
  }

  /** Writes index.json when entries were put since the last commit. */
  async commit(): Promise<void> {
    this.throwBackgroundError();
    await this.commitNow(false);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.commit();
    this.closed = true;
  }

  /**
   * Checks the whole layout: every blob's content against its digest, and every entry's tree (manifest,
   * child manifests, config and layers) present with the sizes its descriptors say. An empty list: sound.
   */
  async validate(): Promise<LayoutProblem[]> {
    return validateLayout(this.dir, this.entries());
  }

  private find(ref: ImageReference, strict: boolean): Promise<Descriptor | undefined> {
    return this.table.find(ref, strict);
  }

  /** The committed entries with the pending ones applied. */
  private tableOf(committed: IndexDocument): EntryTable {
    return new EntryTable([...committed.entries, ...this.changes.values()], (d) => this.childrenOf(d));
  }

  private scheduleCommit(): void {
    if (this.commitTimer !== undefined) return;
    this.commitTimer = setTimeout(() => {
      this.commitTimer = undefined;
      this.commitNow(false).catch((err: unknown) => { this.backgroundError ??= err; });
    }, this.commitDelayMs);
    this.commitTimer.unref();
  }

  /** One commit at a time; `force` writes index.json even without changes (a new layout). */
  private commitNow(force: boolean): Promise<void> {
    if (this.commitTimer !== undefined) {
      clearTimeout(this.commitTimer);
      this.commitTimer = undefined;
    }
    const run = this.commitChain.then(async () => {
      if (this.changes.size === 0 && !force) return;
      const path = join(this.dir, INDEX_FILE);
      if (await fileStamp(path) !== this.diskStamp) {
        // Another writer rewrote index.json: build on its version, ours replacing entries of the same names.
        this.committed = await readIndex(this.dir);
        this.table = this.tableOf(this.committed);
      }
      const written = new Map(this.changes);
      const next: IndexDocument = { raw: this.committed.raw, entries: this.table.entries() };
      // The renames of the blobs the new entries need become durable before the entries do.
      await syncDirectory(join(this.dir, 'blobs', 'sha256'));
      await writeFileAtomically(this.dir, path, serializeIndex(next));
      this.diskStamp = await fileStamp(path);
      this.committed = next;
      // Entries put while writing stay pending for the next commit.
      for (const [name, entry] of written) if (this.changes.get(name) === entry) this.changes.delete(name);
    });
    this.commitChain = run.catch(() => undefined);
    return run;
  }

  private throwBackgroundError(): void {
    if (this.backgroundError !== undefined) {
      const err = this.backgroundError;
      this.backgroundError = undefined;
      throw err;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new OlmMirrorError('usage', `${this.description} is closed`);
    this.throwBackgroundError();
  }

  private blobPath(digest: string): string {
    return join(this.dir, blobRelativePath(digest));
  }

  private async fileSize(digest: string): Promise<number | undefined> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Stores a blob once: present with its size means done; a write of the same blob in progress is waited for. */
  private async storeBlob(digest: string, size: number, source: () => Promise<Readable>, onBytes: ((n: number) => void) | undefined, subject: string): Promise<void> {
    for (;;) {
      if (await this.fileSize(digest) === size) {
        this.stored.set(digest, size);
        return;
      }
      const running = this.writing.get(digest);
      if (running === undefined) break;
      await running.catch(() => undefined); // its failure is its caller's; this push tries on its own
    }
    const write = this.writeBlob(digest, size, source, onBytes, subject);
    this.writing.set(digest, write);
    try {
      await write;
    } finally {
      if (this.writing.get(digest) === write) this.writing.delete(digest);
    }
  }

  private async writeBlob(digest: string, size: number, source: () => Promise<Readable>, onBytes: ((n: number) => void) | undefined, subject: string): Promise<void> {
    const temp = tempPath(this.dir);
    const handle = await open(temp, 'wx');
    let closed = false;
    try {
      const input = await source();
      let written = 0;
      const sink = async (chunks: AsyncIterable<Buffer>): Promise<void> => {
        // One write in flight while the next batch arrives, so the source is not held up by the disk.
        let writing: Promise<void> = Promise.resolve();
        try {
          for await (const batch of batched(chunks)) {
            const bytes = batch.reduce((sum, chunk) => sum + chunk.length, 0);
            written += bytes;
            if (written > size) throw new DigestMismatchError(digest, undefined, { expected: size, actual: written }, subject);
            await writing;
            writing = writeAll(handle, batch, bytes).then(() => onBytes?.(bytes));
            writing.catch(() => undefined); // awaited above or below; not an unhandled rejection meanwhile
          }
        } finally {
          await writing; // also after a failure: the file is closed only when no write uses it
        }
      };
      // A stream made by createDigestVerifier for this digest checks itself; anything else is hashed here.
      if (verifiedDigestOf(input) === digest) await pipeline(input, sink);
      else await pipeline(input, createDigestVerifier(digest, size, subject), sink);
      if (written !== size) throw new DigestMismatchError(digest, digest, { expected: size, actual: written }, subject);
      // The content (and the size it needs to be read back) is on disk before the name says it is complete.
      await handle.datasync();
      await handle.close();
      closed = true;
      const path = this.blobPath(digest);
      if (!this.blobDirs.has(dirname(path))) {
        await mkdir(dirname(path), { recursive: true });
        this.blobDirs.add(dirname(path));
      }
      await rename(temp, path);
      this.stored.set(digest, size);
    } catch (err) {
      if (!closed) await handle.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      throw err;
    }
  }

  /** Like a registry's MANIFEST_BLOB_UNKNOWN: a manifest goes in only when everything it names is there. */
  private async checkReferencedContent(manifest: { mediaType: string; bytes: Uint8Array }, subject: string): Promise<void> {
    let parsed;
    try {
      parsed = parseManifest(manifest.bytes, manifest.mediaType, subject);
    } catch (err) {
      throw new OlmMirrorError('input', (err as Error).message, { cause: err });
    }
    const needed = parsed.kind === 'index' ? parsed.manifests : [parsed.config, ...parsed.layers.filter((l) => l.urls === undefined)];
    for (const d of needed) {
      const size = this.stored.get(d.digest) === d.size ? d.size : await this.fileSize(d.digest);
      if (size !== d.size) {
        const what = parsed.kind === 'index' ? 'manifest' : 'blob';
        throw new OlmMirrorError('input', size === undefined
          ? `storing manifest ${subject} in ${this.description}: it references ${what} ${d.digest}, which the layout does not have`
          : `storing manifest ${subject} in ${this.description}: it references ${what} ${d.digest} of ${d.size} bytes, the layout holds ${size}`);
      }
    }
  }

  private async readManifestBlob(descriptor: Descriptor, subject: string): Promise<Buffer> {
    let bytes: Buffer;
    try {
      const handle = await open(this.blobPath(descriptor.digest), 'r');
      try {
        const { size } = await handle.stat();
        if (size > MAX_MANIFEST_BYTES) {
          throw new OlmMirrorError('input', `manifest ${descriptor.digest} of ${subject} in ${this.description} is ${size} bytes, which is not a manifest`);
        }
        bytes = await handle.readFile();
      } finally {
        await handle.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new OlmMirrorError('integrity', `${this.description}: the manifest ${descriptor.digest} of ${subject} is listed but its blob ${blobRelativePath(descriptor.digest)} is missing`);
      }
      throw err;
    }
    const actual = digestLike(descriptor.digest, bytes);
    if (actual !== descriptor.digest) throw new DigestMismatchError(descriptor.digest, actual, {}, `manifest of ${subject} in ${this.description}`);
    return bytes;
  }

  private async childrenOf(descriptor: Descriptor): Promise<readonly Descriptor[]> {
    if (!isIndexMediaType(descriptor.mediaType)) return [];
    let children = this.childrenCache.get(descriptor.digest);
    if (children === undefined) {
      try {
        const parsed = parseManifest(await this.readManifestBlob(descriptor, descriptor.digest), descriptor.mediaType, descriptor.digest);
        children = parsed.kind === 'index' ? parsed.manifests : [];
      } catch {
        return []; // an unreadable index leads nowhere (validate() reports it); not cached, it may be put again
      }
      this.childrenCache.set(descriptor.digest, children);
    }
    return children;
  }
}

/**
 * The chunks of a stream (about 64 KiB each from a socket or a file) gathered into groups of about
 * IO_CHUNK_BYTES, so a blob takes a few writes instead of one per chunk: the `for await` and the
 * write's round trip to the thread pool are what a mirror to disk spends its time on, not the bytes.
 */
async function* batched(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer[]> {
  let batch: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of chunks) {
    batch.push(chunk);
    bytes += chunk.length;
    if (bytes >= IO_CHUNK_BYTES) {
      yield batch;
      batch = [];
      bytes = 0;
    }
  }
  if (batch.length > 0) yield batch;
}

function display(ref: ImageReference): string {
  return formatReference(ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: 'latest' } : ref);
}

export type { LayoutProblem };
