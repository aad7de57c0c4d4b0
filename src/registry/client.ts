// The registry client: the one object the rest of olm-mirror talks to registries through
// (OCI distribution spec / Docker registry HTTP API v2).
import type { Readable } from 'node:stream';
import type { CredentialStore } from '../auth/credentials.js';
import type { ImageReference } from '../reference/reference.js';
import type { LookupOptions, ReferrerDescriptor } from '../transport/store.js';
import { Authenticator, lookupAccess, repositoryScope } from './auth.js';
import { blobSize, getBlob } from './blobs.js';
import { RegistryError } from './errors.js';
import { getManifest, headManifest, putManifest, type FetchedManifest, type ManifestHead } from './manifests.js';
import type { BackoffPolicy } from './retry.js';
import { listReferrers } from './referrers.js';
import { Session, type CallSpec, type ClientEvent } from './session.js';
import { header, readText, Transport, type TransferRate } from './transport.js';
import { UploadJournal } from './upload-journal.js';
import { mountBlob, pushBlob, pushBlobBytes, type UploadOptions } from './uploads.js';

export { AuthenticationError, BlobNotFoundError, ManifestNotFoundError, RegistryError, type RegistryErrorDetail } from './errors.js';
export { DigestMismatchError } from '../manifest/digest.js';
export type { ClientEvent } from './session.js';
export { DEFAULT_MIN_TRANSFER_RATE, SlowTransferError, type TransferRate } from './transport.js';
export { CertificateAuthorityError } from './certificates.js';
export type { FetchedManifest } from './manifests.js';

export interface RegistryClientOptions {
  /** Anonymous when absent or without a match. */
  credentials?: CredentialStore;
  /** Allow plain HTTP (tried after HTTPS fails) and TLS certificates that do not verify. */
  insecure?: boolean;
  /** Extra CA certificates (PEM files), trusted besides the system roots. */
  caFiles?: string[];
  /** Default 6. */
  maxConnectionsPerRegistry?: number;
  /** Retries of a failed request (connection errors, 5xx, 429); default 4. */
  retries?: number;
  /** Time to wait for response headers and, between two body chunks, for data; default 60 s / 120 s. */
  requestTimeoutMs?: number;
  /**
   * A body slower than this over the window is abandoned and retried (a download resumes where it was);
   * default 1024 bytes/s over 30 s, like curl --speed-limit 1024 --speed-time 30. `bytesPerSecond: 0` turns it off.
   */
  minTransferRate?: TransferRate;
  /**
   * A registry that gives no answer at all (no connection, or no response headers to the /v2/ ping) in
   * 3 attempts within this time is given up: every request to it fails at once from then on; default 30 s.
   */
  unreachableAfterMs?: number;
  /** Retries, redirects, HTTP fallbacks, resumed downloads: for progress or verbose output. */
  onEvent?: (e: ClientEvent) => void;
  /** First backoff step and the longest wait between retries (also the cap on Retry-After); default 500 ms / 30 s. */
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Blobs up to this size are uploaded in one request; default 8 MiB. */
  monolithicUploadMaxBytes?: number;
  /** PATCH size of chunked uploads; default 16 MiB. */
  uploadChunkBytes?: number;
  /**
   * A folder where chunked uploads note how far they got, so that one cut short (the process killed)
   * is resumed by the next client at the offset the registry confirms; without it, such uploads start over.
   */
  uploadStateDir?: string;
}

const MiB = 1024 * 1024;
/** Entries per page of a tag or repository listing (distribution refuses more than 1,000 by default). */
const PAGE_SIZE = 1000;
/** The /v2/ ping's attempts without any answer before a registry is given up for the run. */
const PING_ATTEMPTS = 3;

export class RegistryClient {
  private readonly transport: Transport;
  private readonly session: Session;
  private readonly retries: number;
  private readonly backoff: BackoffPolicy;
  private readonly uploads: UploadOptions;

  constructor(opts: RegistryClientOptions = {}) {
    const emit = opts.onEvent ?? (() => undefined);
    this.retries = opts.retries ?? 4;
    this.backoff = { baseMs: opts.retryBaseDelayMs ?? 500, maxMs: opts.retryMaxDelayMs ?? 30_000 };
    const unreachableAfterMs = opts.unreachableAfterMs ?? 30_000;
    this.transport = new Transport({ ...opts, connectTimeoutMs: unreachableAfterMs / PING_ATTEMPTS });
    const auth = new Authenticator(this.transport, opts.credentials, opts.insecure ?? false, emit, {
      backoff: this.backoff, attempts: PING_ATTEMPTS, attemptTimeoutMs: unreachableAfterMs / PING_ATTEMPTS,
    });
    this.session = new Session(this.transport, auth, this.retries, this.backoff, emit);
    this.uploads = {
      retries: this.retries,
      backoff: this.backoff,
      monolithicMaxBytes: opts.monolithicUploadMaxBytes ?? 8 * MiB,
      chunkBytes: opts.uploadChunkBytes ?? 16 * MiB,
      journal: opts.uploadStateDir === undefined ? undefined : new UploadJournal(opts.uploadStateDir),
    };
  }

