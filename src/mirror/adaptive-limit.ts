// Parallelism per key (a registry host) that adapts: every key starts at `initial`; while tasks wait for a
// slot it tries one more slot (additive increase) and keeps it when the measured throughput paid for it
// (it rose by `minGain`, and the work's latency did not degrade by more than `latencyTolerance`), else
// steps back and waits longer before it tries again; an overload (429, 503, timeouts) halves the limit
// (multiplicative decrease, at least 1) and holds it for `coolDownMs`. `cap` bounds it (--max-per-registry).
//
// Throughput is work per millisecond, where one completed task is one unit of work and every
// `bytesPerRequest` bytes a task reports through its slot are one more: a 40-byte HEAD and a 32 MiB upload
// share a key, and counting only completions would read a turn to uploads as a slowdown, counting only
// bytes would ignore the requests. The default equates a request with 1 MiB, about what one round trip
// costs in transfer time (the bandwidth-delay product of 100 Mbit/s at 80 ms, or of loopback at ~1 ms).
// Bytes count in the window they move in, so a long upload contributes while it runs.
// Latency is the completed tasks' time per unit of work (their summed durations over their summed work),
// so a mix of big and small tasks is compared by what each unit cost.
//
// Everything is measured in windows of at least `windowMs` and 4 completions per slot, evaluated when a
// task ends: no timers, and with an injected clock the decisions are deterministic.
import { QueueingLimiter, type Slot } from './limit.js';

export interface LimitChange {
  key: string;
  from: number;
  to: number;
  reason: string;
}

export interface AdaptiveLimitOptions {
  /** The most tasks per key at once (--max-per-registry); default 16. */
  cap?: number;
  /** Where every key starts, at most `cap`; default 8. */
  initial?: number;
  /** Why a task's rejection means its key is overloaded (a 429, 503 or timeout), or undefined when it does not. */
  overloadReason?: (error: unknown) => string | undefined;
  /** Every change of a key's limit, with why (for verbose output). */
  onChange?: (change: LimitChange) => void;
  /** A monotonic clock in milliseconds; default performance.now(). */
  now?: () => number;
  /** Shortest measurement window; default 250 ms. */
  windowMs?: number;
  /** How much more throughput one more slot must bring to stay; default 0.05 (5 %). */
  minGain?: number;
  /** How much longer the work may take per unit with one more slot; default 0.25 (25 %). */
  latencyTolerance?: number;
  /** After an overload: no growth, and no further halving, for this long; default 3000 ms. */
  coolDownMs?: number;
  /** Bytes reported through a slot that count as much work as one completed task; default 1 MiB. */
  bytesPerRequest?: number;
}

export const ADAPTIVE_DEFAULTS = {
  // Against local registries 12 was still faster than 6. The cap also sets the connections per registry
  // and the images in flight (16 per slot), so the peak memory: a higher one goes through --max-per-registry,
  // and the limiter then grows towards it while throughput rises (registries far away, latency-bound).
  cap: 16,
  // Against local registries 8 and 12 were faster than the fixed 6 of before (3 was slower), and 16 faster
  // than 8 again: first mirror of 100 images 4.09 -> 3.82 s (4 of 4 pairs), 48 images 2.46 -> 2.33 s (4 of 5),
  // to disk 3% (5 of 5). A registry that cannot take as many says so with 429 or 503, or by timing out.
  initial: 16,
  windowMs: 250,
  minGain: 0.05,
  latencyTolerance: 0.25,
  // About as long as the client's first three retries can wait (backoff 0.5, 1, 2 s), so the 429s answered
  // to requests that were already running when the limit was halved count as the same overload.
  coolDownMs: 3000,
  bytesPerRequest: 1024 * 1024,
} as const;

/** Completions per slot a window needs before it says anything. */
const COMPLETIONS_PER_SLOT = 4;
/** A window counts as demand above the limit when this share of its completions found a task waiting. */
const SATURATED_SHARE = 0.9;
/** Failed probes wait 1, 2, 4 ... windows before the next one, at most this many. */
const MAX_HOLD_WINDOWS = 16;

