// The mirror planner: reads every source image tree, applies the platform filter, asks the targets
// what they already hold and decides, per target repository, which blobs to upload, mount or skip
// and which manifests and tags to write. Planning only reads; nothing is written to any registry.
import type { KeyObject } from 'node:crypto';
import { sha256Digest } from '../manifest/digest.js';
import { parseManifest, platformString, type Descriptor, type ParsedManifest } from '../manifest/manifest.js';
import { isIndexMediaType, MediaTypes } from '../manifest/media-types.js';
import { formatReference, withDigest, withTag, type ImageReference } from '../reference/reference.js';
import { isNotFound } from '../errors.js';
import { AttachmentFinder, mirroredDigests, type Attachment, type AttachmentMark } from './attachments.js';
import { canMount, isUnknownRepository, type ImageStore, type ManifestHead, type StoreResolver } from '../transport/store.js';
import { count, formatBytes } from './format.js';
import { runLimiter } from './adaptive-limit.js';
import { Once, type Limiter } from './limit.js';
import { describeMapping, type Mapping } from './mapping.js';

/** Destinations are checked with the push token the writes need (one token, and no 401 for repositories not created yet). */
const DESTINATION = { forPush: true } as const;

export interface PlanOptions {
  /** Keep only manifest-list entries whose `os/arch[/variant]` matches (oc semantics: matched anywhere). */
  filterByOs?: RegExp;
  /** With a filter: push a (filtered) list even when a single entry is left. */
  keepManifestList?: boolean;
  /** Write every blob and manifest even when the target already has it. */
  force?: boolean;
  /** A source that does not exist becomes a warning instead of a failure. */
  skipMissing?: boolean;
  /** Upload blobs instead of mounting them from another repository of the same registry. */
  skipMount?: boolean;
  /** Parallel requests per registry while planning (default 6). */
  maxPerRegistry?: number;
  /** Mirror each manifest's signatures, attestations, SBOMs and referrers with it (default true; oc-mirror's --remove-signatures turns it off). */
  attachments?: boolean;
  /** Mirror only images with a cosign signature this public key verifies; the others fail. */
  verifySignatures?: KeyObject;
}

/** A manifest read from the source, with what it references. Immutable, shared between mappings. */
export interface SourceManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Buffer;
  /** `os/arch[/variant]` from the list entry that referenced it. */
  readonly platform?: string;
  readonly children: readonly SourceManifest[];
  /** Config and layers of an image manifest (layers that must not be redistributed are left out). */
  readonly blobs: readonly Descriptor[];
}

export type BlobAction = 'upload' | 'mount' | 'present';

export interface PlannedBlob {
  /** The store the blob is written to; registry and repository name the place inside it. */
  readonly store: ImageStore;
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  /** Where the bytes come from. */
  readonly source: { readonly store: ImageStore; readonly registry: string; readonly repository: string };
  action: BlobAction;
  /** For `mount`: the repository of the same store that holds (or will hold) the blob. */
  mountFrom?: string;
  /** For `mount`: the upload in this run the mount must wait for (undefined when the blob is already there). */
  after?: PlannedBlob;
}

/** A manifest to be in one target repository. Shared by every image that needs it there. */
export interface PlannedManifest {
  readonly store: ImageStore;
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Buffer;
  readonly platform?: string;
  /** Manifests a list refers to: they are pushed before it. */
  readonly children: readonly PlannedManifest[];
  readonly blobs: readonly PlannedBlob[];
  /** The target repository already has this manifest (by digest). */
  present: boolean;
}

/**
 * push: manifests (and blobs) are written, then the tag;
 * tag: the manifest is in the repository already, only the tag is (re)written;
 * present: the destination already is this image: nothing to do.
 */
export type ImageAction = 'push' | 'tag' | 'present';

export interface DigestChange {
  readonly from: string;
  readonly to: string;
  readonly reason: string;
}

export interface PlannedImage extends Partial<AttachmentMark> {
  readonly mapping: Mapping;
  /** What the source resolved to. */
  readonly sourceDigest: string;
  /** What the destination will hold; differs from sourceDigest only when filtering rewrote a manifest list. */
  readonly root: PlannedManifest;
  readonly digestChange?: DigestChange;
  readonly action: ImageAction;
}

export interface SkippedImage extends Partial<AttachmentMark> {
  readonly mapping: Mapping;
  readonly reason: string;
}

export interface FailedImage extends Partial<AttachmentMark> {
  readonly mapping: Mapping;
  readonly error: Error;
}

