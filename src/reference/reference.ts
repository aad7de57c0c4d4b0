// Image references in the docker grammar (github.com/distribution/reference), normalised the
// way docker and podman normalise them, so that `nginx`, `docker.io/nginx` and
// `index.docker.io/library/nginx` are the same image everywhere in olm-mirror.
import { quoted } from '../util/quote.js';
import { OlmMirrorError } from '../errors.js';
import { InvalidDigestError, parseDigest } from '../manifest/digest.js';

export interface ImageReference {
  readonly registry: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

export class InvalidReferenceError extends OlmMirrorError {
  constructor(
    /** The text that was parsed (or the tag/digest that was applied). */
    readonly input: string,
    /** What is wrong with it, without the input. */
    readonly reason: string,
  ) {
    super('input', `invalid image reference ${quoted(input)}: ${reason}`);
  }
}

export const DEFAULT_REGISTRY = 'docker.io';
/** Host names that mean Docker Hub; the first is the canonical one. */
const DOCKER_HUB_ALIASES = new Set([DEFAULT_REGISTRY, 'index.docker.io', 'registry-1.docker.io']);
const OFFICIAL_REPO_PREFIX = 'library/';
/** distribution/reference NameTotalLengthMax: registry + "/" + repository. */
const NAME_TOTAL_LENGTH_MAX = 255;

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^\w[\w.-]{0,127}$/;
/** A bare image ID; docker refuses it as a name because it would be ambiguous. */
const IMAGE_ID_RE = /^[a-f0-9]{64}$/;

/**
 * Parses `[registry/]repository[:tag][@digest]`.
 * The first path component is the registry when it contains `.` or `:`, is `localhost`, or has
 * uppercase letters (repositories cannot, so docker reads `Foo/bar` as registry `Foo`);
 * otherwise the registry is docker.io, where single-component names get `library/`.
 * No implicit `latest`: tag and digest are undefined when absent.
 */
export function parseReference(input: string): ImageReference {
  const fail = (reason: string): never => {
    throw new InvalidReferenceError(input, reason);
  };
  if (input === '') fail('empty string');
  if (/\s/.test(input)) fail('contains whitespace');
  if (IMAGE_ID_RE.test(input)) fail('a 64-character hexadecimal string is an image ID, not a repository name');

  const at = input.indexOf('@');
  const digest = at === -1 ? undefined : input.slice(at + 1);
  const nameAndTag = at === -1 ? input : input.slice(0, at);
  if (digest !== undefined) {
    const problem = digestProblem(digest);
    if (problem) fail(problem);
  }

  const { registry, remainder } = splitRegistry(nameAndTag);
  const colon = remainder.indexOf(':');
  const repository = colon === -1 ? remainder : remainder.slice(0, colon);
  const tag = colon === -1 ? undefined : remainder.slice(colon + 1);

  if (!HOST_RE.test(registry)) fail(`registry ${quoted(registry)} is not a valid host[:port]`);
  if (repository === '') fail('repository name is missing');
  if (repository !== repository.toLowerCase()) fail(`repository name ${quoted(repository)} must be lowercase`);
  for (const component of repository.split('/')) {
    if (!PATH_COMPONENT_RE.test(component)) {
      fail(component === ''
        ? `repository ${quoted(repository)} has an empty path component`
        : `repository path component ${quoted(component)} must be lowercase letters and digits, separated by ".", "_", "__" or "-"`);
    }
  }
  if (tag !== undefined && !TAG_RE.test(tag)) {
    fail(`tag ${quoted(tag)} must be 1-128 characters of letters, digits, "_", "." and "-", not starting with "." or "-"`);
  }
  const nameLength = registry.length + 1 + repository.length;
  if (nameLength > NAME_TOTAL_LENGTH_MAX) fail(`name is ${nameLength} characters long, at most ${NAME_TOTAL_LENGTH_MAX} are allowed`);

  return build(registry, repository, tag, digest);
}

/** `registry/repository[:tag][@digest]`, always with the registry (docker.io included). */
export function formatReference(ref: ImageReference): string {
  let out = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/** The same repository at `tag` (any digest is dropped). */
export function withTag(ref: ImageReference, tag: string): ImageReference {
  if (!TAG_RE.test(tag)) throw new InvalidReferenceError(`${formatReference(ref)}:${tag}`, `tag ${quoted(tag)} is not valid`);
  return build(ref.registry, ref.repository, tag, undefined);
}

/** The same repository at `digest` (any tag is dropped). */
export function withDigest(ref: ImageReference, digest: string): ImageReference {
  const problem = digestProblem(digest);
  if (problem) throw new InvalidReferenceError(`${formatReference(ref)}@${digest}`, problem);
  return build(ref.registry, ref.repository, undefined, digest);
}

/** Whether `registry` is one of Docker Hub's names. */
export function isDockerHub(registry: string): boolean {
  return DOCKER_HUB_ALIASES.has(registry.toLowerCase());
}

/** Validates `host[:port]` (or `[ipv6]:port`) as a registry name; returns it with Docker Hub aliases folded to docker.io. */
export function normalizeRegistry(registry: string): string {
  if (!HOST_RE.test(registry)) throw new InvalidReferenceError(registry, 'not a valid registry host[:port]');
  return isDockerHub(registry) ? DEFAULT_REGISTRY : registry;
}

/** Validates a repository path such as `openshift4/ose-cli` (no registry, tag or digest). */
export function isValidRepository(repository: string): boolean {
  return repository.split('/').every((c) => PATH_COMPONENT_RE.test(c));
}

/**
 * Undefined when `digest` is one olm-mirror can verify (parseDigest: sha256 or sha512), else what is
 * wrong, so that a reference is refused when parsed rather than when its content is checked.
 */
function digestProblem(digest: string): string | undefined {
  try {
    parseDigest(digest);
    return undefined;
  } catch (err) {
    if (err instanceof InvalidDigestError) return err.message;
    throw err;
  }
}

/** distribution/reference splitDockerDomain, with registry-1.docker.io folded to docker.io as well. */
function splitRegistry(name: string): { registry: string; remainder: string } {
  const slash = name.indexOf('/');
  if (slash === -1) return { registry: DEFAULT_REGISTRY, remainder: OFFICIAL_REPO_PREFIX + name };
  const first = name.slice(0, slash);
  const rest = name.slice(slash + 1);
  const isRegistry = first === 'localhost' || /[.:]/.test(first) || first !== first.toLowerCase();
  if (!isRegistry) return { registry: DEFAULT_REGISTRY, remainder: name };
  if (!isDockerHub(first)) return { registry: first, remainder: rest };
  const hasNamespace = rest.split(':')[0]!.includes('/');
  return { registry: DEFAULT_REGISTRY, remainder: hasNamespace ? rest : OFFICIAL_REPO_PREFIX + rest };
}

/** Plain objects without absent keys, so references compare with deepStrictEqual. */
function build(registry: string, repository: string, tag: string | undefined, digest: string | undefined): ImageReference {
  const ref: { registry: string; repository: string; tag?: string; digest?: string } = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}
