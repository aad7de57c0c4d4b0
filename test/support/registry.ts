// Starts a REAL CNCF distribution registry (`docker-registry serve`, Debian package docker-registry 2.8)
// for integration tests, in one of four variants:
//   plain    HTTP, anonymous
//   tls      HTTPS with a CA made at test time, anonymous
//   htpasswd HTTPS + Basic auth (distribution only allows htpasswd together with TLS for good reason: clear-text passwords)
//   token    HTTPS + Bearer token auth against an in-process token issuer (token-issuer.ts)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { testCertificates } from './certs.js';
import { removeNow, removeOnExit, trackProcess } from './cleanup.js';
import { startTokenIssuer, type TokenIssuer } from './token-issuer.js';

export type RegistryVariant = 'plain' | 'tls' | 'htpasswd' | 'token';

export interface TestRegistry {
  variant: RegistryVariant;
  /** 127.0.0.1:PORT */
  host: string;
  /** http(s)://host */
  url: string;
  /** CA of the HTTPS variants (PEM file). */
  caFile?: string;
  /** Directory holding only ca.crt: for containers-image tools (`skopeo --cert-dir`). */
  certDir?: string;
  username?: string;
  password?: string;
  /** A podman-style auth.json with this registry's credentials (`{"auths":{}}` when anonymous). */
  authFile: string;
  storageDir: string;
  /** The registry's own log (warnings, errors, access log): read it when a test fails mysteriously. */
  logFile: string;
  /** The docker-registry process id (to check that stop() really ended it). */
  pid: number;
  /** The token variant's issuer: its realm URL and a record of every token request. */
  tokenIssuer?: TokenIssuer;
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  variant?: RegistryVariant;
  /** token variant: lifetime of issued tokens (default 300 s). */
  tokenTtlSeconds?: number;
  /** token variant: the issuer's realm is plain HTTP (the registry itself stays HTTPS). */
  tokenRealmPlainHttp?: boolean;
  /** Where the registry's folder (config, log, storage) is made; default the system's temp folder. */
  parentDir?: string;
}

const REGISTRY_BINARY = process.env.OLM_MIRROR_TEST_REGISTRY_BIN ?? 'docker-registry';
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function logTail(logFile: string, lines = 20): string {
  if (!existsSync(logFile)) return '(no log)';
  return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') || '(empty log)';
}

/** bcrypt line for the htpasswd file (distribution accepts bcrypt only); the password goes through stdin, not argv. */
function htpasswdLine(username: string, password: string): string {
  try {
    return execFileSync('htpasswd', ['-niB', username], { input: password, stdio: ['pipe', 'pipe', 'pipe'] }).toString().trim();
  } catch (err) {
    throw new Error(`htpasswd (package apache2-utils) is needed for the htpasswd test registry: ${String(err)}`);
  }
}

/** Writes a podman-style auth.json granting `username` on `host` (no entries when anonymous). */
export function writeAuthFile(file: string, host: string, username?: string, password?: string): void {
  const auths = username ? { [host]: { auth: Buffer.from(`${username}:${password ?? ''}`).toString('base64') } } : {};
  writeFileSync(file, `${JSON.stringify({ auths }, null, 2)}\n`, { mode: 0o600 });
}

