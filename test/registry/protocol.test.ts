// Protocol edge cases a stock docker-registry never produces (cross-origin blob redirects, a token
// revoked mid-run, a schema 1 manifest), played by a small scripted HTTP server: does the client keep credentials on the
// registry's origin only, and refresh a rejected token exactly once?
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, beforeEach, test } from 'node:test';
import { CredentialStore } from '../../src/auth/credentials.js';
import { sha256Digest } from '../../src/manifest/digest.js';
import { AuthenticationError, RegistryClient, type ClientEvent } from '../../src/registry/client.js';
import { testCertificates } from '../support/certs.js';
import { readAll } from './helpers.js';

const content = Buffer.from('blob content served by the storage origin');
const digest = sha256Digest(content);

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; host: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, host: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Scripted registry state: issued tokens, revoked ones, and what each origin was sent. */
const state = {
  issued: 0,
  revoked: new Set<string>(),
  revokeAll: false,
  tokenRequests: [] as { scope: string[]; authorization?: string }[],
  registrySaw: [] as { path: string; authorization?: string }[],
  storageSaw: [] as IncomingHttpHeaders[],
  /** The bodies of upload PUTs, as received; the first one is answered 401 (its token revoked). */
  uploads: [] as string[],
};
let registryHost = '';
let storageHost = '';
/** An anonymous HTTPS registry that redirects every blob to the plain-HTTP storage origin. */
let tlsRegistryHost = '';
let servers: Server[] = [];

before(async () => {
  const storage = await listen((req, res) => {
    state.storageSaw.push(req.headers);
    res.writeHead(200, { 'content-length': content.length }).end(content);
  });
  storageHost = storage.host;
  const registry = await listen((req, res) => {
    const url = new URL(req.url ?? '/', `http://${registryHost}`);
    const challenge = `Bearer realm="http://${registryHost}/token",service="scripted"`;
    if (url.pathname === '/token') {
      state.tokenRequests.push({ scope: url.searchParams.getAll('scope'), authorization: req.headers.authorization });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `t${++state.issued}`, expires_in: 300 }));
      return;
    }
    state.registrySaw.push({ path: url.pathname, authorization: req.headers.authorization });
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token || state.revokeAll || state.revoked.has(token)) {
      res.writeHead(401, { 'www-authenticate': `${challenge},error="invalid_token"`, 'content-type': 'application/json' })
        .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'token rejected' }] }));
      return;
    }
    if (url.pathname === '/v2/old/app/manifests/1') {
      res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' })
        .end(JSON.stringify({ schemaVersion: 1, name: 'old/app', tag: '1', fsLayers: [], history: [], signatures: [] }));
      return;
    }
    if (req.method === 'POST' && url.pathname === '/v2/up/blobs/uploads/') {
      res.writeHead(202, { location: '/v2/up/blobs/uploads/1?_state=s', 'content-length': 0 }).end();
      return;
    }
    if (req.method === 'PUT' && url.pathname === '/v2/up/blobs/uploads/1') {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk)).on('end', () => {
        state.uploads.push(Buffer.concat(chunks).toString());
        if (state.uploads.length === 1) {
          state.revoked.add(token);
          res.writeHead(401, { 'www-authenticate': `${challenge},error="invalid_token"` }).end();
        } else {
          res.writeHead(201, { 'docker-content-digest': url.searchParams.get('digest') ?? '', 'content-length': 0 }).end();
        }
      });
      return;
    }
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-length': content.length, 'docker-content-digest': digest }).end();
      return;
    }
    // Relative redirect first (same origin: keeps auth), then to the storage origin with a signed-looking URL.
    if (url.pathname === `/v2/r/blobs/${digest}`) res.writeHead(307, { location: `/v2/r/blobs/redirected/${digest}` }).end();
    else res.writeHead(307, { location: `http://${storageHost}/data/${digest}?X-Signature=abc` }).end();
  });
  registryHost = registry.host;
  const certs = testCertificates();
  const tlsRegistry = createHttpsServer({ cert: readFileSync(certs.serverCertFile), key: readFileSync(certs.serverKeyFile) }, (req, res) => {
    if (req.url === '/v2/') res.writeHead(200).end();
    else res.writeHead(307, { location: `http://${storageHost}/data/${digest}` }).end();
  });
  await new Promise<void>((resolve) => tlsRegistry.listen(0, '127.0.0.1', resolve));
  tlsRegistryHost = `127.0.0.1:${(tlsRegistry.address() as AddressInfo).port}`;
  servers = [storage.server, registry.server, tlsRegistry];
});
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});
beforeEach(() => {
  state.revoked.clear();
  state.revokeAll = false;
  state.tokenRequests.length = 0;
  state.registrySaw.length = 0;
  state.storageSaw.length = 0;
  state.uploads.length = 0;
});

function client(events: ClientEvent[] = []): RegistryClient {
  const credentials = CredentialStore.parse(JSON.stringify({ auths: { [registryHost]: { auth: Buffer.from('me:secret').toString('base64') } } }), 'auth.json');
  return new RegistryClient({ insecure: true, credentials, retryBaseDelayMs: 5, onEvent: (e) => events.push(e) });
}

