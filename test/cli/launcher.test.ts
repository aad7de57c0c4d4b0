// The installed command (dist/src/cli/olm-mirror.cjs) sizes libuv's thread pool before the CLI's ES
// modules load: 16 threads, unless the user's UV_THREADPOOL_SIZE says otherwise. Counted in /proc while
// a run waits on a request the proxy holds, so the pool (made at the first file read) is there to count.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { cliPath } from '../support/cli.js';
import { startFaultProxy } from '../support/proxy.js';
import { registryTestHooks } from '../support/registry.js';
import { seedImage } from '../support/seed.js';

const source = registryTestHooks();
const target = registryTestHooks();

/** The threads of a run of `image mirror` that is held at its first manifest request, then let go. */
async function threadsWhileRunning(env: Record<string, string>, name: string): Promise<number> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => { release = resolve; });
  const proxy = await startFaultProxy(source(), [{ method: 'GET', path: /\/manifests\//, action: { kind: 'hold', until: released } }]);
  try {
    const inherited = { ...process.env };
    delete inherited.UV_THREADPOOL_SIZE; // the default is what is measured, whatever the test runner was given
    const child = spawn(process.execPath, [cliPath, 'image', 'mirror', '--insecure', `${proxy.host}/pool/app:v1`, `${target().host}/${name}/app:v1`], {
      env: { ...inherited, REGISTRY_AUTH_FILE: proxy.authFile, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    for (let i = 0; i < 200 && !proxy.received.some((r) => r.path.includes('/manifests/')); i++) await delay(25);
    assert.ok(proxy.received.some((r) => r.path.includes('/manifests/')), `the run reached its first manifest request; stderr: ${stderr}`);
    const threads = readdirSync(`/proc/${child.pid}/task`).length;
    release();
    assert.equal(await exited, 0, stderr);
    return threads;
  } finally {
    release();
    await proxy.stop();
  }
}

test('the installed command gives the thread pool 16 threads, or what UV_THREADPOOL_SIZE says', async () => {
  await seedImage(source(), 'pool/app', 'v1', { seed: 'thread-pool' });
  const byDefault = await threadsWhileRunning({}, 'default');
  const four = await threadsWhileRunning({ UV_THREADPOOL_SIZE: '4' }, 'four');
  // Node's other threads (V8's platform workers and the like) are the same in both runs.
  assert.equal(byDefault - four, 12, `threads: ${byDefault} by default, ${four} with UV_THREADPOOL_SIZE=4`);
});
