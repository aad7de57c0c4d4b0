// Content digests: computing them and verifying streamed content against them.
import { OlmMirrorError } from '../errors.js';
import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';

/** Algorithms the OCI image spec registers; the hex length is fixed for each. */
const hexLength = new Map([['sha256', 64], ['sha512', 128]]);

export class InvalidDigestError extends OlmMirrorError {
  constructor(readonly digest: string, reason: string) {
    super('input', `invalid digest "${digest}": ${reason}`);
  }
}

/** Content did not hash to the digest (or have the size) it was addressed by. */
export class DigestMismatchError extends OlmMirrorError {
  /**
   * `actual` is undefined when reading stopped early because more than `expectedSize` bytes arrived.
   * `subject` names the content in the message (e.g. "blob sha256:… of quay.io/foo/bar").
   */
  constructor(
    readonly expected: string,
    readonly actual: string | undefined,
    readonly sizes: { expected?: number; actual?: number } = {},
    readonly subject?: string,
  ) {
    const parts: string[] = [];
    if (sizes.expected !== undefined && sizes.actual !== undefined && sizes.expected !== sizes.actual) {
      parts.push(actual === undefined
        ? `size mismatch: expected ${sizes.expected} bytes, got more`
        : `size mismatch: expected ${sizes.expected} bytes, got ${sizes.actual}`);
    }
    if (actual !== undefined && actual !== expected) parts.push(`digest mismatch: expected ${expected}, got ${actual}`);
    super('integrity', `${subject ?? `content ${expected}`}: ${parts.join('; ')}`);
  }
}

/**
 * Splits `alg:hex` after checking the algorithm is one the OCI image spec registers and the hex has
 * its exact length. The one digest check of olm-mirror: image references use it too.
 */
export function parseDigest(digest: string): { algorithm: string; hex: string } {
  const colon = digest.indexOf(':');
  if (colon < 0) throw new InvalidDigestError(digest, 'expected <algorithm>:<hex>, e.g. sha256:<64 hex characters>');
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const length = hexLength.get(algorithm);
  if (length === undefined) {
    throw new InvalidDigestError(digest, `unsupported algorithm "${algorithm}" (supported: ${[...hexLength.keys()].join(', ')})`);
  }
  if (hex.length !== length || !/^[0-9a-f]+$/.test(hex)) {
    throw new InvalidDigestError(digest, `expected ${length} lowercase hex characters after "${algorithm}:"`);
  }
  return { algorithm, hex };
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Digest of `bytes` with the same algorithm as `like` (so sha512-addressed content is checked with sha512). */
export function digestLike(like: string, bytes: Uint8Array): string {
  const { algorithm } = parseDigest(like);
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** Incremental hashing with a running byte count, for code that streams content itself. */
export class DigestAccumulator {
  private readonly hash: Hash;
  private readonly algorithm: string;
  bytes = 0;

  constructor(expected: string) {
    this.algorithm = parseDigest(expected).algorithm;
    this.hash = createHash(this.algorithm);
  }

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }

  /** Only once: the hash cannot be used after this. */
  digest(): string {
    return `${this.algorithm}:${this.hash.digest('hex')}`;
  }
}

/** Streams made by createDigestVerifier, with the digest they verify. */
const verifiers = new WeakMap<Readable, string>();

/**
 * The digest `stream` verifies, when it is a stream made by createDigestVerifier that nobody has read
 * from yet. Whoever then reads it to a clean end ('end', no error) has read exactly the content of that
 * digest, so need not hash it again.
 */
export function verifiedDigestOf(stream: Readable): string | undefined {
  return stream.readableDidRead ? undefined : verifiers.get(stream);
}

/**
 * A pass-through stream that hashes what flows through it and fails at the end (DigestMismatchError)
 * when the digest, or the size when given, is not the expected one. It also fails as soon as more
 * than `expectedSize` bytes arrive, so an endless or wrong source is not read to its end. The check
 * runs before the stream ends: a reader sees the error instead of 'end' (see verifiedDigestOf).
 */
export function createDigestVerifier(expected: string, expectedSize?: number, subject?: string): Transform {
  const acc = new DigestAccumulator(expected);
  const verifier = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      acc.update(chunk);
      if (expectedSize !== undefined && acc.bytes > expectedSize) {
        callback(new DigestMismatchError(expected, undefined, { expected: expectedSize, actual: acc.bytes }, subject));
        return;
      }
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      const actual = acc.digest();
      if (actual !== expected || (expectedSize !== undefined && acc.bytes !== expectedSize)) {
        callback(new DigestMismatchError(expected, actual, { expected: expectedSize, actual: acc.bytes }, subject));
        return;
      }
      callback();
    },
  });
  verifiers.set(verifier, expected);
  return verifier;
}
