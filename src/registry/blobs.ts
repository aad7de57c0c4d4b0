// Blob HEAD and GET. Downloads are digest-verified streams that resume (Range) when the connection breaks.
import type { Readable } from 'node:stream';
import { createDigestVerifier } from '../manifest/digest.js';
import { lookupAccess, repositoryScope } from './auth.js';
import type { LookupOptions } from '../transport/store.js';
import { BlobNotFoundError, formatErrorDetails, networkError, parseErrorBody, RegistryError } from './errors.js';
import { backoffDelay, isRetryableError, sleep } from './retry.js';
import type { CallSpec, Session } from './session.js';
import { header, readText, TransferWatchdog, type HttpResponse } from './transport.js';

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

/** Frees the connection of a body nobody will read; the abort it then reports is no news. */
function abandon(body: Readable): void {
  body.once('error', () => undefined).destroy();
}

/** A response positioned at `offset` of the blob: 206 from that offset, or 200 from the start with bytes to skip. */
interface Segment { res: HttpResponse; skip: number }

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
      return { res, skip: 0 };
    }
    return { res, skip: offset };
  };

  const first = await open(0);
  const verifier = createDigestVerifier(digest, opts.size, spec.subject);
  // It may fail before anyone reads from it (a small blob arrives whole while the upload it feeds is still
  // starting): the reader gets the error when it starts reading, it must not crash the process meanwhile.
  verifier.on('error', () => undefined);
  let offset = 0;
  let resumes = 0;

  // The response bodies are written straight into the verifier (no generators or pipelines in between:
  // this runs for every chunk of every blob); a body that breaks is continued from `offset` by a new one.
  const feed = ({ res, skip }: Segment): void => {
    const body = res.body;
    const watchdog = TransferWatchdog.watch(res);
    let waitingForDrain = false;
    const onDrain = (): void => {
      waitingForDrain = false;
      watchdog?.resume();
      body.resume();
    };
    const onData = (chunk: Buffer): void => {
      watchdog?.received(chunk.length);
      let data = chunk;
      if (skip > 0) {
        if (data.length <= skip) { skip -= data.length; return; }
        data = data.subarray(skip);
        skip = 0;
      }
      offset += data.length;
      if (!verifier.write(data) && !waitingForDrain) {
        waitingForDrain = true;
        body.pause();
        watchdog?.pause();
        verifier.once('drain', onDrain);
      }
    };
    const detach = (): void => {
      watchdog?.pause();
      body.off('data', onData).off('end', onEnd).off('error', onError);
      verifier.off('drain', onDrain).off('close', onGiveUp);
    };
    const onEnd = (): void => {
      detach();
      // A clean end before the known size is a broken download too (some proxies end the body early).
      if (skip > 0 || (opts.size !== undefined && offset < opts.size)) {
        void continueAfter(Object.assign(new Error(`the body ended after ${offset} of ${opts.size ?? '?'} bytes`), { code: 'ERR_STREAM_PREMATURE_CLOSE' }), res.url.host);
        return;
      }
      // A verifier that finds a mismatch drops what it still holds: it is ended once the reader took the last chunk.
      const finish = (): void => { setImmediate(() => { if (!verifier.destroyed) verifier.end(); }); };
      if (waitingForDrain) verifier.once('drain', finish);
      else finish();
    };
    const onError = (err: unknown): void => {
      detach();
      void continueAfter(err, res.url.host);
    };
    // The reader gave up (or the verifier failed): the connection is freed.
    const onGiveUp = (): void => {
      detach();
      abandon(body);
    };
    body.on('data', onData).once('end', onEnd).once('error', onError);
    verifier.once('close', onGiveUp);
  };

  const continueAfter = async (err: unknown, host: string): Promise<void> => {
    if (verifier.destroyed) return;
    const wrapped = err instanceof RegistryError ? err : networkError(session.context(spec), err, host);
    if (resumes >= opts.retries || !isRetryableError(wrapped)) {
      verifier.destroy(wrapped);
      return;
    }
    try {
      await sleep(backoffDelay(resumes++, opts.backoff));
      if (verifier.destroyed) return;
      const segment = await open(offset);
      if (verifier.destroyed) {
        abandon(segment.res.body);
        return;
      }
      session.emit({ type: 'resume', registry, subject: spec.subject, offset, restarted: segment.skip > 0, reason: wrapped.message });
      feed(segment);
    } catch (reopenError) {
      verifier.destroy(reopenError as Error);
    }
  };

  feed(first);
  return verifier;
}