export interface PlanTotals {
  images: number;
  imagesToPush: number;
  imagesToTag: number;
  imagesPresent: number;
  imagesSkipped: number;
  imagesFailed: number;
  manifestsToPush: number;
  blobsToUpload: number;
  bytesToUpload: number;
  blobsToMount: number;
  bytesToMount: number;
  blobsPresent: number;
  bytesPresent: number;
}

export interface Plan {
  /** In mapping order. */
  readonly images: readonly PlannedImage[];
  readonly skipped: readonly SkippedImage[];
  /** Sources that could not be read or targets that could not be queried. */
  readonly failed: readonly FailedImage[];
  /** Every blob of every repository once, in the order the decisions were made. */
  readonly blobs: readonly PlannedBlob[];
  readonly totals: PlanTotals;
}

/** How a mapping's planning ended before its image could be planned: nothing to mirror, or an error (recorded in the plan). */
const NOT_PLANNED: readonly PlannedImage[] = [];

/**
 * Plans images one mapping at a time, so that a caller can start writing an image as soon as its
 * part of the plan is known (planMirror plans them all first). Each source manifest, destination tag,
 * manifest and blob is asked about once per run, whichever mapping asks first.
 */
export class Planner {
  private readonly sources: SourceManifests;
  private readonly targets: TargetState;
  private readonly finder: AttachmentFinder;
  private readonly prepared = new Map<Mapping, Promise<boolean>>();
  private readonly planned = new Map<Mapping, readonly PlannedImage[]>();
  private readonly skipped: SkippedImage[] = [];
  private readonly failed: FailedImage[] = [];
  /** Every blob once, in the order the decisions were made. */
  private readonly blobs: PlannedBlob[] = [];
  /** Per blob key: its decision, made once. */
  private readonly decisions = new Map<string, Promise<void>>();
  /** Per store and digest: a repository known to hold the blob. */
  private readonly holders = new Map<string, string>();
  /** Per store and digest: the first blob decided, which the others mount from once it is in. */
  private readonly firsts = new Map<string, { blob: PlannedBlob; decided: Promise<BlobAction> }>();

  constructor(stores: StoreResolver, private readonly opts: PlanOptions = {}, limiter: Limiter = runLimiter(opts.maxPerRegistry)) {
    this.sources = new SourceManifests(stores, limiter);
    this.targets = new TargetState(stores, limiter, opts.force ?? false);
    this.finder = new AttachmentFinder(stores, limiter);
  }

  /** The planning failures so far (a failed source read, an unreadable tree, an unanswered target). */
  get failures(): number {
    return this.failed.length;
  }

  /**
   * The reads that tell whether a mapping can be mirrored at all, and whether its destination already
   * is the image: the source's top manifest and the destination tag. Nothing is written. False when the
   * mapping failed or was skipped (recorded in the plan).
   */
  prepare(mapping: Mapping): Promise<boolean> {
    let prepared = this.prepared.get(mapping);
    if (prepared === undefined) {
      prepared = this.readFirst(mapping);
      this.prepared.set(mapping, prepared);
    }
    return prepared;
  }

  private async readFirst(mapping: Mapping): Promise<boolean> {
    if (this.opts.attachments !== false || this.opts.verifySignatures !== undefined) this.finder.prefetch(mapping.source);
    // Ask the destination while the source answers (latency adds up per image over real networks);
    // a source error still comes first, so --skip-missing sees it.
    this.targets.digestAtTag(mapping.destination).catch(() => undefined); // awaited when the image is planned
    try {
      await this.sources.top(mapping.source);
      return true;
    } catch (err) {
      this.fail(mapping, err);
      return false;
    }
  }

  /** prepare() for every mapping, telling the targets first which repositories get several tags (one listing answers for them). */
  prepareAll(mappings: readonly Mapping[]): Promise<boolean[]> {
    this.targets.expect(mappings.map((m) => m.destination));
    return Promise.all(mappings.map((m) => this.prepare(m)));
  }

  /** Plans the mapping's image and its attached artifacts, blobs decided: ready to execute. */
  async plan(mapping: Mapping): Promise<readonly PlannedImage[]> {
    const images = await this.trees(mapping);
    await this.decide(images);
    return images;
  }

  /** The image and its attachments with their manifest trees; which blobs to upload or mount is decided by decide(). */
  async trees(mapping: Mapping): Promise<readonly PlannedImage[]> {
    const known = this.planned.get(mapping);
    if (known) return known;
    const image = await this.prepare(mapping) ? await this.image(mapping) : undefined;
    const images = image === undefined ? NOT_PLANNED : await this.withAttachments(image);
    this.planned.set(mapping, images);
    return images;
  }

