import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { inspect } from 'node:util';
import { CredentialFileError, CredentialStore, defaultCredentialFiles } from '../../src/auth/credentials.js';

let root: string;
let n = 0;
/** A uid no /run/containers directory exists for, so the machine's own files never interfere. */
const UID = 2_000_000_001;

before(async () => { root = await mkdtemp(join(tmpdir(), 'olm-mirror-auth-')); });
after(async () => { await rm(root, { recursive: true, force: true }); });

const b64 = (s: string) => Buffer.from(s).toString('base64');

async function put(relative: string, content: unknown): Promise<string> {
  const file = join(root, relative);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

async function store(content: unknown, name = 'auth.json'): Promise<CredentialStore> {
  return CredentialStore.load({ authFile: await put(`case-${n++}/${name}`, content) });
}

/** A fresh empty home and environment for the default search. */
async function sandbox(): Promise<{ home: string; env: NodeJS.ProcessEnv }> {
  const home = join(root, `home-${n++}`);
  await mkdir(home, { recursive: true });
  return { home, env: {} };
}

test('auth: base64 user:password, the password may contain colons', async () => {
  const s = await store({ auths: { 'quay.io': { auth: b64('robot+ci:pa:ss:word') } } });
  assert.deepStrictEqual({ ...s.lookup('quay.io') }, { username: 'robot+ci', password: 'pa:ss:word' });
  assert.equal(s.lookup('registry.redhat.io'), undefined);
});

test('username/password fields, and auth wins over them', async () => {
  const s = await store({ auths: {
    'a.io': { username: 'u', password: 'p' },
    'b.io': { auth: b64('fromauth:x'), username: 'ignored', password: 'ignored' },
  } });
  assert.deepStrictEqual({ ...s.lookup('a.io') }, { username: 'u', password: 'p' });
  assert.deepStrictEqual({ ...s.lookup('b.io') }, { username: 'fromauth', password: 'x' });
});

test('identitytoken', async () => {
  const s = await store({ auths: { 'acr.io': { auth: b64('00000000-0000-0000-0000-000000000000:'), identitytoken: 'refresh' } } });
  assert.deepStrictEqual({ ...s.lookup('acr.io') }, { username: '00000000-0000-0000-0000-000000000000', identityToken: 'refresh' });
});

test('entries without any credential are ignored', async () => {
  const s = await store({ auths: { 'quay.io': {}, 'x.io': { auth: '' }, 'y.io': { email: 'a@b' } } });
  assert.equal(s.lookup('quay.io'), undefined);
  assert.deepStrictEqual(s.keys, []);
});

test('keys with scheme and path are hosts; keys without a scheme may be repository prefixes', async () => {
  const s = await store({ auths: {
    'https://quay.io/v1/': { auth: b64('host:1') },
    'quay.io/org': { auth: b64('org:2') },
    'quay.io/org/team/': { auth: b64('team:3') },
    'http://Registry.Example.com:5000/v2/': { auth: b64('ex:4') },
  } });
  assert.equal(s.lookup('quay.io')?.username, 'host');
  assert.equal(s.lookup('quay.io', 'other/image')?.username, 'host');
  assert.equal(s.lookup('quay.io', 'org/image')?.username, 'org');
  assert.equal(s.lookup('quay.io', 'org/team/image')?.username, 'team');
  assert.equal(s.lookup('quay.io', 'org/team')?.username, 'team');
  // A prefix matches whole path components only.
  assert.equal(s.lookup('quay.io', 'organisation/image')?.username, 'host');
  assert.equal(s.lookup('registry.example.com:5000', 'a')?.username, 'ex');
  assert.deepStrictEqual(s.lookupMatch('quay.io', 'org/team/x/y')?.key, 'quay.io/org/team');
});

test('Docker Hub aliases all mean docker.io', async () => {
  for (const key of ['https://index.docker.io/v1/', 'index.docker.io', 'registry-1.docker.io', 'docker.io']) {
    const s = await store({ auths: { [key]: { auth: b64('hub:secret') } } });
    assert.equal(s.lookup('docker.io', 'library/nginx')?.username, 'hub', key);
  }
  const scoped = await store({ auths: { 'docker.io': { auth: b64('all:1') }, 'docker.io/myorg': { auth: b64('org:2') } } });
  assert.equal(scoped.lookup('docker.io', 'myorg/app')?.username, 'org');
  assert.equal(scoped.lookup('docker.io', 'library/nginx')?.username, 'all');
});

test('two spellings of one registry: the first in the file wins', async () => {
  const s = await store({ auths: { 'https://index.docker.io/v1/': { auth: b64('first:1') }, 'docker.io': { auth: b64('second:2') } } });
  assert.equal(s.lookup('docker.io')?.username, 'first');
});

test('registries with ports and IP addresses', async () => {
  const s = await store({ auths: { '127.0.0.1:5000': { auth: b64('local:1') }, '[::1]:5000': { auth: b64('v6:2') } } });
  assert.equal(s.lookup('127.0.0.1:5000', 'olm/catalog')?.username, 'local');
  assert.equal(s.lookup('127.0.0.1:5001'), undefined);
  assert.equal(s.lookup('[::1]:5000')?.username, 'v6');
});

test('legacy ~/.dockercfg: a top-level map without "auths", keys are hosts', async () => {
  const legacy = { 'https://quay.io/org': { auth: b64('old:pw'), email: 'x@y' } };
  const s = await store(legacy, '.dockercfg');
  assert.equal(s.lookup('quay.io', 'any/thing')?.username, 'old');
  // The same content under another name is recognised by its shape.
  assert.equal((await store(legacy, 'pull-secret.json')).lookup('quay.io')?.username, 'old');
});

test('an explicit file that does not exist is an error naming it', async () => {
  const missing = join(root, 'nope', 'auth.json');
  await assert.rejects(CredentialStore.load({ authFile: missing }),
    (err: unknown) => err instanceof CredentialFileError && err.message.includes(missing) && /-a\/--registry-config/.test(err.message));
  await assert.rejects(CredentialStore.load({ env: { REGISTRY_AUTH_FILE: missing } }),
    (err: unknown) => err instanceof CredentialFileError && err.message.includes(missing) && /REGISTRY_AUTH_FILE/.test(err.message));
});

test('-a wins over REGISTRY_AUTH_FILE, which wins over the default locations', async () => {
  const { home, env } = await sandbox();
  await put(`${home.slice(root.length + 1)}/.docker/config.json`, { auths: { 'q.io': { auth: b64('default:1') } } });
  const fromEnv = await put(`case-${n++}/env.json`, { auths: { 'q.io': { auth: b64('env:1') } } });
  const explicit = await put(`case-${n++}/explicit.json`, { auths: { 'q.io': { auth: b64('explicit:1') } } });
  const opts = { homeDir: home, uid: UID };
  assert.equal((await CredentialStore.load({ ...opts, env })).lookup('q.io')?.username, 'default');
  assert.equal((await CredentialStore.load({ ...opts, env: { ...env, REGISTRY_AUTH_FILE: fromEnv } })).lookup('q.io')?.username, 'env');
  const s = await CredentialStore.load({ ...opts, authFile: explicit, env: { ...env, REGISTRY_AUTH_FILE: fromEnv } });
  assert.equal(s.lookup('q.io')?.username, 'explicit');
  assert.equal(s.source, explicit);
});

test('default search order: the first existing file is used, later ones are not merged', async () => {
  const { home } = await sandbox();
  const env: NodeJS.ProcessEnv = {
    XDG_RUNTIME_DIR: join(home, 'run'),
    XDG_CONFIG_HOME: join(home, 'xdg-config'),
    DOCKER_CONFIG: join(home, 'docker-config'),
  };
  const files = defaultCredentialFiles(env, home, UID);
  assert.deepStrictEqual(files, [
    join(home, 'run/containers/auth.json'),
    `/run/containers/${UID}/auth.json`,
    join(home, 'xdg-config/containers/auth.json'),
    join(home, 'docker-config/config.json'),
    join(home, '.docker/config.json'),
    join(home, '.dockercfg'),
  ]);
  const writable = files.filter((f) => !f.startsWith('/run/'));
  // Write them from last to first; after each write the newest (highest-priority) file is the one used.
  for (const file of [...writable].reverse()) {
    const user = `user${writable.indexOf(file)}`;
    const content = file.endsWith('.dockercfg')
      ? { 'https://q.io/v1/': { auth: b64(`${user}:x`) } }
      : { auths: { 'q.io': { auth: b64(`${user}:x`) } } };
    await put(file.slice(root.length + 1), content);
    const s = await CredentialStore.load({ env, homeDir: home, uid: UID });
    assert.equal(s.source, file);
    assert.equal(s.lookup('q.io')?.username, user);
  }
});

test('XDG_CONFIG_HOME defaults to ~/.config; no file at all means anonymous', async () => {
  const { home, env } = await sandbox();
  const none = await CredentialStore.load({ env, homeDir: home, uid: UID });
  assert.equal(none.source, undefined);
  assert.equal(none.lookup('quay.io'), undefined);
  await put(`${home.slice(root.length + 1)}/.config/containers/auth.json`, { auths: { 'q.io': { auth: b64('xdg:1') } } });
  assert.equal((await CredentialStore.load({ env, homeDir: home, uid: UID })).lookup('q.io')?.username, 'xdg');
});

test('malformed JSON is an error naming the file and position, without quoting its content', async () => {
  const secret = b64('user:topsecret');
  const file = await put(`case-${n++}/auth.json`, `{\n  "auths": {\n    "quay.io": { "auth": "${secret}" },,\n  }\n}\n`);
  await assert.rejects(CredentialStore.load({ authFile: file }), (err: unknown) => {
    assert.ok(err instanceof CredentialFileError);
    assert.equal(err.message, `credentials file ${file}: invalid JSON at line 3, column 51`);
    return true;
  });
  const truncated = await put(`case-${n++}/auth.json`, '{"auths": {');
  await assert.rejects(CredentialStore.load({ authFile: truncated }), /unexpected end of file/);
});

test('structural errors name the file and entry but not the secret', async () => {
  const cases: [unknown, RegExp][] = [
    [[], /expected a JSON object/],
    [{ auths: [] }, /"auths" must be an object/],
    [{ auths: { 'q.io': 'x' } }, /entry "q.io" must be an object/],
    [{ auths: { 'q.io': { auth: 42 } } }, /entry "q.io": "auth" must be a string/],
    [{ auths: { 'q.io': { auth: '!!notbase64!!' } } }, /entry "q.io": "auth" is not valid base64/],
    [{ auths: { 'q.io': { auth: b64('nocolonsecret') } } }, /entry "q.io": "auth" must decode to "username:password"/],
  ];
  for (const [content, message] of cases) {
    const file = await put(`case-${n++}/auth.json`, content);
    await assert.rejects(CredentialStore.load({ authFile: file }), (err: unknown) => {
      assert.ok(err instanceof CredentialFileError, String(err));
      assert.match(err.message, message);
      assert.ok(err.message.includes(file));
      assert.ok(!err.message.includes('nocolonsecret') && !err.message.includes(b64('nocolonsecret')));
      return true;
    });
  }
});

test('credentials and stores never print their secrets', async () => {
  const s = await store({ auths: { 'quay.io': { auth: b64('robot:hunter2'), identitytoken: 'tok-123' } } });
  const cred = s.lookup('quay.io')!;
  assert.equal(cred.password, 'hunter2');
  assert.equal(cred.identityToken, 'tok-123');
  for (const text of [JSON.stringify(cred), inspect(cred), String(cred), `${cred}`, inspect(s), JSON.stringify(s), inspect({ cred })]) {
    assert.ok(!text.includes('hunter2') && !text.includes('tok-123') && !text.includes(b64('robot:hunter2')), text);
  }
  assert.match(JSON.stringify(cred), /"username":"robot"/);
  assert.deepStrictEqual(s.keys, ['quay.io']);
});

test('credential helpers are reported as warnings, inline entries still work', async () => {
  const s = await store({ auths: { 'q.io': { auth: b64('a:b') } }, credsStore: 'desktop', credHelpers: { 'gcr.io': 'gcloud' } }, 'config.json');
  assert.equal(s.lookup('q.io')?.username, 'a');
  assert.equal(s.warnings.length, 2);
  assert.match(s.warnings[0]!, /"credsStore" is set but credential helpers are not supported/);
});

test('empty store', () => {
  const s = CredentialStore.empty();
  assert.equal(s.lookup('quay.io', 'a/b'), undefined);
  assert.equal(s.source, undefined);
});
