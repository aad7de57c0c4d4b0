// Pulls a catalog image and extracts its catalog (file-based folder or SQLite database) to disk.
//
// Which part of the image holds the catalog follows `oc adm catalog mirror`: the file-based
// catalog label wins, then the database label, else the whole filesystem is extracted and the
// database is looked for at the usual places, then anywhere.
import { OlmMirrorError } from '../../errors.js';
import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { matchPlatforms, parseManifest, platformString, type Descriptor, type ParsedManifest } from '../../manifest/manifest.js';
import { formatReference, withDigest, type ImageReference } from '../../reference/reference.js';
import type { ImageStore } from '../../transport/store.js';
import { formatTable } from '../listing.js';
import { detectCatalogFormat } from '../open.js';
import { DigestMismatchError } from '../../manifest/digest.js';
import { CONFIGS_LABEL, DATABASE_LABEL } from './labels.js';
import { extractLayers, LayerExtractionError, normalizeInImagePath, type ExtractOptions } from './extract.js';
import { compareCodeUnits } from '../../util/compare.js';

export { DEFAULT_CATALOG_PLATFORM } from './labels.js';
import { DEFAULT_CATALOG_PLATFORM } from './labels.js';

/** Where databases of unlabelled images usually are, in the order they are tried. */
const WELL_KNOWN_DATABASE_PATHS = ['/bundles.db', '/database/index.db'];
/** Image configs are small JSON documents; anything bigger is not one. */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
/** Tries at reading a blob that arrives damaged (digest mismatch, unreadable layer data): each one fetches it anew. */
const DAMAGED_CONTENT_ATTEMPTS = 3;

export interface PullCatalogImageOptions {
  /** Regex matched (anywhere, as oc) against `os/arch[/variant]` of manifest list entries. Default `linux/amd64`. */
  platform?: string;
  /** Folder to extract into: created when missing, must be empty. */
  workDir: string;
  /** The most extraction may write (default DEFAULT_MAX_EXTRACT_BYTES, 4 GiB). */
  maxExtractBytes?: number;
}

export interface PulledCatalogImage {
  ref: ImageReference;
  /** Digest of the image manifest the catalog was read from. */
  digest: string;
  /** Digest of the manifest list / index when `ref` names one. */
  indexDigest?: string;
  labels: Record<string, string>;
  kind: 'fbc' | 'sqlite';
  /** Absolute in-image path of the catalog, e.g. `/configs` or `/database/index.db`. */
  inImagePath: string;
  /** The same on disk, inside workDir. */
  localPath: string;
}

/** The catalog image is readable but holds no catalog olm-mirror can find, or not where its labels say. */
export class CatalogImageError extends OlmMirrorError {
  constructor(message: string) {
    super('input', message);
  }
}

export async function pullCatalogImage(
  store: ImageStore,
  ref: ImageReference,
  opts: PullCatalogImageOptions,
): Promise<PulledCatalogImage> {
  const name = formatReference(ref);
  const workDir = resolve(opts.workDir);
  await prepareWorkDir(workDir);

  const { digest, indexDigest, image } = await resolveImage(store, ref, opts.platform ?? DEFAULT_CATALOG_PLATFORM);
  const labels = await fetchingAgainIfDamaged(() => readLabels(store, ref, image.config));
  const layers = image.layers;
  async function* layerStreams(): AsyncGenerator<Readable> {
    for (const layer of layers) yield await store.getBlob(ref, layer.digest, { size: layer.size });
  }
  const describeLayer = (i: number) => `layer ${i + 1}/${layers.length} (${layers[i]!.digest}) of ${name}`;
  const extractOptions = { describeLayer, maxBytes: opts.maxExtractBytes };

  const result = { ref, digest, ...(indexDigest ? { indexDigest } : {}), labels };
  const labelled = labelledCatalog(labels);
  if (labelled) {
    const inImagePath = inImage(name, labelled.label, labelled.value);
    await extractFresh(layerStreams, workDir, { ...extractOptions, only: inImagePath });
    const localPath = localPathOf(workDir, inImagePath);
    await checkLabelledPath(name, labelled, inImagePath, localPath);
    return { ...result, kind: labelled.kind, inImagePath, localPath };
  }

  await extractFresh(layerStreams, workDir, extractOptions);
  const inImagePath = await findDatabase(workDir);
  if (inImagePath === undefined) {
    throw new CatalogImageError(`no catalog found in ${name}: it has neither the label ${CONFIGS_LABEL} nor ${DATABASE_LABEL}, `
      + `and no SQLite database (${WELL_KNOWN_DATABASE_PATHS.join(', ')} or any other) in its filesystem`);
  }
  return { ...result, kind: 'sqlite', inImagePath, localPath: localPathOf(workDir, inImagePath) };
}

