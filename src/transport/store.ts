// The one place images come from and go to. A registry is one image store, an OCI image layout on
// disk another; the planner, the executor and the catalog image code see only this interface, as
// go-containerregistry's `remote` and `layout` or regclient's schemes sit behind one API.
//
// Images are addressed by ImageReference everywhere: a registry store uses its registry and
// repository, a layout store keeps each image under its full reference as the index entry's name
// and holds every blob once, whatever repository it is asked for.
import type { Readable } from 'node:stream';
import { isNotFound } from '../errors.js';
import type { ImageReference } from '../reference/reference.js';

/** A repository inside a store. */
export interface RepositoryRef {
  readonly registry: string;
  readonly repository: string;
}

export interface StoredManifest { mediaType: string; digest: string; bytes: Buffer }
export interface ManifestHead { mediaType: string; digest: string; size: number }

/** A manifest that names another as its `subject` (OCI 1.1), as the referrers API lists it. */
export interface ReferrerDescriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface LookupOptions {
  /**
   * The repository is about to be written (a mirror destination): a registry then hands out a push token right
   * away, so the check and the writes share one token, and registries that hide repositories from pull-only
   * tokens (401/403 instead of 404 for one not created yet) answer the check.
   */
  forPush?: boolean;
}

export interface ImageStore {
  /**
   * Identity for limiter and dedupe keys: two stores with one id are one place (`registry quay.io`,
   * `oci /srv/mirror`). Work for one store never waits behind another's.
   */
  readonly id: string;
  /** How messages name it. */
  readonly description: string;
  /** Every blob is held once for the whole store (an OCI layout), not per repository (a registry). */
  readonly sharedBlobs?: boolean;
  /** On this machine (a folder, memory): a copy between it and a remote store is bounded by the remote one alone. */
  readonly local?: boolean;

  /** By tag or digest (`latest` when neither), verified against `ref.digest`; a NotFound-kind error when absent. */
  getManifest(ref: ImageReference): Promise<StoredManifest>;
  /** undefined when the manifest does not exist. */
  headManifest(ref: ImageReference, opts?: LookupOptions): Promise<ManifestHead | undefined>;
  /** `ref` needs a tag or a digest; returns the digest of the stored manifest. */
  putManifest(ref: ImageReference, manifest: { mediaType: string; bytes: Uint8Array }): Promise<string>;

  /** undefined when the repository does not have the blob. */
  blobSize(repo: RepositoryRef, digest: string, opts?: LookupOptions): Promise<number | undefined>;
  /** A stream of the blob that fails (DigestMismatchError) when the content is not what `digest` (and `size`) say. */
  getBlob(repo: RepositoryRef, digest: string, opts?: { size?: number }): Promise<Readable>;
  /**
   * Stores a blob only once the bytes hashed to `digest`. `open` is called again for every retry;
   * `onBytes` is told the size of each chunk written (a retry starts from the beginning again).
   */
  pushBlob(repo: RepositoryRef, digest: string, size: number, open: () => Promise<Readable>, onBytes?: (n: number) => void): Promise<void>;
  /** Stores small content held in memory; returns its digest. */
  pushBlobBytes(repo: RepositoryRef, bytes: Uint8Array): Promise<string>;

  /** Optional: cross-repository mount within this store; false when refused (the blob then has to be written). */
  mountBlob?(repo: RepositoryRef, digest: string, fromRepository: string): Promise<boolean>;
  /** Optional: every tag of a repository. */
  listTags?(repo: RepositoryRef, opts?: LookupOptions): Promise<string[]>;
  /**
   * Optional: every repository of `registry`, or undefined when the store cannot list them all in `maxPages`
   * pages (a registry may refuse, or hold too many). A hint: what it leaves out may still exist.
   */
  listRepositories?(registry: string, maxPages: number): Promise<string[] | undefined>;
  /** Optional: the manifests whose `subject` is `ref.digest`; undefined when the store cannot tell (no referrers API). */
  referrers?(ref: ImageReference): Promise<readonly ReferrerDescriptor[] | undefined>;

  /** Makes everything written so far durable and visible to readers of the store (a layout writes its index). */
  commit(): Promise<void>;
  /** Commits and releases connections and files; the store cannot be used afterwards. */
  close(): Promise<void>;
}

/** Which store a reference is read from or written to. */
export interface StoreResolver {
  source(ref: ImageReference): ImageStore;
  destination(ref: ImageReference): ImageStore;
}

/** Whether a blob can be mounted from `from` into `to`: only within one store that can mount. */
export function canMount(from: ImageStore, to: ImageStore): boolean {
  return from.id === to.id && to.mountBlob !== undefined;
}

/** The distribution spec's codes for a manifest that refers to blobs or manifests the repository lacks. */
const MISSING_REFERENCE_CODES = new Set(['MANIFEST_BLOB_UNKNOWN', 'BLOB_UNKNOWN', 'MANIFEST_UNKNOWN']);

/**
 * A manifest write refused because something it refers to is not in the store. Stores report this
 * with the distribution spec's error code (`code` on the error), whatever their transport.
 */
export function isMissingReference(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && MISSING_REFERENCE_CODES.has(code) && !isNotFound(err);
}

/** The store says the repository does not exist (the distribution spec's NAME_UNKNOWN), not merely that something in it is missing. */
export function isUnknownRepository(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'NAME_UNKNOWN';
}
