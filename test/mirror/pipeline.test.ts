// The mirror as one pipeline against a real registry: an image is written while others are still
// being planned, and the target is asked only what it can answer with something new.
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { startFaultProxy } from '../support/proxy.js';
import { registryTestHooks } from '../support/registry.js';
import { makeLayer, seedImage } from '../support/seed.js';
import { skopeoInspectRaw } from '../support/skopeo.js';
import { mirrorCli, sha256, tagsOf } from './helpers.js';

const source = registryTestHooks();
const target = registryTestHooks();

/** Resolves true once `check` holds, false when it did not within `attempts` tries. */
async function eventually(check: () => Promise<boolean>, attempts = 200): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return true;
    await delay(50);
  }
  return false;
}

/** What the target was asked about its tags since hit `from`: catalog listings, HEADs of v1 tags, tag listings. */
function targetQuestions(proxy: { hits: readonly { method: string; path: string }[] }, from: number) {
  const hits = proxy.hits.slice(from);
  return {
    catalogs: hits.filter((h) => h.method === 'GET' && h.path.startsWith('/v2/_catalog')).length,
    heads: hits.filter((h) => h.method === 'HEAD' && /\/manifests\/v1$/.test(h.path)).map((h) => h.path),
    listings: hits.filter((h) => h.method === 'GET' && /\/tags\/list/.test(h.path)).length,
  };
}

