// Registry credentials from the files podman, docker and oc write (auth.json, config.json,
// the legacy .dockercfg), looked up the way containers/image looks them up.
//
// Secrets policy: credentials are only ever handed to the registry client. Credential objects
// returned by lookup() carry a toJSON/util.inspect/toString that redact the secrets, so a stray
// console.log or JSON.stringify cannot leak them, and no error message here quotes a value.
import { OlmMirrorError } from '../errors.js';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { inspect } from 'node:util';
import { isDockerHub, DEFAULT_REGISTRY } from '../reference/reference.js';
import { isPlainObject } from '../util/guards.js';

export interface Credential {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint. */
  identityToken?: string;
}

/** A credential together with where it came from, for messages such as "rejected credentials for quay.io from ~/auth.json". */
export interface CredentialMatch {
  readonly credential: Credential;
  /** The normalised key that matched, e.g. `quay.io` or `quay.io/org`. */
  readonly key: string;
  readonly file: string;
}

export class CredentialFileError extends OlmMirrorError {
  constructor(readonly file: string, detail: string) {
    super('usage', `credentials file ${file}: ${detail}`);
  }
}

export interface LoadOptions {
  /** Explicit file (-a/--registry-config); it must exist. */
  authFile?: string;
  env?: NodeJS.ProcessEnv;
  homeDir?: string;
  /** For /run/containers/$UID/auth.json; defaults to the process uid. */
  uid?: number;
}

const REDACTED = '<redacted>';

/** A Credential that never prints its secrets. */
class RedactedCredential implements Credential {
  // `declare`: no class-field initialisers, so absent fields stay absent rather than undefined.
  declare readonly username?: string;
  declare readonly password?: string;
  declare readonly identityToken?: string;

  constructor(fields: Credential) {
    for (const key of ['username', 'password', 'identityToken'] as const) {
      if (fields[key] !== undefined) Object.defineProperty(this, key, { value: fields[key], enumerable: true });
    }
  }

  toJSON(): Record<string, string> {
    const out: Record<string, string> = {};
    if (this.username !== undefined) out.username = this.username;
    if (this.password !== undefined) out.password = REDACTED;
    if (this.identityToken !== undefined) out.identityToken = REDACTED;
    return out;
  }

