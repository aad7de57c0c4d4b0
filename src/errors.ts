// One error base class for the whole library. Its kind, not the class, decides how a command ends:
// the CLI maps kinds to exit statuses, so no call site has to wrap errors to get the status right.

/**
 * usage: bad flags or an input file that cannot be used at all (nothing was done);
 * input: content that cannot be processed (a catalog, a manifest, a mapped image name);
 * not-found: an image or blob that does not exist, whichever store was asked;
 * transport: a registry or store that failed or refused;
 * integrity: content whose bytes do not match its digest.
 */
export type ErrorKind = 'usage' | 'input' | 'not-found' | 'transport' | 'integrity';

export class OlmMirrorError extends Error {
  readonly kind: ErrorKind;

  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = new.target.name;
  }
}

/** An image or blob does not exist in the store that was asked (transport-neutral). */
export class NotFoundError extends OlmMirrorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('not-found', message, options);
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof OlmMirrorError && err.kind === 'not-found';
}

/** Exit statuses scripts can rely on. */
export const ExitCode = {
  Ok: 0,
  /** Some work failed (images not mirrored, catalog unreadable, ...). */
  Failed: 1,
  /** Bad flags, or a mapping, credentials or CA file that cannot be used: nothing was done. */
  Usage: 2,
} as const;

export function exitCodeFor(err: unknown): number {
  return err instanceof OlmMirrorError && err.kind === 'usage' ? ExitCode.Usage : ExitCode.Failed;
}
