// Bounded parallelism per key (a registry host): tasks beyond the limit wait in FIFO order; how many
// may run is the subclass's policy (adaptive-limit.ts).

/** What a running task can tell the limiter that runs it. */
export interface Slot {
  /** Bytes the task moved since its last report (a streamed upload reports as it goes); negative counts are ignored. */
  moved(bytes: number): void;
}

export interface Limiter {
  /**
   * Runs `task` once fewer than `limitOf(key)` tasks with the same key are running. `urgent` tasks go to
   * the front of the queue (small requests that finish an image should not wait behind every upload).
   * Never await other limited work inside `task`: a slot held while waiting can deadlock.
   */
  run<T>(key: string, task: (slot: Slot) => Promise<T>, urgent?: boolean): Promise<T>;
  /** How many tasks with this key may run at once now. */
  limitOf(key: string): number;
}

const UNMEASURED: Slot = { moved: () => undefined };

/** The queues: per key, the running count and the waiters; subclasses say how many may run. */
export abstract class QueueingLimiter implements Limiter {
  private readonly keys = new Map<string, { running: number; waiting: Array<() => void> }>();

  abstract limitOf(key: string): number;

  async run<T>(key: string, task: (slot: Slot) => Promise<T>, urgent = false): Promise<T> {
    await this.acquire(key, urgent);
    try {
      return await task(UNMEASURED);
    } finally {
      this.release(key);
    }
  }

  /** Tasks with this key waiting for a slot. */
  protected queued(key: string): number {
    return this.keys.get(key)?.waiting.length ?? 0;
  }

  private acquire(key: string, urgent: boolean): Promise<void> {
    let entry = this.keys.get(key);
    if (entry === undefined) this.keys.set(key, entry = { running: 0, waiting: [] });
    if (entry.running < this.limitOf(key)) {
      entry.running++;
      return Promise.resolve();
    }
    const queue = entry.waiting;
    return new Promise((resolve) => {
      if (urgent) queue.unshift(resolve);
      else queue.push(resolve);
    });
  }

  /** Frees a slot and starts as many waiters as the limit, as it is now, lets in (none after it was lowered). */
  private release(key: string): void {
    const entry = this.keys.get(key)!;
    entry.running--;
    const limit = this.limitOf(key);
    while (entry.running < limit && entry.waiting.length > 0) {
      entry.running++;
      entry.waiting.shift()!();
    }
    if (entry.running === 0) this.keys.delete(key);
  }
}

/** Memoises async work by key: the first caller starts it, everyone shares the outcome. */
export class Once<T> {
  private readonly started = new Map<string, Promise<T>>();

  get(key: string, start: () => Promise<T>): Promise<T> {
    let promise = this.started.get(key);
    if (promise === undefined) {
      promise = start();
      // A rejection is handled by whoever awaits it; keep unobserved ones from crashing the process.
      promise.catch(() => undefined);
      this.started.set(key, promise);
    }
    return promise;
  }
}
