// A chunked upload cut short by a kill is resumed by the next run where the registry still has it: a
// child process is killed (SIGKILL) between two chunks, and a new client with the same journal goes on from there.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { RegistryClient, type ClientEvent } from '../../src/registry/client.js';
import { UploadJournal } from '../../src/registry/upload-journal.js';
import { removeOnExit } from '../support/cleanup.js';
import { repoRoot } from '../support/paths.js';
import { startFaultProxy, type FaultProxy } from '../support/proxy.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { seedImage } from '../support/seed.js';
import { digestOfStream } from './helpers.js';

const MiB = 1024 * 1024;
const clientModule = pathToFileURL(join(repoRoot, 'dist', 'src', 'registry', 'client.js')).href;
let registry: TestRegistry;
let proxy: FaultProxy;
let layer: { digest: string; size: number };

before(async () => {
  registry = await startRegistry({ variant: 'plain' });
  const image = await seedImage(registry, 'resume/source', 'v1', { layerSizes: [3 * MiB] });
  layer = { digest: image.layerDigests[0]!, size: 3 * MiB };
  proxy = await startFaultProxy(registry);
});
after(async () => {
  await proxy?.stop();
  await registry?.stop();
});

const uploadOptions = (journal: string) => ({ insecure: true, retryBaseDelayMs: 5, monolithicUploadMaxBytes: MiB, uploadChunkBytes: MiB, uploadStateDir: journal });

function newJournal(): string {
  const dir = mkdtempSync(join(tmpdir(), 'olm-mirror-journal-'));
  removeOnExit(dir);
  return dir;
}

/** A child process uploading the layer to `repository` in 1 MiB chunks, killed (SIGKILL) with the first chunk at the registry; returns its journal. */
async function killedAfterOneChunk(repository: string): Promise<string> {
  const journal = newJournal();
  proxy.rules.length = 0;
  proxy.received.length = 0;
  // The first chunk passes (a delay of nothing); the second is held at the proxy, so the registry has exactly the first one.
  proxy.rules.push({ method: 'PATCH', path: /\/blobs\/uploads\//, times: 1, action: { kind: 'delay', ms: 0 } },
    { method: 'PATCH', path: /\/blobs\/uploads\//, times: 1, action: { kind: 'delay', ms: 120_000 } });
  const script = `
import { RegistryClient } from '${clientModule}';
const c = new RegistryClient(${JSON.stringify(uploadOptions(journal))});
const [host, repository, digest, size] = ${JSON.stringify([proxy.host, repository, layer.digest, layer.size])};
await c.pushBlob(host, repository, digest, size, () => c.getBlob(host, 'resume/source', digest, { size }));
`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('close', (_code, signal) => resolve(signal)));
  while (proxy.received.filter((r) => r.method === 'PATCH').length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  assert.equal(readdirSync(journal).length, 1, 'the journal notes the upload');
  proxy.rules.length = 0;
  proxy.received.length = 0;
  return journal;
}

const uploadRequests = () => proxy.received.filter((r) => r.path.includes('/blobs/uploads/')).map((r) => `${r.method} ${r.contentRange ?? ''}`.trim());

async function push(journal: string, repository: string, events: ClientEvent[] = []): Promise<number> {
  let sent = 0;
  const c = new RegistryClient({ ...uploadOptions(journal), onEvent: (e) => events.push(e) });
  try {
    await c.pushBlob(proxy.host, repository, layer.digest, layer.size,
      () => c.getBlob(proxy.host, 'resume/source', layer.digest, { size: layer.size }), (n) => { sent += n; });
    assert.deepEqual(await digestOfStream(await c.getBlob(registry.host, repository, layer.digest)), layer);
  } finally {
    await c.close();
  }
  return sent;
}

test('killed between two chunks, the upload goes on from the bytes the registry holds; the blob is complete and verified', { timeout: 60_000 }, async () => {
  const journal = await killedAfterOneChunk('resume/target');
  const events: ClientEvent[] = [];
  const sent = await push(journal, 'resume/target', events);
  assert.deepEqual(uploadRequests(), ['GET', `PATCH ${MiB}-${2 * MiB - 1}`, 'PUT']);
  assert.equal(sent, 2 * MiB, 'only what the registry did not have was sent');
  const resumes = events.filter((e): e is Extract<ClientEvent, { type: 'resume' }> => e.type === 'resume');
  assert.deepEqual(resumes.map((e) => e.offset), [MiB]);
  assert.match(resumes[0]!.reason, /^pushing blob sha256:\w+ to 127\.0\.0\.1:\d+\/resume\/target: 127\.0\.0\.1:\d+ still holds 1048576 bytes of an upload cut short earlier$/);
  assert.deepEqual(readdirSync(journal), [], 'a finished upload leaves no note');
});

test('a resumed upload the registry then refuses is cancelled and done afresh, whatever the error', { timeout: 60_000 }, async () => {
  const journal = await killedAfterOneChunk('resume/refused');
  proxy.rules.push({ method: 'PATCH', path: /\/blobs\/uploads\//, times: 1, action: { kind: 'status', status: 416 } });
  await push(journal, 'resume/refused');
  assert.deepEqual(uploadRequests(), ['GET', `PATCH ${MiB}-${2 * MiB - 1}`, 'DELETE', 'POST',
    `PATCH 0-${MiB - 1}`, `PATCH ${MiB}-${2 * MiB - 1}`, 'PUT']);
  assert.deepEqual(readdirSync(journal), []);
});

test('a note about an upload the registry no longer has: a fresh upload, and the note is dropped', async () => {
  const journal = newJournal();
  const key = { registry: proxy.host, repository: 'resume/stale', digest: layer.digest };
  await new UploadJournal(journal).write(key, { location: `${proxy.url}/v2/resume/stale/blobs/uploads/00000000-0000-0000-0000-000000000000?_state=x`, offset: MiB });
  proxy.received.length = 0;
  await push(journal, 'resume/stale');
  assert.deepEqual(uploadRequests(), ['GET', 'POST', `PATCH 0-${MiB - 1}`, `PATCH ${MiB}-${2 * MiB - 1}`, 'PUT']);
  assert.deepEqual(readdirSync(journal), []);
});

test('the note says how far the PATCHes got; the last chunk goes in the PUT that completes the upload', async () => {
  const journal = newJournal();
  const key = { registry: proxy.host, repository: 'resume/last', digest: layer.digest };
  let release!: () => void;
  const held = new Promise<void>((resolve) => { release = resolve; });
  proxy.rules.length = 0;
  proxy.received.length = 0;
  proxy.rules.push({ method: 'PUT', path: /\/blobs\/uploads\//, times: 1, action: { kind: 'hold', until: held } });
  const pushed = push(journal, 'resume/last');
  try {
    while (!proxy.received.some((r) => r.method === 'PUT')) await new Promise((resolve) => setTimeout(resolve, 20));
    // The PUT carries the last MiB: a run killed during it goes on from the 2 MiB the PATCHes delivered.
    assert.equal((await new UploadJournal(journal).read(key))?.offset, 2 * MiB);
  } finally {
    release();
    await pushed;
    proxy.rules.length = 0;
  }
  assert.deepEqual(uploadRequests(), ['POST', `PATCH 0-${MiB - 1}`, `PATCH ${MiB}-${2 * MiB - 1}`, 'PUT']);
  assert.deepEqual(readdirSync(journal), [], 'a finished upload leaves no note');
});
