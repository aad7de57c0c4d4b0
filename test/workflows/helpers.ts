// Shared by the `catalog mirror` acceptance tests: run olm-mirror as a user does (a child process),
// build catalog images from raw bytes (independent of the code under test), and look at what
// arrived with tools that are not ours (skopeo, sqlite3, the registry's own HTTP API).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { parseAllDocuments } from 'yaml';
import { writePackage } from '../catalog/synthetic.js';
import { removeNow } from '../support/cleanup.js';
import { runCli, type CliRun } from '../support/cli.js';
import { rawRequest } from '../support/raw-http.js';
import { startRegistry, type RegistryVariant, type TestRegistry } from '../support/registry.js';
import { rawPutBlob, rawPutManifest, sha256, seedImage } from '../support/seed.js';
import { skopeoInspectRaw } from '../support/skopeo.js';

// Spelled out here rather than imported from src/, so a typo there cannot hide in the tests.
export const CONFIGS_LABEL = 'operators.operatorframework.io.index.configs.v1';
export const DATABASE_LABEL = 'operators.operatorframework.io.index.database.v1';

const running: TestRegistry[] = [];
// Registered once per test file (each runs in its own process). Node 20 runs a file's top-level
// before hooks without waiting for one another, so each file starts what it needs in one hook.
after(async () => {
  for (const reg of running.splice(0)) await reg.stop();
});

/** Starts registries one after the other; they are stopped when the test file ends. */
export async function startRegistries(...variants: RegistryVariant[]): Promise<TestRegistry[]> {
  const started: TestRegistry[] = [];
  for (const variant of variants) {
    const reg = await startRegistry({ variant });
    running.push(reg);
    started.push(reg);
  }
  return started;
}

/** A fresh folder for this test file, removed when the file's tests are done. */
export function testDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `olm-mirror-${prefix}-`));
  after(() => removeNow(dir));
  return dir;
}

/** `olm-mirror ARGS` in `cwd`, without the user's credentials (test/support/cli.ts). */
export function olmMirror(args: string[], cwd: string, env: Record<string, string> = {}): Promise<CliRun> {
  return runCli(args, { cwd, env });
}

/** `text` as a literal inside a RegExp. */
export const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** For assertion messages: everything the command said. */
export const transcript = (run: CliRun): string => `exit ${run.code}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`;

/** `host/repo:tag` or `host/repo@digest` on `reg` without its host, for skopeoInspectRaw. */
function onRegistry(reg: TestRegistry, ref: string): string {
  if (!ref.startsWith(`${reg.host}/`)) throw new Error(`${ref} is not on ${reg.host}`);
  return ref.slice(reg.host.length + 1);
}

/** The digest of the manifest skopeo reads at `ref` (a reference on `reg`). */
export async function remoteDigest(reg: TestRegistry, ref: string): Promise<string> {
  return sha256(await skopeoInspectRaw(reg, onRegistry(reg, ref)));
}

/** Pulls `ref` (manifest, config and layers) from `reg` into a local folder with skopeo, as a cluster would pull it. */
export async function skopeoPull(reg: TestRegistry, ref: string, dir: string): Promise<void> {
  const tls = reg.certDir ? ['--src-cert-dir', reg.certDir] : ['--src-tls-verify=false'];
  await promisify(execFile)('skopeo', ['--insecure-policy', 'copy', '--quiet', ...tls, '--src-authfile', reg.authFile,
    `docker://${reg.host}/${onRegistry(reg, ref)}`, `dir:${dir}`], { timeout: 60_000 });
}

/** oc's tag for a digest-only source: 32-bit FNV-1a of the reference, lowercase hex, not padded (written here independently of src/). */
export function ocTag(reference: string): string {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(reference)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash.toString(16);
}

/** Repositories the registry holds (GET /v2/_catalog). */
export async function repositoriesOf(reg: TestRegistry): Promise<string[]> {
  const res = await rawRequest(reg, '', { method: 'GET', path: '/v2/_catalog', expect: [200] });
  return ((JSON.parse(res.body.toString('utf8')) as { repositories: string[] | null }).repositories ?? []).sort();
}

export interface MappingLine { source: string; target: string }

/** mapping.txt as written: every line `SRC=DST`. */
export function readMappingFile(manifestsDir: string): MappingLine[] {
  const text = readFileSync(join(manifestsDir, 'mapping.txt'), 'utf8');
  return text.trimEnd().split('\n').map((line) => {
    const [source, target, ...rest] = line.split('=');
    if (!source || !target || rest.length > 0) throw new Error(`mapping.txt line is not SRC=DST: ${line}`);
    return { source, target };
  });
}

/** The YAML documents of a file, failing on any parse error. */
export function yamlDocuments(file: string): Record<string, any>[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJSON() as Record<string, any>;
  });
}

/** `sqlite3 -line DB` with `sql` on stdin, as the OpenShift docs query the kept database. */
export async function sqliteLine(db: string, sql: string): Promise<string> {
  const child = promisify(execFile)('sqlite3', ['-line', db], { encoding: 'utf8' });
  child.child.stdin!.end(sql);
  return (await child).stdout;
}

export interface TarEntry {
  name: string;
  /** A file's content; absent for a folder or a symlink. */
  content?: string | Buffer;
  /** Makes the entry a symlink to this target. */
  symlinkTo?: string;
}

/** A gzip'd tar layer holding exactly `entries`, names as given (even hostile ones such as `../evil`). */
export async function tarGz(entries: readonly TarEntry[]): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
  const ended = new Promise<void>((resolve, reject) => { tar.on('end', resolve); tar.on('error', reject); });
  for (const { name, content, symlinkTo } of entries) {
    if (symlinkTo !== undefined) tar.entry({ name, type: 'symlink', linkname: symlinkTo });
    else if (content === undefined) tar.entry({ name, type: 'directory', mode: 0o755 });
    else tar.entry({ name, type: 'file', mode: 0o644 }, Buffer.from(content));
  }
  tar.finalize();
  await ended;
  return gzipSync(Buffer.concat(chunks));
}

