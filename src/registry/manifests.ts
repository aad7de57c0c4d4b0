// Manifest GET/HEAD/PUT, with the digest of what was transferred always checked.
import type { StoredManifest as FetchedManifest, ManifestHead } from '../transport/store.js';
import { DigestMismatchError, digestLike, parseDigest, sha256Digest } from '../manifest/digest.js';
import { isSchema1Manifest, parseManifest, schema1Error } from '../manifest/manifest.js';
import { baseMediaType, ImageManifestMediaTypes, isIndexMediaType, isSchema1MediaType, ManifestAccept } from '../manifest/media-types.js';
import { formatReference, type ImageReference } from '../reference/reference.js';
import { lookupAccess, repositoryScope } from './auth.js';
import type { LookupOptions } from '../transport/store.js';
import { formatErrorDetails, ManifestNotFoundError, parseErrorBody, RegistryError } from './errors.js';
import type { Session } from './session.js';
import { header, readBody, readText, type HttpResponse } from './transport.js';

export type { StoredManifest as FetchedManifest, ManifestHead } from '../transport/store.js';

/** Registries accept at least 4 MiB (distribution's limit); more than this is not a manifest. */
const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;
const ACCEPT = ManifestAccept.join(', ');

/** docker, oc and skopeo read a bare name as `:latest`; so do we. */
function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

function displayName(ref: ImageReference): string {
  return formatReference(ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: 'latest' } : ref);
}

function manifestPath(ref: ImageReference, reference = manifestReference(ref)): string {
  return `/v2/${ref.repository}/manifests/${reference}`;
}

async function notFound(res: HttpResponse, ref: ImageReference): Promise<ManifestNotFoundError> {
  const errors = parseErrorBody(await readText(res));
  // The detail ({"Tag":"v1"}) repeats the reference; code and message say it all.
  const details = formatErrorDetails(errors, { detail: false });
  return new ManifestNotFoundError(`image ${displayName(ref)} not found (${res.status}${details ? ` ${details}` : ''})`, {
    registry: ref.registry, repository: ref.repository, status: res.status, errors,
  });
}

/** The media type from Content-Type when it is a manifest type, else from the JSON itself (some servers say application/json). */
function manifestMediaType(bytes: Buffer, contentType: string | undefined, subject: string): string {
  const type = contentType === undefined ? '' : baseMediaType(contentType);
  if (ImageManifestMediaTypes.includes(type) || isIndexMediaType(type)) return type;
  return parseManifest(bytes, contentType, subject).mediaType;
}

/**
 * The digest the registry claims (Docker-Content-Digest) must be the digest of the bytes, when comparable.
 * `mismatch` makes the error (for a download, a DigestMismatchError: the bytes were damaged on the way).
 */
function checkClaimedDigest(res: HttpResponse, actual: string, mismatch: (claimed: string) => Error): void {
  const claimed = header(res, 'docker-content-digest');
  if (claimed === undefined) return;
  let algorithm: string;
  try {
    algorithm = parseDigest(claimed).algorithm;
  } catch {
    return; // a header we cannot read does not get to veto content we verified ourselves
  }
  if (algorithm === parseDigest(actual).algorithm && claimed !== actual) throw mismatch(claimed);
}

export async function getManifest(session: Session, ref: ImageReference): Promise<FetchedManifest> {
  const subject = displayName(ref);
  const spec = {
    registry: ref.registry, repository: ref.repository, scopes: [repositoryScope(ref.repository, 'pull')],
    method: 'GET', target: manifestPath(ref), headers: { accept: ACCEPT }, expect: [200, 404],
    action: 'pulling manifest', subject,
  } as const;
  return session.request(spec, async (res) => {
    if (res.status === 404) throw await notFound(res, ref);
    const { bytes, truncated } = await readBody(res, MAX_MANIFEST_BYTES);
    if (truncated) {
      throw new RegistryError(`pulling manifest ${subject}: larger than ${MAX_MANIFEST_BYTES} bytes, which is not a manifest`, { registry: ref.registry });
    }
    const contentType = header(res, 'content-type');
    if (isSchema1Manifest(bytes, contentType)) throw schema1Error(`image ${subject}`);
    const digest = ref.digest ? digestLike(ref.digest, bytes) : sha256Digest(bytes);
    if (ref.digest && digest !== ref.digest) {
      throw new DigestMismatchError(ref.digest, digest, {}, `manifest of ${subject}`);
    }
    checkClaimedDigest(res, digest, (claimed) => new DigestMismatchError(claimed, digest, {}, `manifest of ${subject} (digest reported by the registry)`));
    return { mediaType: manifestMediaType(bytes, contentType, `image ${subject}`), digest, bytes };
  });
}

/** Digest, media type and size without the body; undefined when the manifest does not exist. */
export async function headManifest(session: Session, ref: ImageReference, opts: LookupOptions = {}): Promise<ManifestHead | undefined> {
  const subject = displayName(ref);
  const res = await session.call({
    registry: ref.registry, repository: ref.repository, scopes: [repositoryScope(ref.repository, lookupAccess(opts))],
    method: 'HEAD', target: manifestPath(ref), headers: { accept: ACCEPT }, expect: [200, 404],
    action: 'checking manifest', subject,
  });
  await res.body.dump();
  if (res.status === 404) return undefined;
  const digest = header(res, 'docker-content-digest');
  const contentType = header(res, 'content-type');
  const length = Number(header(res, 'content-length'));
  if (digest === undefined || contentType === undefined || !Number.isSafeInteger(length)) {
    // Registries need not send these on HEAD; the body tells everything.
    const fetched = await getManifest(session, ref);
    return { mediaType: fetched.mediaType, digest: fetched.digest, size: fetched.bytes.length };
  }
  if (isSchema1MediaType(baseMediaType(contentType))) throw schema1Error(`image ${subject}`);
  return { mediaType: baseMediaType(contentType), digest, size: length };
}

/** PUTs a manifest under `ref`'s tag (else its digest) and returns the digest the registry stored it under. */
export async function putManifest(session: Session, ref: ImageReference, manifest: { mediaType: string; bytes: Uint8Array }): Promise<string> {
  const reference = ref.tag ?? ref.digest;
  const subject = formatReference(ref);
  if (reference === undefined) {
    throw new RegistryError(`pushing manifest ${subject}: the target needs a tag or a digest`, { registry: ref.registry, repository: ref.repository });
  }
  const digest = ref.digest ? digestLike(ref.digest, manifest.bytes) : sha256Digest(manifest.bytes);
  if (ref.digest && digest !== ref.digest) throw new DigestMismatchError(ref.digest, digest, {}, `manifest for ${subject}`);
  const res = await session.call({
    registry: ref.registry, repository: ref.repository, scopes: [repositoryScope(ref.repository, 'pull,push')],
    method: 'PUT', target: manifestPath(ref, reference),
    headers: { 'content-type': manifest.mediaType, 'content-length': String(manifest.bytes.length) },
    body: manifest.bytes, expect: [200, 201, 202], action: 'pushing manifest', subject,
  });
  await res.body.dump();
  checkClaimedDigest(res, digest, (claimed) => new RegistryError(`pushing manifest ${subject}: the registry stored it as ${claimed}, `
    + `but the manifest bytes hash to ${digest}`, { registry: ref.registry, repository: ref.repository }));
  return digest;
}
