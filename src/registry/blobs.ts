// Blob HEAD and GET. Downloads are digest-verified streams that resume (Range) when the connection breaks.
import { pipeline, Readable } from 'node:stream';
import { createDigestVerifier } from '../manifest/digest.js';
import { lookupAccess, repositoryScope } from './auth.js';
import type { LookupOptions } from '../transport/store.js';
import { BlobNotFoundError, formatErrorDetails, networkError, parseErrorBody, RegistryError } from './errors.js';
import { backoffDelay, isRetryableError, sleep } from './retry.js';
import type { CallSpec, Session } from './session.js';
import { bodyChunks, header, readText, type HttpResponse } from './transport.js';

function blobPath(repository: string, digest: string): string {
  return `/v2/${repository}/blobs/${digest}`;
}

function blobSpec(registry: string, repository: string, digest: string, method: 'HEAD' | 'GET', action: string, access: 'pull' | 'pull,push' = 'pull'): CallSpec {
  return {
    registry, repository, scopes: [repositoryScope(repository, access)], method, target: blobPath(repository, digest),
    expect: [200, 206, 404], followRedirects: true, action, subject: `blob ${digest} of ${registry}/${repository}`,
  };
}

async function blobNotFound(res: HttpResponse, registry: string, repository: string, digest: string): Promise<BlobNotFoundError> {
  const errors = parseErrorBody(await readText(res));
  // The detail repeats the digest, which the message names already.
  const details = formatErrorDetails(errors, { detail: false });
  return new BlobNotFoundError(`blob ${digest} not found in ${registry}/${repository} (${res.status}${details ? ` ${details}` : ''})`, {
    registry, repository, status: res.status, errors,
  });
}

/** Size of a blob, or undefined when the repository does not have it. */
export async function blobSize(session: Session, registry: string, repository: string, digest: string, opts: LookupOptions = {})
  : Promise<number | undefined> {
  const spec = blobSpec(registry, repository, digest, 'HEAD', 'checking', lookupAccess(opts));
  const res = await session.call(spec);
  await res.body.dump();
  if (res.status === 404) return undefined;
  const size = Number(header(res, 'content-length'));
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RegistryError(`${spec.action} ${spec.subject}: the registry sent no usable Content-Length`, session.context(spec));
  }
  return size;
}

/** A response body positioned at `offset` of the blob: 206 from that offset, or 200 from the start with bytes to skip. */
interface Segment { body: AsyncIterable<Buffer>; skip: number; host: string }

export interface GetBlobOptions {
  size?: number;
  retries: number;
  backoff: { baseMs: number; maxMs: number };
}

/**
 * Opens a blob download. Rejects right away when the blob is missing or access fails; after that, the
 * stream errors with DigestMismatchError when the content (or its size, if given) is wrong.
 */
export async function getBlob(
  session: Session, registry: string, repository: string, digest: string, opts: GetBlobOptions,
): Promise<Readable> {
  const spec = blobSpec(registry, repository, digest, 'GET', 'pulling');

  const open = async (offset: number): Promise<Segment> => {
    const res = await session.call(offset > 0 ? { ...spec, headers: { range: `bytes=${offset}-` } } : spec);
    if (res.status === 404) throw await blobNotFound(res, registry, repository, digest);
    if (res.status === 206) {
      const start = /^bytes (\d+)-/.exec(header(res, 'content-range') ?? '')?.[1];
      if (offset === 0 || Number(start) !== offset) {
        await res.body.dump();
        throw new RegistryError(`${spec.action} ${spec.subject}: asked for bytes from ${offset}, the server sent range "${header(res, 'content-range') ?? ''}"`,
          session.context(spec));
      }
      return { body: bodyChunks(res), skip: 0, host: res.url.host };
    }
    return { body: bodyChunks(res), skip: offset, host: res.url.host };
  };

  async function* download(first: Segment): AsyncGenerator<Buffer> {
    let segment = first;
    let offset = 0;
    // Suspended at `yield`: an error arriving there is the reader giving up (it destroyed the stream), not the download failing.
    let handedOut = false;
    for (let resumes = 0; ; resumes++) {
      try {
        let skip = segment.skip;
        for await (const chunk of segment.body) {
          let data = chunk;
          if (skip > 0) {
            if (data.length <= skip) { skip -= data.length; continue; }
            data = data.subarray(skip);
            skip = 0;
          }
          offset += data.length;
          handedOut = true;
          yield data;
          handedOut = false;
        }
        // A clean end before the known size is a broken download too (some proxies end the body early).
        if (skip > 0 || (opts.size !== undefined && offset < opts.size)) {
          throw Object.assign(new Error(`the body ended after ${offset} of ${opts.size ?? '?'} bytes`), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
        }
        return;
      } catch (err) {
        if (handedOut) throw err;
        const wrapped = err instanceof RegistryError ? err : networkError(session.context(spec), err, segment.host);
        if (resumes >= opts.retries || !isRetryableError(wrapped)) throw wrapped;
        await sleep(backoffDelay(resumes, opts.backoff));
        segment = await open(offset);
        session.emit({ type: 'resume', registry, subject: spec.subject, offset, restarted: segment.skip > 0, reason: wrapped.message });
      }
    }
  }

  const first = await open(0);
  const verifier = createDigestVerifier(digest, opts.size, spec.subject);
  // pipeline() destroys the source when the consumer gives up early, which frees the connection.
  pipeline(Readable.from(download(first), { objectMode: false }), verifier, () => undefined);
  return verifier;
}
