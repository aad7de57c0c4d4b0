// `catalog mirror` between registries that want credentials and serve HTTPS with their own CA:
// a Basic-auth (htpasswd) source and a Bearer-token target, both reached through one `-a` file
// and `--certificate-authority`, never with --insecure.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { TestRegistry } from '../support/registry.js';
import {
  mergeAuthFiles, olmMirror, readMappingFile, remoteDigest, seedPackageManifests, startRegistries, testDir, transcript,
} from './helpers.js';

const dir = testDir('catalog-auth');
let source: TestRegistry;
let target: TestRegistry;
let authFile: string;
let tls: string[];
let catalog: string;

before(async () => {
  [source, target] = await startRegistries('htpasswd', 'token') as [TestRegistry, TestRegistry];
  authFile = mergeAuthFiles(join(dir, 'auth.json'), source.authFile, target.authFile);
  tls = [...new Set([source.caFile!, target.caFile!])].flatMap((ca) => ['--certificate-authority', ca]);
  const seeded = await seedPackageManifests(source, join(dir, 'package-manifests'), 'secure');
  catalog = `${source.host}/secure/secure-index:v1`;
  const build = await olmMirror(['catalog', 'build', '--from-dir', seeded.dir, '--to', catalog, '-a', authFile, ...tls], dir);
  assert.equal(build.code, 0, transcript(build));
});

test('credentials from one -a file and the registries\' CAs reach both registries; every image arrives', async () => {
  const manifests = join(dir, 'manifests');
  const run = await olmMirror(['catalog', 'mirror', catalog, `${target.host}/olm`, '-a', authFile, ...tls, '--to-manifests', manifests], dir);
  assert.equal(run.code, 0, transcript(run));
  const lines = readMappingFile(manifests);
  assert.equal(lines.length, 4);
  for (const { source: src, target: dst } of lines) {
    assert.equal(await remoteDigest(target, dst), await remoteDigest(source, src), `${dst} holds ${src}`);
  }
  for (const secret of [source.password!, target.password!]) {
    assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret), 'no password in the output');
  }
});

test('without credentials the source answers 401, the error says so, and no temp folder is left behind', async () => {
  const temp = join(dir, 'tmp');
  mkdirSync(temp);
  const run = await olmMirror(['catalog', 'mirror', catalog, `${target.host}/olm`, ...tls, '--to-manifests', join(dir, 'manifests-anonymous')],
    dir, { TMPDIR: temp });
  assert.equal(run.code, 1, transcript(run));
  assert.match(run.stderr, new RegExp(`authentication required by ${source.host}: 401 .*pass -a/--registry-config`), transcript(run));
  assert.deepEqual(readdirSync(temp), [], 'the extraction folder made for this run is gone');
});

test('without the registries\' CA the TLS error names the registry and the flag to pass', async () => {
  const run = await olmMirror(['catalog', 'mirror', catalog, `${target.host}/olm`, '-a', authFile, '--to-manifests', join(dir, 'manifests-untrusted')], dir);
  assert.equal(run.code, 1, transcript(run));
  assert.match(run.stderr, new RegExp(`the TLS certificate of ${source.host} is not trusted .*--certificate-authority`), transcript(run));
});
