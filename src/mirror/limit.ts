// Bounded parallelism per key (a registry host): tasks beyond the limit wait in FIFO order.

export class KeyedLimiter {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`parallelism must be a positive integer, got ${limit}`);
  }

  /**
   * Runs `task` once fewer than `limit` tasks with the same key are running. `urgent` tasks go to the
   * front of the queue (small requests that finish an image should not wait behind every upload).
   * Never await other limited work inside `task`: a slot held while waiting can deadlock.
   */
  async run<T>(key: string, task: () => Promise<T>, urgent = false): Promise<T> {
    await this.acquire(key, urgent);
    try {
      return await task();
    } finally {
      this.release(key);
    }
  }

  private acquire(key: string, urgent: boolean): Promise<void> {
    const running = this.active.get(key) ?? 0;
    if (running < this.limit) {
      this.active.set(key, running + 1);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const queue = this.waiting.get(key) ?? [];
      if (urgent) queue.unshift(resolve);
      else queue.push(resolve);
      this.waiting.set(key, queue);
    });
  }

  private release(key: string): void {
    const next = this.waiting.get(key)?.shift();
    if (next) {
      next(); // the slot passes straight to the next waiter
      return;
    }
    this.waiting.delete(key);
    const running = (this.active.get(key) ?? 1) - 1;
    if (running === 0) this.active.delete(key);
    else this.active.set(key, running);
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
