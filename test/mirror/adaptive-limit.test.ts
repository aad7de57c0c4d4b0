import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdaptiveLimiter, type AdaptiveLimitOptions, type LimitChange } from '../../src/mirror/adaptive-limit.js';
import type { Slot } from '../../src/mirror/limit.js';

const MiB = 1024 * 1024;
const settle = () => new Promise((resolve) => setImmediate(resolve));

/**
 * A registry on a manual clock: a request costs `serviceMs(requests running, its own included)` per unit
 * of work; units beyond the first are bytes (1 MiB each), reported as each is sent, as an upload does.
 */
class SimulatedRegistry {
  time = 0;
  running = 0;
  peak = 0;
  private readonly events: Array<{ at: number; happen: () => void }> = [];

  constructor(private readonly serviceMs: (running: number) => number) {}

  request(slot: Slot, units = 1): Promise<void> {
    this.running++;
    this.peak = Math.max(this.peak, this.running);
    const unitMs = this.serviceMs(this.running);
    for (let unit = 1; unit < units; unit++) this.events.push({ at: this.time + unit * unitMs, happen: () => slot.moved(MiB) });
    return new Promise((resolve) => this.events.push({
      at: this.time + units * unitMs,
      happen: () => {
        this.running--;
        resolve();
      },
    }));
  }

  /** Advances the clock from one event to the next until no request is left. */
  async drain(): Promise<void> {
    await settle();
    while (this.events.length > 0) {
      this.events.sort((a, b) => a.at - b.at);
      const next = this.events.shift()!;
      this.time = next.at;
      next.happen();
      await settle();
    }
  }
}

/** Latency-bound up to `slots` parallel requests (10 ms each), then the registry queues: throughput min(n, slots) / 10 ms. */
const saturatesAt = (slots: number) => (running: number) => 10 * Math.max(1, running / slots);

/** Queues `count` requests at once on key `r` and runs the registry until all are done; returns the limit changes. */
async function steadyQueue(registry: SimulatedRegistry, count: number, options: AdaptiveLimitOptions = {}, units: (limiter: AdaptiveLimiter) => number = () => 1)
  : Promise<{ limiter: AdaptiveLimiter; changes: Array<LimitChange & { at: number }> }> {
  const changes: Array<LimitChange & { at: number }> = [];
  const limiter = new AdaptiveLimiter({ initial: 6, now: () => registry.time, onChange: (c) => changes.push({ ...c, at: registry.time }), ...options });
  const all = Array.from({ length: count }, () => limiter.run('r', (slot) => registry.request(slot, units(limiter))));
  await registry.drain();
  await Promise.all(all);
  return { limiter, changes };
}

const steps = (changes: LimitChange[]) => changes.map((c) => `${c.from}>${c.to}`);

test('AdaptiveLimiter grows one slot at a time while throughput rises, and steps back where the registry saturates', async () => {
  const registry = new SimulatedRegistry(saturatesAt(10));
  const { limiter, changes } = await steadyQueue(registry, 3000);
  assert.deepEqual(steps(changes).slice(0, 6), ['6>7', '7>8', '8>9', '9>10', '10>11', '11>10']);
  assert.match(changes[5]!.reason, /did not pay/);
  assert.ok(changes.slice(6).every((c) => c.from >= 10 && c.to <= 11), steps(changes).join(' '));
  assert.equal(registry.peak, 11);
  assert.ok(limiter.limitOf('r') >= 10);
});

test('AdaptiveLimiter does not grow when throughput stays flat, and probes ever less often', async () => {
  const registry = new SimulatedRegistry(saturatesAt(6));
  const { changes } = await steadyQueue(registry, 3000);
  assert.ok(changes.length >= 4, 'it does try');
  assert.ok(changes.every((c, i) => c.from === (i % 2 === 0 ? 6 : 7) && c.to === (i % 2 === 0 ? 7 : 6)), steps(changes).join(' '));
  const probes = changes.filter((c) => c.to === 7).map((c) => c.at);
  const gaps = probes.slice(1).map((at, i) => at - probes[i]!);
  assert.ok(gaps.every((gap, i) => i === 0 || gap > gaps[i - 1]!), `gaps between probes grow: ${gaps.join(', ')}`);
  assert.equal(registry.peak, 7);
});

test('AdaptiveLimiter does not grow while no task waits for a slot', async () => {
  const registry = new SimulatedRegistry(saturatesAt(16));
  const changes: LimitChange[] = [];
  const limiter = new AdaptiveLimiter({ initial: 6, now: () => registry.time, onChange: (c) => changes.push(c) });
  const chain = async () => {
    for (let i = 0; i < 500; i++) await limiter.run('r', (slot) => registry.request(slot));
  };
  const chains = [chain(), chain(), chain(), chain(), chain(), chain()]; // exactly as many as the limit
  await registry.drain();
  await Promise.all(chains);
  assert.deepEqual(changes, []);
});

test('AdaptiveLimiter keeps one more slot only when the work does not take much longer for it', async () => {
  // Throughput n^0.2: one more slot than 1 brings 15 % more, but every unit of work takes 74 % longer.
  const diminishing = (running: number) => 10 * running ** 0.8;
  const strict = await steadyQueue(new SimulatedRegistry(diminishing), 1500, { initial: 1 });
  assert.deepEqual(steps(strict.changes).slice(0, 2), ['1>2', '2>1']);
  assert.ok(strict.changes.every((c) => c.to <= 2));
  const lenient = await steadyQueue(new SimulatedRegistry(diminishing), 1500, { initial: 1, latencyTolerance: 1 });
  assert.deepEqual(steps(lenient.changes).slice(0, 3), ['1>2', '2>3', '3>4']);
});

