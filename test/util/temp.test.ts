// Temp folders made by olm-mirror go away when the process is interrupted or fails, not only when it
// finishes: checked with real child processes (the module alone, and the CLI mid-pull) sent signals, and a CLI
// whose extraction goes past --max-extract-size.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { removeOnExit } from '../support/cleanup.js';
import { cliPath } from '../support/cli.js';
import { repoRoot } from '../support/paths.js';
import { startFaultProxy, type FaultProxy } from '../support/proxy.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { seedImage } from '../support/seed.js';

const tempModule = pathToFileURL(join(repoRoot, 'dist', 'src', 'util', 'temp.js')).href;

/** A folder to be the child's TMPDIR: whatever is left in it afterwards was left by the child. */
function sandbox(): string {
  const dir = mkdtempSync(join(tmpdir(), 'olm-mirror-temp-test-'));
  removeOnExit(dir);
  return dir;
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stderr })));
}

/** Runs `script` (ESM, `temp` is the module) with TMPDIR=`tmp`; resolves with the first line it prints. */
function runScript(script: string, tmp: string): { child: ChildProcess; firstLine: Promise<string> } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', `import * as temp from '${tempModule}';\n${script}`], {
    env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const firstLine = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.once('close', () => reject(new Error(`the child ended before printing a line (printed: ${out})`)));
  });
  return { child, firstLine };
}

const MAKE_AND_WAIT = `
const dir = await temp.makeTempDir('olm-mirror-x-');
const { writeFileSync } = await import('node:fs');
writeFileSync(dir.path + '/file', 'data');
console.log(dir.path);
setInterval(() => undefined, 1000);
`;

describe('temp folders of the tool', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test(`${signal}: the folder is removed and the process still ends by the signal`, async () => {
      const tmp = sandbox();
      const { child, firstLine } = runScript(MAKE_AND_WAIT, tmp);
      const done = exited(child);
      const dir = await firstLine;
      assert.ok(existsSync(join(dir, 'file')));
      child.kill(signal);
      const result = await done;
      assert.equal(result.signal, signal, result.stderr);
      assert.deepEqual(readdirSync(tmp), []);
    });
  }

  test('an error that ends the process removes it; a kept folder stays; a removed one is gone at once', async () => {
    const tmp = sandbox();
    const { child, firstLine } = runScript(`
const kept = await temp.makeTempDir('olm-mirror-kept-');
kept.keep();
const removed = await temp.makeTempDir('olm-mirror-removed-');
await removed.remove();
const { existsSync } = await import('node:fs');
await temp.makeTempDir('olm-mirror-lost-');
console.log(existsSync(removed.path) ? 'still there' : 'removed');
throw new Error('boom');
`, tmp);
    const done = exited(child);
    assert.equal(await firstLine, 'removed');
    const result = await done;
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Error: boom/);
    assert.deepEqual(readdirSync(tmp).map((n) => n.replace(/-\w{6}$/, '')), ['olm-mirror-kept']);
  });
});

describe('the CLI pulling a catalog image, interrupted or failing', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let layers: string[];
  before(async () => {
    registry = await startRegistry({ variant: 'plain' });
    layers = (await seedImage(registry, 'slow/catalog', 'v1')).layerDigests;
    // Blobs hang, so the signal arrives mid-pull, with the extraction folder made.
    proxy = await startFaultProxy(registry, [{ method: 'GET', path: /\/blobs\//, action: { kind: 'delay', ms: 60_000 } }]);
  });
  after(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  const commands: [string, string[]][] = [
    ['catalog list', ['catalog', 'list']],
    ['catalog mirror', ['catalog', 'mirror', '--manifests-only', '--to-manifests', '/dev/null/unused']],
  ];
  for (const [name, args] of commands) {
    test(`${name}: SIGINT leaves no temp folder`, { timeout: 30_000 }, async () => {
      const tmp = sandbox();
      proxy.received.length = 0;
      const child = spawn(process.execPath, [cliPath, ...args, '--insecure', `${proxy.host}/slow/catalog:v1`, ...(name === 'catalog mirror' ? ['127.0.0.1:1/x'] : [])], {
        env: { ...process.env, TMPDIR: tmp, REGISTRY_AUTH_FILE: proxy.authFile }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      const done = exited(child);
      while (!proxy.received.some((r) => r.method === 'GET' && /\/blobs\//.test(r.path))) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(readdirSync(tmp).filter((n) => n.startsWith('olm-mirror-')).length, 1, 'the extraction folder exists mid-pull');
      child.kill('SIGINT');
      const result = await done;
      assert.equal(result.signal, 'SIGINT', result.stderr);
      assert.deepEqual(readdirSync(tmp), []);
    });
  }

  test('an extraction beyond --max-extract-size fails naming layer and entry (exit 1), and leaves no temp folder', async () => {
    const tmp = sandbox();
    const child = spawn(process.execPath, [cliPath, 'catalog', 'list', '--insecure', '--max-extract-size', '3KiB', `${registry.host}/slow/catalog:v1`], {
      env: { ...process.env, TMPDIR: tmp, REGISTRY_AUTH_FILE: registry.authFile }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const result = await exited(child);
    assert.equal(result.code, 1, result.stderr);
    // The image's layers hold one file each, of 1024 and 4096 bytes: the second one crosses the bound.
    assert.match(result.stderr, new RegExp(`^error: cannot extract layer 2/2 \\(${layers[1]}\\) of ${registry.host}/slow/catalog:v1: `
      + 'entry "data/\\w+\\.bin" \\(4\\.00 KiB\\) would take the extraction past its limit of 3\\.00 KiB'));
    assert.deepEqual(readdirSync(tmp), []);
  });
});
