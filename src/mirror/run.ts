// One mirror run as both `image mirror` and `catalog mirror` do it: plan, warn, then either show
// the plan (dry run) or execute it with progress and a closing summary.
import type { StoreResolver } from '../transport/store.js';
import { ensureDiskSpace } from './disk-space.js';
import { executePlan, type MirrorResult } from './execute.js';
import type { Mapping } from './mapping.js';
import { describePlan, planMirror, type Plan, type PlanOptions } from './plan.js';
import { planWarnings, ProgressReporter, summaryText, type ProgressStreams } from './progress.js';
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
  const plan = await planMirror(stores, mappings, opts);
  if (opts.dryRun) {
    // The plan tree already shows skipped images and changed digests.
    streams.stderr.write(describePlan(plan));
    streams.stderr.write('info: dry run: nothing was written\n');
    return { plan, failures: plan.failed.length };
  }
  for (const warning of planWarnings(plan)) streams.stderr.write(`${warning}\n`);
  if (opts.diskSpace) await ensureDiskSpace(opts.diskSpace.dir, plan.totals.bytesToUpload * opts.diskSpace.factor);
  if (plan.failed.length > 0 && !opts.continueOnError) {
    streams.stderr.write(summaryText(plan));
    return { plan, failures: plan.failed.length };
  }
  reporter.start(plan);
  const result = await executePlan(plan, {
    maxPerRegistry: opts.maxPerRegistry, continueOnError: opts.continueOnError, onEvent: reporter.onEvent,
  });
  reporter.finish(plan, result);
  return { plan, result, failures: plan.failed.length + result.failed.length + result.notStarted.length };
}