test('AdaptiveLimiter counts reported bytes as work: a turn to big uploads is not a slowdown', async () => {
  // Latency-bound registry; once the limit reaches 7, every task is an upload of 8 MiB (9 units, 90 ms).
  const uploadsFromSeven = (limiter: AdaptiveLimiter) => limiter.limitOf('r') >= 7 ? 9 : 1;
  const weighted = await steadyQueue(new SimulatedRegistry(saturatesAt(16)), 600, {}, uploadsFromSeven);
  assert.deepEqual(steps(weighted.changes).slice(0, 3), ['6>7', '7>8', '8>9']);
  const completionsOnly = await steadyQueue(new SimulatedRegistry(saturatesAt(16)), 600, { bytesPerRequest: Number.MAX_VALUE }, uploadsFromSeven);
  assert.deepEqual(steps(completionsOnly.changes).slice(0, 2), ['6>7', '7>6']);
});

test('AdaptiveLimiter never goes above its cap', async () => {
  const registry = new SimulatedRegistry(saturatesAt(100));
  const { limiter, changes } = await steadyQueue(registry, 2000, { cap: 8 });
  assert.deepEqual(steps(changes), ['6>7', '7>8']);
  assert.equal(limiter.limitOf('r'), 8);
  assert.equal(registry.peak, 8);
  assert.equal(new AdaptiveLimiter({ cap: 3 }).limitOf('any'), 3, 'the start is at most the cap');
  assert.throws(() => new AdaptiveLimiter({ cap: 0 }), RangeError);
  assert.throws(() => new AdaptiveLimiter({ initial: 0 }), RangeError);
});

test('AdaptiveLimiter halves on overload, never below 1, once per cool-down, and starts nothing until below the new limit', async () => {
  let time = 0;
  const changes: LimitChange[] = [];
  const limiter = new AdaptiveLimiter({ initial: 6, now: () => time, onChange: (c) => changes.push(c) });
  const opens: Array<() => void> = [];
  let started = 0;
  const all = Array.from({ length: 10 }, () => limiter.run('k', () => {
    started++;
    return new Promise<void>((resolve) => opens.push(resolve));
  }));
  await settle();
  assert.equal(started, 6);
  limiter.overloaded('k', '429 Too Many Requests');
  assert.equal(limiter.limitOf('k'), 3);
  for (const open of opens.splice(0, 3)) open();
  await settle();
  assert.equal(started, 6, 'three still run: the limit of three is used up');
  opens.shift()!();
  await settle();
  assert.equal(started, 7);
  time = 2999;
  limiter.overloaded('k', 'timeout');
  assert.equal(limiter.limitOf('k'), 3, 'within the cool-down: the same overload');
  time = 3000;
  limiter.overloaded('k', 'timeout');
  assert.equal(limiter.limitOf('k'), 1);
  time = 6000;
  limiter.overloaded('k', '503 Service Unavailable');
  assert.equal(limiter.limitOf('k'), 1);
  assert.deepEqual(changes, [
    { key: 'k', from: 6, to: 3, reason: '429 Too Many Requests' },
    { key: 'k', from: 3, to: 1, reason: 'timeout' },
  ]);
  assert.equal(limiter.limitOf('other'), 6, 'other keys keep theirs');
  while (opens.length > 0 || started < 10) {
    opens.shift()?.();
    await settle();
  }
  await Promise.all(all);
});

test('AdaptiveLimiter does not grow during the cool-down, and grows again after it', async () => {
  const registry = new SimulatedRegistry(saturatesAt(16));
  const changes: Array<LimitChange & { at: number }> = [];
  const limiter = new AdaptiveLimiter({ initial: 6, now: () => registry.time, onChange: (c) => changes.push({ ...c, at: registry.time }) });
  limiter.overloaded('r', 'rate limited');
  const all = Array.from({ length: 2000 }, () => limiter.run('r', (slot) => registry.request(slot)));
  await registry.drain();
  await Promise.all(all);
  assert.deepEqual(steps(changes).slice(0, 3), ['6>3', '3>4', '4>5']);
  assert.ok(changes[1]!.at >= 3000, `the first increase at ${changes[1]!.at} ms`);
});

test('AdaptiveLimiter halves when a rejection says overload, passes the rejection on and frees the slot', async () => {
  const changes: LimitChange[] = [];
  const limiter = new AdaptiveLimiter({
    initial: 4,
    now: () => 0,
    overloadReason: (error) => (error as Error).message.startsWith('429') ? 'rate limited' : undefined,
    onChange: (c) => changes.push(c),
  });
  await assert.rejects(limiter.run('k', async () => { throw new Error('500 Internal Server Error'); }), /500/);
  assert.equal(limiter.limitOf('k'), 4, 'not every failure is an overload');
  await assert.rejects(limiter.run('k', async () => { throw new Error('429 Too Many Requests'); }), /429/);
  assert.equal(limiter.limitOf('k'), 2);
  assert.deepEqual(changes, [{ key: 'k', from: 4, to: 2, reason: 'rate limited' }]);
  assert.deepEqual(await Promise.all([1, 2, 3].map((n) => limiter.run('k', async () => n))), [1, 2, 3]);
});
