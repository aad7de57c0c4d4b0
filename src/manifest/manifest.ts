// Image manifests and indexes (Docker v2 schema 2 and OCI): parsing with precise errors, platforms.
import { OlmMirrorError } from '../errors.js';
import { parseDigest } from './digest.js';
import { baseMediaType, ImageManifestMediaTypes, isIndexMediaType, isSchema1MediaType, MediaTypes } from './media-types.js';
import { isPlainObject } from '../util/guards.js';

export interface Platform { os: string; architecture: string; variant?: string }
export interface Descriptor {
  mediaType: string; digest: string; size: number;
  platform?: Platform; urls?: string[]; annotations?: Record<string, string>;
}
export type ParsedManifest =
  | { kind: 'image'; mediaType: string; config: Descriptor; layers: Descriptor[] }
  | { kind: 'index'; mediaType: string; manifests: Descriptor[] };

/** The manifest bytes are not a manifest olm-mirror can read; the message names the image and the field. */
export class InvalidManifestError extends OlmMirrorError {
  constructor(message: string) {
    super('input', message);
  }
}

/** A manifest in a format olm-mirror deliberately does not handle (Docker schema 1). */
export class UnsupportedManifestError extends InvalidManifestError {
  constructor(message: string) {
    super(message);
  }
}

export function schema1Error(subject: string): UnsupportedManifestError {
  return new UnsupportedManifestError(
    `${subject} uses the Docker schema 1 manifest format, which olm-mirror does not support; re-push it with a current client`);
}

type Json = Record<string, unknown>;

/**
 * True when the bytes/content type are a Docker schema 1 manifest. Cheap enough to call on every
 * fetched manifest so the schema 1 error can name the image.
 */
export function isSchema1Manifest(bytes: Uint8Array, contentType?: string): boolean {
  if (contentType !== undefined && isSchema1MediaType(baseMediaType(contentType))) return true;
  try {
    const json: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    return isPlainObject(json) && json.schemaVersion === 1;
  } catch {
    return false;
  }
}

/**
 * Parses manifest bytes. The media type comes from the JSON `mediaType` field, else from the
 * Content-Type, else (OCI allows omitting it) from the shape. `subject` names the image in errors.
 */
export function parseManifest(bytes: Uint8Array, contentType?: string, subject = 'the image'): ParsedManifest {
  const fail = (what: string): never => { throw new InvalidManifestError(`invalid manifest of ${subject}: ${what}`); };
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    return fail(`not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(json)) return fail('expected a JSON object');
  const headerType = contentType === undefined ? undefined : baseMediaType(contentType);
  if (json.schemaVersion === 1 || (headerType !== undefined && isSchema1MediaType(headerType))) throw schema1Error(subject);
  if (json.schemaVersion !== 2) fail(`schemaVersion must be 2, found ${JSON.stringify(json.schemaVersion)}`);

  const mediaType = typeof json.mediaType === 'string' ? json.mediaType : inferMediaType(json, headerType);
  if (mediaType === undefined) return fail('no mediaType field, and it has neither "manifests" nor "config" and "layers"');
  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(json.manifests)) fail('"manifests" must be an array');
    const manifests = (json.manifests as unknown[]).map((d, i) => parseDescriptor(d, `manifests[${i}]`, fail));
    return { kind: 'index', mediaType, manifests };
  }
  if (ImageManifestMediaTypes.includes(mediaType)) {
    if (!Array.isArray(json.layers)) fail('"layers" must be an array');
    const config = parseDescriptor(json.config, 'config', fail);
    const layers = (json.layers as unknown[]).map((d, i) => parseDescriptor(d, `layers[${i}]`, fail));
    return { kind: 'image', mediaType, config, layers };
  }
  return fail(`unsupported media type "${mediaType}"`);
}

/** A generic Content-Type (application/json) says nothing; the fields say which OCI type it is. */
function inferMediaType(json: Json, headerType: string | undefined): string | undefined {
  if (headerType !== undefined && (isIndexMediaType(headerType) || ImageManifestMediaTypes.includes(headerType))) {
    return headerType;
  }
  if (Array.isArray(json.manifests)) return MediaTypes.ociIndex;
  if (json.config !== undefined && Array.isArray(json.layers)) return MediaTypes.ociManifest;
  return undefined;
}

function parseDescriptor(value: unknown, path: string, fail: (what: string) => never): Descriptor {
  if (!isPlainObject(value)) return fail(`${path} must be an object`);
  if (typeof value.mediaType !== 'string' || value.mediaType === '') fail(`${path}.mediaType is missing`);
  if (typeof value.digest !== 'string') fail(`${path}.digest is missing`);
  try {
    parseDigest(value.digest as string);
  } catch (err) {
    fail(`${path}.digest: ${(err as Error).message}`);
  }
  if (typeof value.size !== 'number' || !Number.isSafeInteger(value.size) || value.size < 0) {
    fail(`${path}.size must be a non-negative integer, found ${JSON.stringify(value.size)}`);
  }
  const descriptor: Descriptor = { mediaType: value.mediaType as string, digest: value.digest as string, size: value.size as number };
  if (value.platform !== undefined) descriptor.platform = parsePlatform(value.platform, `${path}.platform`, fail);
  if (value.urls !== undefined) {
    if (!Array.isArray(value.urls) || !value.urls.every((u) => typeof u === 'string')) fail(`${path}.urls must be an array of strings`);
    descriptor.urls = value.urls as string[];
  }
  if (value.annotations !== undefined) {
    if (!isPlainObject(value.annotations) || !Object.values(value.annotations).every((a) => typeof a === 'string')) {
      fail(`${path}.annotations must map strings to strings`);
    }
    descriptor.annotations = value.annotations as Record<string, string>;
  }
  return descriptor;
}

function parsePlatform(value: unknown, path: string, fail: (what: string) => never): Platform {
  if (!isPlainObject(value)) return fail(`${path} must be an object`);
  if (typeof value.os !== 'string') fail(`${path}.os is missing`);
  if (typeof value.architecture !== 'string') fail(`${path}.architecture is missing`);
  const platform: Platform = { os: value.os as string, architecture: value.architecture as string };
  if (typeof value.variant === 'string' && value.variant !== '') platform.variant = value.variant;
  return platform;
}

/** `linux/arm64/v8`, `linux/amd64`. */
export function platformString(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/**
 * The descriptors whose platform (`os/arch[/variant]`) matches `pattern` anywhere, as oc's
 * `--filter-by-os` and `--index-filter-by-os` do: `linux/arm64` also matches `linux/arm64/v8`,
 * `.*` matches everything; anchor with `^...$` for an exact match. A descriptor without a
 * platform is tested as the empty string.
 */
export function matchPlatforms(descriptors: readonly Descriptor[], pattern: string | RegExp): Descriptor[] {
  const source = typeof pattern === 'string' ? pattern : pattern.source;
  let re: RegExp;
  try {
    re = new RegExp(source);
  } catch (err) {
    throw new SyntaxError(`invalid platform filter "${source}": ${(err as Error).message}`);
  }
  return descriptors.filter((d) => re.test(d.platform ? platformString(d.platform) : ''));
}
