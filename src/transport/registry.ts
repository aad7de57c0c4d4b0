// A registry as an image store: the OCI distribution client, one store per registry host so that
// limits and dedupe keys are per registry. Every registry store of a run shares one client (its
// connection pools and token cache); whoever made the client closes it.
import type { Readable } from 'node:stream';
import type { ImageReference } from '../reference/reference.js';
import type { RegistryClient } from '../registry/client.js';
import type { ImageStore, LookupOptions, RepositoryRef, StoreResolver } from './store.js';

export class RegistryStore implements ImageStore {
  readonly id: string;
  readonly description: string;

  constructor(private readonly client: RegistryClient, readonly registry: string) {
    this.id = `registry ${registry}`;
    this.description = `registry ${registry}`;
  }

  getManifest(ref: ImageReference) {
    return this.client.getManifest(ref);
  }

  headManifest(ref: ImageReference, opts?: LookupOptions) {
    return this.client.headManifest(ref, opts);
  }

  putManifest(ref: ImageReference, manifest: { mediaType: string; bytes: Uint8Array }) {
    return this.client.putManifest(ref, manifest);
  }

  blobSize(repo: RepositoryRef, digest: string, opts?: LookupOptions) {
    return this.client.blobSize(repo.registry, repo.repository, digest, opts);
  }

  getBlob(repo: RepositoryRef, digest: string, opts?: { size?: number }) {
    return this.client.getBlob(repo.registry, repo.repository, digest, opts);
  }

  pushBlob(repo: RepositoryRef, digest: string, size: number, open: () => Promise<Readable>, onBytes?: (n: number) => void) {
    return this.client.pushBlob(repo.registry, repo.repository, digest, size, open, onBytes);
  }

  pushBlobBytes(repo: RepositoryRef, bytes: Uint8Array) {
    return this.client.pushBlobBytes(repo.registry, repo.repository, bytes);
  }

  mountBlob(repo: RepositoryRef, digest: string, fromRepository: string) {
    return this.client.mountBlob(repo.registry, repo.repository, digest, fromRepository);
  }

  listTags(repo: RepositoryRef, opts?: LookupOptions) {
    return this.client.listTags(repo.registry, repo.repository, opts);
  }

  listRepositories(registry: string, maxPages: number) {
    return this.client.listRepositories(registry, maxPages);
  }

  referrers(ref: ImageReference) {
    return this.client.referrers(ref);
  }

  /** A registry makes every write visible as it answers it. */
  async commit(): Promise<void> {}

  /** The shared client outlives its stores. */
  async close(): Promise<void> {}
}

/** Every reference is read from and written to its own registry. */
export class RegistryStores implements StoreResolver {
  private readonly stores = new Map<string, RegistryStore>();

  constructor(private readonly client: RegistryClient) {}

  forRegistry(registry: string): RegistryStore {
    let store = this.stores.get(registry);
    if (store === undefined) {
      store = new RegistryStore(this.client, registry);
      this.stores.set(registry, store);
    }
    return store;
  }

  source(ref: ImageReference): RegistryStore {
    return this.forRegistry(ref.registry);
  }

  destination(ref: ImageReference): RegistryStore {
    return this.forRegistry(ref.registry);
  }
}
