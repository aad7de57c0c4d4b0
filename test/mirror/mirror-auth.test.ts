// image mirror between HTTPS registries: a CA file instead of --insecure, Basic and Bearer auth,
// cross-repository mounts under token scopes, and a clear 401 that never shows the secret.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { registryTestHooks, type TestRegistry } from '../support/registry.js';
import { makeLayer, seedImage } from '../support/seed.js';
import { skopeoInspectRaw } from '../support/skopeo.js';
import { blobExists, mirrorCli, sha256 } from './helpers.js';

// The source serves HTTPS too, so no run below needs --insecure: the CA file alone must make TLS work.
const source = registryTestHooks({ variant: 'tls' });
const tls = registryTestHooks({ variant: 'tls' });
const htpasswd = registryTestHooks({ variant: 'htpasswd' });
const token = registryTestHooks({ variant: 'token' });

/** One auth.json with the credentials of every registry given (the test CA is the same for all of them). */
function authFileFor(...registries: TestRegistry[]): string {
  const auths = Object.assign({}, ...registries.map((r) => (JSON.parse(readFileSync(r.authFile, 'utf8')) as { auths: object }).auths)) as object;
  const file = join(mkdtempSync(join(tmpdir(), 'olm-mirror-auth-')), 'auth.json');
  writeFileSync(file, JSON.stringify({ auths }), { mode: 0o600 });
  return file;
}

const secure = (...registries: TestRegistry[]) => ({
  registryConfig: authFileFor(...registries), certificateAuthority: [source().caFile!], insecure: false,
});

for (const [name, target] of [['HTTPS with a CA file', tls], ['Basic auth (htpasswd)', htpasswd], ['Bearer tokens', token]] as const) {
  test(`mirrors a multi-arch image to a registry with ${name}`, async () => {
    const repo = `auth/${target().variant}`;
    const src = await seedImage(source(), repo, 'v1', { platforms: ['linux/amd64', 'linux/arm64'], seed: repo });
    const run = await mirrorCli([`${source().host}/${repo}:v1`, `${target().host}/${repo}`], secure(target()));
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `${src.digest} ${target().host}/${repo}:v1\n`);
    assert.equal(sha256(await skopeoInspectRaw(target(), `${repo}:v1`)), src.digest);
  });
}

test('with Bearer tokens, a layer shared by two repositories is uploaded once and mounted into the other', async () => {
  const shared = makeLayer('token-shared', 200_000);
  const sharedDigest = sha256(shared);
  await seedImage(source(), 'mount/one', 'v1', { sharedLayers: [shared], seed: 'mount-one' });
  await seedImage(source(), 'mount/two', 'v1', { sharedLayers: [shared], seed: 'mount-two' });
  const run = await mirrorCli([
    `${source().host}/mount/one:v1=${token().host}/mount/one:v1`, `${source().host}/mount/two:v1=${token().host}/mount/two:v1`,
  ], secure(token()));
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /info: blobs: \d+ uploaded .*, 1 mounted/);
  assert.ok(await blobExists(token(), 'mount/one', sharedDigest));
  assert.ok(await blobExists(token(), 'mount/two', sharedDigest));
  // Destinations are checked with the push token the writes need: no pull-only token is asked for them
  // (a mount asks for pull on the repository it mounts from, next to push on its own).
  const requests = token().tokenIssuer!.requests.filter((r) => r.scopes.some((scope) => scope.startsWith('repository:mount/')));
  assert.ok(requests.length > 0);
  const pullOnly = requests.filter((r) => r.scopes.every((scope) => scope.endsWith(':pull')));
  assert.deepEqual(pullOnly, [], requests.map((r) => r.scopes.join(' ')).join('\n'));
});

for (const [name, target] of [['Basic auth', htpasswd], ['token', token]] as const) {
  test(`wrong credentials for a ${name} registry: a clear 401, no secret in the output`, async () => {
    await seedImage(source(), 'denied/app', 'v1', { seed: 'denied' });
    const wrongPassword = 'Wr0ng-Secret-Value';
    const file = join(mkdtempSync(join(tmpdir(), 'olm-mirror-auth-')), 'auth.json');
    const encoded = Buffer.from(`${target().username}:${wrongPassword}`).toString('base64');
    writeFileSync(file, JSON.stringify({ auths: { [target().host]: { auth: encoded } } }), { mode: 0o600 });
    const run = await mirrorCli([`${source().host}/denied/app:v1`, `${target().host}/denied/app`],
      { registryConfig: file, certificateAuthority: [source().caFile!] });
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`error: .*denied/app:v1 -> ${target().host}/denied/app:v1: .*401`));
    for (const secret of [wrongPassword, encoded]) assert.ok(!`${run.stdout}${run.stderr}`.includes(secret), `output shows ${secret}`);
  });
}
