import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdaptiveLimiter } from '../../src/mirror/adaptive-limit.js';
import { type Limiter, Once } from '../../src/mirror/limit.js';

/** A promise and the function that resolves it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => { open = resolve; });
  return { opened, open };
}

/** A limiter that starts at `limit` (and, with no time passing between tasks, stays there). */
const make = (limit: number): Limiter => new AdaptiveLimiter({ initial: limit });

test('the limiter runs at most `limit` tasks per key, other keys independently, urgent ones first', async () => {
  const limiter = make(2);
  const running = new Map<string, number>();
  const peak = new Map<string, number>();
  const order: string[] = [];
  const release = gate();
  const task = (key: string, name: string) => limiter.run(key, async () => {
    running.set(key, (running.get(key) ?? 0) + 1);
    peak.set(key, Math.max(peak.get(key) ?? 0, running.get(key)!));
    order.push(name);
    await release.opened;
    running.set(key, running.get(key)! - 1);
  }, name === 'urgent');
  const all = [task('a', 'a1'), task('a', 'a2'), task('a', 'a3'), task('a', 'a4'), task('a', 'urgent'), task('b', 'b1')];
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(order, ['a1', 'a2', 'b1'], 'a3, a4 and urgent wait for a slot on a; b is not held up by a');
  assert.equal(limiter.limitOf('a'), 2);
  release.open();
  await Promise.all(all);
  assert.deepEqual(order, ['a1', 'a2', 'b1', 'urgent', 'a3', 'a4']);
  assert.deepEqual([peak.get('a'), peak.get('b')], [2, 1]);
});

test('the limiter frees the slot when a task fails', async () => {
  const limiter = make(1);
  await assert.rejects(limiter.run('k', async () => { throw new Error('boom'); }), /boom/);
  assert.equal(await limiter.run('k', async () => 'next'), 'next');
});

test('AdaptiveLimiter refuses a limit below 1', () => {
  assert.throws(() => new AdaptiveLimiter({ cap: 0 }), RangeError);
});

test('Once starts work once per key and shares the outcome, failures included', async () => {
  const once = new Once<number>();
  let starts = 0;
  const start = async () => ++starts;
  assert.deepEqual(await Promise.all([once.get('x', start), once.get('x', start), once.get('y', start)]), [1, 1, 2]);
  const failing = new Once<number>();
  const first = failing.get('f', async () => { throw new Error('once'); });
  await assert.rejects(first, /once/);
  assert.equal(failing.get('f', start), first, 'the failed attempt is not repeated');
});
