// Safe, streaming extraction of container image layers into a local folder.
//
// Layers are applied in order like a container runtime would (whiteouts, opaque directories,
// replacement of files by directories and back), but the result must never touch anything outside
// the target folder, whatever the image contains: entry names, symlink targets and hardlink targets
// are resolved inside the image root, and every parent folder is resolved through symlinks on disk
// and checked to still be inside the target before anything is created in it.
// Memory does not grow with layer size: file contents are piped straight to disk.
import { OlmMirrorError } from '../../errors.js';
import { createWriteStream } from 'node:fs';
import { chmod, link, lstat, mkdir, readdir, realpath, rm, symlink, unlink } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract, type ExtractEvents } from 'tar-stream';
import { formatBytes } from '../../mirror/format.js';

type TarEntry = ExtractEvents['entry'][1];

export interface ExtractOptions {
  /** In-image path to keep, e.g. '/configs' or '/database/index.db'; everything else is skipped. */
  only?: string;
  /** Names layer number `index` (0-based) in error messages, e.g. with its digest. */
  describeLayer?: (index: number) => string;
  /** The most extraction may write, over all layers (default DEFAULT_MAX_EXTRACT_BYTES). */
  maxBytes?: number;
}

/** Far above any real catalog (the biggest are a few hundred MiB), far below what a decompression bomb writes. */
export { DEFAULT_MAX_EXTRACT_BYTES } from './labels.js';
import { DEFAULT_MAX_EXTRACT_BYTES } from './labels.js';
/** What each entry counts besides its content, so that millions of empty files are bounded too. */
const ENTRY_OVERHEAD_BYTES = 512;

/** A layer could not be extracted: unsafe entry, corrupt data, or an unsupported format. */
export class LayerExtractionError extends OlmMirrorError {
  /**
   * `unreadable`: the data itself could not be read (broken gzip or tar, a failed or corrupted download),
   * which fetching the layer again may cure; an unsafe or unsupported layer stays what it is.
   */
  constructor(readonly layer: string, readonly entry: string | undefined, reason: string, readonly unreadable = false, cause?: unknown) {
    super('input', entry === undefined ? `cannot extract ${layer}: ${reason}` : `cannot extract ${layer}: entry "${entry}" ${reason}`,
      cause === undefined ? undefined : { cause });
  }
}

/** A layer format olm-mirror does not read. */
class UnsupportedLayerError extends Error {}

/** Thrown inside the per-entry code; the layer loop adds which layer it was. */
class EntryError extends Error {
  constructor(readonly entry: string, reason: string) {
    super(reason);
  }
}

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
/** Entry types that put something on disk (others are skipped). */
const WRITTEN_TYPES = new Set(['directory', 'file', 'contiguous-file', 'symlink', 'link']);

/**
 * Applies `layers` (blob streams, bottom layer first; gzip or plain tar) to `targetDir`, creating it
 * when missing. Streams of an async iterable are only read one after another, so they may be opened lazily.
 */
export async function extractLayers(
  layers: AsyncIterable<Readable> | Iterable<Readable>,
  targetDir: string,
  opts: ExtractOptions = {},
): Promise<void> {
  await mkdir(targetDir, { recursive: true });
  const root = new SafeRoot(await realpath(targetDir));
  const only = opts.only === undefined ? undefined : normalizeInImagePath(opts.only);
  if (only === null) throw new Error(`invalid in-image path to extract: "${opts.only}"`);
  const describe = opts.describeLayer ?? ((i: number) => `layer ${i + 1}`);
  const budget = new WriteBudget(opts.maxBytes ?? DEFAULT_MAX_EXTRACT_BYTES);

  let index = 0;
  for await (const stream of layers) {
    const layer = describe(index++);
    try {
      await applyLayer(stream, root, only, budget);
    } catch (err) {
      stream.destroy();
      if (err instanceof EntryError) throw new LayerExtractionError(layer, err.entry, err.message);
      throw new LayerExtractionError(layer, undefined, err instanceof Error ? err.message : String(err), !(err instanceof UnsupportedLayerError), err);
    }
  }
  await root.checkSymlinks();
}

/** Counts what extraction writes; an entry that would go past the limit is refused before any of it is written. */
class WriteBudget {
  private used = 0;

  constructor(private readonly limit: number) {}

