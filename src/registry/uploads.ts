// Blob uploads (monolithic or chunked) and cross-repository mounts. An upload is only completed
// (final PUT ?digest=) once the whole source was read and hashed to the expected digest.
import { Readable } from 'node:stream';
import { DigestAccumulator, DigestMismatchError, sha256Digest } from '../manifest/digest.js';
import { repositoryScope } from './auth.js';
import { blobSize } from './blobs.js';
import { RegistryError } from './errors.js';
import { type BackoffPolicy, isRetryableError, retryDelay, sleep } from './retry.js';
import type { CallSpec, Session } from './session.js';
import { header, type HttpResponse } from './transport.js';

export interface UploadOptions {
  retries: number;
  backoff: BackoffPolicy;
  /** Blobs up to this size go in one PUT (read into memory first, so they can be verified before sending). */
  monolithicMaxBytes: number;
  /** PATCH size for bigger blobs; each PATCH streams its slice, nothing is buffered. */
  chunkBytes: number;
}

/** `?digest=` appended to an upload Location, keeping its own query (`_state`) exactly as the registry wrote it. */
export function withDigestParam(location: URL, digest: string): URL {
  const url = new URL(location);
  const param = `digest=${encodeURIComponent(digest)}`;
  url.search = url.search ? `${url.search}&${param}` : `?${param}`;
  return url;
}

/** The Location of an upload response, relative or absolute, resolved against the URL that answered. */
function uploadLocation(res: HttpResponse, what: string, registry: string): URL {
  const location = header(res, 'location');
  if (!location) throw new RegistryError(`${what}: the registry answered ${res.status} without a Location header`, { registry, status: res.status });
  return new URL(location, res.url);
}

/** Reads a source stream in slices of exact sizes while hashing it; remembers the source's own error. */
class SourceReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private carry: Buffer | undefined;
  readonly hash: DigestAccumulator;
  /** Set when the source itself failed (as opposed to the request it was feeding). */
  error: unknown;

  constructor(source: Readable, digest: string) {
    this.iterator = source[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
    this.hash = new DigestAccumulator(digest);
  }

  private async next(): Promise<Buffer | undefined> {
    if (this.carry) {
      const chunk = this.carry;
      this.carry = undefined;
      return chunk;
    }
    try {
      const { value, done } = await this.iterator.next();
      if (done) return undefined;
      // Streams of Uint8Array (not Buffer) are wrapped without copying.
      return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    } catch (err) {
      this.error = err;
      throw err;
    }
  }

  /** Exactly `length` bytes (or an error when the source ends first). */
  async *take(length: number, tooShort: () => Error): AsyncGenerator<Buffer> {
    for (let remaining = length; remaining > 0;) {
      let chunk = await this.next();
      if (chunk === undefined) {
        this.error = tooShort();
        throw this.error;
      }
      if (chunk.length > remaining) {
        this.carry = chunk.subarray(remaining);
        chunk = chunk.subarray(0, remaining);
      }
      remaining -= chunk.length;
      this.hash.update(chunk);
      yield chunk;
    }
  }

  /** True when the source has nothing more (a longer source is not the blob we were told about). */
  async atEnd(): Promise<boolean> {
    for (;;) {
      const chunk = await this.next();
      if (chunk === undefined) return true;
      if (chunk.length > 0) return false;
    }
  }
}

function uploadSpec(registry: string, repository: string, digest: string): Omit<CallSpec, 'method' | 'target' | 'expect'> {
  return {
    registry, repository, scopes: [repositoryScope(repository, 'pull,push')],
    action: 'pushing', subject: `blob ${digest} to ${registry}/${repository}`,
  };
}

/** Best effort: a failed DELETE leaves an upload the registry expires by itself; it must not hide the real error. */
async function cancelUpload(session: Session, base: Omit<CallSpec, 'method' | 'target' | 'expect'>, location: URL): Promise<void> {
  try {
    const res = await session.call({ ...base, action: 'cancelling upload of', method: 'DELETE', target: location, expect: [200, 202, 204, 404], retry: false });
    await res.body.dump();
  } catch {
    // see above
  }
}

/**
 * Cross-repository mount. True when the registry linked the blob; false when it started an upload
 * instead (it does not have the blob there, or we may not read `fromRepository`), which is cancelled.
 */
export async function mountBlob(session: Session, registry: string, repository: string, digest: string, fromRepository: string): Promise<boolean> {
  const base = {
    ...uploadSpec(registry, repository, digest),
    scopes: [repositoryScope(repository, 'pull,push'), repositoryScope(fromRepository, 'pull')],
    action: 'mounting', subject: `blob ${digest} from ${registry}/${fromRepository} into ${repository}`,
  };
  const query = `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(fromRepository)}`;
  const res = await session.call({ ...base, method: 'POST', target: `/v2/${repository}/blobs/uploads/${query}`, expect: [201, 202] });
  await res.body.dump();
  if (res.status === 201) return true;
  await cancelUpload(session, base, uploadLocation(res, `${base.action} ${base.subject}`, registry));
  return false;
}

