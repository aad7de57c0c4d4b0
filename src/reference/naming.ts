// Where `catalog mirror` puts each source image in the destination, exactly as oc's mount()
// does, so mapping.txt files and ImageContentSourcePolicies stay interchangeable with oc's.
import {
  DEFAULT_REGISTRY,
  InvalidReferenceError,
  formatReference,
  isDockerHub,
  isValidRepository,
  normalizeRegistry,
  parseReference,
  withTag,
  type ImageReference,
} from './reference.js';

/** A DEST argument: a registry and an optional namespace path under it ('' when none). */
export interface MirrorDestination {
  readonly registry: string;
  readonly namespace: string;
}

const FNV32_OFFSET_BASIS = 0x811c9dc5;
const FNV32_PRIME = 0x01000193;

/** 32-bit FNV-1a of the UTF-8 bytes of `s`, lowercase hex without zero padding (Go's `%x` of fnv.New32a). */
export function fnv1a32Hex(s: string): string {
  let hash = FNV32_OFFSET_BASIS;
  for (const byte of Buffer.from(s, 'utf8')) {
    hash = Math.imul(hash ^ byte, FNV32_PRIME) >>> 0;
  }
  return hash.toString(16);
}

/**
 * Parses a DEST such as `host:5000` or `host:5000/olm/team`: the first component is always the
 * registry (unlike image references, a bare `myregistry` is a host here), the rest the namespace.
 */
export function parseMirrorDestination(input: string): MirrorDestination {
  const trimmed = input.replace(/\/+$/, '');
  const slash = trimmed.indexOf('/');
  const host = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const namespace = slash === -1 ? '' : trimmed.slice(slash + 1);
  if (host === '') throw new InvalidReferenceError(input, 'the destination registry is missing');
  let registry: string;
  try {
    registry = normalizeRegistry(host);
  } catch {
    throw new InvalidReferenceError(input, `destination registry "${host}" is not a valid host[:port]`);
  }
  if (/[@:]/.test(namespace)) {
    throw new InvalidReferenceError(input, 'a destination is a registry with an optional namespace; it cannot carry a tag or digest');
  }
  if (namespace !== '' && !isValidRepository(namespace)) {
    throw new InvalidReferenceError(input,
      `destination namespace "${namespace}" must be lowercase path components of letters and digits separated by ".", "_", "__" or "-"`);
  }
  return { registry, namespace };
}

/** Throws unless `maxComponents` is 0 (no limit) or at least 2, as oc's --max-components. */
export function validateMaxComponents(maxComponents: number): void {
  if (!Number.isInteger(maxComponents) || maxComponents < 0 || maxComponents === 1) {
    throw new RangeError(`max components must be 0 (no limit) or an integer of at least 2, got ${maxComponents}`);
  }
}

/**
 * The target of `src` under `dest`: path = dest namespace + source repository; when that has more
 * than `maxComponents` components (0 = no limit), the first `maxComponents - 1` stay and the rest
 * are joined with `-`. The tag is the source tag; for digest-only sources the FNV-1a hash of the
 * source reference (`hashed`, by default the reference with its registry), so registries do not
 * garbage-collect the pushed manifest; `latest` for sources with neither, as docker defaults them.
 * The target never carries a digest.
 */
export function mirrorTarget(src: ImageReference, dest: MirrorDestination, maxComponents: number, hashed = formatReference(src)): ImageReference {
  validateMaxComponents(maxComponents);
  const all = [...splitPath(dest.namespace), ...splitPath(src.repository)];
  const components = maxComponents > 1 && all.length > maxComponents
    ? [...all.slice(0, maxComponents - 1), all.slice(maxComponents - 1).join('-')]
    : all;
  const tag = src.tag ?? (src.digest !== undefined ? fnv1a32Hex(hashed) : DEFAULT_TAG);
  const target: ImageReference = { registry: dest.registry, repository: components.join('/'), tag };
  const name = `${target.registry}/${target.repository}`;
  if (name.length > 255) {
    throw new InvalidReferenceError(formatReference(target),
      `the mirrored name of ${formatReference(src)} is ${name.length} characters long, at most 255 are allowed (lower --max-components or shorten the destination)`);
  }
  return target;
}

const DEFAULT_TAG = 'latest';

/** One line of oc's mapping.txt: what to copy, where to, and the source as oc writes it. */
export interface MirrorMapping {
  /** The image to copy; `:latest` when the catalog names neither tag nor digest. */
  readonly source: ImageReference;
  readonly destination: ImageReference;
  /** The left side of the mapping.txt line, exactly as oc writes it. */
  readonly sourceText: string;
}

/**
 * `image` as written in a catalog, named as oc's catalog mirror names it (mount() on library-go's
 * reference.Parse): the registry as written (docker.io only when none is written, so
 * `index.docker.io` stays), `library/` before single names on Docker Hub, the digest alone when
 * there is one (a tag beside it is dropped), else the tag or `latest`. The FNV-1a tag of a
 * digest-only source hashes the reference as written, before docker.io is filled in.
 * Throws InvalidReferenceError for text that is no image reference.
 */
export function mirrorMapping(image: string, dest: MirrorDestination, maxComponents: number): MirrorMapping {
  const parsed = parseReference(image);
  const written = writtenRegistry(image);
  const source = parsed.tag === undefined && parsed.digest === undefined ? withTag(parsed, DEFAULT_TAG) : parsed;
  const path = `${written || DEFAULT_REGISTRY}/${parsed.repository}`;
  const sourceText = parsed.digest !== undefined ? `${path}@${parsed.digest}` : `${path}:${source.tag!}`;
  const hashed = isDockerHub(written) ? `${written}/${parsed.repository}@${parsed.digest}` : image;
  return { source, destination: mirrorTarget(source, dest, maxComponents, hashed), sourceText };
}

/** The registry part of `image` as library-go reads it (a first component with `.` or `:`, or `localhost`), '' when none. */
function writtenRegistry(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return '';
  const first = image.slice(0, slash);
  return first === 'localhost' || /[.:]/.test(first) ? first : '';
}

function splitPath(path: string): string[] {
  return path === '' ? [] : path.split('/');
}
