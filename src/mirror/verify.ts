// The drift check: does every destination still hold what its source holds? Reads each source tree
// (as the planner does, filters included), then asks the destination for the tag, every manifest and
// every blob of that tree. Nothing is copied; what is missing or wrong is listed per image.
import { formatReference, withTag } from '../reference/reference.js';
import { runLimiter } from './adaptive-limit.js';
import { Once } from './limit.js';
import type { Mapping } from './mapping.js';
import { allManifests, blobKey, manifestKey, planMirror, type FailedImage, type PlannedManifest, type PlanOptions } from './plan.js';
import type { StoreResolver } from '../transport/store.js';

export type VerifyOptions = Pick<PlanOptions, 'filterByOs' | 'keepManifestList' | 'maxPerRegistry' | 'skipMissing'>;

export interface ImageCheck {
  readonly mapping: Mapping;
  /** What the destination must hold: the source's digest, or the filtered list's. */
  readonly expected: string;
  /** What the destination tag (or digest) points at; undefined when it does not exist. */
  readonly actual?: string;
  /** Manifests of the tree the destination lacks (children of a list), by digest. */
  readonly missingManifests: readonly string[];
  /** Blobs of the tree the destination lacks, by digest. */
  readonly missingBlobs: readonly string[];
}

export interface VerifyResult {
  readonly ok: readonly ImageCheck[];
  /** Missing, pointing elsewhere, or incomplete. */
  readonly broken: readonly ImageCheck[];
  /** Sources that could not be read (so there is nothing to compare with). */
  readonly unreadable: readonly FailedImage[];
}

export async function verifyMirror(stores: StoreResolver, mappings: readonly Mapping[], opts: VerifyOptions = {}): Promise<VerifyResult> {
  // force: whole source trees, and no question to the destinations yet (they are asked below, once each).
  const plan = await planMirror(stores, mappings, { ...opts, force: true });
  const limiter = runLimiter(opts.maxPerRegistry);
  const manifests = new Once<boolean>();
  const blobs = new Once<boolean>();

  const hasManifest = (m: PlannedManifest) => manifests.get(manifestKey(m), async () =>
    await limiter.run(m.store.id, () => m.store.headManifest({ registry: m.registry, repository: m.repository, digest: m.digest })) !== undefined);

  const checks = await Promise.all(plan.images.map(async (image): Promise<ImageCheck> => {
    const { root, mapping } = image;
    const destination = mapping.destination;
    const store = stores.destination(destination);
    const at = destination.tag === undefined ? { ...destination, digest: root.digest } : withTag(destination, destination.tag);
    const head = await limiter.run(store.id, () => store.headManifest(at));
    const tree = allManifests(root);
    const present = await Promise.all(tree.map(async (m) => (m === root ? head?.digest === root.digest : hasManifest(m))));
    const blobList = [...new Set(tree.flatMap((m) => m.blobs))];
    const blobPresent = await Promise.all(blobList.map((b) => blobs.get(blobKey(b), async () =>
      await limiter.run(b.store.id, () => b.store.blobSize(b, b.digest)) !== undefined)));
    return {
      mapping, expected: root.digest, actual: head?.digest,
      missingManifests: tree.filter((m, i) => m !== root && !present[i]).map((m) => m.digest),
      missingBlobs: blobList.filter((_, i) => !blobPresent[i]).map((b) => b.digest),
    };
  }));
  const healthy = (c: ImageCheck) => c.actual === c.expected && c.missingManifests.length === 0 && c.missingBlobs.length === 0;
  return { ok: checks.filter(healthy), broken: checks.filter((c) => !healthy(c)), unreadable: plan.failed };
}

/** One line per problem of a broken image. */
export function describeCheck(c: ImageCheck): string[] {
  const name = formatReference(c.mapping.destination);
  const lines: string[] = [];
  if (c.actual === undefined) lines.push(`${name}: missing (expected ${c.expected})`);
  else if (c.actual !== c.expected) lines.push(`${name}: holds ${c.actual}, expected ${c.expected} (from ${formatReference(c.mapping.source)})`);
  for (const m of c.missingManifests) lines.push(`${name}: manifest ${m} is missing`);
  for (const b of c.missingBlobs) lines.push(`${name}: blob ${b} is missing`);
  return lines;
}