  /** By tag or digest (`latest` when neither); verified against `ref.digest` when there is one. */
  getManifest(ref: ImageReference): Promise<FetchedManifest> {
    return getManifest(this.session, ref);
  }

  /** undefined when the manifest does not exist. */
  headManifest(ref: ImageReference, opts: LookupOptions = {}): Promise<ManifestHead | undefined> {
    return headManifest(this.session, ref, opts);
  }

  /** `ref` needs a tag or a digest; returns the digest of the stored manifest. */
  putManifest(ref: ImageReference, manifest: { mediaType: string; bytes: Uint8Array }): Promise<string> {
    return putManifest(this.session, ref, manifest);
  }

  /** undefined when the repository does not have the blob. */
  blobSize(registry: string, repository: string, digest: string, opts: LookupOptions = {}): Promise<number | undefined> {
    return blobSize(this.session, registry, repository, digest, opts);
  }

  /** A stream of the blob that fails (DigestMismatchError) when the content is not what `digest` (and `size`) say. */
  getBlob(registry: string, repository: string, digest: string, opts: { size?: number } = {}): Promise<Readable> {
    return getBlob(this.session, registry, repository, digest, { size: opts.size, retries: this.retries, backoff: this.backoff });
  }

  /** false when the registry could not mount it (the blob then has to be uploaded). */
  mountBlob(registry: string, repository: string, digest: string, fromRepository: string): Promise<boolean> {
    return mountBlob(this.session, registry, repository, digest, fromRepository);
  }

  /**
   * `open` is called again for every retry; the upload is only completed when the stream hashed to `digest`.
   * `onBytes` is told the size of each chunk read for the upload (a retry reads from the start again).
   */
  pushBlob(registry: string, repository: string, digest: string, size: number, open: () => Promise<Readable>,
    onBytes?: (n: number) => void): Promise<void> {
    return pushBlob(this.session, registry, repository, digest, size, open, this.uploads, onBytes);
  }

  pushBlobBytes(registry: string, repository: string, bytes: Uint8Array): Promise<string> {
    return pushBlobBytes(this.session, registry, repository, bytes, this.uploads);
  }

  /** Every tag of the repository (following the registry's pagination). */
  async listTags(registry: string, repository: string, opts: LookupOptions = {}): Promise<string[]> {
    const spec = {
      registry, repository, scopes: [repositoryScope(repository, lookupAccess(opts))],
      action: 'listing tags of', subject: `${registry}/${repository}`,
    };
    const tags: string[] = [];
    for await (const page of this.pages(spec, `/v2/${repository}/tags/list?n=${PAGE_SIZE}`, 'tags')) tags.push(...page);
    return tags;
  }

  /**
   * Every repository of the registry (`/v2/_catalog`, as far as the credentials may see), or undefined when
   * it takes more than `maxPages` pages of 1,000 or the registry does not list them (many refuse or hide it).
   */
  async listRepositories(registry: string, maxPages: number): Promise<string[] | undefined> {
    const spec = { registry, scopes: ['registry:catalog:*'], action: 'listing the repositories of', subject: registry, retry: false as const };
    const repositories: string[] = [];
    let pages = 0;
    try {
      for await (const page of this.pages(spec, `/v2/_catalog?n=${PAGE_SIZE}`, 'repositories')) {
        if (++pages > maxPages) return undefined;
        repositories.push(...page);
      }
    } catch (err) {
      if (err instanceof RegistryError) return undefined;
      throw err;
    }
    return repositories;
  }

  /** The string arrays `field` of a listing's pages, following its Link headers. */
  private async *pages(spec: Omit<CallSpec, 'method' | 'target' | 'expect'>, first: string, field: string): AsyncGenerator<string[]> {
    for (let target: string | URL | undefined = first; target !== undefined;) {
      const call: CallSpec = { ...spec, method: 'GET', target, expect: [200] };
      const page: { items: string[]; next?: URL } = await this.session.request(call, async (res) => {
        const text = await readText(res, 64 * MiB);
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          throw new RegistryError(`${spec.action} ${spec.subject}: the registry's answer is not JSON`, { registry: spec.registry, repository: spec.repository });
        }
        const items = body[field];
        const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header(res, 'link') ?? '')?.[1];
        return { items: Array.isArray(items) ? items.map(String) : [], next: next === undefined ? undefined : new URL(next, res.url) };
      });
      yield page.items;
      target = page.next;
    }
  }

  /** The manifests whose `subject` is `ref.digest` (OCI referrers API); undefined when the registry has no such API. */
  referrers(ref: ImageReference): Promise<ReferrerDescriptor[] | undefined> {
    return listReferrers(this.session, ref);
  }

  /** Closes every connection; the client cannot be used afterwards. */
  close(): Promise<void> {
    return this.transport.close();
  }
}
