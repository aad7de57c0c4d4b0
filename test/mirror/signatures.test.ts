// Signatures, attestations, SBOMs and referrers travel with the images (cosign's tag scheme and the OCI
// referrers tag schema), --remove-signatures leaves them out, --verify-signatures mirrors only images
// whose cosign signature the key verifies. Real registries; signatures made the way cosign makes them.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RunReport } from '../../src/mirror/report.js';
import { loadSignatureKey } from '../../src/mirror/signatures.js';
import { runCli } from '../support/cli.js';
import { generateCosignKey, pushCosignArtifact, pushCosignSignature, pushReferrer, simpleSigningPayload, tagFor } from '../support/cosign.js';
import { registryTestHooks } from '../support/registry.js';
import { rawGetManifest, seedImage } from '../support/seed.js';
import { skopeoInspectRaw } from '../support/skopeo.js';
import { blobExists, mirrorCli, sha256, tagsOf } from './helpers.js';

const source = registryTestHooks();
const target = registryTestHooks();
const key = generateCosignKey();
const dir = mkdtempSync(join(tmpdir(), 'olm-mirror-signatures-'));
const publicKeyFile = join(dir, 'cosign.pub');
writeFileSync(publicKeyFile, key.publicKeyPem);

test('signatures, an attestation and an SBOM arrive with their digests, for a manifest list and each of its children; a re-run copies nothing', async () => {
  const repo = 'signed/multi';
  const image = await seedImage(source(), repo, 'v1', { format: 'oci', platforms: ['linux/amd64', 'linux/arm64'], seed: 'signed-multi' });
  const [amd64, arm64] = image.children!;
  const attached = [
    await pushCosignSignature(source(), repo, image.digest, key.privateKey),
    await pushCosignSignature(source(), repo, amd64!.digest, key.privateKey),
    await pushCosignSignature(source(), repo, arm64!.digest, key.privateKey),
    await pushCosignArtifact(source(), repo, image.digest, '.att', 'application/vnd.dsse.envelope.v1+json', '{"payloadType":"application/vnd.in-toto+json"}'),
    await pushCosignArtifact(source(), repo, amd64!.digest, '.sbom', 'text/spdx+json', '{"spdxVersion":"SPDX-2.3"}'),
  ];
  const reportFile = join(dir, 'multi.json');
  const run = await mirrorCli([`${source().host}/${repo}:v1=${target().host}/mirrored/multi:v1`], { report: reportFile });
  assert.equal(run.code, 0, run.stderr);

  assert.equal(sha256(await skopeoInspectRaw(target(), 'mirrored/multi:v1')), image.digest);
  for (const a of attached) {
    assert.equal(sha256(await skopeoInspectRaw(target(), `mirrored/multi:${a.tag}`)), a.digest, a.tag);
    for (const blob of a.blobDigests) assert.ok(await blobExists(target(), 'mirrored/multi', blob), `${a.tag}: blob ${blob}`);
  }
  assert.deepEqual((await tagsOf(target(), 'mirrored/multi')).sort(), ['v1', ...attached.map((a) => a.tag)].sort());
  assert.match(run.stderr, /info: images: 6 mirrored \(6 pushed, 0 only tagged\)/);
  assert.match(run.stderr, /info: attached artifacts among them: 3 signatures, 1 attestation, 1 SBOM \(5 mirrored, 0 already present, 0 failed\)/);

  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as RunReport;
  assert.deepEqual(report.attachments, { signature: 3, attestation: 1, sbom: 1, referrer: 0 });
  assert.equal(report.images[0]!.destination, `${target().host}/mirrored/multi:v1`);
  assert.equal(report.images[0]!.attachment, undefined);
  const signature = report.images.find((i) => i.destination.endsWith(`:${attached[0]!.tag}`))!;
  assert.deepEqual([signature.status, signature.attachment, signature.digest, signature.attachedTo], ['mirrored', 'signature', attached[0]!.digest,
    { source: `${source().host}/${repo}:v1`, destination: `${target().host}/mirrored/multi:v1` }]);

  const again = await mirrorCli([`${source().host}/${repo}:v1=${target().host}/mirrored/multi:v1`]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, '');
  assert.match(again.stderr, /info: images: 0 mirrored .* \(6 already present, 0 on request\)/);
  assert.match(again.stderr, /info: blobs: 0 uploaded \(0 B\), 0 mounted/);
  assert.match(again.stderr, /\(0 mirrored, 5 already present, 0 failed\)/);
});

test('--remove-signatures leaves them out', async () => {
  const repo = 'signed/removed';
  const image = await seedImage(source(), repo, 'v1', { seed: 'signed-removed' });
  await pushCosignSignature(source(), repo, image.digest, key.privateKey);
  await pushCosignArtifact(source(), repo, image.digest, '.sbom', 'text/spdx+json', '{}');
  const run = await mirrorCli([`${source().host}/${repo}:v1`, `${target().host}/removed/app`], { removeSignatures: true });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, `${image.digest} ${target().host}/removed/app:v1\n`);
  assert.deepEqual(await tagsOf(target(), 'removed/app'), ['v1']);
  assert.doesNotMatch(run.stderr, /attached artifacts/);
});

