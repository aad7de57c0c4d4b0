// Attached artifacts: what signs, attests or describes a mirrored manifest, kept beside it in the
// source repository. cosign's tags `sha256-<hex>.sig`, `.att` and `.sbom`, and OCI 1.1 referrers: the
// referrers tag schema's `sha256-<hex>` index, or, where the source has the referrers API but no such
// tag, that index built from the API's answer. Each becomes one more image of the mirror, from the
// source repository to the destination's under the same tag; writing the `sha256-<hex>` index there is
// what makes referrers findable at a destination without the referrers API (distribution 2.8).
import type { KeyObject } from 'node:crypto';
import type { Readable } from 'node:stream';
import { isNotFound } from '../errors.js';
import { parseDigest, sha256Digest } from '../manifest/digest.js';
import { parseManifest } from '../manifest/manifest.js';
import { MediaTypes } from '../manifest/media-types.js';
import { formatReference, withDigest, withTag, type ImageReference } from '../reference/reference.js';
import type { ReferrerDescriptor, StoreResolver } from '../transport/store.js';
import { Once, type Limiter } from './limit.js';
import type { Mapping } from './mapping.js';
import { verifyImageSignature } from './signatures.js';

export type AttachmentKind = 'signature' | 'attestation' | 'sbom' | 'referrer';

/** Tag suffixes after `sha256-<hex>`: cosign's three, and the referrers tag schema's bare one. */
const TAG_SUFFIXES: readonly (readonly [string, AttachmentKind])[] = [['.sig', 'signature'], ['.att', 'attestation'], ['.sbom', 'sbom'], ['', 'referrer']];

