// What a mirror run tells the user. stdout: one `<digest> <destination>` line per image written
// (for scripts). stderr: plan warnings, progress (a live line on a terminal, one line per finished
// image otherwise) and a closing summary that lists every failure with its error.
import type { Writable } from 'node:stream';
import { formatReference } from '../reference/reference.js';
import type { ClientEvent } from '../registry/client.js';
import { countAttachments } from './attachments.js';
import type { MirrorEvent, MirrorResult } from './execute.js';
import { count, formatBytes, formatDuration, formatRate } from './format.js';
import { describeMapping } from './mapping.js';
import type { Plan, PlannedImage } from './plan.js';

export interface ProgressStreams {
  stdout: Writable;
  stderr: Writable & { isTTY?: boolean; columns?: number };
}

const LIVE_REFRESH_MS = 250;

type RetryEvent = Extract<ClientEvent, { type: 'retry' }>;

/** Warnings found while planning: skipped sources and digests that filtering changes. */
export function planWarnings(plan: Pick<Plan, 'skipped' | 'images'>): string[] {
  return [
    ...plan.skipped.map((s) => `warning: ${describeMapping(s.mapping)}: skipped, ${s.reason}`),
    ...plan.images.filter((i) => i.digestChange).map((i) =>
      `warning: ${describeMapping(i.mapping)}: the digest changes from ${i.digestChange!.from} to ${i.digestChange!.to}: ${i.digestChange!.reason}`),
  ];
}

/** A line about what the registry client had to do (retries, resumed downloads, plain HTTP); undefined for routine events. */
export function describeClientEvent(e: ClientEvent): string | undefined {
  switch (e.type) {
    case 'retry':
      return `warning: ${e.reason}; attempt ${e.attempt} of ${e.maxAttempts} in ${formatDuration(e.delayMs)}`;
    case 'resume':
      return `warning: ${e.reason}; ${e.restarted ? 'the registry ignores ranges, reading it again from the start' : `resuming at byte ${e.offset}`}`;
    case 'fallback':
      return `info: ${e.registry} does not answer HTTPS; using plain HTTP as --insecure allows`;
    case 'insecure':
      return `warning: ${e.reason}; using it as --insecure allows`;
    case 'redirect':
      return undefined;
  }
}

export class ProgressReporter {
  private readonly live: boolean;
  private total = 0;
  private started = Date.now();
  private finished = 0;
  private bytes = 0;
  private readonly inFlight = new Set<PlannedImage>();
  private timer: NodeJS.Timeout | undefined;
  /** The live line is drawn between start() and finish() only (planning has nothing to count yet). */
  private running = false;
  private lineShown = false;
  private readonly retryListeners: ((e: RetryEvent) => void)[] = [];

  constructor(private readonly out: ProgressStreams) {
    this.live = out.stderr.isTTY === true;
  }

  /** Call before the first image is mirrored, with the number of images expected so far. */
  start(images: number): void {
    this.total = images;
    this.started = Date.now();
    this.running = true;
  }

  /** Planning found more images to mirror (attached artifacts), or fewer (skipped, failed): `delta` of them. */
  expect(delta: number): void {
    this.total += delta;
  }

  /** A warning found while the images are mirrored (planning goes on meanwhile). */
  warn(text: string): void {
    this.line(text, true);
  }

  /** Also tells `listener` of every retry the client makes (how the run's limiter hears of overloaded registries). */
  onRetry(listener: (e: RetryEvent) => void): void {
    this.retryListeners.push(listener);
  }

  /** For RegistryClientOptions.onEvent: also during planning. */
  readonly onClientEvent = (e: ClientEvent): void => {
    if (e.type === 'retry') for (const listener of this.retryListeners) listener(e);
    const text = describeClientEvent(e);
    if (text) this.line(text, true);
  };

  readonly onEvent = (e: MirrorEvent): void => {
    switch (e.type) {
      case 'image-started':
        this.inFlight.add(e.image);
        this.startTimer();
        break;
      case 'image-done':
        this.inFlight.delete(e.image);
        this.finished++;
        if (e.written) {
          // On a terminal stdout and stderr share the screen: the live line goes first, or the two mix.
          this.clearLive();
          this.out.stdout.write(`${e.digest} ${formatReference(e.image.mapping.destination)}\n`);
        }
        this.line(`[${this.finished}/${this.total}] ${e.written ? 'mirrored' : 'already present'} ${formatReference(e.image.mapping.destination)}`);
        break;
      case 'image-failed':
        this.inFlight.delete(e.image);
        this.finished++;
        this.line(`[${this.finished}/${this.total}] failed ${describeMapping(e.image.mapping)}: ${e.error.message}`, true);
        break;
      case 'bytes':
        this.bytes += e.bytes;
        break;
      case 'warning':
        this.line(`warning: ${e.message}`, true);
        break;
      case 'blob-done':
        break;
    }
  };

