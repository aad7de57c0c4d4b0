// catalog mirror copies the signatures of every image it mirrors (the catalog image and what it
// references, each child of a list too); --remove-signatures and --verify-signatures work there as in image mirror.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { generateCosignKey, pushCosignSignature } from '../support/cosign.js';
import type { TestRegistry } from '../support/registry.js';
import { rawGetManifest } from '../support/seed.js';
import { tagsOf } from '../mirror/helpers.js';
import { olmMirror, seedCatalogImage, startRegistries, testDir, transcript } from './helpers.js';

const dir = testDir('catalog-signatures');
const key = generateCosignKey();
let source: TestRegistry;
let target: TestRegistry;
let catalog: string;
/** Target repository -> the signature tags it should get. */
const signed = new Map<string, string[]>();

before(async () => {
  [source, target] = await startRegistries('plain', 'plain') as [TestRegistry, TestRegistry];
  ({ catalog } = await seedCatalogImage(source, dir, 'sig', 'v1'));
  const sign = async (repository: string, reference: string, targetRepository: string) => {
    const { digest, bytes } = await rawGetManifest(source, repository, reference);
    const tags = [(await pushCosignSignature(source, repository, digest, key.privateKey)).tag];
    const parsed = JSON.parse(bytes.toString('utf8')) as { manifests?: { digest: string }[] };
    for (const child of parsed.manifests ?? []) tags.push((await pushCosignSignature(source, repository, child.digest, key.privateKey)).tag);
    signed.set(targetRepository, tags);
  };
  await sign('sig/sig-index', 'v1', 'sig-sig-index');
  await sign('sig/operator', 'v1', 'sig-operator');
  await sign('sig/operand', 'v1', 'sig-operand'); // a list: its own signature and each child's
  writeFileSync(join(dir, 'cosign.pub'), key.publicKeyPem);
});

test('the signatures of the catalog image and of the images it references arrive, each child\'s too', async () => {
  const run = await olmMirror(['catalog', 'mirror', catalog, `${target.host}/all`, '--insecure', '--to-manifests', join(dir, 'm-all')], dir);
  assert.equal(run.code, 0, transcript(run));
  for (const [repository, tags] of signed) {
    const present = await tagsOf(target, `all/${repository}`);
    for (const tag of tags) assert.ok(present.includes(tag), `${repository} lacks ${tag}: ${present.join(' ')}`);
  }
  assert.equal(signed.get('sig-operand')!.length, 3, 'the operand list and its two children are signed');
  assert.match(run.stderr, /info: attached artifacts among them: 5 signatures \(5 mirrored, 0 already present, 0 failed\)/, transcript(run));
});

test('--verify-signatures refuses the unsigned image, --remove-signatures leaves the signatures out', async () => {
  const run = await olmMirror(['catalog', 'mirror', catalog, `${target.host}/verified`, '--insecure', '--to-manifests', join(dir, 'm-verified'),
    '--verify-signatures', join(dir, 'cosign.pub'), '--remove-signatures'], dir);
  assert.equal(run.code, 1, transcript(run));
  assert.match(run.stderr, /error: .*sig\/helper:v1 -> .*: .*is not signed: its repository has no cosign signature tag/);
  assert.deepEqual(await tagsOf(target, 'verified/sig-helper'), []);
  for (const repository of signed.keys()) {
    const tags = await tagsOf(target, `verified/${repository}`);
    assert.equal(tags.length, 1, `${repository}: only the image's own tag, no signature: ${tags.join(' ')}`);
  }
});