interface Window {
  start: number;
  /** Completions plus reported bytes in units of `bytesPerRequest`. */
  work: number;
  completed: number;
  /** Completions after which a task was waiting: the slot did not go idle. */
  handedOver: number;
  /** Summed durations and summed work of the tasks completed in the window. */
  taskMs: number;
  taskWork: number;
}

interface Measurement {
  /** Work per millisecond. */
  throughput: number;
  /** Milliseconds per unit of work. */
  latency: number;
}

interface KeyState {
  limit: number;
  window: Window;
  /** The last window in which tasks waited, at the limit before the running probe (if any). */
  baseline?: Measurement;
  /** The limit was raised by one, and the current window decides whether that stays. */
  probing: boolean;
  failedProbes: number;
  holdWindows: number;
  coolDownUntil: number;
}

export class AdaptiveLimiter extends QueueingLimiter {
  private readonly cap: number;
  private readonly initial: number;
  private readonly now: () => number;
  private readonly settings: Required<Pick<AdaptiveLimitOptions, 'windowMs' | 'minGain' | 'latencyTolerance' | 'coolDownMs' | 'bytesPerRequest'>>;
  private readonly states = new Map<string, KeyState>();

  constructor(private readonly options: AdaptiveLimitOptions = {}) {
    super();
    this.cap = options.cap ?? ADAPTIVE_DEFAULTS.cap;
    if (!Number.isInteger(this.cap) || this.cap < 1) throw new RangeError(`parallelism must be a positive integer, got ${this.cap}`);
    const initial = options.initial ?? ADAPTIVE_DEFAULTS.initial;
    if (!Number.isInteger(initial) || initial < 1) throw new RangeError(`initial parallelism must be a positive integer, got ${initial}`);
    this.initial = Math.min(initial, this.cap);
    this.now = options.now ?? (() => performance.now());
    if (!(options.windowMs === undefined || options.windowMs > 0)) throw new RangeError(`the measurement window must be longer than 0 ms, got ${options.windowMs}`);
    this.settings = {
      windowMs: options.windowMs ?? ADAPTIVE_DEFAULTS.windowMs,
      minGain: options.minGain ?? ADAPTIVE_DEFAULTS.minGain,
      latencyTolerance: options.latencyTolerance ?? ADAPTIVE_DEFAULTS.latencyTolerance,
      coolDownMs: options.coolDownMs ?? ADAPTIVE_DEFAULTS.coolDownMs,
      bytesPerRequest: options.bytesPerRequest ?? ADAPTIVE_DEFAULTS.bytesPerRequest,
    };
  }

  limitOf(key: string): number {
    return this.states.get(key)?.limit ?? this.initial;
  }

  override run<T>(key: string, task: (slot: Slot) => Promise<T>, urgent = false): Promise<T> {
    return super.run(key, () => this.measured(key, task), urgent);
  }

  /**
   * The key's server is overloaded (it answered 429 or 503, or a request timed out): halves the limit,
   * at least 1, unless that happened less than `coolDownMs` ago (one overload, many answers saying so).
   */
  overloaded(key: string, reason: string): void {
    const state = this.state(key);
    const now = this.now();
    if (now < state.coolDownUntil) return;
    state.coolDownUntil = now + this.settings.coolDownMs;
    state.probing = false;
    state.baseline = undefined;
    state.failedProbes = 0;
    state.holdWindows = 0;
    this.change(key, state, Math.max(1, Math.floor(state.limit / 2)), reason, now);
  }

  private async measured<T>(key: string, task: (slot: Slot) => Promise<T>): Promise<T> {
    const state = this.state(key);
    const startedAt = this.now();
    let bytes = 0;
    const slot: Slot = {
      moved: (n) => {
        if (n <= 0) return;
        bytes += n;
        state.window.work += n / this.settings.bytesPerRequest;
      },
    };
    let failure: { error: unknown } | undefined;
    try {
      return await task(slot);
    } catch (error) {
      failure = { error };
      throw error;
    } finally {
      // Before the slot is released, so that a changed limit decides who starts next.
      this.finished(key, state, this.now() - startedAt, 1 + bytes / this.settings.bytesPerRequest, failure);
    }
  }

