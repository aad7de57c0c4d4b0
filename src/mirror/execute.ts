// The mirror executor: carries out planned images (a whole Plan, or each as soon as it is planned) with
// bounded, adaptive parallelism per registry.
// Order is enforced by dependencies, not phases: a manifest is pushed once its blobs and children
// are in, a mount waits for the upload it mounts from, and a tag is written last, so a tag never
// points at an incomplete image. Blobs stream from source to target; memory does not grow with size.
import { setTimeout as delay } from 'node:timers/promises';
import { formatReference, withTag, type ImageReference } from '../reference/reference.js';
import { isMissingReference, type ImageStore } from '../transport/store.js';
import { inParallel } from '../util/in-parallel.js';
import { ADAPTIVE_DEFAULTS, runLimiter } from './adaptive-limit.js';
import { Once, type Limiter } from './limit.js';
import { blobKey, manifestKey, type Plan, type PlannedBlob, type PlannedImage, type PlannedManifest } from './plan.js';

export type MirrorEvent =
  | { type: 'image-started'; image: PlannedImage }
  /** `written` is false when the destination already was this image. */
  | { type: 'image-done'; image: PlannedImage; digest: string; written: boolean }
  | { type: 'image-failed'; image: PlannedImage; error: Error }
  /** A blob is in its target repository; `action` is what actually happened (a refused mount becomes an upload). */
  | { type: 'blob-done'; blob: PlannedBlob; action: 'upload' | 'mount' }
  /** Bytes streamed for an upload since the last event (negative when a retry starts over). */
  | { type: 'bytes'; blob: PlannedBlob; bytes: number }
  | { type: 'warning'; message: string };

export interface ExecuteOptions {
  /** At most this many parallel operations per registry (default: adaptive, up to 16). */
  maxPerRegistry?: number;
  /** Shares the bound on parallel requests with the planner of the same run (then maxPerRegistry is not used). */
  limiter?: Limiter;
  /** Keep mirroring the other images after one failed (default: stop starting new ones). */
  continueOnError?: boolean;
  onEvent?: (event: MirrorEvent) => void;
}

/** What was transferred (bytes: uploaded ones as streamed, mounted ones by their size). */
export interface TransferStats {
  blobsUploaded: number;
  bytesUploaded: number;
  blobsMounted: number;
  bytesMounted: number;
  manifestsPushed: number;
}

export interface MirrorResult extends Readonly<TransferStats> {
  /** Pushed or (re)tagged. */
  readonly written: PlannedImage[];
  /** The destination already was this image. */
  readonly present: PlannedImage[];
  readonly failed: { image: PlannedImage; error: Error }[];
  /** Not attempted because an earlier image failed (without continueOnError). */
  readonly notStarted: PlannedImage[];
  readonly durationMs: number;
}

/** How often a manifest whose references went missing meanwhile is written again after filling them in. */
const MISSING_REFERENCE_RETRIES = 2;
const FOR_PUSH = { forPush: true } as const;

const IMAGES_IN_FLIGHT_PER_CONNECTION = 16;

/** Carries out the plan in the stores it names; commits every written store before it returns. */
export async function executePlan(plan: Plan, opts: ExecuteOptions = {}): Promise<MirrorResult> {
  const executor = new Executor(opts);
  await executor.mirrorAll(plan.images);
  return executor.finish();
}

/** How many images to work on at once: enough to keep every allowed connection busy, few enough to finish images early. */
export function imagesInFlight(maxPerRegistry: number = ADAPTIVE_DEFAULTS.cap): number {
  return maxPerRegistry * IMAGES_IN_FLIGHT_PER_CONNECTION;
}

/**
 * Mirrors planned images as they are handed over (all of a plan, or each as soon as it is planned).
 * Blobs and manifests shared between images are written once; after a failure (without
 * continueOnError) the images handed over later are not started.
 */
export class Executor {
  private readonly run: Execution;
  private readonly started = Date.now();
  private readonly written: PlannedImage[] = [];
  private readonly present: PlannedImage[] = [];
  private readonly failed: MirrorResult['failed'] = [];
  private readonly notStarted: PlannedImage[] = [];
  private readonly stores = new Set<ImageStore>();
  private stopped = false;