  /** Decides, for the images' manifests that will be pushed, which blobs to upload, mount or leave. */
  async decide(images: readonly PlannedImage[]): Promise<void> {
    this.markHeld(images);
    const blobs = new Set<PlannedBlob>();
    for (const image of images) {
      if (image.action !== 'push') continue;
      for (const m of manifestsToPush(image.root)) for (const b of m.blobs) blobs.add(b);
    }
    await Promise.all([...blobs].map((b) => {
      let decision = this.decisions.get(blobKey(b));
      if (decision === undefined) {
        decision = this.decideBlob(b).then(() => { this.blobs.push(b); });
        this.decisions.set(blobKey(b), decision);
      }
      return decision;
    }));
  }

  /**
   * Plans every mapping before deciding any blob, in mapping order, with every manifest the targets
   * hold known: the same plan whatever answered first.
   */
  async planAll(mappings: readonly Mapping[]): Promise<Plan> {
    await this.prepareAll(mappings);
    const planned = await Promise.all(mappings.map((m) => this.trees(m)));
    await this.decide(planned.flat());
    return this.result(mappings);
  }

  /** The plan of `mappings` as far as they were planned, images in mapping order. */
  result(mappings: readonly Mapping[]): Plan {
    const images = mappings.flatMap((m) => this.planned.get(m) ?? []);
    // Skips and failures were collected in completion order; report them in mapping order.
    const position = new Map(mappings.map((m, i) => [m, i]));
    const byPosition = (a: { mapping: Mapping }, b: { mapping: Mapping }) => position.get(a.mapping)! - position.get(b.mapping)!;
    const skipped = [...this.skipped].sort(byPosition);
    const failed = [...this.failed].sort(byPosition);
    const blobs = [...this.blobs];
    return { images, skipped, failed, blobs, totals: computeTotals(images, skipped, failed, blobs) };
  }

  /** Skipped mappings so far, in the order they were found. */
  skippedSoFar(): readonly SkippedImage[] {
    return this.skipped;
  }

  private async image(mapping: Mapping, mark: AttachmentMark | Record<never, never> = {}): Promise<PlannedImage | undefined> {
    const { opts, sources, targets } = this;
    try {
      const atTag = targets.digestAtTag(mapping.destination);
      atTag.catch(() => undefined); // awaited below, once the source answered: not an unhandled rejection meanwhile
      const top = await sources.top(mapping.source);
      // Re-runs: the destination tag already holds the source image, so its tree need not be read.
      if (!opts.filterByOs && await atTag === top.digest) {
        const root = targets.presentManifest(mapping.destination, top, mapping.source);
        return { mapping, sourceDigest: top.digest, root, action: 'present', ...mark };
      }
      const tree = await sources.tree(mapping.source);
      const selected = opts.filterByOs ? selectPlatforms(tree, opts.filterByOs, opts.keepManifestList ?? false) : { root: tree };
      if ('none' in selected) {
        this.skipped.push({ mapping, reason: selected.none, ...mark });
        return undefined;
      }
      const root = targets.manifest(mapping.destination, selected.root, mapping.source);
      const action = await targets.imageAction(mapping.destination, root);
      return { mapping, sourceDigest: tree.digest, root, action, digestChange: selected.change, ...mark };
    } catch (err) {
      this.fail(mapping, err, mark);
      return undefined;
    }
  }

  private fail(mapping: Mapping, err: unknown, mark: AttachmentMark | Record<never, never> = {}): void {
    const error = err instanceof Error ? err : new Error(String(err));
    if (isNotFound(error) && this.opts.skipMissing) {
      this.skipped.push({ mapping, reason: `source image ${formatReference(mapping.source)} does not exist`, ...mark });
    } else {
      this.failed.push({ mapping, error, ...mark });
    }
  }

  /** The image and its attached artifacts; when these cannot be listed, or its signature does not verify, the image fails. */
  private async withAttachments(image: PlannedImage): Promise<PlannedImage[]> {
    const { opts } = this;
    if (opts.attachments === false && opts.verifySignatures === undefined) return [image];
    try {
      const found = await this.finder.find(image.mapping, mirroredDigests(image.root));
      if (opts.verifySignatures) await this.finder.verify(image.mapping.source, image.sourceDigest, opts.verifySignatures);
      if (opts.attachments === false) return [image];
      const attached = await Promise.all(found.map((a: Attachment) => {
        if (a.built) this.sources.provide(a.mapping.source, a.built);
        return this.image(a.mapping, { attachedTo: a.attachedTo, attachment: a.attachment });
      }));
      return [image, ...attached.filter((i): i is PlannedImage => i !== undefined)];
    } catch (err) {
      this.failed.push({ mapping: image.mapping, error: err instanceof Error ? err : new Error(String(err)) });
      return [];
    }
  }

