// The benchmark's floors must measure what they claim: the hashing raw copy leaves the target equal to the
// source (a list and its children included), and the raw re-check finds a target tag that is missing or
// stale, so a re-check that finds nothing did compare every image.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { rawCopy } from '../../bench/raw-copy.js';
import { rawRecheck } from '../../bench/raw-recheck.js';
import { registryTestHooks } from '../support/registry.js';
import { seedImage } from '../support/seed.js';
import { sha256Digest } from '../../src/manifest/digest.js';
import { skopeoInspectRaw } from '../support/skopeo.js';
import { repoRoot } from '../support/paths.js';

const execFileAsync = promisify(execFile);

describe('benchmark floors', () => {
  const source = registryTestHooks();
  const target = registryTestHooks();

  test('the hashing raw copy copies, in this process and in one of its own; the raw re-check names the missing and the stale tags', async () => {
    const list = await seedImage(source(), 'floors/list', 'v1', { platforms: ['linux/amd64', 'linux/arm64'] });
    await seedImage(source(), 'floors/single', 'v1');
    await seedImage(source(), 'floors/later', 'v1');
    const own = await seedImage(source(), 'floors/own-process', 'v1');
    await rawCopy(source(), target(), ['floors/list', 'floors/single'], { hashing: true });
    assert.deepEqual(await skopeoInspectRaw(target(), 'floors/list:v1'), list.manifest);
    for (const child of list.children ?? []) {
      assert.equal(sha256Digest(await skopeoInspectRaw(target(), `floors/list@${child.digest}`)), child.digest);
    }
    assert.equal(list.children?.length, 2);

    // The script form (a process of its own) copies the same way.
    await execFileAsync(process.execPath, [join(repoRoot, 'dist', 'bench', 'raw-copy.js'), '--hashing', source().url, target().url, 'floors/own-process']);
    assert.equal(sha256Digest(await skopeoInspectRaw(target(), 'floors/own-process:v1')), own.digest);

    assert.deepEqual(await rawRecheck(source().url, target().url, 'v1', ['floors/list', 'floors/single']), []);
    await seedImage(source(), 'floors/single', 'v1', { seed: 'moved on' });
    const stale = await rawRecheck(source().url, target().url, 'v1', ['floors/list', 'floors/single', 'floors/later']);
    assert.deepEqual(stale.sort(), ['floors/later', 'floors/single']);
  });
});