  take(entryName: string, contentBytes: number): void {
    const bytes = contentBytes + ENTRY_OVERHEAD_BYTES;
    if (this.used + bytes > this.limit) {
      throw new EntryError(entryName, `(${formatBytes(contentBytes)}) would take the extraction past its limit of ${formatBytes(this.limit)} `
        + `(${formatBytes(this.used)} written before it; --max-extract-size sets the limit)`);
    }
    this.used += bytes;
  }
}

async function applyLayer(blob: Readable, root: SafeRoot, only: string | undefined, budget: WriteBudget): Promise<void> {
  const { head, rest } = await peek(blob, 4);
  if (startsWith(head, ZSTD_MAGIC)) throw new UnsupportedLayerError('zstd-compressed layers are not supported');
  const source = Readable.from(prepend(head, rest), { objectMode: false });
  const extract = tarExtract();
  // A settled promise either way, so an early exit from the loop below leaves no unhandled rejection.
  const piping = (startsWith(head, GZIP_MAGIC)
    ? pipeline(source, createGunzip(), extract)
    : pipeline(source, extract)
  ).then(() => undefined, (err: unknown) => err);

  const state = new LayerState();
  try {
    for await (const entry of extract) {
      await applyEntry(entry, root, state, only, budget);
    }
  } catch (err) {
    source.destroy();
    throw err;
  }
  const pipeError = await piping;
  if (pipeError) throw pipeError;
}

/** What the current layer wrote: whiteouts and opaque markers only hide what lower layers wrote. */
class LayerState {
  readonly written = new Set<string>();
  readonly ancestors = new Set<string>();

  record(relPath: string): void {
    this.written.add(relPath);
    for (let dir = posix.dirname(relPath); dir !== '.'; dir = posix.dirname(dir)) this.ancestors.add(dir);
  }

  keeps(relPath: string): boolean {
    return this.written.has(relPath) || this.ancestors.has(relPath);
  }
}

async function applyEntry(entry: TarEntry, root: SafeRoot, state: LayerState, only: string | undefined, budget: WriteBudget): Promise<void> {
  const { header } = entry;
  const name = normalizeInImagePath(header.name);
  if (name === null) throw new EntryError(header.name, 'would be written outside the target folder');
  const base = posix.basename(name);

  if (name === '' || (only !== undefined && !isInImagePathWithin(name, only) && !base.startsWith(WHITEOUT_PREFIX))) {
    return drain(entry);
  }
  if (base.startsWith(WHITEOUT_PREFIX)) {
    await drain(entry);
    return applyWhiteout(header.name, name, root, state);
  }
  if (WRITTEN_TYPES.has(header.type ?? '')) budget.take(header.name, header.type === 'file' || header.type === 'contiguous-file' ? header.size ?? 0 : 0);

  switch (header.type) {
    case 'directory': {
      const { abs, rel } = await root.entryPath(header.name, name);
      const existing = await lstatOrUndefined(abs);
      if (existing && !existing.isDirectory()) await root.remove(abs, existing.isSymbolicLink());
      if (existing?.isDirectory()) await chmod(abs, dirMode(header.mode));
      else await mkdir(abs, { mode: dirMode(header.mode) });
      state.record(rel);
      return drain(entry);
    }
    case 'file':
    case 'contiguous-file': {
      const { abs, rel } = await root.entryPath(header.name, name);
      await root.clear(abs);
      // 'wx' = O_CREAT|O_EXCL: fails rather than follow anything that appeared at this path.
      await pipeline(entry, createWriteStream(abs, { flags: 'wx', mode: fileMode(header.mode) }));
      state.record(rel);
      return;
    }
    case 'symlink': {
      const { abs, rel } = await root.entryPath(header.name, name);
      const target = symlinkTarget(header.name, rel, header.linkname ?? '');
      await root.clear(abs);
      await symlink(target, abs);
      state.record(rel);
      return drain(entry);
    }
    case 'link': {
      const { abs, rel } = await root.entryPath(header.name, name);
      const targetAbs = await root.existingPath(header.name, header.linkname ?? '');
      if (targetAbs !== abs) {
        await root.clear(abs);
        await link(targetAbs, abs);
      }
      state.record(rel);
      return drain(entry);
    }
    default:
      // Device nodes, fifos and unknown types mean nothing for a catalog and cannot be created unprivileged.
      return drain(entry);
  }
}

