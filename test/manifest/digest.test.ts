import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import {
  createDigestVerifier, DigestMismatchError, digestLike, InvalidDigestError, parseDigest, sha256Digest,
} from '../../src/manifest/digest.js';

const data = Buffer.from('hello, registry');
const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function run(chunks: Buffer[], expected: string, size?: number): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), createDigestVerifier(expected, size), new Writable({
    write(chunk: Buffer, _enc, cb) { out.push(chunk); cb(); },
  }));
  return Buffer.concat(out);
}

test('sha256Digest and digestLike', () => {
  assert.equal(sha256Digest(data), digest);
  const sha512 = `sha512:${createHash('sha512').update(data).digest('hex')}`;
  assert.equal(digestLike(sha512, data), sha512);
  assert.equal(digestLike(digest, data), digest);
});

test('parseDigest validates algorithm and hex', () => {
  assert.deepEqual(parseDigest(digest), { algorithm: 'sha256', hex: digest.slice(7) });
  assert.throws(() => parseDigest('abc'), InvalidDigestError);
  assert.throws(() => parseDigest('md5:0123'), /unsupported algorithm "md5"/);
  assert.throws(() => parseDigest(`sha256:${'A'.repeat(64)}`), /64 lowercase hex/);
  assert.throws(() => parseDigest('sha256:'), /64 lowercase hex characters after "sha256:"/);
  // sha384 is not among the algorithms the OCI image spec registers.
  assert.throws(() => parseDigest(`sha384:${'a'.repeat(96)}`), /unsupported algorithm "sha384" \(supported: sha256, sha512\)/);
  assert.deepEqual(parseDigest(`sha512:${'a'.repeat(128)}`), { algorithm: 'sha512', hex: 'a'.repeat(128) });
});

test('verifier passes content through unchanged when digest and size match', async () => {
  assert.deepEqual(await run([data.subarray(0, 5), data.subarray(5)], digest, data.length), data);
  assert.deepEqual(await run([data], digest), data);
});

test('verifier fails at the end on a different digest, naming both', async () => {
  const other = Buffer.from('hello, registrY');
  await assert.rejects(run([other], digest), (err: Error) => {
    assert.ok(err instanceof DigestMismatchError);
    assert.equal(err.expected, digest);
    assert.equal(err.actual, sha256Digest(other));
    assert.equal(err.message, `content ${digest}: digest mismatch: expected ${digest}, got ${sha256Digest(other)}`);
    return true;
  });
});

test('verifier fails on a short body and stops early on a long one', async () => {
  await assert.rejects(run([data.subarray(0, 4)], digest, data.length), /size mismatch: expected 15 bytes, got 4; digest mismatch/);
  let pulled = 0;
  const endless = new Readable({ read() { pulled++; this.push(Buffer.alloc(1024)); } });
  await assert.rejects(pipeline(endless, createDigestVerifier(digest, 2048), new Writable({ write(_c, _e, cb) { cb(); } })),
    /size mismatch: expected 2048 bytes, got more/);
  assert.ok(pulled < 100, 'an endless source is not read to its end');
});