/** Resolves with the HTTP status of GET /v2/, or rejects when nothing answers. */
function probe(url: string, ca?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onResponse = (res: import('node:http').IncomingMessage): void => {
      res.resume();
      resolve(res.statusCode ?? 0);
    };
    const req = ca ? httpsGet(`${url}/v2/`, { ca, agent: false }, onResponse) : httpGet(`${url}/v2/`, { agent: false }, onResponse);
    req.setTimeout(2_000, () => req.destroy(new Error('probe timed out')));
    req.on('error', reject);
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function waitUntilReady(child: ChildProcess, url: string, ca: string | undefined, logFile: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}) before answering ${url}/v2/; log tail:\n${logTail(logFile)}`);
    }
    try {
      const status = await probe(url, ca);
      if (status === 200 || status === 401) return;
      lastError = `HTTP ${status}`;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`docker-registry did not answer ${url}/v2/ within ${READY_TIMEOUT_MS} ms (last: ${lastError}); log tail:\n${logTail(logFile)}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.pid === undefined) return; // never started (spawn error): there is no 'exit' to wait for
  const done = exited(child);
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await done;
  clearTimeout(timer);
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  const variant = opts.variant ?? 'plain';
  const dir = mkdtempSync(join(opts.parentDir ?? tmpdir(), `olm-mirror-registry-${variant}-`));
  removeOnExit(dir);
  const storageDir = join(dir, 'storage');
  const logFile = join(dir, 'registry.log');
  const certs = variant === 'plain' ? undefined : testCertificates();
  const scheme = certs ? 'https' : 'http';
  const username = variant === 'htpasswd' || variant === 'token' ? `user-${randomBytes(4).toString('hex')}` : undefined;
  const password = username ? randomBytes(12).toString('base64url') : undefined;
  let tokenIssuer: TokenIssuer | undefined;
  let child: ChildProcess | undefined;
  try {
    let auth: Record<string, unknown> | undefined;
    if (variant === 'htpasswd') {
      const htpasswdFile = join(dir, 'htpasswd');
      writeFileSync(htpasswdFile, `${htpasswdLine(username!, password!)}\n`);
      auth = { htpasswd: { realm: 'olm-mirror-test', path: htpasswdFile } };
    } else if (variant === 'token') {
      tokenIssuer = await startTokenIssuer({
        username: username!, password: password!, certs: certs!, ttlSeconds: opts.tokenTtlSeconds, plainHttp: opts.tokenRealmPlainHttp,
        service: 'olm-mirror-test-registry', issuer: 'olm-mirror-test-issuer',
      });
      auth = { token: { realm: tokenIssuer.realm, service: tokenIssuer.service, issuer: tokenIssuer.issuer, rootcertbundle: certs!.caFile } };
    }

    const authFile = join(dir, 'auth.json');
    let host = '';
    // The free port can be taken by someone else between probing and binding: retry a few times.
    for (let attempt = 1; ; attempt++) {
      host = `127.0.0.1:${await freePort()}`;
      const config = {
        version: '0.1',
        log: { level: 'warn', formatter: 'text' },
        storage: {
          filesystem: { rootdirectory: storageDir },
          delete: { enabled: true },
          maintenance: { uploadpurging: { enabled: false } },
        },
        http: {
          addr: host,
          secret: randomBytes(16).toString('hex'),
          ...(certs ? { tls: { certificate: certs.serverCertFile, key: certs.serverKeyFile } } : {}),
        },
        health: { storagedriver: { enabled: false } },
        ...(auth ? { auth } : {}),
      };
      const configFile = join(dir, 'config.yml');
      writeFileSync(configFile, JSON.stringify(config, null, 2)); // JSON is valid YAML
      const logFd = openSync(logFile, 'w'); // fresh per attempt: the retry check reads this attempt's log only
      child = spawn(REGISTRY_BINARY, ['serve', configFile], { stdio: ['ignore', logFd, logFd] });
      closeSync(logFd);
      trackProcess(child);
      child.unref(); // a forgotten stop() must not hang the test process; the exit hook kills it
      try {
        await new Promise<void>((resolve, reject) => {
          child!.once('spawn', resolve);
          child!.once('error', (err) => reject(new Error(`cannot run ${REGISTRY_BINARY} (Debian package docker-registry): ${err.message}`)));
        });
        await waitUntilReady(child, `${scheme}://${host}`, certs?.caPem, logFile);
        break;
      } catch (err) {
        if (attempt < 3 && /address already in use/.test(logTail(logFile))) {
          await stopChild(child);
          continue;
        }
        throw err;
      }
    }

    writeAuthFile(authFile, host, username, password);
    const registryProcess = child;
    let stopped: Promise<void> | undefined;
    return {
      variant, host, url: `${scheme}://${host}`,
      caFile: certs?.caFile, certDir: certs?.trustDir, username, password,
      authFile, storageDir, logFile, tokenIssuer, pid: registryProcess.pid!,
      stop: () => {
        stopped ??= (async () => {
          await stopChild(registryProcess);
          await tokenIssuer?.stop();
          removeNow(dir);
        })();
        return stopped;
      },
    };
  } catch (err) {
    if (child) await stopChild(child);
    await tokenIssuer?.stop();
    removeNow(dir);
    throw err;
  }
}

/**
 * Starts one registry for the current test file (node:test `before`) and stops it in `after`.
 * Returns a getter, valid inside tests: `const registry = registryTestHooks({ variant: 'tls' }); ... registry().host`.
 */
export function registryTestHooks(opts: StartRegistryOptions = {}): () => TestRegistry {
  let registry: TestRegistry | undefined;
  before(async () => {
    registry = await startRegistry(opts);
  });
  after(async () => {
    await registry?.stop();
  });
  return () => {
    if (!registry) throw new Error('registryTestHooks: the registry is only available inside tests (after `before` ran)');
    return registry;
  };
}
