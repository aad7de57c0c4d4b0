// `npm run demo`: the whole catalog workflow on this machine, with nothing but local registries.
//  1. starts a source and a mirror registry (docker-registry on free 127.0.0.1 ports),
//  2. pushes sample images to the source (one of them a multi-arch manifest list),
//  3. writes a Package Manifest Format catalog that references them and builds its catalog image,
//  4. runs `olm-mirror catalog mirror` to the mirror registry,
//  5. shows the generated files, queries the kept database like the OpenShift docs do, and checks
//     with skopeo that every image arrived with its source digest;
//  6. does it again across an air gap: to a folder on disk (in archive segments), the source registry
//     stopped, from disk into a third registry, and checks that one too.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRegistry, type TestRegistry } from '../test/support/registry.js';
import { seedImage } from '../test/support/seed.js';
import { writeSampleCatalog } from './sample-catalog.js';

const cli = resolve(fileURLToPath(import.meta.url), '../../src/cli/olm-mirror.cjs');
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

function step(title: string): void {
  process.stdout.write(`\n${bold(`== ${title}`)}\n`);
}

/** Runs olm-mirror as a user would, echoing the command; fails the demo when it fails. */
function olmMirror(args: string[], cwd: string): void {
  process.stdout.write(`${bold('$ olm-mirror ' + args.join(' '))}\n`);
  const run = spawnSync(process.execPath, [cli, ...args], { cwd, stdio: 'inherit' });
  if (run.status !== 0) throw new Error(`olm-mirror ${args[0]} ${args[1]} exited with ${run.status}`);
}

function show(file: string): void {
  process.stdout.write(`${bold('--- ' + file)}\n${readFileSync(file, 'utf8')}`);
}

function sqlQuery(db: string, sql: string): string {
  process.stdout.write(`${bold(`$ echo "${sql}" | sqlite3 -line ${db}`)}\n`);
  return execFileSync('sqlite3', ['-line', db], { input: sql, encoding: 'utf8' });
}

/** The digest of what skopeo (an independent client) reads at `ref`. */
function skopeoDigest(ref: string): string {
  const raw = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
  return `sha256:${createHash('sha256').update(raw).digest('hex')}`;
}

/** `[source, destination]` of every mapping.txt line. */
function mappingLines(manifestsDir: string): [string, string][] {
  return readFileSync(join(manifestsDir, 'mapping.txt'), 'utf8').trim().split('\n').map((line) => line.split('=') as [string, string]);
}

function checkDigest(ref: string, expected: string): void {
  const same = skopeoDigest(ref) === expected;
  process.stdout.write(`${same ? 'ok ' : 'BAD'} ${ref}\n`);
  if (!same) throw new Error(`${ref} does not have the digest ${expected}`);
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'olm-mirror-demo-'));
  const registries: TestRegistry[] = [];
  try {
    step('1. Two local registries: a source (like registry.redhat.io) and a mirror (like the one your cluster reaches)');
    const source = await startRegistry({ variant: 'plain' });
    registries.push(source);
    const mirror = await startRegistry({ variant: 'plain' });
    registries.push(mirror);
    process.stdout.write(`source registry: ${source.host}\nmirror registry: ${mirror.host}\n`);

    step('2. Sample images in the source registry');
    const operator = await seedImage(source, 'demo/demo-operator', 'v1.1.0', { layerSizes: [256 * 1024, 64 * 1024] });
    const operand = await seedImage(source, 'demo/demo-operand', 'v3.5', { platforms: ['linux/amd64', 'linux/arm64', 'linux/s390x'], format: 'oci' });
    await seedImage(source, 'demo/demo-helper', 'v1', {});
    const images = {
      operator: `${source.host}/demo/demo-operator@${operator.digest}`,
      operand: `${source.host}/demo/demo-operand@${operand.digest}`,
      helper: `${source.host}/demo/demo-helper:v1`,
    };
    for (const [role, ref] of Object.entries(images)) process.stdout.write(`${role.padEnd(9)} ${ref}\n`);

    step('3. A Package Manifest Format catalog, built into a catalog image');
    const manifests = await writeSampleCatalog(join(work, 'package-manifests'), images);
    process.stdout.write(`${readdirSync(join(manifests, 'demo-operator')).join('  ')}\n`);
    const catalogImage = `${source.host}/demo/demo-operator-index:v1`;
    olmMirror(['catalog', 'build', '--from-dir', manifests, '--to', catalogImage, '--insecure'], work);
    olmMirror(['catalog', 'list', catalogImage, '--images', '--insecure'], work);

    step('4. Mirror the catalog and every image it references');
    const manifestsDir = join(work, 'manifests-demo-operator-index');
    const catalogDir = join(work, 'catalog');
    olmMirror(['catalog', 'mirror', catalogImage, `${mirror.host}/olm`, '--insecure',
      '--to-manifests', manifestsDir, '--path', `/:${catalogDir}`], work);

    step('5. What was generated');
    for (const file of ['mapping.txt', 'catalogSource.yaml', 'imageContentSourcePolicy.yaml']) show(join(manifestsDir, file));
    process.stdout.write(sqlQuery(join(catalogDir, 'bundles.db'),
      "select * from related_image where operatorbundle_name like 'demo-operator.v1.1%';"));

    step('6. Check with skopeo: every mirrored image has its source digest');
    const sourceDigests = new Map<string, string>();
    for (const [src, dst] of mappingLines(manifestsDir)) {
      sourceDigests.set(src, skopeoDigest(src));
      checkDigest(dst, sourceDigests.get(src)!);
    }

    step('7. Across an air gap: to disk, in segments of at most 1 MiB');
    const carried = join(work, 'usb-stick');
    olmMirror(['catalog', 'mirror', catalogImage, `file://${carried}`, '--insecure', '--archive-size', '1MiB'], work);
    process.stdout.write(`${readdirSync(carried).filter((f) => !['blobs', 'index.json', 'oci-layout'].includes(f)).join('  ')}\n`);
    process.stdout.write(`${bold('The source registry is stopped: the far side cannot reach it.')}\n`);
    await source.stop();
    const farSide = join(work, 'far-side');
    for (const file of readdirSync(carried)) {
      if (/^mirror_\d+\.tar$|^(archive|olm-mirror)\.json$|^checksums\.sha256$/.test(file)) cpSync(join(carried, file), join(farSide, file));
    }
    process.stdout.write(`carried to ${farSide}: the segments and their records, nothing else\n`);
    const disconnected = await startRegistry({ variant: 'plain' });
    registries.push(disconnected);
    const farManifests = join(work, 'manifests-far-side');
    olmMirror(['catalog', 'mirror', `file://${farSide}`, `${disconnected.host}/olm`, '--insecure', '--to-manifests', farManifests], work);
    show(join(farManifests, 'mapping.txt'));
    let checked = 0;
    for (const [src, dst] of mappingLines(farManifests)) {
      checkDigest(dst, sourceDigests.get(src)!);
      checked++;
    }
    process.stdout.write(`\n${bold(`Demo complete: ${checked} images mirrored with their digests, directly and across the air gap.`)}\n`);
    if (!process.env.OLM_MIRROR_DEMO_KEEP) process.stdout.write('(the demo cleans up after itself; run it with OLM_MIRROR_DEMO_KEEP=1 to keep its files)\n');
  } finally {
    for (const reg of registries) await reg.stop();
    if (!process.env.OLM_MIRROR_DEMO_KEEP) rmSync(work, { recursive: true, force: true });
    else process.stdout.write(`kept ${work}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
