// One mirror run as both `image mirror` and `catalog mirror` do it: plan, warn, then either show
// the plan (dry run) or execute it with progress and a closing summary.
import type { StoreResolver } from '../transport/store.js';
import { executePlan, type MirrorResult } from './execute.js';
import type { Mapping } from './mapping.js';
import { describePlan, planMirror, type Plan, type PlanOptions } from './plan.js';
import { planWarnings, ProgressReporter, summaryText, type ProgressStreams } from './progress.js';

export interface MirrorRunOptions extends PlanOptions {
  dryRun?: boolean;
  /** Mirror the images that can be mirrored even when others failed (while planning or copying). */
  continueOnError?: boolean;
}

export interface MirrorRunOutcome {
  plan: Plan;
  /** Undefined for a dry run, or when planning failed and continueOnError was off. */
  result?: MirrorResult;
  /** Images that failed while planning or copying, or were never started because of an earlier failure. */
  failures: number;
}

/**
 * Pass the `reporter` whose `onClientEvent` the client was made with, so retries and resumed
 * downloads show up in the same output; by default one is made for `streams`.
 */
export async function runMirror(stores: StoreResolver, mappings: readonly Mapping[], opts: MirrorRunOptions,
  streams: ProgressStreams, reporter = new ProgressReporter(streams)): Promise<MirrorRunOutcome> {
  const plan = await planMirror(stores, mappings, opts);
  if (opts.dryRun) {
    // The plan tree already shows skipped images and changed digests.
    streams.stderr.write(describePlan(plan));
    streams.stderr.write('info: dry run: nothing was written\n');
    return { plan, failures: plan.failed.length };
  }
  for (const warning of planWarnings(plan)) streams.stderr.write(`${warning}\n`);
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