export async function pushBlob(
  session: Session, registry: string, repository: string, digest: string, size: number,
  open: () => Promise<Readable>, opts: UploadOptions,
): Promise<void> {
  const base = uploadSpec(registry, repository, digest);
  for (let attempt = 0; ; attempt++) {
    let source: Readable | undefined;
    let location: URL | undefined;
    try {
      source = await open();
      const start = await session.call({ ...base, method: 'POST', target: `/v2/${repository}/blobs/uploads/`, expect: [202] });
      await start.body.dump();
      location = uploadLocation(start, `${base.action} ${base.subject}`, registry);
      // Registries may demand a minimum PATCH size (OCI distribution spec).
      const minChunk = Number(header(start, 'oci-chunk-min-length') ?? 0);
      const reader = new SourceReader(source, digest);
      const upload = size <= opts.monolithicMaxBytes ? uploadMonolithic : uploadChunked;
      await upload(session, base, location, reader, digest, size, Math.max(opts.chunkBytes, Number.isSafeInteger(minChunk) ? minChunk : 0));
      return;
    } catch (err) {
      if (location) await cancelUpload(session, base, location);
      if (attempt >= opts.retries || !isRetryableError(err)) throw err;
      const delayMs = retryDelay(attempt, opts.backoff, err instanceof RegistryError ? err.retryAfterMs : undefined);
      session.emit({
        type: 'retry', registry, action: base.action, subject: base.subject,
        attempt: attempt + 1, maxAttempts: opts.retries + 1, delayMs, reason: (err as Error).message,
      });
      await sleep(delayMs);
    } finally {
      source?.destroy();
    }
  }
}

type Upload = (
  session: Session, base: Omit<CallSpec, 'method' | 'target' | 'expect'>, location: URL,
  reader: SourceReader, digest: string, size: number, chunkBytes: number,
) => Promise<void>;

function shortSource(digest: string, size: number, reader: SourceReader, subject: string): () => Error {
  return () => new DigestMismatchError(digest, reader.hash.digest(), { expected: size, actual: reader.hash.bytes }, `source of ${subject}`);
}

/** After the last byte: nothing more may follow and the hash must match, else the upload is not completed. */
async function verifySource(reader: SourceReader, digest: string, size: number, subject: string): Promise<void> {
  if (!(await reader.atEnd())) {
    throw new DigestMismatchError(digest, undefined, { expected: size, actual: size + 1 }, `source of ${subject}`);
  }
  const actual = reader.hash.digest();
  if (actual !== digest) throw new DigestMismatchError(digest, actual, {}, `source of ${subject}`);
}

/** Final PUT ?digest=…, with the body (monolithic) or without (chunked). */
async function completeUpload(
  session: Session, base: Omit<CallSpec, 'method' | 'target' | 'expect'>, location: URL, digest: string, body: Buffer,
): Promise<void> {
  const res = await session.call({
    ...base, method: 'PUT', target: withDigestParam(location, digest), retry: false,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.length) }, body, expect: [201, 204],
  });
  await res.body.dump();
  const stored = header(res, 'docker-content-digest');
  if (stored !== undefined && stored !== digest) {
    throw new RegistryError(`${base.action} ${base.subject}: the registry stored it as ${stored}`, { registry: base.registry, repository: base.repository });
  }
}

const uploadMonolithic: Upload = async (session, base, location, reader, digest, size) => {
  const parts: Buffer[] = [];
  for await (const part of reader.take(size, shortSource(digest, size, reader, base.subject))) parts.push(part);
  await verifySource(reader, digest, size, base.subject);
  await completeUpload(session, base, location, digest, Buffer.concat(parts, size));
};

const uploadChunked: Upload = async (session, base, location, reader, digest, size, chunkBytes) => {
  let url = location;
  for (let offset = 0; offset < size;) {
    const length = Math.min(chunkBytes, size - offset);
    const end = offset + length - 1;
    let res: HttpResponse;
    try {
      res = await session.call({
        ...base, method: 'PATCH', target: url, retry: false,
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${end}`, 'content-length': String(length) },
        body: reader.take(length, shortSource(digest, size, reader, base.subject)), expect: [202],
      });
    } catch (err) {
      // When the source broke, that is the error to report (and to decide about retrying), not the aborted request.
      throw reader.error ?? err;
    }
    await res.body.dump();
    const acknowledged = /^(?:bytes=)?0-(\d+)$/.exec(header(res, 'range') ?? '')?.[1];
    if (acknowledged !== undefined && Number(acknowledged) !== end) {
      throw new RegistryError(`${base.action} ${base.subject}: sent bytes up to ${end}, the registry acknowledged up to ${acknowledged}`,
        { registry: base.registry, repository: base.repository });
    }
    url = uploadLocation(res, `${base.action} ${base.subject}`, base.registry);
    offset += length;
  }
  await verifySource(reader, digest, size, base.subject);
  await completeUpload(session, base, url, digest, Buffer.alloc(0));
};

/** Uploads a small in-memory blob (configs, generated files) unless the repository has it already; returns its digest. */
export async function pushBlobBytes(session: Session, registry: string, repository: string, bytes: Uint8Array, opts: UploadOptions): Promise<string> {
  const digest = sha256Digest(bytes);
  if ((await blobSize(session, registry, repository, digest)) === bytes.length) return digest;
  await pushBlob(session, registry, repository, digest, bytes.length, async () => Readable.from([Buffer.from(bytes)]), opts);
  return digest;
}