/** `sha256:<hex>` -> `sha256-<hex><suffix>`. */
export function attachmentTag(digest: string, suffix = ''): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm}-${hex}${suffix}`;
}

/** Marks an image of the plan that is attached to another one (the mapping it came with). */
export interface AttachmentMark {
  readonly attachedTo: Mapping;
  readonly attachment: AttachmentKind;
}

export interface Attachment extends AttachmentMark {
  /** `<source repository>:<tag>` to `<destination repository>:<same tag>`. */
  readonly mapping: Mapping;
  /**
   * A referrers fallback index built from the source's referrers API (the source has no such tag):
   * the planner reads it as the manifest at `mapping.source` (the source repository at its digest).
   */
  readonly built?: { readonly digest: string; readonly mediaType: string; readonly bytes: Buffer };
}

/** The digests of the manifests an image mirrors: the top one and, for a list, each entry. */
export function mirroredDigests(root: { digest: string; mediaType: string; bytes: Buffer }): string[] {
  const parsed = parseManifest(root.bytes, root.mediaType);
  return parsed.kind === 'index' ? [root.digest, ...new Set(parsed.manifests.map((m) => m.digest))] : [root.digest];
}

/** Finds attached artifacts with one tag listing per source repository; each destination tag is planned once per run. */
export class AttachmentFinder {
  private readonly tags = new Once<ReadonlySet<string>>();
  /** Per store, whether its first referrers answer said it has the API: a store without it is asked once. */
  private readonly referrersApi = new Map<string, Promise<boolean>>();
  private readonly claimed = new Set<string>();

  constructor(private readonly stores: StoreResolver, private readonly limiter: Limiter) {}

  /** Starts listing the source repository's tags, so that find() does not wait a round trip after the manifests were read. */
  prefetch(source: ImageReference): void {
    this.sourceTags(source).catch(() => undefined); // find() reports a failure
  }

  /** The attached artifacts of the manifests `digests` of `mapping`'s source, to be mirrored beside its destination. */
  async find(mapping: Mapping, digests: readonly string[]): Promise<Attachment[]> {
    const tags = await this.sourceTags(mapping.source);
    const perDigest = await Promise.all(digests.map(async (digest) => {
      const found = TAG_SUFFIXES.filter(([suffix]) => tags.has(attachmentTag(digest, suffix)))
        .map(([suffix, kind]) => this.attachment(mapping, digest, kind, attachmentTag(digest, suffix)));
      if (!tags.has(attachmentTag(digest))) {
        const built = await this.fallbackIndex(mapping.source, digest);
        if (built) found.push(this.attachment(mapping, digest, 'referrer', attachmentTag(digest), built));
      }
      return found;
    }));
    return perDigest.flat().filter((a) => this.claim(a.mapping.destination));
  }

  /** Throws SignatureVerificationError unless the source holds a cosign signature of `digest` that `key` verifies. */
  async verify(source: ImageReference, digest: string, key: KeyObject): Promise<void> {
    const store = this.stores.source(source);
    const tag = attachmentTag(digest, '.sig');
    const bytes = (await this.sourceTags(source)).has(tag)
      ? (await this.limiter.run(store.id, () => store.getManifest(withTag(source, tag)))).bytes
      : undefined;
    const readPayload = (payloadDigest: string, size: number) =>
      this.limiter.run(store.id, async () => readAll(await store.getBlob(source, payloadDigest, { size })));
    await verifyImageSignature(formatReference(source), digest, { tag, bytes }, readPayload, key);
  }

  /** The source repository's tags, listed once; none when the store cannot list them. */
  private sourceTags(source: ImageReference): Promise<ReadonlySet<string>> {
    const store = this.stores.source(source);
    const repo = { registry: source.registry, repository: source.repository };
    return this.tags.get(`${store.id} ${repo.registry}/${repo.repository}`, async () => {
      if (store.listTags === undefined) return new Set();
      try {
        return new Set(await this.limiter.run(store.id, () => store.listTags!(repo)));
      } catch (err) {
        if (isNotFound(err)) return new Set();
        throw err;
      }
    });
  }

  /** The referrers tag schema's index of `digest`'s referrers, from the referrers API; undefined without the API or referrers. */
  private async fallbackIndex(source: ImageReference, digest: string): Promise<Attachment['built']> {
    const referrers = await this.referrers(source, digest);
    if (referrers === undefined || referrers.length === 0) return undefined;
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: referrers }));
    return { digest: sha256Digest(bytes), mediaType: MediaTypes.ociIndex, bytes };
  }

  /** The referrers API's answer; the first answer of a store says whether it has the API, and only then are the others asked. */
  private async referrers(source: ImageReference, digest: string): Promise<readonly ReferrerDescriptor[] | undefined> {
    const store = this.stores.source(source);
    if (store.referrers === undefined) return undefined;
    const ask = () => this.limiter.run(store.id, () => store.referrers!(withDigest(source, digest)));
    const hasApi = this.referrersApi.get(store.id);
    if (hasApi !== undefined) return await hasApi ? ask() : undefined;
    const answer = ask();
    this.referrersApi.set(store.id, answer.then((r) => r !== undefined, () => true));
    return answer;
  }

  private attachment(mapping: Mapping, digest: string, kind: AttachmentKind, tag: string, built?: Attachment['built']): Attachment {
    const what = built ? 'referrers index built from the referrers API' : kind;
    return {
      attachedTo: mapping,
      attachment: kind,
      mapping: {
        source: built ? withDigest(mapping.source, built.digest) : withTag(mapping.source, tag),
        destination: withTag(mapping.destination, tag),
        origin: `${mapping.origin}: ${what} of ${digest}`,
      },
      ...(built ? { built } : {}),
    };
  }

  private claim(destination: ImageReference): boolean {
    const key = `${this.stores.destination(destination).id} ${formatReference(destination)}`;
    if (this.claimed.has(key)) return false;
    this.claimed.add(key);
    return true;
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** How many of `images` are attached artifacts, per kind. */
export function countAttachments(images: readonly { readonly attachment?: AttachmentKind }[]): Record<AttachmentKind, number> {
  const counts: Record<AttachmentKind, number> = { signature: 0, attestation: 0, sbom: 0, referrer: 0 };
  for (const image of images) if (image.attachment !== undefined) counts[image.attachment]++;
  return counts;
}
