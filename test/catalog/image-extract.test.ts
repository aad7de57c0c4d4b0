import assert from 'node:assert/strict';
import { lstat, mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, createGzip, gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { DEFAULT_MAX_EXTRACT_BYTES, extractLayers, LayerExtractionError } from '../../src/catalog/image/extract.js';

interface TarEntrySpec {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  content?: string;
  linkname?: string;
  mode?: number;
}

async function makeTar(entries: TarEntrySpec[]): Promise<Buffer> {
  const p = pack();
  for (const e of entries) {
    const type = e.type ?? 'file';
    if (type === 'file') p.entry({ name: e.name, mode: e.mode ?? 0o644 }, e.content ?? '');
    else p.entry({ name: e.name, type, linkname: e.linkname, mode: e.mode ?? 0o755 });
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of p) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Streams `bytes` in small chunks, as a network download would arrive. */
function streamOf(bytes: Buffer): Readable {
  const chunkSize = 1000;
  return Readable.from((function* () {
    for (let i = 0; i < bytes.length; i += chunkSize) yield bytes.subarray(i, i + chunkSize);
  })());
}

let sandbox: string;
let counter = 0;
before(async () => { sandbox = await mkdtemp(join(tmpdir(), 'olm-mirror-extract-')); });
after(async () => { await rm(sandbox, { recursive: true, force: true }); });

/** A fresh parent folder holding only `root`: anything else appearing in it escaped the target. */
async function freshTarget(): Promise<{ parent: string; root: string }> {
  const parent = join(sandbox, `case-${++counter}`);
  return { parent, root: join(parent, 'root') };
}

async function assertNothingOutside(parent: string): Promise<void> {
  const names = await readdir(parent).catch(() => []);
  assert.deepEqual(names.filter((n) => n !== 'root'), [], 'nothing may be written beside the target folder');
}

describe('extractLayers', () => {
  test('extracts files, folders, symlinks and hardlinks from gzip and plain tar layers', async () => {
    const { root } = await freshTarget();
    const layer1 = gzipSync(await makeTar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/config.yaml', content: 'a: 1\n' },
      { name: '/abs/file.txt', content: 'absolute names are rooted in the image' },
      { name: 'bin/tool', content: '#!/bin/sh\n', mode: 0o4755 },
    ]));
    const layer2 = await makeTar([
      { name: 'etc/link', type: 'symlink', linkname: 'config.yaml' },
      { name: 'usr/share/rooted', type: 'symlink', linkname: '/etc/config.yaml' },
      { name: 'etc/hard', type: 'link', linkname: 'etc/config.yaml' },
      { name: 'dev/null', type: 'character-device' },
      { name: 'run/fifo', type: 'fifo' },
    ]);
    await extractLayers([streamOf(layer1), streamOf(layer2)], root);

    assert.equal(await readFile(join(root, 'etc/config.yaml'), 'utf8'), 'a: 1\n');
    assert.equal(await readFile(join(root, 'abs/file.txt'), 'utf8'), 'absolute names are rooted in the image');
    assert.equal((await stat(join(root, 'bin/tool'))).mode & 0o7777, 0o755, 'setuid dropped');
    assert.equal(await readlink(join(root, 'etc/link')), 'config.yaml');
    assert.equal(await readlink(join(root, 'usr/share/rooted')), '../../etc/config.yaml', 'absolute target made relative');
    assert.equal(await readFile(join(root, 'usr/share/rooted'), 'utf8'), 'a: 1\n');
    assert.equal((await stat(join(root, 'etc/hard'))).ino, (await stat(join(root, 'etc/config.yaml'))).ino);
    await assert.rejects(lstat(join(root, 'dev/null')), { code: 'ENOENT' });
    await assert.rejects(lstat(join(root, 'run/fifo')), { code: 'ENOENT' });
  });

  test('accepts lazily opened layers from an async iterable', async () => {
    const { root } = await freshTarget();
    const tars = [await makeTar([{ name: 'a', content: '1' }]), await makeTar([{ name: 'a', content: '2' }])];
    async function* layers() { for (const t of tars) yield streamOf(t); }
    await extractLayers(layers(), root);
    assert.equal(await readFile(join(root, 'a'), 'utf8'), '2');
  });

  test('applies whiteouts and opaque folders to lower layers only', async () => {
    const { root } = await freshTarget();
    const lower = await makeTar([
      { name: 'a/x', content: 'x' },
      { name: 'a/y', content: 'y' },
      { name: 'b/old', content: 'old' },
      { name: 'b/sub/deep', content: 'deep' },
      { name: 'c/keep', content: 'keep' },
      { name: 'd', content: 'file that becomes a folder' },
      { name: 'e/inner', content: 'folder that becomes a file' },
      { name: 'f', type: 'symlink', linkname: 'a' },
    ]);
    const upper = await makeTar([
      { name: 'a/.wh.x', content: '' },
      // written before the opaque marker of its folder, in the same layer: must survive it
      { name: 'b/new', content: 'new' },
      { name: 'b/sub/fresh', content: 'fresh' },
      { name: 'b/.wh..wh..opq', content: '' },
      { name: 'd/', type: 'directory' },
      { name: 'd/child', content: 'child' },
      { name: 'e', content: 'now a file' },
      { name: 'f', type: 'directory' },
      { name: 'f/own', content: 'own' },
      { name: '.wh.c', content: '' },
    ]);
    await extractLayers([streamOf(lower), streamOf(upper)], root);

    assert.deepEqual((await readdir(join(root, 'a'))).sort(), ['y']);
    assert.deepEqual((await readdir(join(root, 'b'))).sort(), ['new', 'sub']);
    assert.deepEqual(await readdir(join(root, 'b/sub')), ['fresh']);
    await assert.rejects(lstat(join(root, 'c')), { code: 'ENOENT' });
    assert.equal(await readFile(join(root, 'd/child'), 'utf8'), 'child');
    assert.equal(await readFile(join(root, 'e'), 'utf8'), 'now a file');
    assert.ok((await lstat(join(root, 'f'))).isDirectory(), 'a folder replaces the symlink, nothing written through it');
    assert.deepEqual(await readdir(join(root, 'a')), ['y']);
    const names = (await readdir(root)).sort();
    assert.ok(!names.some((n) => n.startsWith('.wh.')), 'whiteout markers are not extracted');
  });

  test('a file replacing a symlink is written in place of the link, never through it', async () => {
    const { parent, root } = await freshTarget();
    const lower = await makeTar([{ name: 'target', content: 'original' }, { name: 'link', type: 'symlink', linkname: 'target' }]);
    const upper = await makeTar([{ name: 'link', content: 'replacement' }]);
    await extractLayers([streamOf(lower), streamOf(upper)], root);
    assert.equal(await readFile(join(root, 'target'), 'utf8'), 'original');
    assert.equal(await readFile(join(root, 'link'), 'utf8'), 'replacement');
    await assertNothingOutside(parent);
  });

  test('keeps only the requested in-image path', async () => {
    const { root } = await freshTarget();
    const layer = await makeTar([
      { name: 'configs/foo/catalog.yaml', content: 'schema: olm.package\n' },
      { name: 'configsX/other', content: 'not under /configs' },
      { name: 'bin/opm', content: 'binary' },
    ]);
    await extractLayers([streamOf(layer)], root, { only: '/configs' });
    assert.deepEqual(await readdir(root), ['configs']);
    assert.equal(await readFile(join(root, 'configs/foo/catalog.yaml'), 'utf8'), 'schema: olm.package\n');
  });

  const escapes: { title: string; entries: TarEntrySpec[]; message: RegExp }[] = [
    { title: '../x', entries: [{ name: '../x', content: 'evil' }], message: /entry "\.\.\/x" would be written outside/ },
    { title: 'a/../../x', entries: [{ name: 'a/../../x', content: 'evil' }], message: /entry "a\/\.\.\/\.\.\/x" would be written outside/ },
    { title: '/../x', entries: [{ name: '/../x', content: 'evil' }], message: /outside the target folder/ },
    {
      title: 'symlink out of the folder',
      entries: [{ name: 'out', type: 'symlink', linkname: '../../..' }, { name: 'out/x', content: 'evil' }],
      message: /entry "out" is a symlink to "\.\.\/\.\.\/\.\.", which points outside/,
    },
    {
      title: 'file written through a chain of symlinks that reaches out',
      entries: [
        { name: 'd1/d2/', type: 'directory' },
        { name: 'd1/d2/up', type: 'symlink', linkname: '..' },
        // lexically inside ('d1'), but d1/d2/up is d1, so this is the folder above the root
        { name: 'w', type: 'symlink', linkname: 'd1/d2/up/../..' },
        { name: 'w/x', content: 'evil' },
      ],
      message: /entry "w\/x" would be written through the symlink "w", which points outside/,
    },
    {
      title: 'a chain of symlinks that reaches out even when nothing is written through it',
      entries: [
        { name: 'd1/d2/', type: 'directory' },
        { name: 'd1/d2/up', type: 'symlink', linkname: '..' },
        { name: 'w', type: 'symlink', linkname: 'd1/d2/up/../..' },
      ],
      message: /entry "w" is a symlink that resolves outside/,
    },
    {
      title: 'hardlink out of the folder',
      entries: [{ name: 'h', type: 'link', linkname: '../../../etc/passwd' }],
      message: /entry "h" is a hardlink to "\.\.\/\.\.\/\.\.\/etc\/passwd", which is outside/,
    },
    {
      title: 'hardlink to a host file by absolute path',
      entries: [{ name: 'h', type: 'link', linkname: '/etc/passwd' }],
      message: /entry "h" is a hardlink to "\/etc\/passwd", which was not extracted/,
    },
  ];
  for (const { title, entries, message } of escapes) {
    test(`refuses ${title} and writes nothing outside`, async () => {
      const { parent, root } = await freshTarget();
      const layers = [streamOf(await makeTar([{ name: 'fine', content: 'ok' }])), streamOf(await makeTar(entries))];
      await assert.rejects(
        extractLayers(layers, root, { describeLayer: (i) => `layer ${i + 1} (sha256:test)` }),
        (err: unknown) => {
          assert.ok(err instanceof LayerExtractionError, String(err));
          assert.match(err.message, message);
          if (!/resolves outside/.test(err.message)) assert.match(err.message, /^cannot extract layer 2 \(sha256:test\)/);
          return true;
        },
      );
      await assertNothingOutside(parent);
    });
  }

  test('names the layer when its data is corrupt or compressed with zstd', async () => {
    const { root } = await freshTarget();
    const gzip = gzipSync(await makeTar([{ name: 'a', content: 'a'.repeat(5000) }]));
    const truncated = gzip.subarray(0, gzip.length - 100);
    await assert.rejects(extractLayers([streamOf(truncated)], root), /^LayerExtractionError: cannot extract layer 1: .*(end of file|Unexpected end)/i);
    const zstd = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]);
    await assert.rejects(extractLayers([streamOf(zstd)], root), /cannot extract layer 1: zstd-compressed layers are not supported/);
  });

  test('an empty layer changes nothing', async () => {
    const { root } = await freshTarget();
    await extractLayers([streamOf(await makeTar([{ name: 'a', content: '1' }])), streamOf(Buffer.alloc(0))], root);
    assert.deepEqual(await readdir(root), ['a']);
  });

  describe('bounded by what it may write', () => {
    const MiB = 1024 * 1024;

    /** A gzip layer holding `small.txt`, then `huge.bin`: `hugeBytes` of zeros (a file with holes, tarred without -S), made as a stream. */
    function bombLayer(hugeBytes: number): Readable {
      const p = pack();
      p.entry({ name: 'small.txt', mode: 0o644 }, 'x'.repeat(MiB));
      const huge = p.entry({ name: 'huge.bin', mode: 0o644, size: hugeBytes }, (err) => { if (!err) p.finalize(); });
      const zeros = function* (): Generator<Buffer> {
        for (let left = hugeBytes; left > 0; left -= MiB) yield Buffer.alloc(Math.min(MiB, left));
      };
      // The extraction stops reading early: the producer then just ends with it.
      pipeline(Readable.from(zeros()), huge).catch(() => undefined);
      const gzip = createGzip({ level: zlibConstants.Z_BEST_COMPRESSION });
      pipeline(p, gzip).catch(() => undefined);
      return gzip;
    }

    async function diskUse(dir: string): Promise<number> {
      let bytes = 0;
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        bytes += (await lstat(path)).blocks * 512;
        if (entry.isDirectory()) bytes += await diskUse(path);
      }
      return bytes;
    }

    test('a small gzip layer holding a huge file stops at the bound, naming layer and entry, with disk use under it', async () => {
      const chunks: Buffer[] = [];
      await pipeline(bombLayer(256 * MiB), async function* (source) { for await (const c of source) chunks.push(c as Buffer); });
      const layer = Buffer.concat(chunks);
      assert.ok(layer.length < MiB, `the layer is small (${layer.length} bytes)`);
      const { parent, root } = await freshTarget();
      await assert.rejects(
        extractLayers([streamOf(layer)], root, { maxBytes: 16 * MiB, describeLayer: () => 'layer 1/1 (sha256:bomb) of reg/catalog:v1' }),
        (err: Error) => {
          assert.ok(err instanceof LayerExtractionError);
          assert.equal(err.entry, 'huge.bin');
          assert.equal(err.message, 'cannot extract layer 1/1 (sha256:bomb) of reg/catalog:v1: entry "huge.bin" (256.0 MiB) would take the '
            + 'extraction past its limit of 16.0 MiB (1.00 MiB written before it; --max-extract-size sets the limit)');
          return true;
        });
      const used = await diskUse(root);
      assert.ok(used < 16 * MiB && used >= MiB, `disk use ${used} bytes: small.txt only`);
      assert.deepEqual(await readdir(root), ['small.txt']);
      await assertNothingOutside(parent);
    });

    test('the default bound (4 GiB) stops a 10 GiB file before writing it', { timeout: 30_000 }, async () => {
      const { root } = await freshTarget();
      await assert.rejects(extractLayers([bombLayer(10 * 1024 * MiB)], root),
        /^LayerExtractionError: cannot extract layer 1: entry "huge\.bin" \(10\.0 GiB\) would take the extraction past its limit of 4\.00 GiB/);
      assert.equal(DEFAULT_MAX_EXTRACT_BYTES, 4 * 1024 * MiB);
      assert.ok(await diskUse(root) < 2 * MiB);
    });

    test('everything counts: content over all layers, and each entry itself', async () => {
      const { root } = await freshTarget();
      const first = await makeTar([{ name: 'a', content: 'a'.repeat(6000) }]);
      const second = await makeTar([{ name: 'b', content: 'b'.repeat(6000) }]);
      await extractLayers([streamOf(first), streamOf(second)], root, { maxBytes: 13_100 });
      const again = (await freshTarget()).root;
      await assert.rejects(extractLayers([streamOf(first), streamOf(second)], again, { maxBytes: 12_000 }),
        /cannot extract layer 2: entry "b" \(5\.86 KiB\) would take the extraction past its limit/);
      const empties = await makeTar(Array.from({ length: 30 }, (_, i) => ({ name: `d${i}`, type: 'directory' as const })));
      await assert.rejects(extractLayers([streamOf(empties)], (await freshTarget()).root, { maxBytes: 10_000 }),
        /entry "d19\/?" \(0 B\) would take the extraction past its limit of 9\.77 KiB \(9\.50 KiB written before it/);
    });

    test('what is skipped (outside the requested path) is not counted', async () => {
      const { root } = await freshTarget();
      const tar = await makeTar([{ name: 'other/big', content: 'x'.repeat(50_000) }, { name: 'configs/a.json', content: '{}' }]);
      await extractLayers([streamOf(tar)], root, { only: '/configs', maxBytes: 10_000 });
      assert.deepEqual(await readdir(join(root, 'configs')), ['a.json']);
    });
  });
});