  toString(): string {
    return `Credential ${JSON.stringify(this.toJSON())}`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

interface Entry {
  credential: RedactedCredential;
  file: string;
}

export class CredentialStore {
  private constructor(
    private readonly entries: ReadonlyMap<string, Entry>,
    /** The file the credentials were read from; undefined when none was found. */
    readonly source: string | undefined,
    /** Things in the file that were ignored (e.g. credential helpers), for verbose output. */
    readonly warnings: readonly string[],
  ) {}

  static empty(): CredentialStore {
    return new CredentialStore(new Map(), undefined, []);
  }

  /** Reads `authFile` if given, else $REGISTRY_AUTH_FILE, else the first existing default location. */
  static async load(opts: LoadOptions = {}): Promise<CredentialStore> {
    const env = opts.env ?? process.env;
    if (opts.authFile) return CredentialStore.fromFile(opts.authFile, 'given with -a/--registry-config');
    if (env.REGISTRY_AUTH_FILE) return CredentialStore.fromFile(env.REGISTRY_AUTH_FILE, 'set in REGISTRY_AUTH_FILE');
    for (const file of defaultCredentialFiles(env, opts.homeDir ?? homedir(), opts.uid ?? process.getuid?.())) {
      const text = await readIfExists(file);
      if (text !== undefined) return CredentialStore.parse(text, file);
    }
    return CredentialStore.empty();
  }

  /** Parses the text of a credentials file; `file` names it in errors (and picks the legacy format for `.dockercfg`). */
  static parse(text: string, file: string): CredentialStore {
    const { entries, warnings } = parseCredentialFile(text, file);
    return new CredentialStore(entries, file, warnings);
  }

  private static async fromFile(file: string, origin: string): Promise<CredentialStore> {
    const text = await readIfExists(file);
    if (text === undefined) throw new CredentialFileError(file, `does not exist (${origin})`);
    return CredentialStore.parse(text, file);
  }

  /** The credential for `registry` (as in ImageReference), preferring the longest `registry/repository` prefix key. */
  lookup(registry: string, repository?: string): Credential | undefined {
    return this.lookupMatch(registry, repository)?.credential;
  }

  lookupMatch(registry: string, repository?: string): CredentialMatch | undefined {
    const host = canonicalHost(registry);
    const components = repository ? repository.split('/') : [];
    for (let n = components.length; n >= 0; n--) {
      const key = [host, ...components.slice(0, n)].join('/');
      const entry = this.entries.get(key);
      if (entry) return { credential: entry.credential, key, file: entry.file };
    }
    return undefined;
  }

  /** The keys credentials exist for (never the secrets). */
  get keys(): string[] {
    return [...this.entries.keys()];
  }

  toJSON(): { source: string | undefined; keys: string[] } {
    return { source: this.source, keys: this.keys };
  }

  [inspect.custom](): string {
    return `CredentialStore ${JSON.stringify(this.toJSON())}`;
  }
}

/** The default search order of oc / podman / docker; only the first existing file is used. */
export function defaultCredentialFiles(env: NodeJS.ProcessEnv, homeDir: string, uid: number | undefined): string[] {
  const files: string[] = [];
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  if (uid !== undefined) files.push(join('/run/containers', String(uid), 'auth.json'));
  files.push(join(env.XDG_CONFIG_HOME || join(homeDir, '.config'), 'containers', 'auth.json'));
  if (env.DOCKER_CONFIG) files.push(join(env.DOCKER_CONFIG, 'config.json'));
  files.push(join(homeDir, '.docker', 'config.json'), join(homeDir, '.dockercfg'));
  return files;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new CredentialFileError(file, `cannot be read: ${code === 'EISDIR' ? 'it is a directory' : (err as Error).message}`);
  }
}

function parseCredentialFile(text: string, file: string): { entries: Map<string, Entry>; warnings: string[] } {
  const root = parseJson(text, file);
  if (!isPlainObject(root)) throw new CredentialFileError(file, 'expected a JSON object at the top level');
  const warnings: string[] = [];
  // podman and docker write {"auths": {...}}; ~/.dockercfg (and old Kubernetes secrets) hold the map itself.
  const legacy = !('auths' in root) && (basename(file) === '.dockercfg' || Object.values(root).some(looksLikeEntry));
  const auths = legacy ? root : root.auths ?? {};
  if (!isPlainObject(auths)) throw new CredentialFileError(file, '"auths" must be an object');
  for (const field of ['credsStore', 'credHelpers'] as const) {
    if (field in root) {
      warnings.push(`${file}: "${field}" is set but credential helpers are not supported; only credentials stored in the file are used`);
    }
  }

  const entries = new Map<string, Entry>();
  for (const [rawKey, value] of Object.entries(auths)) {
    const credential = decodeEntry(value, rawKey, file);
    const key = normalizeKey(rawKey, legacy);
    // Several spellings of one registry (https://index.docker.io/v1/ and docker.io): the first in the file wins.
    if (credential && !entries.has(key)) entries.set(key, { credential, file });
  }
  return { entries, warnings };
}

/** JSON.parse whose errors give line and column but never quote the file (V8 quotes the text, which may hold secrets). */
function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const position = /at position (\d+)/.exec(message);
    if (position && Number(position[1]) < text.trimEnd().length) {
      const before = text.slice(0, Number(position[1]));
      const line = before.split('\n').length;
      const column = before.length - before.lastIndexOf('\n');
      throw new CredentialFileError(file, `invalid JSON at line ${line}, column ${column}`);
    }
    throw new CredentialFileError(file, position || /end of JSON input/.test(message) ? 'invalid JSON: unexpected end of file' : 'invalid JSON');
  }
}

function decodeEntry(value: unknown, key: string, file: string): RedactedCredential | undefined {
  const where = `entry "${key}"`;
  if (!isPlainObject(value)) throw new CredentialFileError(file, `${where} must be an object`);
  const field = (name: string): string | undefined => {
    const v = value[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new CredentialFileError(file, `${where}: "${name}" must be a string`);
    return v;
  };
  const auth = field('auth');
  const identityToken = field('identitytoken') || undefined;
  let username = field('username') || undefined;
  let password = field('password') || undefined;
  if (auth) {
    // Docker gives "auth" precedence over separate username/password fields.
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(auth.trim())) throw new CredentialFileError(file, `${where}: "auth" is not valid base64`);
    const decoded = Buffer.from(auth.trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) throw new CredentialFileError(file, `${where}: "auth" must decode to "username:password"`);
    username = decoded.slice(0, colon) || undefined;
    password = decoded.slice(colon + 1) || undefined;
  }
  if (username === undefined && password === undefined && identityToken === undefined) return undefined;
  return new RedactedCredential({ username, password, identityToken });
}

/**
 * As containers/image's normalizeAuthFileKey: a key with a scheme (docker's `https://index.docker.io/v1/`)
 * or from a legacy file is a host; a key without one may name a repository prefix (`quay.io/org`).
 * Hosts are lowercased and Docker Hub aliases folded to docker.io.
 */
function normalizeKey(rawKey: string, legacy: boolean): string {
  const withoutScheme = rawKey.replace(/^https?:\/\//i, '');
  const hostOnly = legacy || withoutScheme !== rawKey;
  const trimmed = withoutScheme.replace(/\/+$/, '');
  const slash = trimmed.indexOf('/');
  const host = canonicalHost(slash === -1 ? trimmed : trimmed.slice(0, slash));
  if (hostOnly || slash === -1) return host;
  return `${host}/${trimmed.slice(slash + 1)}`;
}

function canonicalHost(host: string): string {
  return isDockerHub(host) ? DEFAULT_REGISTRY : host.toLowerCase();
}

function looksLikeEntry(v: unknown): boolean {
  return isPlainObject(v) && (typeof v.auth === 'string' || typeof v.identitytoken === 'string');
}