test('--verify-signatures mirrors a signed image, and refuses a tampered signature, a foreign key and an unsigned image', async () => {
  const signed = await seedImage(source(), 'verify/signed', 'v1', { seed: 'verify-signed' });
  const sig = await pushCosignSignature(source(), 'verify/signed', signed.digest, key.privateKey);
  const tampered = await seedImage(source(), 'verify/tampered', 'v1', { seed: 'verify-tampered' });
  // A valid signature over a payload naming another image, relabelled as this image's: the digest check catches it.
  const otherPayload = simpleSigningPayload(`${source().host}/verify/tampered`, signed.digest);
  await pushCosignSignature(source(), 'verify/tampered', tampered.digest, key.privateKey, { payload: otherPayload });
  const flipped = await seedImage(source(), 'verify/flipped', 'v1', { seed: 'verify-flipped' });
  const payload = simpleSigningPayload(`${source().host}/verify/flipped`, flipped.digest);
  const good = sign('sha256', payload, key.privateKey);
  good[good.length - 1] ^= 0x01;
  await pushCosignSignature(source(), 'verify/flipped', flipped.digest, key.privateKey, { payload, signature: good });
  const foreign = await seedImage(source(), 'verify/foreign', 'v1', { seed: 'verify-foreign' });
  await pushCosignSignature(source(), 'verify/foreign', foreign.digest, generateCosignKey().privateKey);
  await seedImage(source(), 'verify/unsigned', 'v1', { seed: 'verify-unsigned' });

  const run = await mirrorCli(['signed', 'tampered', 'flipped', 'foreign', 'unsigned'].map((n) => `${source().host}/verify/${n}:v1=${target().host}/verified/${n}:v1`),
    { verifySignatures: publicKeyFile, continueOnError: true });
  assert.equal(run.code, 1, run.stderr);
  assert.deepEqual(run.stdout.trim().split('\n').sort(),
    [`${signed.digest} ${target().host}/verified/signed:v1`, `${sig.digest} ${target().host}/verified/signed:${sig.tag}`].sort());
  assert.deepEqual((await tagsOf(target(), 'verified/signed')).sort(), [sig.tag, 'v1'].sort());
  for (const name of ['tampered', 'flipped', 'foreign', 'unsigned']) assert.deepEqual(await tagsOf(target(), `verified/${name}`), [], name);
  assert.match(run.stderr, new RegExp(`error: .*verify/tampered:v1 -> .*: .*has no valid signature by the --verify-signatures key .*it signs "${signed.digest}", not this image`));
  assert.match(run.stderr, /error: .*verify\/flipped:v1 -> .*: .*the signature does not verify with the key/);
  assert.match(run.stderr, /error: .*verify\/foreign:v1 -> .*: .*the signature does not verify with the key/);
  assert.match(run.stderr, /error: .*verify\/unsigned:v1 -> .*: .*is not signed: its repository has no cosign signature tag/);
  assert.match(run.stderr, /info: images: 2 mirrored .* 4 failed/);
});

test('--verify-signatures with a file that is no P-256 public key is a usage error (exit 2)', async () => {
  const bad = join(dir, 'not-a-key.pub');
  writeFileSync(bad, 'hello\n');
  const run = await runCli(['image', 'mirror', '--insecure', '--verify-signatures', bad, `${source().host}/none:v1`, `${target().host}/none`]);
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /--verify-signatures .*not-a-key\.pub: not a PEM public key/);
});

test('an OCI referrer arrives and is found through the referrers tag schema\'s fallback index at a registry without the referrers API', async () => {
  const repo = 'referred/app';
  const image = await seedImage(source(), repo, 'v1', { format: 'oci', seed: 'referred' });
  const subject = { digest: image.digest, mediaType: image.mediaType, size: image.manifest.length };
  const referrer = await pushReferrer(source(), repo, subject, 'application/vnd.example.sbom.v1', '{"spdxVersion":"SPDX-2.3"}');
  const run = await mirrorCli([`${source().host}/${repo}:v1`, `${target().host}/referred/app`]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /attached artifacts among them: 1 referrers index \(1 mirrored/);

  // What an OCI 1.1 client does at a registry without the referrers API: read the sha256-<hex> tag.
  const fallback = await rawGetManifest(target(), 'referred/app', tagFor(image.digest));
  assert.equal(fallback.digest, referrer.indexDigest);
  const listed = (JSON.parse(fallback.bytes.toString('utf8')) as { manifests: { digest: string; artifactType?: string }[] }).manifests;
  assert.deepEqual(listed.map((m) => [m.digest, m.artifactType]), [[referrer.digest, 'application/vnd.example.sbom.v1']]);
  const artifact = await rawGetManifest(target(), 'referred/app', referrer.digest);
  assert.equal(sha256(artifact.bytes), referrer.digest);
  assert.equal((JSON.parse(artifact.bytes.toString('utf8')) as { subject: { digest: string } }).subject.digest, image.digest);
  for (const blob of referrer.blobDigests) assert.ok(await blobExists(target(), 'referred/app', blob), blob);
});

test('--verify-signatures takes only ECDSA P-256 public keys, as cosign makes them', async () => {
  const write = (name: string, pem: string) => {
    writeFileSync(join(dir, name), pem);
    return join(dir, name);
  };
  const rsa = write('rsa.pub', generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString());
  const p384 = write('p384.pub', generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'pem' }).toString());
  await assert.rejects(loadSignatureKey(rsa), { kind: 'usage', message: `--verify-signatures ${rsa}: a key of type rsa; cosign keys are ECDSA P-256` });
  await assert.rejects(loadSignatureKey(p384), { kind: 'usage', message: `--verify-signatures ${p384}: an EC key on secp384r1; cosign keys are ECDSA P-256` });
  await assert.rejects(loadSignatureKey(join(dir, 'missing.pub')), { kind: 'usage', message: `--verify-signatures ${join(dir, 'missing.pub')}: cannot read it (ENOENT)` });
  assert.equal((await loadSignatureKey(publicKeyFile)).asymmetricKeyDetails?.namedCurve, 'prime256v1');
});
