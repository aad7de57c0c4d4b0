// The files of an OCI image layout: `oci-layout`, `index.json`, `blobs/<algorithm>/<hex>`, and the
// temp files olm-mirror writes before renaming them into place. Every path is relative to the
// layout's own folder, so the folder can be moved or copied anywhere.
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDigest } from '../../manifest/digest.js';
import { parseManifest } from '../../manifest/manifest.js';
import { MediaTypes } from '../../manifest/media-types.js';
import { OlmMirrorError } from '../../errors.js';
import { isPlainObject } from '../../util/guards.js';
import type { IndexEntry } from './lookup.js';

export const LAYOUT_FILE = 'oci-layout';
export const INDEX_FILE = 'index.json';
export const LAYOUT_VERSION = '1.0.0';

/** `blobs/sha256/<hex>`: the path inside the layout (and inside an archive) of a blob. */
export function blobRelativePath(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}

/**
 * Temp files sit beside the layout's own files (as containers/image puts its own), named with the
 * writer's pid so that a later run removes only those whose writer is gone.
 */
const TEMP_RE = /^\.olm-mirror-(\d+)-[0-9a-f]+\.tmp$/;

export function tempPath(dir: string): string {
  return join(dir, `.olm-mirror-${process.pid}-${randomBytes(8).toString('hex')}.tmp`);
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes temp files left by writers that were killed (a half-written blob is never a blob). */
export async function removeAbandonedTemps(dir: string): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir)) {
    const match = TEMP_RE.exec(name);
    if (match && !processAlive(Number(match[1]))) {
      await unlink(join(dir, name)).catch(() => undefined);
      removed++;
    }
  }
  return removed;
}

/**
 * Blob files are read and written this much at a time: a few large reads and writes instead of one per
 * 64 KiB chunk, since each costs a round trip through the thread pool whatever its size.
 */
export const IO_CHUNK_BYTES = 1024 * 1024;

/**
 * Blobs up to this size are read in one call into one buffer of their size: a stream of reads costs
 * more CPU (a buffer per read, the stream's bookkeeping, the collector) than the bytes themselves.
 */
export const WHOLE_READ_MAX_BYTES = 4 * IO_CHUNK_BYTES;

/**
 * The file's content when it holds `size` bytes, read with one call into one buffer (and the handle
 * closed). A file of another size gives what it holds, up to one byte more than `size`, so the digest
 * check that follows fails. A read that returns fewer bytes than asked is taken as the end, as it is
 * for regular files; were it not, the check would fail, never pass wrongly.
 */
export async function readWhole(handle: FileHandle, size: number): Promise<Buffer> {
  try {
    const bytes = Buffer.allocUnsafe(size + 1);
    const { bytesRead } = await handle.read(bytes, 0, size + 1, 0);
    return bytes.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** writev until every byte is written (the kernel may take fewer than asked). */
export async function writeAll(handle: FileHandle, chunks: Buffer[], bytes: number): Promise<void> {
  const { bytesWritten } = await handle.writev(chunks);
  if (bytesWritten === bytes) return;
  const all = Buffer.concat(chunks);
  for (let done = bytesWritten; done < bytes;) done += (await handle.write(all, done)).bytesWritten;
}

/** Writes `bytes` to `path` atomically: a synced temp file renamed over it. */
export async function writeFileAtomically(dir: string, path: string, bytes: Uint8Array): Promise<void> {
  const temp = tempPath(dir);
  const handle = await open(temp, 'wx');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await syncDirectory(dir);
}

/** Makes a rename in `dir` durable (a no-op where directories cannot be opened). */
export async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // some filesystems refuse fsync on directories; the rename itself is still atomic
  } finally {
    await handle?.close();
  }
}

function layoutError(dir: string, file: string, what: string, cause?: unknown): OlmMirrorError {
  return new OlmMirrorError('input', `OCI layout ${dir}: ${file}: ${what}`, cause === undefined ? undefined : { cause });
}

/** Checks `oci-layout`; false when the folder has none (not a layout yet). */
export async function readLayoutMarker(dir: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(join(dir, LAYOUT_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw layoutError(dir, LAYOUT_FILE, (err as Error).message, err);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw layoutError(dir, LAYOUT_FILE, `not valid JSON (${(err as Error).message})`, err);
  }
  const version = isPlainObject(json) ? json.imageLayoutVersion : undefined;
  if (typeof version !== 'string' || !/^1\.\d+\.\d+$/.test(version)) {
    throw layoutError(dir, LAYOUT_FILE, `imageLayoutVersion ${JSON.stringify(version)} is not a 1.x version olm-mirror can read`);
  }
  return true;
}

export function layoutMarkerBytes(): Buffer {
  return Buffer.from(`${JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION })}\n`);
}

/** index.json as read: its other top-level fields, and its entries (raw JSON kept, see IndexEntry). */
export interface IndexDocument {
  raw: Record<string, unknown>;
  entries: IndexEntry[];
}

export function emptyIndex(): IndexDocument {
  return { raw: { schemaVersion: 2, mediaType: MediaTypes.ociIndex }, entries: [] };
}

export function parseIndex(bytes: Uint8Array, where: string): IndexDocument {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new OlmMirrorError('input', `${where}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  let parsed;
  try {
    parsed = parseManifest(bytes, MediaTypes.ociIndex, where);
  } catch (err) {
    throw new OlmMirrorError('input', (err as Error).message, { cause: err });
  }
  if (parsed.kind !== 'index' || !isPlainObject(raw) || !Array.isArray(raw.manifests)) {
    throw new OlmMirrorError('input', `${where}: not an image index (no "manifests" array)`);
  }
  const rawEntries = raw.manifests as Record<string, unknown>[];
  return { raw, entries: parsed.manifests.map((descriptor, i) => ({ raw: rawEntries[i]!, descriptor })) };
}

export async function readIndex(dir: string): Promise<IndexDocument> {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, INDEX_FILE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyIndex();
    throw layoutError(dir, INDEX_FILE, (err as Error).message, err);
  }
  return parseIndex(bytes, `OCI layout ${dir}: ${INDEX_FILE}`);
}

export function serializeIndex(doc: IndexDocument): Buffer {
  return Buffer.from(`${JSON.stringify({ ...doc.raw, schemaVersion: 2, manifests: doc.entries.map((e) => e.raw) })}\n`);
}

/** What identifies one version of index.json on disk, to notice another writer's rewrite. */
export async function fileStamp(path: string): Promise<string | undefined> {
  try {
    const s = await stat(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