/** Whether reading `err` failed on damaged content, which a fresh download may bring intact. */
function isDamaged(err: unknown): boolean {
  return err instanceof DigestMismatchError || (err instanceof LayerExtractionError && err.unreadable);
}

async function fetchingAgainIfDamaged<T>(read: () => Promise<T>, beforeRetry: () => Promise<void> = async () => undefined): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (err) {
      if (attempt >= DAMAGED_CONTENT_ATTEMPTS || !isDamaged(err)) throw err;
      await beforeRetry();
    }
  }
}

/** Extracts every layer into the (empty) workDir; a damaged layer has the extraction start over from an empty folder. */
function extractFresh(layers: () => AsyncIterable<Readable>, workDir: string, opts: ExtractOptions): Promise<void> {
  return fetchingAgainIfDamaged(() => extractLayers(layers(), workDir, opts), async () => {
    for (const name of await readdir(workDir)) await rm(join(workDir, name), { recursive: true, force: true });
  });
}

type ImageManifest = Extract<ParsedManifest, { kind: 'image' }>;

/** The image manifest `ref` names, or for a manifest list the one entry matching `platform`. */
async function resolveImage(store: ImageStore, ref: ImageReference, platform: string)
  : Promise<{ digest: string; indexDigest?: string; image: ImageManifest }> {
  const name = formatReference(ref);
  const top = await store.getManifest(ref);
  const parsed = parseManifest(top.bytes, top.mediaType, name);
  if (parsed.kind === 'image') return { digest: top.digest, image: parsed };
  const child = pickPlatform(name, parsed.manifests, platform);
  const fetched = await store.getManifest(withDigest(ref, child.digest));
  const image = parseManifest(fetched.bytes, fetched.mediaType, `${name}@${child.digest}`);
  if (image.kind !== 'image') throw new CatalogImageError(`${name}: its ${platformString(child.platform!)} entry ${child.digest} is itself a manifest list`);
  return { digest: fetched.digest, indexDigest: top.digest, image };
}

/** The one manifest list entry whose platform matches `pattern`; otherwise an error showing them all. */
function pickPlatform(name: string, manifests: Descriptor[], pattern: string): Descriptor {
  const matches = matchPlatforms(manifests, pattern);
  if (matches.length === 1) return matches[0]!;
  const table = platformTable(manifests);
  const problem = matches.length === 0
    ? `no entry matches the platform "${pattern}"`
    : `${matches.length} entries match the platform "${pattern}", give a narrower pattern`;
  throw new CatalogImageError(`${name} is a manifest list and ${problem}:\n${table}`);
}

export function platformTable(manifests: Descriptor[]): string {
  return formatTable(['OS/ARCH', 'DIGEST'], manifests.map((m) => [m.platform ? platformString(m.platform) : '(none)', m.digest]));
}

