// --report: a JSON record of every image of a run, and the failed ones as a mapping file that retries just them.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RunReport } from '../../src/mirror/report.js';
import { registryTestHooks } from '../support/registry.js';
import { seedImage } from '../support/seed.js';
import { skopeoInspectRaw } from '../support/skopeo.js';
import { mirrorCli, sha256 } from './helpers.js';

const source = registryTestHooks();
const target = registryTestHooks();

test('the report lists mirrored, present and failed images with digests, bytes and errors; the failed mapping retries them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'olm-mirror-report-'));
  const a = await seedImage(source(), 'report/a', 'v1', { layerSizes: [5000], seed: 'report-a' });
  const b = await seedImage(source(), 'report/b', 'v1', { layerSizes: [7000], seed: 'report-b' });
  const first = await mirrorCli([`${source().host}/report/a:v1`, `${target().host}/report/a`]);
  assert.equal(first.code, 0, first.stderr);

  const reportPath = join(dir, 'run.json');
  const run = await mirrorCli([
    `${source().host}/report/a:v1=${target().host}/report/a:v1`,
    `${source().host}/report/b:v1=${target().host}/report/b:v1`,
    `${source().host}/report/c:v1=${target().host}/report/c:v1`,
  ], { continueOnError: true, report: reportPath });
  assert.equal(run.code, 1);
  assert.match(run.stderr, new RegExp(`wrote the run report to ${reportPath}, the failed images to ${join(dir, 'run.failed-mapping.txt')}`));

  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as RunReport;
  assert.equal(report.version, 1);
  assert.equal(report.dryRun, false);
  assert.deepEqual(report.images.map((i) => [i.destination, i.status, i.digest]), [
    [`${target().host}/report/a:v1`, 'present', a.digest],
    [`${target().host}/report/b:v1`, 'mirrored', b.digest],
    [`${target().host}/report/c:v1`, 'failed', undefined],
  ]);
  assert.ok(report.images[1]!.bytesUploaded > 7000, 'b uploaded its layer and config');
  assert.equal(report.images[0]!.bytesUploaded, 0);
  assert.match(report.images[2]!.error!, /report\/c:v1 not found/);
  assert.deepEqual(report.totals, {
    images: 3, mirrored: 1, present: 1, skipped: 0, failed: 1,
    blobsUploaded: 2, bytesUploaded: report.images[1]!.bytesUploaded, blobsMounted: 0, bytesMounted: 0, manifestsPushed: 1,
  });
  assert.equal(report.failedMapping, join(dir, 'run.failed-mapping.txt'));
  assert.equal(readFileSync(report.failedMapping, 'utf8'), `${source().host}/report/c:v1=${target().host}/report/c:v1\n`);

  // The missing image appears; the failed mapping retries exactly it.
  const c = await seedImage(source(), 'report/c', 'v1', { seed: 'report-c' });
  const retryReport = join(dir, 'retry.json');
  const retry = await mirrorCli([], { filename: [report.failedMapping], report: retryReport });
  assert.equal(retry.code, 0, retry.stderr);
  assert.equal(retry.stdout, `${c.digest} ${target().host}/report/c:v1\n`);
  assert.equal(sha256(await skopeoInspectRaw(target(), 'report/c:v1')), c.digest);
  const second = JSON.parse(readFileSync(retryReport, 'utf8')) as RunReport;
  assert.equal(second.failedMapping, undefined);
  assert.equal(existsSync(join(dir, 'retry.failed-mapping.txt')), false);
});

test('a dry run reports every image as planned and writes nothing else', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'olm-mirror-report-'));
  const d = await seedImage(source(), 'report/d', 'v1', { seed: 'report-d' });
  const reportPath = join(dir, 'plan.json');
  const run = await mirrorCli([`${source().host}/report/d:v1`, `${target().host}/report/d`], { dryRun: true, report: reportPath });
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as RunReport;
  assert.equal(report.dryRun, true);
  assert.deepEqual(report.images.map((i) => [i.status, i.digest]), [['planned', d.digest]]);
  assert.equal(report.totals.bytesUploaded, 0);
});
