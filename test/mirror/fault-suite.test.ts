// The fault suite: 50 images mirrored through a fault-injecting proxy in front of the real source
// registry, one fault type at a time on 30% of the requests it applies to. Every run must end with
// every image at the target with its source digest and every blob present, and exit 0.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startFaultProxy, type FaultRule } from '../support/proxy.js';
import { registryTestHooks } from '../support/registry.js';
import { makeLayer, seedImage, type SeededImage } from '../support/seed.js';
import { skopeoInspectRaw } from '../support/skopeo.js';
import { blobExists, mirrorCli, sha256 } from './helpers.js';

const source = registryTestHooks();
const target = registryTestHooks();
const IMAGES = 50;
const SHARE = 0.3;

const FAULTS: Record<string, Omit<FaultRule, 'chance'>[]> = {
  '5xx': [{ path: /^\/v2\/.+/, action: { kind: 'status', status: 503 } }],
  '429 with Retry-After': [{ path: /^\/v2\/.+/, action: { kind: 'status', status: 429, retryAfter: 1 } }],
  'reset mid-body': [{ method: 'GET', path: /\/blobs\//, action: { kind: 'cut', afterBytes: 700 } }],
  'truncation after the headers': [{ method: 'GET', path: /\/(blobs|manifests)\//, action: { kind: 'cut', afterBytes: 0 } }],
  'corrupted blob': [{ method: 'GET', path: /\/blobs\//, action: { kind: 'corrupt' } }],
  'corrupted manifest': [{ method: 'GET', path: /\/manifests\//, action: { kind: 'corrupt' } }],
};

let images: SeededImage[] = [];

async function seed(): Promise<SeededImage[]> {
  if (images.length > 0) return images;
  const base = [makeLayer('suite-base-1', 30_000), makeLayer('suite-base-2', 12_000)];
  for (let i = 0; i < IMAGES; i++) {
    images.push(await seedImage(source(), `suite/app${i}`, 'v1', {
      sharedLayers: base, layerSizes: [3000 + i], seed: `suite-${i}`, ...(i % 5 === 0 ? { platforms: ['linux/amd64', 'linux/arm64'], format: 'oci' as const } : {}),
    }));
  }
  return images;
}

/** Every image at `prefix` has its source digest (read by skopeo), and every blob of it is there. */
async function assertComplete(prefix: string): Promise<void> {
  const queue = images.map((image, i) => ({ image, repo: `${prefix}/app${i}` }));
  const check = async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      assert.equal(sha256(await skopeoInspectRaw(target(), `${next.repo}:v1`)), next.image.digest, next.repo);
      for (const blob of [...next.image.layerDigests, ...next.image.configDigests]) assert.ok(await blobExists(target(), next.repo, blob), `${next.repo}: ${blob}`);
    }
  };
  await Promise.all(Array.from({ length: 6 }, check));
}

async function mirrorThrough(rules: FaultRule[], prefix: string): Promise<{ ms: number; faults: number }> {
  const proxy = await startFaultProxy(source(), rules, { seed: 42 });
  try {
    const started = Date.now();
    const args = images.map((_, i) => `${proxy.host}/suite/app${i}:v1=${target().host}/${prefix}/app${i}:v1`);
    const run = await mirrorCli(args, { retries: 8 } as never);
    const ms = Date.now() - started;
    assert.equal(run.code, 0, `${prefix}: ${run.stderr.split('\n').filter((l) => l.startsWith('error')).join('\n')}`);
    return { ms, faults: proxy.hits.filter((h) => h.fault !== undefined).length };
  } finally {
    await proxy.stop();
  }
}

test('a clean run through the proxy, for comparison', async (t) => {
  await seed();
  const { ms } = await mirrorThrough([], 'clean');
  await assertComplete('clean');
  t.diagnostic(`clean run: ${IMAGES} images in ${ms} ms`);
});

for (const [name, rules] of Object.entries(FAULTS)) {
  test(`${name} on ${SHARE * 100}% of requests: every image arrives complete, exit 0`, async (t) => {
    await seed();
    const prefix = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
    const { ms, faults } = await mirrorThrough(rules.map((r) => ({ ...r, chance: SHARE })), prefix);
    assert.ok(faults > 10, `the faults were applied (${faults})`);
    await assertComplete(prefix);
    t.diagnostic(`${name}: ${faults} faults, ${ms} ms`);
  });
}
