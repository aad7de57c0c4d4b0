// `olm-mirror catalog mirror` help and argument checks (the workflow itself: test/workflows/).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';

test('--help names every flag, what the command does, the exit codes and examples', async () => {
  const run = await runCli(['catalog', 'mirror', '--help']);
  assert.equal(run.code, 0, run.stderr);
  for (const text of ['<src>', '<dest>', '-a, --registry-config <file>', '--insecure', '--certificate-authority <file>', '--max-per-registry <n>',
    '--index-filter-by-os <regex>', '--manifests-only', '--to-manifests <dir>', '--max-components <n>', '--icsp-scope <scope>',
    '--max-icsp-size <bytes>', '--path <in-image:local>', '--dry-run', '--continue-on-error [bool]', 'Exit status', 'Examples:']) {
    assert.ok(run.stdout.includes(text), `help mentions ${text}`);
  }
});

test('a missing DEST exits 2 and says what is missing', async () => {
  const run = await runCli(['catalog', 'mirror', 'quay.io/ns/catalog:v1']);
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /missing required argument 'dest'/);
});
