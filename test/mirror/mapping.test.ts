import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { formatReference } from '../../src/reference/reference.js';
import { mappingsFromArgs, MappingError, mergeMappings, parseMappingText, readMappingFiles, type Mapping } from '../../src/mirror/mapping.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const show = (ms: Mapping[]) => ms.map((m) => `${formatReference(m.source)} -> ${formatReference(m.destination)} (${m.origin})`);

test('mapping file: comments, blank lines, any whitespace, both line forms', () => {
  const text = [
    '# images for the disconnected cluster',
    '',
    'quay.io/ns/app:1.0=mirror.local:5000/ns/app:1.0   # trailing comment',
    '   \t  ',
    'quay.io/ns/tool:2\tmirror.local:5000/a/tool   mirror.local:5000/b/tool:stable',
    'quay.io/ns/x:1=mirror.local:5000/x:1 quay.io/ns/y:1=mirror.local:5000/y:1\r',
    '#quay.io/ns/skipped:1=mirror.local:5000/skipped:1',
  ].join('\n');
  assert.deepEqual(show(parseMappingText(text, 'mapping.txt')), [
    'quay.io/ns/app:1.0 -> mirror.local:5000/ns/app:1.0 (mapping.txt, line 3)',
    'quay.io/ns/tool:2 -> mirror.local:5000/a/tool:2 (mapping.txt, line 5)',
    'quay.io/ns/tool:2 -> mirror.local:5000/b/tool:stable (mapping.txt, line 5)',
    'quay.io/ns/x:1 -> mirror.local:5000/x:1 (mapping.txt, line 6)',
    'quay.io/ns/y:1 -> mirror.local:5000/y:1 (mapping.txt, line 6)',
  ]);
});

test('untagged destination: inherits the source tag, or stays untagged (push by digest) for a digest-only source', () => {
  const [tagged, byDigest, both] = parseMappingText([
    'quay.io/ns/app:1.0 mirror.local/ns/app',
    `quay.io/ns/app@${DIGEST} mirror.local/ns/app`,
    `quay.io/ns/app:1.0@${DIGEST} mirror.local/ns/other`,
  ].join('\n'), 'm.txt');
  assert.equal(tagged.destination.tag, '1.0');
  assert.equal(byDigest.destination.tag, undefined);
  assert.equal(byDigest.destination.digest, undefined);
  assert.equal(both.destination.tag, '1.0');
  assert.equal(both.source.digest, DIGEST);
});

test('docker.io names are normalised on both sides', () => {
  const [m] = mappingsFromArgs(['busybox:1.36', 'mirror.local/busybox']);
  assert.equal(formatReference(m.source), 'docker.io/library/busybox:1.36');
  assert.equal(formatReference(m.destination), 'mirror.local/busybox:1.36');
});

function assertMappingError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MappingError, `expected a MappingError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test('errors name the file and line and say what is wrong', () => {
  const file = (line: string) => () => parseMappingText(`# header\n\n${line}\n`, 'mapping.txt');
  assertMappingError(file(`quay.io/a:1=mirror.local/a@${DIGEST}`), /^mapping\.txt, line 3: destination "mirror\.local\/a@sha256:a+" has a digest; give it a tag, or no tag to push by digest only$/);
  assertMappingError(file('quay.io/a mirror.local/a'), /^mapping\.txt, line 3: source "quay\.io\/a" needs a tag or a digest \(for example :latest at its end\)$/);
  assertMappingError(file('quay.io/a:1'), /^mapping\.txt, line 3: "quay\.io\/a:1" has no destination/);
  assertMappingError(file('quay.io/a:1='), /^mapping\.txt, line 3: "quay\.io\/a:1=" is not a SRC=DST mapping \(one side is empty\)$/);
  assertMappingError(file('quay.io/a:1=mirror.local/a extra'), /^mapping\.txt, line 3: mixes SRC=DST pairs with plain fields/);
  assertMappingError(file('quay.io/A:1 mirror.local/a'), /^mapping\.txt, line 3: source: invalid image reference "quay\.io\/A:1": repository name "A" must be lowercase$/);
  assertMappingError(file('quay.io/a:1 file://local/a'), /^mapping\.txt, line 3: destination "file:\/\/local\/a": file:\/\/ locations are not supported/);
  assertMappingError(file('quay.io/a:1 quay.io/a'), /^mapping\.txt, line 3: source and destination are the same image, "quay\.io\/a:1"$/);
  assertMappingError(() => mappingsFromArgs(['quay.io/a:1']), /^arguments: "quay\.io\/a:1" has no destination/);
});

test('a huge line is not echoed whole: the error quotes its start and says how long it is', () => {
  const huge = `quay.io/${'a'.repeat(5_000_000)}:1`;
  assert.throws(() => parseMappingText(`${huge}\n`, 'mapping.txt'), (err: Error) => {
    assert.ok(err instanceof MappingError);
    assert.match(err.message, /^mapping\.txt, line 1: "quay\.io\/a+…" \(5000010 characters\) has no destination/);
    assert.ok(err.message.length < 800, `message of ${err.message.length} characters`);
    return true;
  });
});

test('mergeMappings drops repeats and refuses two sources for one destination tag', () => {
  const a = parseMappingText('quay.io/a:1 mirror.local/a:1\nquay.io/a:1=mirror.local/a:1', 'one.txt');
  assert.equal(mergeMappings(a).length, 1);
  const b = parseMappingText('\nquay.io/b:1 mirror.local/a:1', 'two.txt');
  assertMappingError(() => mergeMappings(a, b),
    /^two\.txt, line 2: destination mirror\.local\/a:1 is already the target of quay\.io\/a:1 \(one\.txt, line 1\); each destination tag may be used once$/);
  // Pushing by digest only: several sources may go to one repository.
  const byDigest = parseMappingText(`quay.io/a@${DIGEST} mirror.local/x\nquay.io/b@sha256:${'b'.repeat(64)} mirror.local/x`, 'd.txt');
  assert.equal(mergeMappings(byDigest).length, 2);
});

test('readMappingFiles reads files in order, - from stdin, and names unreadable files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'olm-mirror-mapping-'));
  const file = join(dir, 'm.txt');
  writeFileSync(file, 'quay.io/a:1=mirror.local/a:1\n');
  const stdin = Readable.from([Buffer.from('quay.io/b:1 mirror.local/b\n'), Buffer.from('bad-line-without-destination:1\n')]);
  await assert.rejects(readMappingFiles([file, '-'], stdin), /^MappingError: stdin, line 2: "bad-line-without-destination:1" has no destination/);
  const ok = await readMappingFiles([file, '-'], Readable.from(['quay.io/b:1 mirror.local/b\n']));
  assert.deepEqual(show(ok), [
    `quay.io/a:1 -> mirror.local/a:1 (${file}, line 1)`,
    'quay.io/b:1 -> mirror.local/b:1 (stdin, line 1)',
  ]);
  await assert.rejects(readMappingFiles([join(dir, 'missing.txt')]), { message: `cannot read mapping file ${join(dir, 'missing.txt')}: ENOENT` });
  await assert.rejects(readMappingFiles(['-', '-'], Readable.from([])), /can be read only once/);
});