async function applyWhiteout(entryName: string, name: string, root: SafeRoot, state: LayerState): Promise<void> {
  const base = posix.basename(name);
  const dir = posix.dirname(name) === '.' ? '' : posix.dirname(name);
  const dirAbs = await root.existingDir(entryName, dir);
  if (dirAbs === undefined) return;
  if (base === OPAQUE_MARKER) {
    await clearLowerLayers(root, state, dirAbs);
    state.record(root.relative(dirAbs));
    return;
  }
  if (base.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) return; // other aufs metadata (.wh..wh.plnk, ...)
  const hidden = base.slice(WHITEOUT_PREFIX.length);
  if (hidden === '' || hidden === '.' || hidden === '..') throw new EntryError(entryName, 'is not a valid whiteout');
  const abs = join(dirAbs, hidden);
  if (state.keeps(root.relative(abs))) return;
  await root.clear(abs);
}

/** Opaque directory: removes what lower layers put in it, keeping what this layer already wrote. */
async function clearLowerLayers(root: SafeRoot, state: LayerState, dirAbs: string): Promise<void> {
  for (const child of await readdir(dirAbs)) {
    const abs = join(dirAbs, child);
    if (!state.keeps(root.relative(abs))) {
      await root.clear(abs);
      continue;
    }
    const st = await lstat(abs);
    if (st.isDirectory()) await clearLowerLayers(root, state, abs);
  }
}

/**
 * The symlink to create for `linkname`, resolved the way the container sees it (absolute targets
 * start at the image root). Absolute targets are rewritten relative so that nothing reading the
 * extracted tree on this host ever follows them out of the target folder.
 */
function symlinkTarget(entryName: string, relPath: string, linkname: string): string {
  if (linkname === '') throw new EntryError(entryName, 'is a symlink without a target');
  const dir = posix.dirname(relPath);
  const resolved = linkname.startsWith('/')
    ? normalizeInImagePath(linkname)
    : normalizeInImagePath(posix.join(dir, linkname));
  if (resolved === null) throw new EntryError(entryName, `is a symlink to "${linkname}", which points outside the target folder`);
  if (!linkname.startsWith('/')) return linkname;
  return posix.relative(dir === '.' ? '' : dir, resolved) || '.';
}

/** The image root on disk; every path handed out has been checked to be inside it. */
class SafeRoot {
  /** Resolved in-image folder -> real folder on disk; cleared whenever a folder or symlink is removed. */
  private readonly dirs = new Map<string, string>();

  constructor(readonly dir: string) {}

  relative(abs: string): string {
    return relative(this.dir, abs).split(sep).join('/');
  }

  /** Where entry `name` goes: its parent folders are created (following symlinks that stay inside). */
  async entryPath(entryName: string, name: string): Promise<{ abs: string; rel: string }> {
    const parent = await this.resolveDir(entryName, posix.dirname(name), true);
    const abs = join(parent!, posix.basename(name));
    return { abs, rel: this.relative(abs) };
  }

  /** The folder `dir` on disk, or undefined when it does not exist. */
  existingDir(entryName: string, dir: string): Promise<string | undefined> {
    return this.resolveDir(entryName, dir, false);
  }

  /** The on-disk file a hardlink entry points at; it must exist already and not be a folder. */
  async existingPath(entryName: string, linkname: string): Promise<string> {
    const target = normalizeInImagePath(linkname);
    if (target === null || target === '') {
      throw new EntryError(entryName, `is a hardlink to "${linkname}", which is outside the target folder`);
    }
    const parent = await this.resolveDir(entryName, posix.dirname(target), false);
    const abs = parent === undefined ? undefined : join(parent, posix.basename(target));
    const st = abs === undefined ? undefined : await lstatOrUndefined(abs);
    if (!st) throw new EntryError(entryName, `is a hardlink to "${linkname}", which was not extracted before it`);
    if (st.isDirectory()) throw new EntryError(entryName, `is a hardlink to the folder "${linkname}"`);
    return abs!;
  }

  /** Removes whatever is at `abs` (a folder with its contents; a symlink itself, never its target). */
  async clear(abs: string): Promise<void> {
    const st = await lstatOrUndefined(abs);
    if (st) await this.remove(abs, st.isDirectory() || st.isSymbolicLink());
  }

  async remove(abs: string, invalidates: boolean): Promise<void> {
    if (invalidates) this.dirs.clear();
    if ((await lstat(abs)).isDirectory()) await rm(abs, { recursive: true, force: true });
    else await unlink(abs);
  }