export interface RawImageOptions {
  layers: Buffer[];
  labels?: Record<string, string>;
  /** os/arch, default linux/amd64. */
  platform?: string;
  /** The image's Entrypoint and Cmd. */
  entrypoint?: string[];
  cmd?: string[];
}

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

/**
 * Pushes an image made of `layers` (tar.gz blobs) with `labels` over raw HTTP, by `tag`, or by its
 * digest when `tag` is undefined. Returns the manifest digest.
 */
export async function pushRawImage(reg: TestRegistry, repository: string, tag: string | undefined, opts: RawImageOptions)
  : Promise<{ digest: string; size: number }> {
  const [os, architecture] = (opts.platform ?? 'linux/amd64').split('/');
  const layers = [];
  for (const blob of opts.layers) {
    layers.push({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: blob.length, digest: await rawPutBlob(reg, repository, blob) });
  }
  const config = Buffer.from(JSON.stringify({
    architecture, os, created: '1970-01-01T00:00:00Z',
    config: { Labels: opts.labels ?? {}, ...(opts.entrypoint ? { Entrypoint: opts.entrypoint } : {}), ...(opts.cmd ? { Cmd: opts.cmd } : {}) },
    rootfs: { type: 'layers', diff_ids: [] },
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: DOCKER_MANIFEST,
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: await rawPutBlob(reg, repository, config) },
    layers,
  }));
  const digest = await rawPutManifest(reg, repository, tag ?? sha256(manifest), DOCKER_MANIFEST, manifest);
  return { digest, size: manifest.length };
}

/** A manifest list of `images` (pushed by digest before) under `tag`. Returns its digest. */
export async function pushRawList(reg: TestRegistry, repository: string, tag: string,
  images: { platform: string; digest: string; size: number }[]): Promise<string> {
  const list = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: DOCKER_LIST,
    manifests: images.map(({ platform, digest, size }) => {
      const [os, architecture] = platform.split('/');
      return { mediaType: DOCKER_MANIFEST, size, digest, platform: { os, architecture } };
    }),
  }));
  return rawPutManifest(reg, repository, tag, DOCKER_LIST, list);
}

/** Merges podman auth.json files into one (the `-a` file of a run that talks to several registries). */
export function mergeAuthFiles(target: string, ...files: string[]): string {
  const auths = Object.assign({}, ...files.map((f) => (JSON.parse(readFileSync(f, 'utf8')) as { auths: object }).auths));
  writeFileSync(target, JSON.stringify({ auths }), { mode: 0o600 });
  return target;
}

/** Images of the package-manifest catalog the tests build, as the CSVs reference them. */
export interface SourceImages {
  /** The operator image, pinned by digest. */
  operator: string;
  /** A multi-arch manifest list, pinned by digest. */
  operand: string;
  /** An image referenced by tag only. */
  helper: string;
}

/**
 * Seeds the three images into `reg` (repositories `<ns>/operator`, `<ns>/operand`, `<ns>/helper`)
 * and writes a package-manifest folder whose package `<ns>-operator` has two versions referencing
 * them; the newer also names `extraRelated` (e.g. an image that does not exist).
 */
export async function seedPackageManifests(reg: TestRegistry, root: string, ns: string, extraRelated: string[] = [])
  : Promise<{ images: SourceImages; pkg: string; csvPrefix: string; dir: string }> {
  const operator = await seedImage(reg, `${ns}/operator`, 'v1', { layerSizes: [2048] });
  const operand = await seedImage(reg, `${ns}/operand`, 'v1', { platforms: ['linux/amd64', 'linux/arm64'], format: 'oci', layerSizes: [1024] });
  await seedImage(reg, `${ns}/helper`, 'v1', { layerSizes: [512] });
  const images: SourceImages = {
    operator: `${reg.host}/${ns}/operator@${operator.digest}`,
    operand: `${reg.host}/${ns}/operand@${operand.digest}`,
    helper: `${reg.host}/${ns}/helper:v1`,
  };
  const pkg = `${ns}-operator`;
  await writePackage(root, pkg, { stable: `${pkg}.v1.1.0` }, [
    { name: `${pkg}.v1.0.0`, version: '1.0.0', owns: ['widgets'], operatorImage: images.operator, relatedImages: [images.operand] },
    {
      name: `${pkg}.v1.1.0`, version: '1.1.0', replaces: `${pkg}.v1.0.0`, owns: ['widgets'], operatorImage: images.operator,
      relatedImages: [images.operand, images.helper, ...extraRelated],
    },
  ]);
  return { images, pkg, csvPrefix: `${pkg}.v1.1`, dir: root };
}

/** seedPackageManifests, then `catalog build --to` the catalog image `<ns>/<ns>-index:<tag>` on the same registry. */
export async function seedCatalogImage(reg: TestRegistry, dir: string, ns: string, tag: string)
  : Promise<{ images: SourceImages; csvPrefix: string; catalog: string }> {
  const seeded = await seedPackageManifests(reg, join(dir, 'package-manifests'), ns);
  const catalog = `${reg.host}/${ns}/${ns}-index:${tag}`;
  const build = await olmMirror(['catalog', 'build', '--from-dir', seeded.dir, '--to', catalog, '--insecure'], dir);
  if (build.code !== 0) throw new Error(`building ${catalog} failed:\n${transcript(build)}`);
  return { images: seeded.images, csvPrefix: seeded.csvPrefix, catalog };
}
