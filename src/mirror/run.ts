// One mirror run as both `image mirror` and `catalog mirror` do it: plan, warn, then either show
// the plan (dry run) or execute it with progress and a closing summary. Planning and writing overlap:
// an image is written as soon as its part of the plan is known.
import type { StoreResolver } from '../transport/store.js';
import { ensureDiskSpace } from './disk-space.js';
import { Executor, imagesInFlight, type MirrorResult } from './execute.js';
import { runLimiter } from './adaptive-limit.js';
import type { Mapping } from './mapping.js';
import { describePlan, planMirror, Planner, type Plan, type PlanOptions } from './plan.js';
import { planWarnings, ProgressReporter, summaryText, type ProgressStreams } from './progress.js';
import { inParallel } from '../util/in-parallel.js';
import { buildRunReport, writeRunReport, type RunReport } from './report.js';

export interface MirrorRunOptions extends PlanOptions {
  dryRun?: boolean;
  /** Write the run report (JSON) here, and the failed images' mapping file beside it. */
  report?: string;
  /** A mirror to disk: the filesystem of `dir` must hold `factor` times the bytes to write, checked before writing. */
  diskSpace?: { dir: string; factor: number };
  /** Mirror the images that can be mirrored even when others failed (while planning or copying). */
  continueOnError?: boolean;
}

export interface MirrorRunOutcome {
  plan: Plan;
  /** Undefined for a dry run, or when planning failed and continueOnError was off. */
  result?: MirrorResult;
  /** Images that failed while planning or copying, or were never started because of an earlier failure. */
  failures: number;
  /** As written to MirrorRunOptions.report. */
  report?: RunReport;
}

/**
 * Pass the `reporter` whose `onClientEvent` the client was made with, so retries and resumed
 * downloads show up in the same output; by default one is made for `streams`.
 */
export async function runMirror(stores: StoreResolver, mappings: readonly Mapping[], opts: MirrorRunOptions,
  streams: ProgressStreams, reporter = new ProgressReporter(streams)): Promise<MirrorRunOutcome> {
  const startedAt = new Date();
  const outcome = await planAndExecute(stores, mappings, opts, streams, reporter);
  if (opts.report === undefined) return outcome;
  const info = { dryRun: opts.dryRun ?? false, startedAt, finishedAt: new Date() };
  const report = await writeRunReport(opts.report, buildRunReport(mappings, outcome.plan, outcome.result, info), mappings);
  streams.stderr.write(`info: wrote the run report to ${opts.report}${report.failedMapping ? `, the failed images to ${report.failedMapping}` : ''}\n`);
  return { ...outcome, report };
}

async function planAndExecute(stores: StoreResolver, mappings: readonly Mapping[], opts: MirrorRunOptions,
  streams: ProgressStreams, reporter: ProgressReporter): Promise<MirrorRunOutcome> {
  if (opts.dryRun) {
    const plan = await planMirror(stores, mappings, opts);
    // The plan tree already shows skipped images and changed digests.
    streams.stderr.write(describePlan(plan));
    streams.stderr.write('info: dry run: nothing was written\n');
    return { plan, failures: plan.failed.length };
  }
  // Planner and executor share one bound on parallel requests per registry, which adapts; a registry
  // that answers 429 or 503 or times out gets fewer at once.
  const limiter = runLimiter(opts.maxPerRegistry, (change) => {
    if (change.to < change.from) reporter.warn(`info: ${change.key}: ${change.to} parallel requests instead of ${change.from} (${change.reason})`);
  });
  reporter.onRetry((e) => { if (e.overloaded) limiter.overloaded(`registry ${e.registry}`, e.reason); });
  const planner = new Planner(stores, opts, limiter);
  const executor = new Executor({ limiter, maxPerRegistry: opts.maxPerRegistry, continueOnError: opts.continueOnError, onEvent: reporter.onEvent });
  // Whether a source can be read decides whether anything is written: read every top manifest first
  // (and the destination tags meanwhile), a small part of the work that also settles a re-run.
  const ready = await planner.prepareAll(mappings);
  const barrier = (planner.failures > 0 && !opts.continueOnError) || opts.diskSpace !== undefined;
  if (barrier) {
    const plan = await planner.planAll(mappings);
    for (const warning of planWarnings(plan)) streams.stderr.write(`${warning}\n`);
    if (opts.diskSpace) await ensureDiskSpace(opts.diskSpace.dir, plan.totals.bytesToUpload * opts.diskSpace.factor);
    if (plan.failed.length > 0 && !opts.continueOnError) {
      streams.stderr.write(summaryText(plan));
      return { plan, failures: plan.failed.length };
    }
    reporter.start(plan.images.length);
    await executor.mirrorAll(plan.images);
  } else {
    let warned = planner.skippedSoFar().length;
    for (const warning of planWarnings({ skipped: planner.skippedSoFar(), images: [] })) streams.stderr.write(`${warning}\n`);
    const toPlan = mappings.filter((_, i) => ready[i]);
    reporter.start(toPlan.length);
    await inParallel(toPlan, imagesInFlight(opts.maxPerRegistry), async (mapping) => {
      const images = await planner.plan(mapping);
      reporter.expect(images.length - 1);
      // Skips found since the last warning, whichever mapping's planning found them: each is said once.
      const skipped = planner.skippedSoFar().slice(warned);
      warned += skipped.length;
      for (const warning of planWarnings({ skipped, images })) reporter.warn(warning);
      // Planning failed for some image (it is in the plan's failures): start no new ones, unless told to go on.
      if (planner.failures > 0) executor.stop();
      await Promise.all(images.map((image) => executor.mirror(image)));
    });
  }
  const result = await executor.finish();
  const plan = planner.result(mappings);
  reporter.finish(plan, result);
  return { plan, result, failures: plan.failed.length + result.failed.length + result.notStarted.length };
}