  /**
   * Blobs the targets are known to hold without asking: everything below a manifest they hold. Marks
   * those not decided yet present and remembers, per store and digest, a repository holding it.
   */
  private markHeld(images: readonly PlannedImage[]): void {
    const visit = (m: PlannedManifest, present: boolean) => {
      const held = present || m.present;
      if (held) {
        for (const b of m.blobs) {
          if (!this.decisions.has(blobKey(b))) b.action = 'present';
          if (!this.holders.has(holderKey(b))) this.holders.set(holderKey(b), b.repository);
        }
      }
      for (const c of m.children) visit(c, held);
    };
    for (const image of images) visit(image.root, false);
  }

  /**
   * Uploads each blob once per target store and mounts it everywhere else: from a repository known
   * to hold it, from the source repository when source and target are one store, or from the
   * repository this run uploads it to first (after that upload). Only the first repository of each
   * store is asked whether it has the blob (a mount where the blob already is costs no more than
   * asking). Mounts are planned only in stores that can mount; elsewhere each repository's blob is
   * asked about and uploaded.
   */
  private async decideBlob(b: PlannedBlob): Promise<void> {
    if (b.action === 'present') return;
    const ask = async (): Promise<BlobAction> => (!this.opts.force && await this.targets.hasBlob(b) ? 'present' : 'upload');
    if (this.opts.skipMount || b.store.mountBlob === undefined) {
      b.action = await ask();
      return;
    }
    const key = holderKey(b);
    const holder = this.holders.get(key);
    if (holder !== undefined) {
      Object.assign(b, { action: 'mount', mountFrom: holder });
    } else if (canMount(b.source.store, b.store) && b.source.repository !== b.repository) {
      Object.assign(b, { action: 'mount', mountFrom: b.source.repository });
    } else {
      const first = this.firsts.get(key);
      if (first === undefined) {
        const decided = ask();
        this.firsts.set(key, { blob: b, decided });
        b.action = await decided;
        if (b.action === 'present') this.holders.set(key, b.repository);
      } else if (await first.decided === 'present') {
        Object.assign(b, { action: 'mount', mountFrom: first.blob.repository });
      } else {
        Object.assign(b, { action: 'mount', mountFrom: first.blob.repository, after: first.blob });
      }
    }
  }
}

/** Plans every mapping before anything is written: for --dry-run, and where the whole plan must be known first (disk space). */
export async function planMirror(stores: StoreResolver, mappings: readonly Mapping[], opts: PlanOptions = {}): Promise<Plan> {
  return new Planner(stores, opts).planAll(mappings);
}

/** Reads source manifests once each: the top one alone (its digest), or whole trees (list -> children -> config + layers). */
class SourceManifests {
  private readonly tops = new Once<{ digest: string; mediaType: string; bytes: Buffer; parsed: ParsedManifest }>();
  private readonly trees = new Once<SourceManifest>();

  constructor(private readonly stores: StoreResolver, private readonly limiter: Limiter) {}

  /** A manifest made in this run (a referrers fallback index), read as if the source held it at `ref`. */
  provide(ref: ImageReference, manifest: { digest: string; mediaType: string; bytes: Buffer }): void {
    const parsed = parseManifest(manifest.bytes, manifest.mediaType, formatReference(ref));
    void this.tops.get(`${this.stores.source(ref).id} ${formatReference(ref)}`, async () => ({ ...manifest, parsed }));
  }

  /** One request: enough to compare digests with the destination. */
  top(ref: ImageReference) {
    const store = this.stores.source(ref);
    return this.tops.get(`${store.id} ${formatReference(ref)}`, async () => {
      const fetched = await this.limiter.run(store.id, () => store.getManifest(ref));
      return { ...fetched, parsed: parseManifest(fetched.bytes, fetched.mediaType, formatReference(ref)) };
    });
  }

  tree(ref: ImageReference): Promise<SourceManifest> {
    return this.trees.get(`${this.stores.source(ref).id} ${formatReference(ref)}`, async () => {
      const { digest, mediaType, bytes, parsed } = await this.top(ref);
      if (parsed.kind === 'image') {
        const blobs = [parsed.config, ...parsed.layers.filter(isDistributable)];
        return { digest, mediaType, bytes, children: [], blobs };
      }
      const repo = { registry: ref.registry, repository: ref.repository };
      const children = await Promise.all(parsed.manifests.map(async (entry) => {
        const child = await this.tree(withDigest(repo, entry.digest));
        // The platform belongs to the list entry, not to the manifest (one manifest may be listed twice).
        return entry.platform ? { ...child, platform: platformString(entry.platform) } : child;
      }));
      return { digest, mediaType, bytes, children, blobs: [] };
    });
  }
}

