// Authentication against real registries: TLS with --certificate-authority, htpasswd (Basic),
// token (Bearer, with password and with an identity token), and failures that name no secret.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { CredentialStore } from '../../src/auth/credentials.js';
import { sha256Digest } from '../../src/manifest/digest.js';
import { AuthenticationError, RegistryClient, type ClientEvent, type RegistryClientOptions } from '../../src/registry/client.js';
import { runCli } from '../support/cli.js';
import { registryTestHooks, type TestRegistry } from '../support/registry.js';
import { blob, imageManifest } from './helpers.js';

function authFile(reg: TestRegistry, entry: Record<string, string>): CredentialStore {
  return CredentialStore.parse(JSON.stringify({ auths: { [reg.host]: entry } }), `${reg.host}-test-auth.json`);
}

function basicEntry(username: string, password: string): Record<string, string> {
  return { auth: Buffer.from(`${username}:${password}`).toString('base64') };
}

async function withClient<T>(reg: TestRegistry, opts: RegistryClientOptions, fn: (c: RegistryClient) => Promise<T>): Promise<T> {
  const c = new RegistryClient({ caFiles: reg.caFile ? [reg.caFile] : [], retryBaseDelayMs: 10, ...opts });
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

/** Pushes a one-layer image and reads it back; returns the manifest digest. */
async function pushAndPull(c: RegistryClient, reg: TestRegistry, repository: string): Promise<string> {
  const config = blob(`{"repository":"${repository}"}`);
  const layer = blob(`layer of ${repository}`);
  await c.pushBlobBytes(reg.host, repository, config.bytes);
  await c.pushBlobBytes(reg.host, repository, layer.bytes);
  const m = imageManifest('oci', config, [layer]);
  const digest = await c.putManifest({ registry: reg.host, repository, tag: 'v1' }, m);
  assert.deepEqual((await c.getManifest({ registry: reg.host, repository, tag: 'v1' })).bytes, m.bytes);
  return digest;
}

function assertNoSecret(err: Error, reg: TestRegistry, password: string): void {
  assert.ok(!err.message.includes(password), 'message must not contain the password');
  assert.ok(!err.message.includes(basicEntry(reg.username!, password).auth), 'message must not contain the encoded credentials');
}

describe('tls', () => {
  const reg = registryTestHooks({ variant: 'tls' });

  test('--certificate-authority makes the registry trusted, without --insecure', async () => {
    await withClient(reg(), {}, async (c) => {
      await pushAndPull(c, reg(), 'tls/app');
    });
  });

  test('without the CA the certificate is refused with a hint', async () => {
    await withClient(reg(), { caFiles: [], retries: 0 }, async (c) => {
      await assert.rejects(c.headManifest({ registry: reg().host, repository: 'tls/app', tag: 'v1' }),
        /TLS certificate of 127\.0\.0\.1:\d+ is not trusted \(\w+\); pass --certificate-authority/);
    });
  });

  test('--insecure accepts the unverified certificate and stays on HTTPS', async () => {
    const events: string[] = [];
    await withClient(reg(), { caFiles: [], insecure: true, onEvent: (e) => events.push(e.type) }, async (c) => {
      assert.ok(await c.headManifest({ registry: reg().host, repository: 'tls/app', tag: 'v1' }));
    });
    assert.ok(!events.includes('fallback'));
  });

  test('an unreadable CA file is named; so is one that holds no PEM certificate (exit 2 in the CLI), or a broken one', async () => {
    assert.throws(() => new RegistryClient({ caFiles: ['/nonexistent/ca.pem'] }), /^CertificateAuthorityError: certificate authority file \/nonexistent\/ca\.pem: cannot read it \(ENOENT\)$/);
    const dir = mkdtempSync(join(tmpdir(), 'olm-mirror-ca-'));
    try {
      const der = join(dir, 'ca.der');
      writeFileSync(der, Buffer.from(readFileSync(reg().caFile!, 'utf8').replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'));
      assert.throws(() => new RegistryClient({ caFiles: [der] }),
        { message: `certificate authority file ${der}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)` });
      const cli = await runCli(['image', 'mirror', '--certificate-authority', der, 'quay.io/a:1', 'mirror.local/a']);
      assert.equal(cli.code, 2, cli.stderr);
      assert.equal(cli.stderr, `error: --certificate-authority ${der}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)\n`);
      const broken = join(dir, 'broken.pem');
      writeFileSync(broken, `${readFileSync(reg().caFile!, 'utf8')}-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n`);
      assert.throws(() => new RegistryClient({ caFiles: [broken] }), new RegExp(`^CertificateAuthorityError: certificate authority file ${broken}: certificate 2 of 2 cannot be read`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('htpasswd (Basic)', () => {
  const reg = registryTestHooks({ variant: 'htpasswd' });

  test('credentials from the auth file are sent and work for pull and push', async () => {
    const credentials = await CredentialStore.load({ authFile: reg().authFile });
    await withClient(reg(), { credentials }, async (c) => {
      await pushAndPull(c, reg(), 'basic/app');
      assert.deepEqual(await c.listTags(reg().host, 'basic/app'), ['v1']);
    });
  });

  test('a wrong password fails clearly and never shows the secret', async () => {
    const wrong = 'wrong-password-123';
    await withClient(reg(), { credentials: authFile(reg(), basicEntry(reg().username!, wrong)) }, async (c) => {
      await assert.rejects(c.getManifest({ registry: reg().host, repository: 'basic/app', tag: 'v1' }), (err: Error) => {
        assert.ok(err instanceof AuthenticationError);
        assert.equal(err.status, 401);
        assert.match(err.message, new RegExp(`^authentication failed for ${reg().host.replace(/\./g, '\\.')}: 401 Unauthorized: UNAUTHORIZED: `));
        assert.match(err.message, /pulling manifest .*basic\/app:v1/);
        assertNoSecret(err, reg(), wrong);
        return true;
      });
    });
  });

  test('no credentials: "authentication required" with how to log in', async () => {
    await withClient(reg(), {}, async (c) => {
      await assert.rejects(c.blobSize(reg().host, 'basic/app', sha256Digest(Buffer.from('x'))),
        /^AuthenticationError: authentication required by 127\.0\.0\.1:\d+: 401 Unauthorized.*podman login/);
    });
  });
});

describe('token (Bearer)', () => {
  const reg = registryTestHooks({ variant: 'token', tokenTtlSeconds: 2 });

  test('password credentials: tokens per scope, reused, one multi-scope token for a mount', async () => {
    const issuer = reg().tokenIssuer!;
    const credentials = await CredentialStore.load({ authFile: reg().authFile });
    await withClient(reg(), { credentials }, async (c) => {
      const before = issuer.requests.length;
      await pushAndPull(c, reg(), 'token/source');
      const requests = issuer.requests.slice(before);
      assert.ok(requests.every((r) => r.status === 200 && r.account === reg().username));
      // push scope once (cached across blob pushes and the manifest PUT), pull scope once.
      assert.deepEqual(requests.map((r) => r.scopes.join(' ')).sort(),
        ['repository:token/source:pull', 'repository:token/source:pull,push']);

      const layer = blob('layer of token/source');
      assert.equal(await c.mountBlob(reg().host, 'token/target', layer.digest, 'token/source'), true);
      const mountRequest = issuer.requests.at(-1)!;
      assert.deepEqual(mountRequest.scopes, ['repository:token/target:pull,push', 'repository:token/source:pull']);

      // Tokens live 2 s here (reused for 1 s): after they expired the client fetches new ones by itself.
      await new Promise((resolve) => setTimeout(resolve, 2100));
      assert.equal(await c.blobSize(reg().host, 'token/source', layer.digest), layer.size);
    });
  });

  test('the catalog is listed with a registry:catalog:* token; anonymous, it is refused and the client says it cannot tell', async () => {
    const issuer = reg().tokenIssuer!;
    const credentials = await CredentialStore.load({ authFile: reg().authFile });
    await withClient(reg(), { credentials }, async (c) => {
      await c.pushBlobBytes(reg().host, 'token/listed', Buffer.from('a blob makes a repository'));
      const before = issuer.requests.length;
      const repositories = await c.listRepositories(reg().host, 5);
      assert.ok(repositories?.includes('token/listed'), String(repositories));
      assert.deepEqual(issuer.requests.slice(before).map((r) => r.scopes.join(' ')), ['registry:catalog:*']);
    });
    await withClient(reg(), {}, async (c) => {
      assert.equal(await c.listRepositories(reg().host, 5), undefined);
    });
  });

  test('requests starting all at once share one ping and one token per scope set', async () => {
    const issuer = reg().tokenIssuer!;
    const credentials = await CredentialStore.load({ authFile: reg().authFile });
    const pings = () => readFileSync(reg().logFile, 'utf8').split('\n').filter((line) => line.includes('"GET /v2/ HTTP/1.1" 401 ') && line.endsWith('"olm-mirror"')).length;
    const pingsBefore = pings();
    const tokensBefore = issuer.requests.length;
    await withClient(reg(), { credentials }, async (c) => {
      const missing = Array.from({ length: 25 }, (_, i) => sha256Digest(Buffer.from(`missing ${i}`)));
      const sizes = await Promise.all(['token/herd-a', 'token/herd-b'].flatMap((repository) =>
        missing.map((digest) => c.blobSize(reg().host, repository, digest))));
      assert.ok(sizes.every((size) => size === undefined));
    });
    assert.equal(pings() - pingsBefore, 1);
    assert.deepEqual(issuer.requests.slice(tokensBefore).map((r) => r.scopes.join(' ')).sort(),
      ['repository:token/herd-a:pull', 'repository:token/herd-b:pull']);
  });

  test('identity token: exchanged with the OAuth2 refresh_token grant', async () => {
    const issuer = reg().tokenIssuer!;
    const dispatcher = new Agent({ connect: { ca: readFileSync(reg().caFile!, 'utf8') } });
    const form = new URLSearchParams({
      grant_type: 'password', username: reg().username!, password: reg().password!, service: issuer.service,
      client_id: 'test', access_type: 'offline', scope: '',
    });
    const res = await request(issuer.realm, {
      method: 'POST', dispatcher, body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    const { refresh_token: refreshToken } = await res.body.json() as { refresh_token: string };
    await dispatcher.close();
    assert.ok(refreshToken);

    await withClient(reg(), { credentials: authFile(reg(), { identitytoken: refreshToken }) }, async (c) => {
      await pushAndPull(c, reg(), 'token/identity');
    });
    const used = issuer.requests.filter((r) => r.grantType === 'refresh_token');
    assert.ok(used.length >= 2);
    assert.ok(used.every((r) => r.method === 'POST' && r.status === 200 && r.account === reg().username));
  });

  test('a wrong password is rejected by the token server: clear message, no secret', async () => {
    const wrong = 'not-the-password';
    await withClient(reg(), { credentials: authFile(reg(), basicEntry(reg().username!, wrong)) }, async (c) => {
      await assert.rejects(c.headManifest({ registry: reg().host, repository: 'token/source', tag: 'v1' }), (err: Error) => {
        assert.ok(err instanceof AuthenticationError);
        assert.match(err.message, new RegExp(`^authentication failed for ${reg().host.replace(/\./g, '\\.')}: 401 Unauthorized: UNAUTHORIZED: invalid username or password`));
        assertNoSecret(err, reg(), wrong);
        return true;
      });
    });
  });

  test('anonymous: the token grants nothing, so "authentication required"', async () => {
    await withClient(reg(), {}, async (c) => {
      await assert.rejects(c.getManifest({ registry: reg().host, repository: 'token/source', tag: 'v1' }),
        /^AuthenticationError: authentication required by 127\.0\.0\.1:\d+: 401 Unauthorized: UNAUTHORIZED: authentication required \(pulling manifest/);
    });
  });
});

describe('token (Bearer) with a plain-HTTP realm on an HTTPS registry', () => {
  const reg = registryTestHooks({ variant: 'token', tokenRealmPlainHttp: true });

  test('refused without --insecure: the realm is never contacted, so no credentials travel in clear text', async () => {
    const issuer = reg().tokenIssuer!;
    assert.match(issuer.realm, /^http:\/\//);
    const credentials = await CredentialStore.load({ authFile: reg().authFile });
    await withClient(reg(), { credentials }, async (c) => {
      await assert.rejects(c.getManifest({ registry: reg().host, repository: 'realm/app', tag: 'v1' }), (err: Error) => {
        assert.match(err.message, new RegExp(`is reached over HTTPS, but its token realm http://127\\.0\\.0\\.1:\\d+ is plain HTTP; `
          + 'refusing to send anything there unencrypted \\(pass --insecure to allow it\\)'));
        assertNoSecret(err, reg(), reg().password!);
        return true;
      });
    });
    assert.equal(issuer.requests.length, 0, 'nothing reached the plain-HTTP token realm');
  });

  test('allowed with --insecure, with one warning for the registry', async () => {
    const issuer = reg().tokenIssuer!;
    const credentials = await CredentialStore.load({ authFile: reg().authFile });
    const events: ClientEvent[] = [];
    await withClient(reg(), { credentials, insecure: true, onEvent: (e) => events.push(e) }, async (c) => {
      await pushAndPull(c, reg(), 'realm/app');
    });
    assert.ok(issuer.requests.length >= 2 && issuer.requests.every((r) => r.status === 200 && r.account === reg().username));
    const warnings = events.filter((e) => e.type === 'insecure');
    assert.deepEqual(warnings.map((e) => e.type === 'insecure' && e.registry), [reg().host]);
    assert.ok(!events.some((e) => e.type === 'fallback'), 'the registry itself stays on HTTPS');
  });
});