  constructor(private readonly opts: ExecuteOptions = {}) {
    this.run = new Execution(opts.limiter ?? runLimiter(opts.maxPerRegistry), opts.onEvent ?? (() => undefined));
  }

  /** Stops starting images, as after a failed one (without continueOnError); for failures found elsewhere, such as while planning. */
  stop(): void {
    if (!this.opts.continueOnError) this.stopped = true;
  }

  /** Mirrors one image; failures are recorded for the result, not thrown. */
  async mirror(image: PlannedImage): Promise<void> {
    if (this.stopped) {
      this.notStarted.push(image);
      return;
    }
    this.stores.add(image.root.store);
    try {
      (await this.run.image(image) ? this.written : this.present).push(image);
    } catch (err) {
      this.failed.push({ image, error: err as Error });
      this.stop();
    }
  }

  /** Mirrors `images`, as many at once as keep every allowed connection busy. */
  mirrorAll(images: readonly PlannedImage[]): Promise<void> {
    return inParallel(images, imagesInFlight(this.opts.maxPerRegistry), (image) => this.mirror(image));
  }

  /** Waits for every started write, commits the stores written to and tells what happened. */
  async finish(): Promise<MirrorResult> {
    // A failed image may leave shared uploads running; finish them before the caller closes the stores.
    await this.run.settled();
    await Promise.all([...this.stores].map((store) => store.commit()));
    const { written, present, failed, notStarted } = this;
    return { written, present, failed, notStarted, ...this.run.stats, durationMs: Date.now() - this.started };
  }
}

class Execution {
  private readonly blobs = new Once<void>();
  private readonly manifests = new Once<void>();
  private readonly tasks = new Set<Promise<unknown>>();
  readonly stats: TransferStats = { blobsUploaded: 0, bytesUploaded: 0, blobsMounted: 0, bytesMounted: 0, manifestsPushed: 0 };

  constructor(private readonly limiter: Limiter, private readonly emit: (e: MirrorEvent) => void) {}

  /** Mirrors one image; true when something was written, false when it was already there. */
  async image(image: PlannedImage): Promise<boolean> {
    const { root } = image;
    if (image.action === 'present') {
      this.emit({ type: 'image-done', image, digest: root.digest, written: false });
      return false;
    }
    this.emit({ type: 'image-started', image });
    try {
      const tag = image.mapping.destination.tag;
      if (tag === undefined) {
        await this.manifest(root);
      } else {
        // Everything the manifest refers to first; then one PUT by tag, which makes the tag appear complete.
        await Promise.all(this.prerequisites(root));
        await this.put(root, withTag(image.mapping.destination, tag));
      }
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.emit({ type: 'image-failed', image, error });
      throw error;
    }
    this.emit({ type: 'image-done', image, digest: root.digest, written: true });
    return true;
  }

  /** Resolves when every started blob and manifest task has finished, whatever the outcome. */
  async settled(): Promise<void> {
    // Settling tasks can start no new ones, but loop in case a late one was added meanwhile.
    for (let seen = -1; seen !== this.tasks.size;) {
      seen = this.tasks.size;
      await Promise.allSettled([...this.tasks]);
    }
  }

  private prerequisites(m: PlannedManifest): Promise<void>[] {
    return m.present ? [] : [...m.children.map((c) => this.manifest(c)), ...m.blobs.map((b) => this.blob(b))];
  }

  /** Pushes a manifest by digest, after its blobs and children; once per repository and digest. */
  private manifest(m: PlannedManifest): Promise<void> {
    return this.track(this.manifests.get(manifestKey(m), async () => {
      if (m.present) return;
      await Promise.all(this.prerequisites(m));
      await this.put(m, { registry: m.registry, repository: m.repository, digest: m.digest });
    }));
  }

