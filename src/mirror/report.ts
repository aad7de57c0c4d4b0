// The run report (`--report FILE`): what happened to every image, for scripts and for the record.
// Failed images are also written as a mapping file, so `image mirror -f` can retry just them.
import { writeFileAtomically } from '../util/atomic-write.js';
import { formatReference } from '../reference/reference.js';
import { countAttachments, type AttachmentKind, type AttachmentMark } from './attachments.js';
import type { MirrorResult } from './execute.js';
import { formatMappingFile, type Mapping } from './mapping.js';
import { manifestsToPush, type Plan, type PlannedBlob, type PlannedImage } from './plan.js';

/** mirrored: pushed or tagged; present: the destination already was this image; planned: a dry run. */
export type ImageStatus = 'mirrored' | 'present' | 'skipped' | 'failed' | 'planned';

export interface ImageReport {
  source: string;
  destination: string;
  /** What the destination holds (or would hold); absent when the source could not be read. */
  digest?: string;
  status: ImageStatus;
  /** Blob bytes this image uploaded (a blob shared by several images counts for the first). */
  bytesUploaded: number;
  /** Where the mapping came from: `mapping.txt, line 7`, `arguments`, `catalog …`. */
  origin: string;
  error?: string;
  /** For a signature, attestation, SBOM or referrers index: its kind and the image it belongs to. */
  attachment?: AttachmentKind;
  attachedTo?: { source: string; destination: string };
}

export interface RunReport {
  /** Format version of this file. */
  version: 1;
  startedAt: string;
  finishedAt: string;
  dryRun: boolean;
  images: ImageReport[];
  totals: {
    images: number;
    mirrored: number;
    present: number;
    skipped: number;
    failed: number;
    blobsUploaded: number;
    bytesUploaded: number;
    blobsMounted: number;
    bytesMounted: number;
    manifestsPushed: number;
  };
  /** How many of the images are attached artifacts, per kind. */
  attachments: Record<AttachmentKind, number>;
  /** The mapping file holding the failed images, when there are any. */
  failedMapping?: string;
}

const NOT_STARTED = 'not attempted: an earlier image failed (use --continue-on-error to try every image)';

export interface RunInfo {
  dryRun: boolean;
  startedAt: Date;
  finishedAt: Date;
}

/** The report of a run; `result` is undefined for a dry run or when planning failures stopped it. */
export function buildRunReport(mappings: readonly Mapping[], plan: Plan, result: MirrorResult | undefined, run: RunInfo): RunReport {
  const byMapping = new Map<Mapping, ImageReport>();
  const marks = attachmentMarks(plan);
  const entry = (mapping: Mapping, status: ImageStatus, extra: Partial<ImageReport> = {}): void => {
    const mark = marks.get(mapping);
    byMapping.set(mapping, {
      source: formatReference(mapping.source), destination: formatReference(mapping.destination), status, bytesUploaded: 0,
      origin: mapping.origin, ...extra,
      ...(mark ? { attachment: mark.attachment, attachedTo: sides(mark.attachedTo) } : {}),
    });
  };
  const uploaded = uploadedBytesByImage(plan);
  for (const image of plan.images) {
    entry(image.mapping, 'planned', { digest: image.root.digest });
  }
  if (result !== undefined) {
    for (const image of result.written) entry(image.mapping, 'mirrored', { digest: image.root.digest, bytesUploaded: uploaded.get(image) ?? 0 });
    for (const image of result.present) entry(image.mapping, 'present', { digest: image.root.digest });
    for (const { image, error } of result.failed) entry(image.mapping, 'failed', { digest: image.root.digest, error: error.message });
    for (const image of result.notStarted) entry(image.mapping, 'failed', { digest: image.root.digest, error: NOT_STARTED });
  } else if (!run.dryRun) {
    // Planning failures stopped the run before anything was copied.
    for (const image of plan.images) entry(image.mapping, 'failed', { digest: image.root.digest, error: NOT_STARTED });
  }
  for (const s of plan.skipped) entry(s.mapping, 'skipped', { error: s.reason });
  for (const f of plan.failed) entry(f.mapping, 'failed', { error: f.error.message });

  // Each image's attached artifacts right after it.
  const attachedTo = new Map<Mapping, Mapping[]>();
  for (const [attached, mark] of marks) attachedTo.set(mark.attachedTo, [...(attachedTo.get(mark.attachedTo) ?? []), attached]);
  const order = mappings.flatMap((m) => [m, ...(attachedTo.get(m) ?? [])]);
  const images = order.map((m) => byMapping.get(m)).filter((r): r is ImageReport => r !== undefined);
  const tally = (status: ImageStatus) => images.filter((i) => i.status === status).length;
  return {
    version: 1,
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt.toISOString(),
    dryRun: run.dryRun,
    images,
    totals: {
      images: images.length, mirrored: tally('mirrored'), present: tally('present'), skipped: tally('skipped'), failed: tally('failed'),
      blobsUploaded: result?.blobsUploaded ?? 0, bytesUploaded: result?.bytesUploaded ?? 0,
      blobsMounted: result?.blobsMounted ?? 0, bytesMounted: result?.bytesMounted ?? 0, manifestsPushed: result?.manifestsPushed ?? 0,
    },
    attachments: countAttachments(images),
  };
}

/** The attached artifacts of the plan (planned, skipped or failed while planning), by their mapping. */
function attachmentMarks(plan: Plan): Map<Mapping, AttachmentMark> {
  const marks = new Map<Mapping, AttachmentMark>();
  for (const i of [...plan.images, ...plan.skipped, ...plan.failed]) {
    if (i.attachedTo !== undefined && i.attachment !== undefined) marks.set(i.mapping, { attachedTo: i.attachedTo, attachment: i.attachment });
  }
  return marks;
}

const sides = (m: Mapping) => ({ source: formatReference(m.source), destination: formatReference(m.destination) });

/** Each uploaded blob counted for the first image (in plan order) that needs it. */
function uploadedBytesByImage(plan: Plan): Map<PlannedImage, number> {
  const counted = new Set<PlannedBlob>();
  const bytes = new Map<PlannedImage, number>();
  for (const image of plan.images) {
    if (image.action !== 'push') continue;
    let sum = 0;
    for (const m of manifestsToPush(image.root)) {
      for (const b of m.blobs) {
        if (b.action !== 'upload' || counted.has(b)) continue;
        counted.add(b);
        sum += b.size;
      }
    }
    bytes.set(image, sum);
  }
  return bytes;
}

/** The failed images' mapping file next to the report: `run.json` -> `run.failed-mapping.txt`. */
export function failedMappingPath(reportPath: string): string {
  return `${reportPath.replace(/\.json$/, '')}.failed-mapping.txt`;
}

/** Writes the report (and the failed images' mapping file when there are failures), each whole or not at all. */
export async function writeRunReport(path: string, report: RunReport, mappings: readonly Mapping[]): Promise<RunReport> {
  // A failed attachment is retried with the image it belongs to.
  const failed = new Set(report.images.filter((i) => i.status === 'failed').map((i) => i.attachedTo ?? i).map((i) => `${i.source}=${i.destination}`));
  const retry = mappings.filter((m) => failed.has(`${formatReference(m.source)}=${formatReference(m.destination)}`));
  const written = { ...report };
  if (retry.length > 0) {
    const mappingPath = failedMappingPath(path);
    await writeFileAtomically(mappingPath, formatMappingFile(retry));
    written.failedMapping = mappingPath;
  }
  await writeFileAtomically(path, `${JSON.stringify(written, null, 2)}\n`);
  return written;
}
