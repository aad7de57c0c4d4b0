// Blob uploads (monolithic or chunked) and cross-repository mounts. An upload is only completed
// (final PUT ?digest=) once the whole source was read and found to hash to the expected digest.
import { Readable } from 'node:stream';
import { DigestAccumulator, DigestMismatchError, sha256Digest, verifiedDigestOf } from '../manifest/digest.js';
import { registryHost, repositoryScope } from './auth.js';
import { blobSize } from './blobs.js';
import { RegistryError } from './errors.js';
import { type BackoffPolicy, isOverloadError, isRetryableError, retryDelay, sleep } from './retry.js';
import type { CallSpec, Session } from './session.js';
import { header, type HttpResponse, type RequestBody } from './transport.js';
import type { UploadJournal, UploadKey } from './upload-journal.js';

export interface UploadOptions {
  retries: number;
  backoff: BackoffPolicy;
  /** Blobs up to this size go in one PUT (read into memory first, so they can be verified before sending). */
  monolithicMaxBytes: number;
  /** Chunk size for bigger blobs: each chunk but the last streams in a PATCH, the last in the completing PUT; nothing is buffered. */
  chunkBytes: number;
  /** Notes chunked uploads' progress, so that one cut short by a kill is resumed by the next run. */
  journal?: UploadJournal;
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

/**
 * Reads a source stream in slices of exact sizes while hashing it; remembers the source's own error.
 * A source that verifies its own digest (createDigestVerifier, as getBlob returns) is not hashed a
 * second time: it fails instead of ending when the content is wrong, so reaching its end is the check.
 */
class SourceReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private carry: Buffer | undefined;
  /** Undefined when the source verifies `digest` itself. */
  private readonly hash: DigestAccumulator | undefined;
  readonly verifiesItself: boolean;
  private bytes = 0;
  /** Set when the source itself failed (as opposed to the request it was feeding). */
  error: unknown;

