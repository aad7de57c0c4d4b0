// `olm-mirror image mirror` as a user runs it: a child process, its exit status, stdout and stderr.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { removeNow } from '../support/cleanup.js';
import { runCli } from '../support/cli.js';
import { registryTestHooks } from '../support/registry.js';
import { seedImage } from '../support/seed.js';

const source = registryTestHooks();
const target = registryTestHooks();
const olmMirror = (args: string[], stdin = '') => runCli(['image', 'mirror', ...args], { stdin });

const dir = mkdtempSync(join(tmpdir(), 'olm-mirror-cli-'));
after(() => removeNow(dir));

test('--help shows the flags, the mapping format and examples', async () => {
  const run = await olmMirror(['--help']);
  assert.equal(run.code, 0, run.stderr);
  for (const text of ['-f, --filename <file>', '--filter-by-os <regex>', '--keep-manifest-list', '--dry-run', '--skip-missing',
    '--continue-on-error', '--skip-mount', '--force', '--max-per-registry <n>', '-a, --registry-config <file>', 'Examples:', 'Exit status']) {
    assert.ok(run.stdout.includes(text), `help lacks ${text}`);
  }
});

test('usage errors exit 2 and name the file and line', async () => {
  const mapping = join(dir, 'bad-mapping.txt');
  writeFileSync(mapping, '# comment\nquay.io/a:1=mirror.local/a:1\nquay.io/b:1=mirror.local/b@sha256:' + 'c'.repeat(64) + '\n');
  const bad = await olmMirror(['-f', mapping]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, new RegExp(`error: ${mapping.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}, line 3: destination "mirror\\.local/b@sha256:c+" has a digest`));
  const none = await olmMirror([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /error: nothing to mirror/);
  const regex = await olmMirror(['--filter-by-os', 'linux/(', 'quay.io/a:1', 'mirror.local/a']);
  assert.equal(regex.code, 2);
  assert.match(regex.stderr, /--filter-by-os <regex>' argument 'linux\/\(' is invalid\. not a valid regular expression/);
  const flag = await olmMirror(['--max-per-registry', '0', 'quay.io/a:1', 'mirror.local/a']);
  assert.equal(flag.code, 2);
  const noCa = join(dir, 'no-such-ca.pem');
  const ca = await olmMirror(['--certificate-authority', noCa, 'quay.io/a:1', 'mirror.local/a']);
  assert.equal(ca.code, 2, ca.stderr);
  assert.match(ca.stderr, new RegExp(`--certificate-authority ${noCa.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: cannot read it \\(ENOENT\\)`));
});

test('a credentials file that relies on a credential helper gets a warning, not silent anonymous access', async () => {
  const authFile = join(dir, 'helper-auth.json');
  writeFileSync(authFile, JSON.stringify({ auths: {}, credsStore: 'desktop' }));
  await seedImage(source(), 'cli/helper', 'v1', { seed: 'cli-helper' });
  const run = await olmMirror(['--insecure', '-a', authFile, `${source().host}/cli/helper:v1`, `${target().host}/cli/helper`]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /^warning: .*helper-auth\.json: "credsStore" is set but credential helpers are not supported/m);
});

test('mirrors what stdin lists (-f -), prints digest and destination, exits 0; a missing image exits 1', async () => {
  const image = await seedImage(source(), 'cli/app', 'v1', { platforms: ['linux/amd64', 'linux/arm64'], seed: 'cli' });
  const ok = await olmMirror(['--insecure', '-f', '-'], `# from stdin\n${source().host}/cli/app:v1 ${target().host}/cli/app\n`);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, `${image.digest} ${target().host}/cli/app:v1\n`);
  assert.match(ok.stderr, /\[1\/1\] mirrored /);
  assert.match(ok.stderr, /info: Mirroring completed in /);

  const missing = await olmMirror(['--insecure', `${source().host}/cli/absent:v1`, `${target().host}/cli/absent`]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /error: .*cli\/absent:v1 -> .*cli\/absent:v1: .*404/);
  const skipped = await olmMirror(['--insecure', '--skip-missing', `${source().host}/cli/absent:v1`, `${target().host}/cli/absent`]);
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(skipped.stderr, /warning: .*skipped, source image .*cli\/absent:v1 does not exist/);
});