/** Foreign (Windows base) and non-distributable layers are fetched by clients from their URLs, never copied. */
const isDistributable = (layer: Descriptor) => !/foreign|nondistributable/.test(layer.mediaType);

type Selection = { root: SourceManifest; change?: DigestChange } | { none: string };

/** Applies --filter-by-os to a manifest list; single images are left alone (as in oc). */
export function selectPlatforms(tree: SourceManifest, filter: RegExp, keepManifestList: boolean): Selection {
  if (tree.blobs.length > 0 || tree.children.length === 0) return { root: tree };
  // A global or sticky regex would remember lastIndex between tests.
  const pattern = new RegExp(filter.source, filter.flags.replace(/[gy]/g, ''));
  // An entry without a platform is tested as '' (oc tests "/"), so `.*` keeps every entry and a list stays whole.
  const matches = (c: SourceManifest) => pattern.test(c.platform ?? '');
  const kept = tree.children.filter(matches);
  const names = (list: readonly SourceManifest[]) => list.map((c) => c.platform ?? c.digest).join(', ');
  if (kept.length === 0) {
    return { none: `no entry of manifest list ${tree.digest} matches --filter-by-os ${filter.source} (it has ${names(tree.children)})` };
  }
  if (kept.length === tree.children.length) return { root: tree };
  if (kept.length === 1 && !keepManifestList) {
    const only = kept[0];
    return { root: only, change: { from: tree.digest, to: only.digest, reason: `only ${only.platform} matches --filter-by-os: that image is mirrored instead of the manifest list` } };
  }
  const list = JSON.parse(tree.bytes.toString('utf8')) as { manifests: unknown[] };
  list.manifests = list.manifests.filter((_, i) => matches(tree.children[i]));
  const bytes = Buffer.from(JSON.stringify(list, null, 3));
  const digest = sha256Digest(bytes);
  const root: SourceManifest = { ...tree, bytes, digest, children: kept };
  return { root, change: { from: tree.digest, to: digest, reason: `manifest list filtered to ${names(kept)} (${kept.length} of ${tree.children.length} entries)` } };
}

/** What the target registries hold, asked once per manifest and blob. */
class TargetState {
  private readonly manifests = new Map<string, PlannedManifest>();
  private readonly manifestPresence = new Once<boolean>();
  private readonly tags = new Once<{ digest: string } | undefined>();
  /** Per repository: its tags, `absent` when it does not exist, undefined when the store cannot tell. */
  private readonly repositoryTags = new Once<ReadonlySet<string> | 'absent' | undefined>();
  /** Repositories that several tagged mappings write to: one tag listing answers for all of them. */
  private readonly listFirst = new Set<string>();
  /** Registries (per store) the run writes many repositories of: their catalog is asked first. */
  private readonly catalogFirst = new Set<string>();
  /** Per registry: the repositories its catalog lists, undefined when it would not list them. */
  private readonly catalogs = new Once<ReadonlySet<string> | undefined>();
  private readonly questionsByStore = new Map<string, TagQuestions>();
  private readonly blobsByKey = new Map<string, PlannedBlob>();

  constructor(private readonly stores: StoreResolver, private readonly limiter: Limiter, private readonly force: boolean) {}

  /** The planned manifest tree for `source` in the destination's repository (shared when already planned). */
  manifest(destination: ImageReference, source: SourceManifest, from: ImageReference): PlannedManifest {
    const store = this.stores.destination(destination);
    const key = `${store.id} ${destination.registry}/${destination.repository}@${source.digest}`;
    let planned = this.manifests.get(key);
    if (planned === undefined) {
      const blobs = source.blobs.map((d) => this.blob(destination, d, from));
      const children = source.children.map((c) => this.manifest(destination, c, from));
      planned = {
        store, registry: destination.registry, repository: destination.repository, digest: source.digest, mediaType: source.mediaType,
        bytes: source.bytes, platform: source.platform, children, blobs, present: false,
      };
      this.manifests.set(key, planned);
    }
    return planned;
  }

  /**
   * A manifest the destination is known to hold. Only its own blobs are listed (an image's config and
   * layers, from the bytes at hand): they tell other repositories of the registry where to mount from.
   */
  presentManifest(destination: ImageReference, top: { digest: string; mediaType: string; bytes: Buffer; parsed: ParsedManifest }, from: ImageReference): PlannedManifest {
    const descriptors = top.parsed.kind === 'image' ? [top.parsed.config, ...top.parsed.layers.filter(isDistributable)] : [];
    return {
      store: this.stores.destination(destination), registry: destination.registry, repository: destination.repository, digest: top.digest,
      mediaType: top.mediaType, bytes: top.bytes, children: [], blobs: descriptors.map((d) => this.blob(destination, d, from)), present: true,
    };
  }