async function readLabels(store: ImageStore, ref: ImageReference, config: Descriptor): Promise<Record<string, string>> {
  const subject = `image config ${config.digest} of ${formatReference(ref)}`;
  if (config.size > MAX_CONFIG_BYTES) throw new CatalogImageError(`${subject} is ${config.size} bytes, too big for an image config`);
  const stream = await store.getBlob(ref, config.digest, { size: config.size });
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new CatalogImageError(`${subject} is not valid JSON: ${(err as Error).message}`);
  }
  const labels = (json as { config?: { Labels?: unknown } } | null)?.config?.Labels;
  if (labels === undefined || labels === null) return {};
  if (typeof labels !== 'object' || Array.isArray(labels)) throw new CatalogImageError(`${subject}: config.Labels is not an object`);
  return Object.fromEntries(Object.entries(labels).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

interface CatalogLabel { kind: 'fbc' | 'sqlite'; label: string; value: string }

/** The file-based catalog label wins over the database label (images may carry both during migrations). */
function labelledCatalog(labels: Record<string, string>): CatalogLabel | undefined {
  const configs = labels[CONFIGS_LABEL];
  if (configs !== undefined) return { kind: 'fbc', label: CONFIGS_LABEL, value: configs };
  const database = labels[DATABASE_LABEL];
  if (database !== undefined) return { kind: 'sqlite', label: DATABASE_LABEL, value: database };
  return undefined;
}

/** The label's value as an absolute in-image path; `/` or paths above the root make no sense. */
function inImage(name: string, label: string, value: string): string {
  const normalized = normalizeInImagePath(value);
  if (!normalized) throw new CatalogImageError(`${name}: label ${label}="${value}" does not name a path inside the image`);
  return `/${normalized}`;
}

function localPathOf(workDir: string, inImagePath: string): string {
  return join(workDir, ...inImagePath.split('/').filter(Boolean));
}

async function checkLabelledPath(name: string, { kind, label }: CatalogLabel, inImagePath: string, localPath: string): Promise<void> {
  const where = `${name}: label ${label} names ${inImagePath}`;
  const st = await lstat(localPath).catch(() => undefined);
  if (!st) throw new CatalogImageError(`${where}, which the image does not contain`);
  if (st.isSymbolicLink()) throw new CatalogImageError(`${where}, which is a symlink; olm-mirror only reads catalogs stored at the labelled path`);
  if (kind === 'fbc' && !st.isDirectory()) throw new CatalogImageError(`${where}, which is not a folder`);
  if (kind === 'sqlite' && !(st.isFile() && await isSqlite(localPath))) {
    throw new CatalogImageError(`${where}, which is not an SQLite database`);
  }
}

/** The well-known paths first, then the first SQLite file of a lexical walk (symlinks not followed). */
async function findDatabase(root: string): Promise<string | undefined> {
  for (const path of WELL_KNOWN_DATABASE_PATHS) {
    const local = localPathOf(root, path);
    const st = await lstat(local).catch(() => undefined);
    if (st?.isFile() && await isSqlite(local)) return path;
  }
  return walkForDatabase(root, '');
}

async function walkForDatabase(dir: string, inImageDir: string): Promise<string | undefined> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => compareCodeUnits(a.name, b.name));
  for (const entry of entries) {
    const local = join(dir, entry.name);
    const inImagePath = `${inImageDir}/${entry.name}`;
    if (entry.isFile() && await isSqlite(local)) return inImagePath;
    if (entry.isDirectory()) {
      const found = await walkForDatabase(local, inImagePath);
      if (found) return found;
    }
  }
  return undefined;
}

/** Only called for regular files, which detectCatalogFormat judges by their first bytes. */
async function isSqlite(path: string): Promise<boolean> {
  return (await detectCatalogFormat(path).catch(() => undefined)) === 'sqlite';
}

async function prepareWorkDir(workDir: string): Promise<void> {
  await mkdir(workDir, { recursive: true });
  const existing = await readdir(workDir);
  if (existing.length > 0) throw new Error(`cannot extract the catalog into ${workDir}: the folder is not empty`);
}