  private async put(m: PlannedManifest, ref: ImageReference): Promise<void> {
    const write = () => this.limiter.run(m.store.id, () => m.store.putManifest(ref, { mediaType: m.mediaType, bytes: m.bytes }), true);
    let digest: string;
    for (let attempt = 1; ; attempt++) {
      try {
        digest = await write();
        break;
      } catch (err) {
        // The store says something the manifest refers to is missing although this run wrote it or found it
        // there: another writer (a second mirror run, garbage collection) was busy. Check and fill in, then again.
        if (!isMissingReference(err) || attempt > MISSING_REFERENCE_RETRIES) throw err;
        this.emit({ type: 'warning', message: `${formatReference(ref)}: ${(err as Error).message}; checking what the manifest refers to and trying again` });
        await delay(attempt * 500);
        await this.restoreReferences(m);
      }
    }
    if (digest !== m.digest) {
      throw new Error(`pushing manifest ${formatReference(ref)}: the registry stored it as ${digest}, expected ${m.digest}`);
    }
    this.stats.manifestsPushed++;
  }

  /** Writes again whatever of the manifest's blobs and children the store does not hold (any more). */
  private async restoreReferences(m: PlannedManifest): Promise<void> {
    await Promise.all([
      ...m.blobs.map(async (b) => {
        if (await this.limiter.run(b.store.id, () => b.store.blobSize(b, b.digest, FOR_PUSH)) === undefined) await this.upload(b);
      }),
      ...m.children.map(async (c) => {
        const ref = { registry: c.registry, repository: c.repository, digest: c.digest };
        if (await this.limiter.run(c.store.id, () => c.store.headManifest(ref, FOR_PUSH)) !== undefined) return;
        await this.restoreReferences(c);
        await this.put(c, ref);
      }),
    ]);
  }

  /** Gets a blob into its target repository: once per repository and digest. */
  private blob(b: PlannedBlob): Promise<void> {
    return this.track(this.blobs.get(blobKey(b), async () => {
      if (b.action === 'present') return;
      if (b.action === 'mount' && b.mountFrom !== undefined) {
        // The upload this mount waits for failed for good (its target refused it, say): upload here instead.
        if (b.after && !await this.blob(b.after).then(() => true, () => false)) {
          this.emit({ type: 'warning', message: `the upload of ${b.digest} into ${b.after.repository} failed; uploading it into ${b.repository} instead of mounting it` });
          await this.upload(b);
          return;
        }
        const from = b.mountFrom;
        const mount = b.store.mountBlob?.bind(b.store);
        if (mount !== undefined && await this.limiter.run(b.store.id, () => mount(b, b.digest, from))) {
          this.stats.blobsMounted++;
          this.stats.bytesMounted += b.size;
          this.emit({ type: 'blob-done', blob: b, action: 'mount' });
          return;
        }
        this.emit({ type: 'warning', message: `${b.registry} refused to mount ${b.digest} from ${from} into ${b.repository}; uploading it instead` });
      }
      await this.upload(b);
    }));
  }

  private async upload(b: PlannedBlob): Promise<void> {
    let sent = 0;
    const open = async () => {
      if (sent > 0) this.emit({ type: 'bytes', blob: b, bytes: -sent }); // a retry starts from the beginning
      sent = 0;
      // Handed over as getBlob made it: the upload recognises its digest check and does not hash the blob again.
      return b.source.store.getBlob(b.source, b.digest, { size: b.size });
    };
    const onBytes = (n: number) => {
      sent += n;
      this.emit({ type: 'bytes', blob: b, bytes: n });
    };
    // Into a folder, the source registry's connections are what bounds the copies: the slot is given back
    // once every byte came across, as syncing and naming the file no longer use the connection.
    const intoFolder = b.store.local && !b.source.store.local;
    let push: Promise<void> | undefined;
    // The bytes tell the limiter how much work the slot did (a big upload is more than one request).
    await this.limiter.run(intoFolder ? b.source.store.id : b.store.id, (slot) => new Promise<void>((resolve, reject) => {
      push = b.store.pushBlob(b, b.digest, b.size, open, (n) => {
        slot.moved(n);
        onBytes(n);
        if (intoFolder && sent >= b.size) resolve();
      });
      push.then(resolve, reject);
    }));
    await push;
    this.stats.blobsUploaded++;
    this.stats.bytesUploaded += sent;
    this.emit({ type: 'blob-done', blob: b, action: 'upload' });
  }

  private track<T>(task: Promise<T>): Promise<T> {
    this.tasks.add(task);
    return task;
  }
}