test('blob redirects: Authorization kept on the registry origin, never sent to the storage origin', async () => {
  const events: ClientEvent[] = [];
  const c = client(events);
  try {
    assert.deepEqual(await readAll(await c.getBlob(registryHost, 'r', digest, { size: content.length })), content);
  } finally {
    await c.close();
  }
  assert.deepEqual(state.registrySaw.filter((s) => s.path !== '/v2/').map((s) => s.authorization), ['Bearer t1', 'Bearer t1']);
  assert.equal(state.storageSaw.length, 1);
  assert.equal(state.storageSaw[0]!.authorization, undefined);
  assert.deepEqual(events.filter((e) => e.type === 'redirect').map((e) => e.type === 'redirect' && e.toHost), [registryHost, storageHost]);
  assert.deepEqual(state.tokenRequests, [{ scope: ['repository:r:pull'], authorization: `Basic ${Buffer.from('me:secret').toString('base64')}` }]);
});

test('a token rejected mid-run is refreshed once, and the request succeeds', async () => {
  const c = client();
  try {
    assert.equal(await c.blobSize(registryHost, 'r', digest), content.length);
    state.revoked.add(`t${state.issued}`);
    assert.equal(await c.blobSize(registryHost, 'r', digest), content.length);
  } finally {
    await c.close();
  }
  assert.equal(state.tokenRequests.length, 2);
  assert.deepEqual(state.registrySaw.filter((s) => s.path !== '/v2/').map((s) => s.authorization?.startsWith('Bearer t')), [true, true, true]);
});

test('a blob uploaded in one PUT from several pieces is sent again whole after a token refresh', async () => {
  const pieces = ['first piece, ', 'second piece, ', 'last piece'];
  const blob = Buffer.from(pieces.join(''));
  const c = client();
  try {
    await c.pushBlob(registryHost, 'up', sha256Digest(blob), blob.length, async () => Readable.from(pieces.map((p) => Buffer.from(p))));
  } finally {
    await c.close();
  }
  assert.deepEqual(state.uploads, [blob.toString(), blob.toString()]);
  assert.equal(state.tokenRequests.length, 2);
});

test('a token rejected again after the refresh: authentication failed, no loop, no secret', async () => {
  state.revokeAll = true;
  const c = client();
  try {
    await assert.rejects(c.getBlob(registryHost, 'r', digest), (err: Error) => {
      assert.ok(err instanceof AuthenticationError);
      assert.match(err.message, new RegExp(`^authentication failed for ${registryHost}: 401 Unauthorized: UNAUTHORIZED: token rejected \\(pulling blob sha256:`));
      assert.ok(!err.message.includes('secret') && !err.message.includes(Buffer.from('me:secret').toString('base64')));
      return true;
    });
  } finally {
    await c.close();
  }
  assert.equal(state.tokenRequests.length, 2);
  assert.equal(state.registrySaw.filter((s) => s.path !== '/v2/').length, 2);
});

test('a schema 1 manifest is refused with a message naming the image', async () => {
  const c = client();
  try {
    await assert.rejects(c.getManifest({ registry: registryHost, repository: 'old/app', tag: '1' }), {
      name: 'UnsupportedManifestError',
      message: `image ${registryHost}/old/app:1 uses the Docker schema 1 manifest format, which olm-mirror does not support; re-push it with a current client`,
    });
  } finally {
    await c.close();
  }
});

test('an HTTPS registry redirecting a blob to plain HTTP: refused without --insecure, followed with a warning under it', async () => {
  const strict = new RegistryClient({ caFiles: [testCertificates().caFile], retryBaseDelayMs: 5 });
  try {
    await assert.rejects(strict.getBlob(tlsRegistryHost, 'r', digest, { size: content.length }),
      new RegExp(`^RegistryError: ${tlsRegistryHost} is reached over HTTPS, but the redirect of pulling blob ${digest} of ${tlsRegistryHost}/r `
        + `to ${storageHost} is plain HTTP; refusing to send anything there unencrypted \\(pass --insecure to allow it\\)$`));
  } finally {
    await strict.close();
  }
  assert.equal(state.storageSaw.length, 0, 'the plain-HTTP origin was never contacted');

  const events: ClientEvent[] = [];
  const insecure = new RegistryClient({ insecure: true, retryBaseDelayMs: 5, onEvent: (e) => events.push(e) });
  try {
    assert.deepEqual(await readAll(await insecure.getBlob(tlsRegistryHost, 'r', digest, { size: content.length })), content);
    assert.deepEqual(await readAll(await insecure.getBlob(tlsRegistryHost, 'r', digest, { size: content.length })), content);
  } finally {
    await insecure.close();
  }
  assert.equal(state.storageSaw.length, 2);
  assert.deepEqual(events.filter((e) => e.type === 'insecure').map((e) => e.registry), [tlsRegistryHost], 'one warning, not one per blob');
});