  private async resolveDir(entryName: string, dir: string, create: boolean): Promise<string | undefined> {
    if (dir === '.' || dir === '') return this.dir;
    const cached = this.dirs.get(dir);
    if (cached) return cached;
    let current = this.dir;
    for (const component of dir.split('/')) {
      const next = join(current, component);
      const st = await lstatOrUndefined(next);
      if (!st) {
        if (!create) return undefined;
        await mkdir(next, { mode: 0o755 });
        current = next;
      } else if (st.isDirectory()) {
        current = next;
      } else if (st.isSymbolicLink()) {
        const real = await realpath(next).catch(() => undefined);
        if (real === undefined) {
          if (!create) return undefined;
          throw new EntryError(entryName, `would be written through the dangling symlink "${this.relative(next)}"`);
        }
        if (!this.contains(real)) {
          throw new EntryError(entryName, `would be written through the symlink "${this.relative(next)}", which points outside the target folder`);
        }
        if (!(await lstat(real)).isDirectory()) {
          if (!create) return undefined;
          throw new EntryError(entryName, `has a parent "${this.relative(next)}" that is not a folder`);
        }
        current = real;
      } else {
        if (!create) return undefined;
        throw new EntryError(entryName, `has a parent "${this.relative(next)}" that is not a folder`);
      }
    }
    this.dirs.set(dir, current);
    return current;
  }

  /**
   * Symlinks are checked one at a time as they are created, but a chain of them (a link through
   * another link's '..') can still reach out once every layer is in place: this catches those.
   */
  async checkSymlinks(dir = this.dir): Promise<void> {
    for (const child of await readdir(dir, { withFileTypes: true })) {
      const abs = join(dir, child.name);
      if (child.isDirectory()) {
        await this.checkSymlinks(abs);
      } else if (child.isSymbolicLink()) {
        const real = await realpath(abs).catch(() => undefined); // dangling links resolve nowhere
        if (real !== undefined && !this.contains(real)) {
          throw new LayerExtractionError('the image', this.relative(abs), 'is a symlink that resolves outside the target folder');
        }
      }
    }
  }

  private contains(abs: string): boolean {
    return abs === this.dir || abs.startsWith(this.dir + sep);
  }
}

/**
 * An in-image path relative to the image root ('' for the root itself), or null when it climbs
 * above the root. Leading slashes are dropped: tars from some tools name entries '/etc/x'.
 */
export function normalizeInImagePath(name: string): string | null {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return null;
      parts.pop();
    } else {
      parts.push(part);
    }
  }
  return parts.join('/');
}

/**
 * Whether in-image `path` is `folder` itself or inside it. Both are compared in the form
 * normalizeInImagePath gives, so either convention works, even mixed: absolute ('/configs', root '/')
 * or relative ('configs', root ''); '/configs/' and 'configs' are the same folder. A path that climbs
 * above the image root is inside nothing.
 */
export function isInImagePathWithin(path: string, folder: string): boolean {
  const p = normalizeInImagePath(path);
  const f = normalizeInImagePath(folder);
  if (p === null || f === null) return false;
  return f === '' || p === f || p.startsWith(`${f}/`);
}

function dirMode(mode: number | undefined): number {
  return ((mode ?? 0o755) & 0o777) | 0o700; // owner must be able to add and delete for later layers
}

function fileMode(mode: number | undefined): number {
  return ((mode ?? 0o644) & 0o777) | 0o600; // no setuid/setgid; owner must be able to replace it
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function drain(entry: AsyncIterable<unknown>): Promise<void> {
  for await (const chunk of entry) void chunk;
}

function startsWith(buf: Buffer, magic: number[]): boolean {
  return buf.length >= magic.length && magic.every((b, i) => buf[i] === b);
}

/** Reads at least `n` bytes (fewer only at the end) and returns them with the rest of the stream. */
async function peek(stream: Readable, n: number): Promise<{ head: Buffer; rest: AsyncIterator<Buffer> }> {
  const rest = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let length = 0;
  while (length < n) {
    const { value, done } = await rest.next();
    if (done) break;
    const chunk = Buffer.isBuffer(value) ? value : Buffer.from(value as Uint8Array);
    chunks.push(chunk);
    length += chunk.length;
  }
  return { head: Buffer.concat(chunks), rest };
}

async function* prepend(head: Buffer, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  if (head.length > 0) yield head;
  for (;;) {
    const { value, done } = await rest.next();
    if (done) return;
    yield value;
  }
}