  constructor(source: Readable, private readonly digest: string, private readonly size: number, private readonly onBytes: (n: number) => void) {
    this.iterator = source[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
    this.verifiesItself = verifiedDigestOf(source) === digest;
    this.hash = this.verifiesItself ? undefined : new DigestAccumulator(digest);
  }

  /** Remembers why the source is not the blob, for the request it was feeding to report. */
  private fail(err: DigestMismatchError): DigestMismatchError {
    this.error = err;
    return err;
  }

  /** The digest of what was read, once the source ended (only once). */
  private actualDigest(): string {
    return this.hash ? this.hash.digest() : this.digest;
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

  /**
   * Exactly `length` bytes, or a DigestMismatchError (naming `subject`) when the source ends first.
   * `sent: false` for bytes only read to be hashed (the registry has them already): onBytes is not told.
   */
  async *take(length: number, subject: string, sent = true): AsyncGenerator<Buffer> {
    for (let remaining = length; remaining > 0;) {
      let chunk = await this.next();
      if (chunk === undefined) throw this.fail(new DigestMismatchError(this.digest, this.actualDigest(), { expected: this.size, actual: this.bytes }, subject));
      if (chunk.length > remaining) {
        this.carry = chunk.subarray(remaining);
        chunk = chunk.subarray(0, remaining);
      }
      remaining -= chunk.length;
      this.hash?.update(chunk);
      this.bytes += chunk.length;
      if (sent) this.onBytes(chunk.length);
      yield chunk;
    }
  }

  /**
   * After the last byte: nothing more may follow (a longer source is not the blob we were told about)
   * and the content must hash to the digest; otherwise this throws, and the upload is not completed.
   */
  async verifyEnd(subject: string): Promise<void> {
    for (;;) {
      const chunk = await this.next();
      if (chunk === undefined) break;
      if (chunk.length > 0) throw this.fail(new DigestMismatchError(this.digest, undefined, { expected: this.size, actual: this.bytes + chunk.length }, subject));
    }
    const actual = this.actualDigest();
    if (actual !== this.digest) throw this.fail(new DigestMismatchError(this.digest, actual, {}, subject));
  }

  /**
   * The last `length` bytes of the source, as take(), with its final chunk held back until verifyEnd()
   * passed: a request this body feeds cannot deliver its last byte unless the content is the blob.
   */
  async *takeLast(length: number, subject: string): AsyncGenerator<Buffer> {
    let held: Buffer | undefined;
    for await (const chunk of this.take(length, subject)) {
      if (held) yield held;
      held = chunk;
    }
    await this.verifyEnd(subject);
    if (held) yield held;
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

/**
 * Uploads a blob read from `open()` (called again for every attempt). The upload is completed only
 * when the source delivered exactly `size` bytes that hash to `digest`; otherwise it is cancelled.
 * `onBytes` is told the size of every chunk read for the upload.
 */
export async function pushBlob(
  session: Session, registry: string, repository: string, digest: string, size: number,
  open: () => Promise<Readable>, opts: UploadOptions, onBytes: (n: number) => void = () => undefined,
): Promise<void> {
  const base = uploadSpec(registry, repository, digest);
  const chunked = size > opts.monolithicMaxBytes;
  const key: UploadKey = { registry, repository, digest };
  const journal = chunked ? opts.journal : undefined;
  for (let attempt = 0; ; attempt++) {
    let source: Readable | undefined;
    let upload: UploadState | undefined;
    let reader: SourceReader | undefined;
    try {
      source = await open();
      // Only an upload left by an earlier process is resumed; one that failed in this run was cancelled.
      const resumed = attempt === 0 && journal ? await resumeUpload(session, base, journal, key, size) : undefined;
      const start = resumed?.res ?? await session.call({ ...base, method: 'POST', target: `/v2/${repository}/blobs/uploads/`, expect: [202] });
      if (!resumed) await start.body.dump();
      upload = resumed?.upload ?? { location: uploadLocation(start, `${base.action} ${base.subject}`, registry), offset: 0 };
      if (journal) upload.journal = { journal, key };
      // Registries may demand a minimum PATCH size (OCI distribution spec).
      const minChunk = Number(header(start, 'oci-chunk-min-length') ?? 0);
      reader = new SourceReader(source, digest, size, onBytes);
      const send = chunked ? uploadChunked : uploadMonolithic;
      await send(session, base, upload, reader, digest, size, Math.max(opts.chunkBytes, Number.isSafeInteger(minChunk) ? minChunk : 0));
      await journal?.remove(key);
      return;
    } catch (err) {
      if (upload) await cancelUpload(session, base, upload.location);
      await journal?.remove(key);
      // A download that failed its own digest check was damaged on the way: a fresh one may be fine, and is verified again.
      const damaged = err instanceof DigestMismatchError && reader?.verifiesItself === true;
      // Continuing an earlier upload may fail for reasons of its own (the registry's view of it differs): then a fresh one.
      const resumedAndFailed = attempt === 0 && upload?.resumed === true;
      if (!resumedAndFailed && (attempt >= opts.retries || !(isRetryableError(err) || damaged))) throw err;
      const delayMs = retryDelay(attempt, opts.backoff, err instanceof RegistryError ? err.retryAfterMs : undefined);
      session.emit({
        type: 'retry', registry, action: base.action, subject: base.subject,
        attempt: attempt + 1, maxAttempts: opts.retries + 1, delayMs, reason: (err as Error).message, overloaded: isOverloadError(err),
      });
      await sleep(delayMs);
    } finally {
      source?.destroy();
    }
  }
}

/**
 * The upload's current URL (each PATCH answers with the next one: registries keep their state in it),
 * the bytes the registry has, and where that is noted down.
 */
interface UploadState { location: URL; offset: number; resumed?: boolean; journal?: { journal: UploadJournal; key: UploadKey } }

/**
 * The upload an earlier process left, if the journal knows one and the registry still has it (GET on
 * its URL answers the bytes it holds): continued from there. Anything else starts a fresh upload.
 */
async function resumeUpload(
  session: Session, base: Omit<CallSpec, 'method' | 'target' | 'expect'>, journal: UploadJournal, key: UploadKey, size: number,
): Promise<{ upload: UploadState; res: HttpResponse } | undefined> {
  const record = await journal.read(key);
  if (!record) return undefined;
  let location: URL;
  try {
    location = new URL(record.location);
  } catch {
    return undefined;
  }
  // Only ever the registry's own host: the blob's content goes where this URL says.
  if (location.host !== registryHost(key.registry)) return undefined;
  let res: HttpResponse;
  try {
    res = await session.call({ ...base, action: 'checking the earlier upload of', method: 'GET', target: location, expect: [204], retry: false });
  } catch {
    return undefined; // gone (expired, completed, cancelled) or unreadable: a fresh upload it is
  }
  await res.body.dump();
  const held = /^(?:bytes=)?0-(\d+)$/.exec(header(res, 'range') ?? '')?.[1];
  const offset = held === undefined ? 0 : Number(held) + 1;
  const next = header(res, 'location');
  const upload: UploadState = { location: next ? new URL(next, res.url) : location, offset, resumed: true };
  if (offset <= 0 || offset >= size) {
    await cancelUpload(session, base, upload.location);
    return undefined;
  }
  session.emit({ type: 'resume', registry: key.registry, subject: base.subject, offset, restarted: false,
    reason: `${base.action} ${base.subject}: ${key.registry} still holds ${offset} bytes of an upload cut short earlier` });
  return { upload, res };
}

type Upload = (
  session: Session, base: Omit<CallSpec, 'method' | 'target' | 'expect'>, upload: UploadState,
  reader: SourceReader, digest: string, size: number, chunkBytes: number,
) => Promise<void>;

/** Final PUT ?digest=…, with the whole blob (monolithic) or its last chunk (chunked). */
async function completeUpload(
  session: Session, base: Omit<CallSpec, 'method' | 'target' | 'expect'>, location: URL, digest: string, body: RequestBody, size: number,
): Promise<void> {
  const res = await session.call({
    ...base, method: 'PUT', target: withDigestParam(location, digest), retry: false,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) }, body, expect: [201, 204],
  });
  await res.body.dump();
  const stored = header(res, 'docker-content-digest');
  if (stored !== undefined && stored !== digest) {
    throw new RegistryError(`${base.action} ${base.subject}: the registry stored it as ${stored}`, { registry: base.registry, repository: base.repository });
  }
}

const uploadMonolithic: Upload = async (session, base, upload, reader, digest, size) => {
  const parts: Buffer[] = [];
  for await (const part of reader.take(size, `source of ${base.subject}`)) parts.push(part);
  await reader.verifyEnd(`source of ${base.subject}`);
  // Buffers (not a stream) let the request be re-sent after a 401 re-challenge; the parts go out as they
  // came (joining them would copy the blob once more), a single one in one write.
  await completeUpload(session, base, upload.location, digest, parts.length > 1 ? parts : parts[0] ?? Buffer.alloc(0), size);
};

const uploadChunked: Upload = async (session, base, upload, reader, digest, size, chunkBytes) => {
  const subject = `source of ${base.subject}`;
  // The registry holds the first bytes already (a resumed upload): they are read only to be hashed.
  for await (const held of reader.take(upload.offset, subject, false)) void held;
  // Every chunk but the last goes in a PATCH; the last one in the PUT that completes the upload (one
  // request fewer per blob), its final bytes sent only once the whole source was verified.
  for (let offset = upload.offset; size - offset > chunkBytes;) {
    const end = offset + chunkBytes - 1;
    const res = await sendReading(reader, () => session.call({
      ...base, method: 'PATCH', target: upload.location, retry: false,
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${end}`, 'content-length': String(chunkBytes) },
      body: reader.take(chunkBytes, subject), expect: [202],
    }));
    await res.body.dump();
    const acknowledged = /^(?:bytes=)?0-(\d+)$/.exec(header(res, 'range') ?? '')?.[1];
    if (acknowledged !== undefined && Number(acknowledged) !== end) {
      throw new RegistryError(`${base.action} ${base.subject}: sent bytes up to ${end}, the registry acknowledged up to ${acknowledged}`,
        { registry: base.registry, repository: base.repository });
    }
    upload.location = uploadLocation(res, `${base.action} ${base.subject}`, base.registry);
    offset += chunkBytes;
    upload.offset = offset;
    await upload.journal?.journal.write(upload.journal.key, { location: upload.location.href, offset });
  }
  const last = size - upload.offset;
  await sendReading(reader, () => completeUpload(session, base, upload.location, digest, reader.takeLast(last, subject), last));
};

/** A request whose body `reader` feeds: when the source broke, that is the error to report (and to decide about retrying), not the aborted request. */
async function sendReading<T>(reader: SourceReader, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (err) {
    throw reader.error ?? err;
  }
}

/** Uploads a small in-memory blob (configs, generated files) unless the repository has it already; returns its digest. */
export async function pushBlobBytes(session: Session, registry: string, repository: string, bytes: Uint8Array, opts: UploadOptions): Promise<string> {
  const digest = sha256Digest(bytes);
  if ((await blobSize(session, registry, repository, digest)) === bytes.length) return digest;
  await pushBlob(session, registry, repository, digest, bytes.length, async () => Readable.from([Buffer.from(bytes)]), opts);
  return digest;
}