  /** The digest the destination's tag points at; undefined when there is none (or under --force, which never skips). */
  async digestAtTag(destination: ImageReference): Promise<string | undefined> {
    if (this.force || destination.tag === undefined) return undefined;
    const tag = destination.tag;
    const store = this.stores.destination(destination);
    const head = await this.tags.get(`${store.id} ${formatReference(destination)}`, async () => {
      if (await this.absentFromCatalog({ store, registry: destination.registry, repository: destination.repository })) return undefined;
      const questions = this.tagQuestions(store);
      if (this.listFirst.has(repositoryKey(store, destination)) || await questions?.listInstead()) {
        const tags = await this.tagsOf({ store, registry: destination.registry, repository: destination.repository });
        if (tags === 'absent' || (tags !== undefined && !tags.has(tag))) return undefined;
      }
      let answer: ManifestHead | undefined;
      try {
        answer = await this.limiter.run(store.id, () => store.headManifest(withTag(destination, tag), DESTINATION));
        return answer;
      } finally {
        questions?.record(answer !== undefined);
      }
    });
    return head?.digest;
  }

  /** Per registry store that can list tags: how its tags are asked about. */
  private tagQuestions(store: ImageStore): TagQuestions | undefined {
    if (store.listTags === undefined || store.sharedBlobs) return undefined;
    let questions = this.questionsByStore.get(store.id);
    if (questions === undefined) {
      questions = new TagQuestions();
      this.questionsByStore.set(store.id, questions);
    }
    return questions;
  }

  /** Tells which destinations the run writes, before their tags are asked about. */
  expect(destinations: readonly ImageReference[]): void {
    const tagged = new Map<string, number>();
    const repositories = new Map<string, Set<string>>();
    for (const d of destinations) {
      const store = this.stores.destination(d);
      const registry = registryKey(store, d);
      if (!repositories.has(registry)) repositories.set(registry, new Set());
      repositories.get(registry)!.add(d.repository);
      if (d.tag === undefined) continue;
      const key = repositoryKey(store, d);
      tagged.set(key, (tagged.get(key) ?? 0) + 1);
    }
    for (const [key, n] of tagged) if (n > 1) this.listFirst.add(key);
    for (const [registry, names] of repositories) if (names.size >= CATALOG_MIN_REPOSITORIES) this.catalogFirst.add(registry);
  }

  /** Decides the image action and marks which manifests of its tree the target already has. */
  async imageAction(destination: ImageReference, root: PlannedManifest): Promise<ImageAction> {
    if (this.force) return 'push';
    if (await this.digestAtTag(destination) === root.digest) {
      root.present = true;
      return 'present';
    }
    const everything = allManifests(root);
    // A repository that does not exist yet holds none of them: nothing to ask.
    if (await this.isNewRepository(root)) return 'push';
    await Promise.all(everything.map(async (m) => { m.present = await this.hasManifest(m); }));
    if (root.present) return destination.tag === undefined ? 'present' : 'tag';
    return 'push';
  }

  /** Whether the blob's repository holds it; a failed question counts as no (writing it then reports the real problem). */
  async hasBlob(b: PlannedBlob): Promise<boolean> {
    try {
      if (await this.isNewRepository(b)) return false;
      return await this.limiter.run(b.store.id, () => b.store.blobSize(b, b.digest, DESTINATION)) !== undefined;
    } catch {
      return false;
    }
  }

  /**
   * Whether the repository does not exist yet, from one tag listing (a registry answers 404 NAME_UNKNOWN).
   * Asked only of stores whose blobs belong to repositories; any other answer means "maybe", and the
   * manifests and blobs are asked about one by one. (Distribution also says NAME_UNKNOWN for a repository
   * that holds only untagged manifests: those are then written again, which is harmless.)
   */
  private async isNewRepository(at: RepositoryAt): Promise<boolean> {
    return !at.store.sharedBlobs && await this.tagsOf(at) === 'absent';
  }

  /** The repository's tags from one listing: `absent` when the store says it does not exist, undefined when it cannot tell. */
  private tagsOf(at: RepositoryAt): Promise<ReadonlySet<string> | 'absent' | undefined> {
    const { store } = at;
    const listTags = store.listTags?.bind(store);
    if (listTags === undefined) return Promise.resolve(undefined);
    return this.repositoryTags.get(repositoryKey(store, at), async () => {
      if (await this.absentFromCatalog(at)) return 'absent';
      try {
        return new Set(await this.limiter.run(store.id, () => listTags(at, DESTINATION)));
      } catch (err) {
        return isUnknownRepository(err) ? 'absent' : undefined;
      }
    });
  }