test('an image is written while another one is still being planned', async () => {
  const first = await seedImage(source(), 'pipe/first', 'v1', { seed: 'pipe-first' });
  const second = await seedImage(source(), 'pipe/second', 'v1', { platforms: ['linux/amd64', 'linux/arm64'], seed: 'pipe-second' });
  // Reading the second image's tree (its list's entries) waits until the first image's tag is at the target.
  const firstTagged = eventually(async () => (await tagsOf(target(), 'pipe/first')).includes('v1'));
  const proxy = await startFaultProxy(source(), [
    { method: 'GET', path: /^\/v2\/pipe\/second\/manifests\/sha256:/, action: { kind: 'hold', until: firstTagged } },
  ]);
  try {
    const run = await mirrorCli([
      `${proxy.host}/pipe/first:v1=${target().host}/pipe/first:v1`,
      `${proxy.host}/pipe/second:v1=${target().host}/pipe/second:v1`,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await firstTagged, true, 'the first image was complete before the second was planned');
    assert.equal(sha256(await skopeoInspectRaw(target(), 'pipe/first:v1')), first.digest);
    assert.equal(sha256(await skopeoInspectRaw(target(), 'pipe/second:v1')), second.digest);
  } finally {
    await proxy.stop();
  }
});

test('a repository the target does not have yet is not asked about manifests or blobs; a re-run asks one question per image', async () => {
  const base = makeLayer('pipe-asks-base', 40_000);
  const images = await Promise.all(['one', 'two', 'three'].map((name) =>
    seedImage(source(), `asks/${name}`, 'v1', { sharedLayers: [base], platforms: name === 'three' ? ['linux/amd64', 'linux/arm64'] : undefined, seed: `asks-${name}` })));
  const proxy = await startFaultProxy(target(), []);
  try {
    const args = ['one', 'two', 'three'].map((name) => `${source().host}/asks/${name}:v1=${proxy.host}/asks/${name}:v1`);
    const first = await mirrorCli(args);
    assert.equal(first.code, 0, first.stderr);
    const asked = (method: string, pattern: RegExp) => proxy.hits.filter((h) => h.method === method && pattern.test(h.path));
    assert.deepEqual(asked('HEAD', /\/blobs\//).map((h) => h.path), [], 'no blob is asked about in a new repository');
    assert.deepEqual(asked('HEAD', /\/manifests\/sha256:/).map((h) => h.path), [], 'no manifest by digest either');
    assert.equal(asked('HEAD', /\/manifests\/v1$/).length, 3, 'each tag once');
    assert.equal(asked('GET', /\/tags\/list/).length, 3, 'each repository listed once');
    // The shared layer is uploaded once and mounted into the two other repositories.
    const baseDigest = sha256(base);
    const mounts = asked('POST', /[?&]mount=/).filter((h) => decodeURIComponent(h.path).includes(`mount=${baseDigest}`));
    assert.equal(mounts.length, 2, proxy.hits.map((h) => `${h.method} ${h.path}`).join('\n'));
    for (const [i, name] of ['one', 'two', 'three'].entries()) {
      assert.equal(sha256(await skopeoInspectRaw(target(), `asks/${name}:v1`)), images[i]!.digest);
    }

    const before = proxy.hits.length;
    const again = await mirrorCli(args);
    assert.equal(again.code, 0, again.stderr);
    const rerun = proxy.hits.slice(before).map((h) => `${h.method} ${h.path}`).filter((h) => h !== 'GET /v2/');
    assert.deepEqual(rerun.sort(), ['one', 'two', 'three'].map((name) => `HEAD /v2/asks/${name}/manifests/v1`).sort());
  } finally {
    await proxy.stop();
  }
});

test('several tags into one repository: one tag listing instead of a HEAD per tag', async () => {
  const tags = ['v1', 'v2', 'v3'];
  for (const tag of tags) await seedImage(source(), 'many/app', tag, { seed: `many-${tag}` });
  const proxy = await startFaultProxy(target(), []);
  try {
    const args = tags.map((tag) => `${source().host}/many/app:${tag}=${proxy.host}/many/app:${tag}`);
    const first = await mirrorCli(args);
    assert.equal(first.code, 0, first.stderr);
    const tagQuestions = (from: number) => proxy.hits.slice(from).map((h) => `${h.method} ${h.path}`)
      .filter((h) => /tags\/list|HEAD .*\/manifests\/v\d$/.test(h)).map((h) => h.replace(/\?.*/, ''));
    assert.deepEqual(tagQuestions(0), ['GET /v2/many/app/tags/list']);
    assert.deepEqual((await tagsOf(target(), 'many/app')).sort(), tags);

    const before = proxy.hits.length;
    const again = await mirrorCli(args);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /0 mirrored .* 3 skipped \(3 already present/);
    assert.deepEqual(tagQuestions(before).sort(), ['GET /v2/many/app/tags/list', ...tags.map((t) => `HEAD /v2/many/app/manifests/${t}`)].sort());
  } finally {
    await proxy.stop();
  }
});

test('a registry that answers 429 gets fewer parallel requests, and the run still completes', async () => {
  const images = await Promise.all(['a', 'b', 'c'].map((name) => seedImage(source(), `busy/${name}`, 'v1', { seed: `busy-${name}` })));
  const proxy = await startFaultProxy(target(), [
    { method: 'POST', path: /\/blobs\/uploads\//, times: 2, action: { kind: 'status', status: 429, retryAfter: 0 } },
  ]);
  try {
    const run = await mirrorCli(['a', 'b', 'c'].map((name) => `${source().host}/busy/${name}:v1=${proxy.host}/busy/${name}:v1`), { maxPerRegistry: undefined });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, new RegExp(`info: registry ${proxy.host}: 8 parallel requests instead of 16 \\(.*429`));
    for (const [i, name] of ['a', 'b', 'c'].entries()) assert.equal(sha256(await skopeoInspectRaw(target(), `busy/${name}:v1`)), images[i]!.digest);
  } finally {
    await proxy.stop();
  }
});

test('when the first destination tags are missing, the others are asked by tag listing; on a re-run by HEAD', async () => {
  const names = Array.from({ length: 12 }, (_, i) => `n${i}`);
  await Promise.all(names.map((name) => seedImage(source(), `fresh/${name}`, 'v1', { seed: `fresh-${name}` })));
  const proxy = await startFaultProxy(target(), []);
  try {
    const args = names.map((name) => `${source().host}/fresh/${name}:v1=${proxy.host}/fresh/${name}:v1`);
    const questions = (from: number) => {
      const { heads, listings, catalogs } = targetQuestions(proxy, from);
      return { heads: heads.length, listings, catalogs };
    };
    const first = await mirrorCli(args);
    assert.equal(first.code, 0, first.stderr);
    // 8 HEADs find nothing; the 4 other tags, and every repository, are answered by one listing each.
    assert.deepEqual(questions(0), { heads: 8, listings: 12, catalogs: 0 }, 'fewer than 16 repositories: no catalog');
    for (const name of names) assert.deepEqual(await tagsOf(target(), `fresh/${name}`), ['v1']);

    const before = proxy.hits.length;
    const again = await mirrorCli(args);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(questions(before), { heads: 12, listings: 0, catalogs: 0 });
  } finally {
    await proxy.stop();
  }
});

test('many new repositories of one registry: its catalog answers for them all, one request instead of one per repository', async () => {
  const names = Array.from({ length: 20 }, (_, i) => `n${i}`);
  const images = await Promise.all(names.map((name) => seedImage(source(), `cat/${name}`, 'v1', { seed: `cat-${name}` })));
  // One of them is there already: the catalog lists it, so it is asked about and found up to date.
  await seedImage(target(), 'cat/n3', 'v1', { seed: 'cat-n3' });
  const proxy = await startFaultProxy(target(), []);
  try {
    const args = names.map((name) => `${source().host}/cat/${name}:v1=${proxy.host}/cat/${name}:v1`);
    const questions = (from: number) => targetQuestions(proxy, from);
    const first = await mirrorCli(args);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(questions(0), { catalogs: 1, heads: ['/v2/cat/n3/manifests/v1'], listings: 0 });
    assert.match(first.stderr, /19 mirrored .* 1 skipped \(1 already present/);
    for (const [i, name] of names.entries()) assert.equal(sha256(await skopeoInspectRaw(target(), `cat/${name}:v1`)), images[i]!.digest);

    const before = proxy.hits.length;
    const again = await mirrorCli(args);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /0 mirrored .* 20 skipped \(20 already present/);
    const rerun = questions(before);
    assert.deepEqual({ ...rerun, heads: rerun.heads.length }, { catalogs: 1, heads: 20, listings: 0 });
  } finally {
    await proxy.stop();
  }
});

test('a registry that will not list its catalog is asked per repository, and the mirror is the same', async () => {
  const names = Array.from({ length: 16 }, (_, i) => `h${i}`);
  const images = await Promise.all(names.map((name) => seedImage(source(), `hidden/${name}`, 'v1', { seed: `hidden-${name}` })));
  const proxy = await startFaultProxy(target(), [
    { method: 'GET', path: /^\/v2\/_catalog/, action: { kind: 'status', status: 401, body: '{"errors":[{"code":"UNAUTHORIZED","message":"catalog listing is for administrators"}]}' } },
  ]);
  try {
    const run = await mirrorCli(names.map((name) => `${source().host}/hidden/${name}:v1=${proxy.host}/hidden/${name}:v1`));
    assert.equal(run.code, 0, run.stderr);
    const hits = proxy.hits.map((h) => `${h.method} ${h.path}`);
    assert.equal(hits.filter((h) => h.startsWith('GET /v2/_catalog')).length, 1, 'asked once, not retried');
    // As without a catalog: 8 HEADs find nothing, then every repository is answered by its tag listing.
    assert.equal(hits.filter((h) => /^HEAD .*\/manifests\/v1$/.test(h)).length, 8);
    assert.equal(hits.filter((h) => /^GET .*\/tags\/list/.test(h)).length, 16);
    for (const [i, name] of names.entries()) assert.equal(sha256(await skopeoInspectRaw(target(), `hidden/${name}:v1`)), images[i]!.digest);
  } finally {
    await proxy.stop();
  }
});

test('an image skipped while others are being copied is warned about once', async () => {
  const names = ['s1', 's2', 's3', 's4'];
  await Promise.all(names.map((name) => seedImage(source(), `skipw/${name}`, 'v1', { platforms: ['linux/amd64', 'linux/arm64'], seed: `skipw-${name}` })));
  const run = await mirrorCli(names.map((name) => `${source().host}/skipw/${name}:v1=${target().host}/skipw/${name}:v1`), { filterByOs: 'linux/s390x' });
  assert.equal(run.code, 0, run.stderr);
  for (const name of names) {
    const warnings = run.stderr.split('\n').filter((l) => l.startsWith('warning: ') && l.includes(`/skipw/${name}:v1 ->`));
    assert.equal(warnings.length, 1, run.stderr);
  }
});