  private finished(key: string, state: KeyState, durationMs: number, work: number, failure: { error: unknown } | undefined): void {
    const window = state.window;
    window.work += 1;
    window.completed++;
    if (this.queued(key) > 0) window.handedOver++;
    window.taskMs += durationMs;
    window.taskWork += work;
    const overload = failure === undefined ? undefined : this.options.overloadReason?.(failure.error);
    if (overload !== undefined) {
      this.overloaded(key, overload);
      return;
    }
    const now = this.now();
    if (now - window.start >= this.settings.windowMs && window.completed >= COMPLETIONS_PER_SLOT * state.limit) this.evaluate(key, state, now);
  }

  private evaluate(key: string, state: KeyState, now: number): void {
    const window = state.window;
    const measured: Measurement = { throughput: window.work / (now - window.start), latency: window.taskMs / window.taskWork };
    const saturated = window.handedOver >= SATURATED_SHARE * window.completed;
    state.window = newWindow(now);
    if (now < state.coolDownUntil) return;

    if (state.probing) {
      state.probing = false;
      const baseline = state.baseline!;
      const gain = measured.throughput / baseline.throughput - 1;
      const slowdown = measured.latency / baseline.latency - 1;
      const figures = `throughput ${percent(gain)}, time per unit of work ${percent(slowdown)}`;
      if (saturated && gain >= this.settings.minGain && slowdown <= this.settings.latencyTolerance) {
        state.failedProbes = 0;
        state.baseline = measured;
        if (state.limit < this.cap) this.probe(key, state, `${figures} with ${state.limit}`, now);
        return;
      }
      state.baseline = undefined;
      // A probe during which no task waited says nothing about whether more slots pay.
      if (saturated) state.holdWindows = Math.min(2 ** state.failedProbes++, MAX_HOLD_WINDOWS);
      this.change(key, state, state.limit - 1, saturated ? `one more did not pay (${figures})` : 'no task waited', now);
      return;
    }

    if (!saturated) {
      state.baseline = undefined; // demand, not the registry, set this throughput
      return;
    }
    state.baseline = measured;
    if (state.holdWindows > 0) state.holdWindows--;
    else if (state.limit < this.cap) this.probe(key, state, 'tasks are waiting', now);
  }

  private probe(key: string, state: KeyState, reason: string, now: number): void {
    state.probing = true;
    this.change(key, state, state.limit + 1, `trying one more: ${reason}`, now);
  }

  /**
   * Sets the limit and starts a new window: a window measures one limit. A raise happens only as a task
   * ends, and the release that follows starts the waiters it lets in.
   */
  private change(key: string, state: KeyState, to: number, reason: string, now: number): void {
    const from = state.limit;
    state.limit = to;
    state.window = newWindow(now);
    if (from !== to) this.options.onChange?.({ key, from, to, reason });
  }

  private state(key: string): KeyState {
    let state = this.states.get(key);
    if (state === undefined) {
      state = { limit: this.initial, window: newWindow(this.now()), probing: false, failedProbes: 0, holdWindows: 0, coolDownUntil: -Infinity };
      this.states.set(key, state);
    }
    return state;
  }
}

function newWindow(start: number): Window {
  return { start, work: 0, completed: 0, handedOver: 0, taskMs: 0, taskWork: 0 };
}

function percent(fraction: number): string {
  const rounded = Math.round(fraction * 100);
  return `${rounded >= 0 ? '+' : ''}${rounded}%`;
}

/**
 * The limiter of one mirror run: adaptive, at most `maxPerRegistry` (--max-per-registry) per registry,
 * or the default cap when not given; it starts lower when the cap is below the default start.
 */
export function runLimiter(maxPerRegistry: number | undefined, onChange?: (change: LimitChange) => void): AdaptiveLimiter {
  const cap = maxPerRegistry ?? ADAPTIVE_DEFAULTS.cap;
  return new AdaptiveLimiter({ cap, initial: Math.min(cap, ADAPTIVE_DEFAULTS.initial), onChange });
}