  /**
   * Whether the registry's catalog, asked once where the run writes many of its repositories, leaves the
   * repository out. A catalog that lists one too few (it lags, or hides what these credentials may not
   * read) costs writes that were not needed, never a wrong one: the repository is then written as new.
   */
  private async absentFromCatalog(at: RepositoryAt): Promise<boolean> {
    const { store } = at;
    const registry = registryKey(store, at);
    const listRepositories = store.listRepositories?.bind(store);
    if (listRepositories === undefined || store.sharedBlobs || !this.catalogFirst.has(registry)) return false;
    const catalog = await this.catalogs.get(registry, async () => {
      const names = await this.limiter.run(store.id, () => listRepositories(at.registry, CATALOG_MAX_PAGES));
      return names === undefined ? undefined : new Set(names);
    });
    return catalog !== undefined && !catalog.has(at.repository);
  }

  private hasManifest(m: PlannedManifest): Promise<boolean> {
    return this.manifestPresence.get(manifestKey(m), async () => {
      const head = await this.limiter.run(m.store.id, () => m.store.headManifest({ registry: m.registry, repository: m.repository, digest: m.digest }, DESTINATION));
      return head !== undefined;
    });
  }

  private blob(destination: ImageReference, d: Descriptor, source: ImageReference): PlannedBlob {
    const store = this.stores.destination(destination);
    // A store that holds every blob once (an OCI layout) needs each digest once, whatever repository asks.
    const key = store.sharedBlobs ? `${store.id} ${d.digest}` : `${store.id} ${destination.registry}/${destination.repository}@${d.digest}`;
    let blob = this.blobsByKey.get(key);
    if (blob === undefined) {
      blob = {
        store, registry: destination.registry, repository: destination.repository, digest: d.digest, size: d.size, mediaType: d.mediaType,
        source: { store: this.stores.source(source), registry: source.registry, repository: source.repository }, action: 'upload',
      };
      this.blobsByKey.set(key, blob);
    }
    return blob;
  }
}

/** The destination tags asked about by HEAD before a store's other questions may become tag listings. */
const FIRST_TAG_ANSWERS = 8;
/** The share of those that must be absent for the rest to be listings. */
const MOSTLY_ABSENT = 0.75;
/**
 * A registry the run writes this many repositories of is asked for its catalog first: on one being filled
 * for the first time, that one listing replaces a question per repository.
 */
const CATALOG_MIN_REPOSITORIES = 16;
/** Catalog pages of 1,000 asked at most: a bigger registry is asked per repository (its listing costs it more). */
const CATALOG_MAX_PAGES = 5;

/**
 * How a registry's destination tags are asked about. On a re-run most tags are there, and a HEAD
 * per tag answers with its digest. On a first mirror most are not, and repositories do not exist yet:
 * then one tag listing per repository answers both questions (is the tag there, does the repository
 * hold anything), where a HEAD would need a listing after it. The first answers decide which it is.
 */
class TagQuestions {
  private asked = 0;
  private answers = 0;
  private absent = 0;
  private readonly firstAnswers: Promise<void>;
  private answered!: () => void;

  constructor() {
    this.firstAnswers = new Promise((resolve) => { this.answered = resolve; });
  }

  /** Whether this question is better asked by listing the repository's tags (the first ones never are). */
  async listInstead(): Promise<boolean> {
    if (this.asked++ < FIRST_TAG_ANSWERS) return false;
    await this.firstAnswers;
    return this.absent >= this.answers * MOSTLY_ABSENT;
  }

  /** The outcome of a HEAD of a tag; only the first ones count. */
  record(present: boolean): void {
    if (this.answers >= FIRST_TAG_ANSWERS) return;
    this.answers++;
    if (!present) this.absent++;
    if (this.answers === FIRST_TAG_ANSWERS) this.answered();
  }
}

interface RepositoryAt { readonly store: ImageStore; readonly registry: string; readonly repository: string }

const repositoryKey = (store: ImageStore, repo: { registry: string; repository: string }) => `${store.id} ${repo.registry}/${repo.repository}`;

const registryKey = (store: ImageStore, repo: { registry: string }) => `${store.id} ${repo.registry}`;

const holderKey = (b: PlannedBlob) => `${b.store.id} ${b.digest}`;

/** A manifest's identity across the run: store, repository and digest. */
export const manifestKey = (m: PlannedManifest) => `${m.store.id} ${m.registry}/${m.repository}@${m.digest}`;

/** A blob's identity across the run: store, repository and digest. */
export const blobKey = (b: PlannedBlob) => `${b.store.id} ${b.registry}/${b.repository}@${b.digest}`;