  /** Stops the live line and prints the summary. */
  finish(plan: Plan, result: MirrorResult): void {
    if (this.timer) clearInterval(this.timer);
    this.running = false;
    this.clearLive();
    this.out.stderr.write(summaryText(plan, result));
  }

  /** Plain mode: every line. Live mode: only what must stay on screen (failures, warnings); the rest goes to the live line. */
  private line(text: string, keep = false): void {
    if (!this.live) {
      this.out.stderr.write(`${text}\n`);
      return;
    }
    if (keep) {
      this.clearLive();
      this.out.stderr.write(`${text}\n`);
    }
    this.render();
  }

  private startTimer(): void {
    if (!this.live || this.timer) return;
    this.timer = setInterval(() => this.render(), LIVE_REFRESH_MS);
    this.timer.unref();
  }

  private render(): void {
    if (!this.live || !this.running) return;
    const elapsed = Date.now() - this.started;
    const latest = [...this.inFlight].pop();
    const current = latest ? ` (${this.inFlight.size} in progress): ${formatReference(latest.mapping.destination)}` : '';
    const text = `mirroring ${this.finished}/${this.total} images, ${formatBytes(this.bytes)}, ${formatRate(this.bytes, elapsed)}${current}`;
    const width = this.out.stderr.columns ?? 80;
    this.out.stderr.write(`\r\x1b[K${text.length >= width ? `${text.slice(0, width - 2)}…` : text}`);
    this.lineShown = true;
  }

  private clearLive(): void {
    if (this.lineShown) this.out.stderr.write('\r\x1b[K');
    this.lineShown = false;
  }
}

/**
 * The closing summary. Without a result (the plan failed and nothing ran) it lists the planning
 * failures only.
 */
export function summaryText(plan: Plan, result?: MirrorResult): string {
  const lines: string[] = [];
  const failures = [
    ...plan.failed.map((f) => `error: ${describeMapping(f.mapping)}: ${f.error.message}`),
    ...(result?.failed ?? []).map((f) => `error: ${describeMapping(f.image.mapping)}: ${f.error.message}`),
  ];
  if (result) {
    const tagged = result.written.filter((i) => i.action === 'tag').length;
    const skipped = result.present.length + plan.skipped.length;
    lines.push(`info: images: ${result.written.length} mirrored (${result.written.length - tagged} pushed, ${tagged} only tagged), ` +
      `${skipped} skipped (${result.present.length} already present, ${plan.skipped.length} on request), ` +
      `${result.failed.length + plan.failed.length} failed` +
      (result.notStarted.length > 0 ? `, ${result.notStarted.length} not attempted` : ''));
    const attached = attachmentsLine(plan, result);
    if (attached) lines.push(attached);
    lines.push(`info: blobs: ${result.blobsUploaded} uploaded (${formatBytes(result.bytesUploaded)}), ` +
      `${result.blobsMounted} mounted (${formatBytes(result.bytesMounted)}), ` +
      `${plan.totals.blobsPresent} already present (${formatBytes(plan.totals.bytesPresent)}); ${count(result.manifestsPushed, 'manifest')} pushed`);
    lines.push(`info: Mirroring completed in ${formatDuration(result.durationMs)} (${formatRate(result.bytesUploaded, result.durationMs)})`);
  }
  lines.push(...failures);
  if (result && result.notStarted.length > 0) {
    lines.push(`error: ${count(result.notStarted.length, 'image')} not attempted after the first failure; ` +
      'run again (finished images are skipped) or pass --continue-on-error');
  }
  if (!result && plan.failed.length > 0) {
    lines.push(`error: nothing was mirrored: ${plan.failed.length} of ${count(plan.totals.images, 'image')} failed while planning; ` +
      'fix the errors above, or pass --skip-missing (missing sources) or --continue-on-error (mirror the rest)');
  }
  return `${lines.join('\n')}\n`;
}

/** `info: attached artifacts among them: 2 signatures, 1 SBOM (2 mirrored, 1 already present, 0 failed)`; undefined without any. */
function attachmentsLine(plan: Plan, result: MirrorResult): string | undefined {
  const failed = [...plan.failed, ...result.failed.map((f) => f.image), ...result.notStarted];
  const all = [...result.written, ...result.present, ...failed];
  const counts = countAttachments(all);
  const nouns = { signature: ['signature', 'signatures'], attestation: ['attestation', 'attestations'], sbom: ['SBOM', 'SBOMs'], referrer: ['referrers index', 'referrers indexes'] };
  const kinds = (Object.keys(counts) as (keyof typeof counts)[]).filter((k) => counts[k] > 0);
  if (kinds.length === 0) return undefined;
  const tally = (list: readonly { attachment?: string }[]) => list.filter((i) => i.attachment !== undefined).length;
  return `info: attached artifacts among them: ${kinds.map((k) => `${counts[k]} ${nouns[k][counts[k] === 1 ? 0 : 1]}`).join(', ')} ` +
    `(${tally(result.written)} mirrored, ${tally(result.present)} already present, ${tally(failed)} failed)`;
}