/** The manifest and all it refers to, children first. */
export function allManifests(root: PlannedManifest): PlannedManifest[] {
  const out: PlannedManifest[] = [];
  const visit = (m: PlannedManifest) => {
    m.children.forEach(visit);
    if (!out.includes(m)) out.push(m);
  };
  visit(root);
  return out;
}

/** Manifests of the tree the target lacks, children first; a present manifest implies everything below it. */
export function manifestsToPush(root: PlannedManifest): PlannedManifest[] {
  const out: PlannedManifest[] = [];
  const visit = (m: PlannedManifest) => {
    if (m.present) return;
    m.children.forEach(visit);
    if (!out.includes(m)) out.push(m);
  };
  visit(root);
  return out;
}

function computeTotals(images: readonly PlannedImage[], skipped: readonly SkippedImage[], failed: readonly FailedImage[], blobs: readonly PlannedBlob[]): PlanTotals {
  const pushed = new Set<PlannedManifest>();
  for (const i of images) if (i.action === 'push') manifestsToPush(i.root).forEach((m) => pushed.add(m));
  const sum = (action: BlobAction) => blobs.filter((b) => b.action === action).reduce((n, b) => n + b.size, 0);
  const tally = (action: BlobAction) => blobs.filter((b) => b.action === action).length;
  return {
    images: images.length + skipped.length + failed.length,
    imagesToPush: images.filter((i) => i.action === 'push').length,
    imagesToTag: images.filter((i) => i.action === 'tag').length,
    imagesPresent: images.filter((i) => i.action === 'present').length,
    imagesSkipped: skipped.length,
    imagesFailed: failed.length,
    manifestsToPush: pushed.size,
    blobsToUpload: tally('upload'),
    bytesToUpload: sum('upload'),
    blobsToMount: tally('mount'),
    bytesToMount: sum('mount'),
    blobsPresent: tally('present'),
    bytesPresent: sum('present'),
  };
}

/** The plan as an indented tree, one image after the other, for --dry-run and verbose output. */
export function describePlan(plan: Plan): string {
  const lines: string[] = [];
  const shown = new Set<PlannedBlob | PlannedManifest>();
  const state = (present: boolean) => (present ? 'present' : 'push');
  const describeManifest = (m: PlannedManifest, depth: number) => {
    const pad = '  '.repeat(depth);
    const what = !isIndexMediaType(m.mediaType) ? 'image' : m.mediaType === MediaTypes.ociIndex ? 'index' : 'manifest list';
    const label = `${pad}${m.platform ? `${m.platform} ` : ''}${what} ${m.digest}`;
    if (shown.has(m)) {
      lines.push(`${label}: ${state(m.present)}, see above`);
      return;
    }
    shown.add(m);
    lines.push(`${label}: ${state(m.present)}`);
    if (m.present) return;
    for (const c of m.children) describeManifest(c, depth + 1);
    for (const b of m.blobs) {
      const action = b.action === 'mount' ? `mount from ${b.mountFrom}${b.after ? ' after its upload' : ''}` : b.action;
      lines.push(`${pad}  blob ${b.digest} ${formatBytes(b.size)}: ${action}${shown.has(b) ? ', see above' : ''}`);
      shown.add(b);
    }
  };
  for (const image of plan.images) {
    const action = { push: 'push', tag: 'set tag (manifest already there)', present: 'already present' }[image.action];
    lines.push(`${describeMapping(image.mapping)}: ${action}`);
    if (image.digestChange) lines.push(`  digest changes from ${image.digestChange.from}: ${image.digestChange.reason}`);
    if (image.action !== 'present') describeManifest(image.root, 1);
  }
  for (const s of plan.skipped) lines.push(`${describeMapping(s.mapping)}: skipped, ${s.reason}`);
  for (const f of plan.failed) lines.push(`${describeMapping(f.mapping)}: cannot be mirrored: ${f.error.message}`);
  const t = plan.totals;
  lines.push(`plan: ${count(t.images, 'image')} (${t.imagesToPush} to push, ${t.imagesToTag} to tag, ${t.imagesPresent} already present, ` +
    `${t.imagesSkipped} skipped, ${t.imagesFailed} failed), ${count(t.manifestsToPush, 'manifest')} to push; blobs: ` +
    `${t.blobsToUpload} to upload (${formatBytes(t.bytesToUpload)}), ${t.blobsToMount} to mount (${formatBytes(t.bytesToMount)}), ` +
    `${t.blobsPresent} already present (${formatBytes(t.bytesPresent)})`);
  return `${lines.join('\n')}\n`;
}
