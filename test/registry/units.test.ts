// Unit tests of the registry client's pure parts: challenges, Retry-After, backoff, Location handling, error text.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { parseChallenges, pickChallenge, registryHost, tokenLifetimeMs } from '../../src/registry/auth.js';
import { createDigestVerifier, DigestMismatchError, sha256Digest, verifiedDigestOf } from '../../src/manifest/digest.js';
import { describeNetworkError, formatErrorDetails, httpError, parseErrorBody, RegistryError } from '../../src/registry/errors.js';
import { backoffDelay, isRetryableError, isRetryableStatus, parseRetryAfter, retryDelay } from '../../src/registry/retry.js';
import { bodyChunks, readBody, readText, SlowTransferError, type HttpResponse } from '../../src/registry/transport.js';
import { withDigestParam } from '../../src/registry/uploads.js';

test('WWW-Authenticate: Bearer with quoted commas, several challenges, escapes', () => {
  assert.deepEqual(parseChallenges(['Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"']), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:samalba/my-app:pull,push' } },
  ]);
  assert.deepEqual(parseChallenges(['Basic realm="Registry Realm", Bearer realm="https://a/t" , service=reg, error="insufficient_scope"']), [
    { scheme: 'basic', params: { realm: 'Registry Realm' } },
    { scheme: 'bearer', params: { realm: 'https://a/t', service: 'reg', error: 'insufficient_scope' } },
  ]);
  assert.deepEqual(parseChallenges(['Basic realm="say \\"hi\\""', 'Negotiate']), [
    { scheme: 'basic', params: { realm: 'say "hi"' } },
    { scheme: 'negotiate', params: {} },
  ]);
  assert.deepEqual(parseChallenges(['']), []);
});

test('Bearer is preferred over Basic; a Bearer without realm is unusable', () => {
  assert.equal(pickChallenge(parseChallenges(['Basic realm="x", Bearer realm="https://a/t"']))?.scheme, 'bearer');
  assert.equal(pickChallenge(parseChallenges(['Bearer service="x"', 'Basic realm="r"']))?.scheme, 'basic');
  assert.equal(pickChallenge([]), undefined);
});

test('docker.io is served by registry-1.docker.io', () => {
  assert.equal(registryHost('docker.io'), 'registry-1.docker.io');
  assert.equal(registryHost('quay.io'), 'quay.io');
});

test('token lifetime: expires_in minus a margin, 60 s by default', () => {
  assert.equal(tokenLifetimeMs(undefined), 50_000);
  assert.equal(tokenLifetimeMs(300), 290_000);
  assert.equal(tokenLifetimeMs(4), 2_000);
});

test('Retry-After: seconds or HTTP-date', () => {
  const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
  assert.equal(parseRetryAfter('120', now), 120_000);
  assert.equal(parseRetryAfter(' 0 ', now), 0);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now), 0, 'a date in the past means now');
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
});

test('backoff: full jitter under an exponential, capped ceiling; Retry-After capped too', () => {
  const policy = { baseMs: 100, maxMs: 1000 };
  assert.equal(backoffDelay(0, policy, () => 0.999999), 99);
  assert.equal(backoffDelay(3, policy, () => 0.5), 400);
  assert.equal(backoffDelay(10, policy, () => 0.999999), 999);
  assert.equal(backoffDelay(2, policy, () => 0), 0);
  assert.equal(retryDelay(0, policy, 5000), 1000);
  assert.equal(retryDelay(0, policy, 200), 200);
});

test('what is retried', () => {
  for (const s of [408, 429, 500, 502, 503, 504]) assert.equal(isRetryableStatus(s), true, String(s));
  for (const s of [400, 401, 403, 404, 405, 416, 501]) assert.equal(isRetryableStatus(s), false, String(s));
  const net = (code: string): Error => Object.assign(new Error(code), { code });
  for (const code of ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT']) {
    assert.equal(isRetryableError(net(code)), true, code);
  }
  for (const code of ['ENOTFOUND', 'UND_ERR_INVALID_ARG', 'SELF_SIGNED_CERT_IN_CHAIN']) assert.equal(isRetryableError(net(code)), false, code);
  assert.equal(isRetryableError(new Error('wrapped', { cause: net('ECONNRESET') })), true);
  assert.equal(isRetryableError(new RegistryError('x', { registry: 'r', status: 503 })), true);
  assert.equal(isRetryableError(new RegistryError('x', { registry: 'r', status: 404 })), false);
  assert.equal(isRetryableError(new RegistryError('x', { registry: 'r', code: 'ECONNRESET' })), true);
  assert.equal(isRetryableError(new DigestMismatchError('sha256:a', 'sha256:b')), false);
});

test('upload Location: digest appended after the registry\'s own query, kept verbatim', () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  const withState = new URL('/v2/foo/blobs/uploads/123?_state=abc%3D%3D&x=1', 'https://reg.example:5000');
  assert.equal(withDigestParam(withState, digest).href,
    `https://reg.example:5000/v2/foo/blobs/uploads/123?_state=abc%3D%3D&x=1&digest=sha256%3A${'a'.repeat(64)}`);
  const bare = new URL('https://storage.example/upload/9');
  assert.equal(withDigestParam(bare, digest).search, `?digest=sha256%3A${'a'.repeat(64)}`);
  assert.equal(withState.search, '?_state=abc%3D%3D&x=1', 'the input is not modified');
});

test('registry error bodies become precise messages', () => {
  const body = JSON.stringify({ errors: [{ code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown to registry', detail: 'sha256:abc' }] });
  const err = httpError({ action: 'pushing manifest', subject: 'r:5000/foo/bar:v1', registry: 'r:5000', repository: 'foo/bar' }, 400, body);
  assert.equal(err.message, 'pushing manifest r:5000/foo/bar:v1: 400 Bad Request: MANIFEST_BLOB_UNKNOWN: blob unknown to registry (sha256:abc)');
  assert.equal(err.code, 'MANIFEST_BLOB_UNKNOWN');
  assert.equal(err.status, 400);
  assert.deepEqual(parseErrorBody('<html><body>Bad   Gateway</body></html>'), [{ code: '', message: '<html><body>Bad Gateway</body></html>' }]);
  assert.deepEqual(parseErrorBody('{"error":"invalid_grant","error_description":"refresh token expired"}'),
    [{ code: 'invalid_grant', message: 'refresh token expired' }]);
  assert.equal(formatErrorDetails([{ code: 'DENIED', message: 'no', detail: { Name: 'x' } }, { code: 'UNSUPPORTED', message: '' }]),
    'DENIED: no ({"Name":"x"}); UNSUPPORTED');
  assert.equal(formatErrorDetails([{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { Tag: 'v1' } }], { detail: false }),
    'MANIFEST_UNKNOWN: manifest unknown');
  assert.equal(httpError({ action: 'a', subject: 's', registry: 'r' }, 503, '').message, 'a s: 503 Service Unavailable');
});

function response(chunks: Iterable<string>): HttpResponse {
  const body = Readable.from((function* () {
    for (const c of chunks) yield Buffer.from(c);
  })());
  return { status: 200, headers: {}, body, url: new URL('http://r/') } as unknown as HttpResponse;
}

test('readBody reads at most the limit and says when the body was longer', async () => {
  assert.deepEqual(await readBody(response(['abc', 'def']), 6), { bytes: Buffer.from('abcdef'), truncated: false });
  assert.deepEqual(await readBody(response(['abc', 'def', 'ghi']), 4), { bytes: Buffer.from('abcd'), truncated: true });
  // An endless body: reading stops past the limit instead of running out of memory.
  const endless = response((function* () { for (;;) yield 'x'.repeat(1000); })());
  const { bytes, truncated } = await readBody(endless, 10_000);
  assert.equal(bytes.length, 10_000);
  assert.equal(truncated, true);
  assert.equal(await readText(response(['<html>', 'Bad Gateway</html>']), 10), '<html>Bad ');
});

test('minimum transfer rate: a stalled body is abandoned, a reader that holds chunks back is not taken for a slow source', async () => {
  const minRate = { bytesPerSecond: 1000, windowMs: 50 };
  const stalled = new Readable({ read() {} });
  stalled.push(Buffer.from('a few bytes'));
  const chunks: string[] = [];
  await assert.rejects((async () => {
    for await (const chunk of bodyChunks({ ...response([]), body: stalled, minRate } as unknown as HttpResponse)) chunks.push(chunk.toString());
  })(), (err: Error) => err instanceof SlowTransferError && /^r sent 11 bytes in 0 s, below the minimum transfer rate of 1000 bytes\/s over 0 s$/.test(err.message));
  assert.deepEqual(chunks, ['a few bytes']);
  assert.equal(stalled.destroyed, true, 'the connection is given up');

  const prompt = { ...response(['one', 'two', 'three']), minRate } as HttpResponse;
  const received: string[] = [];
  for await (const chunk of bodyChunks(prompt)) {
    received.push(chunk.toString());
    await new Promise((resolve) => setTimeout(resolve, 4 * minRate.windowMs)); // the reader is busy elsewhere
  }
  assert.deepEqual(received, ['one', 'two', 'three']);
});

test('network errors explain themselves', () => {
  const net = (code: string): Error => Object.assign(new Error(`boom ${code}`), { code });
  assert.match(describeNetworkError(net('DEPTH_ZERO_SELF_SIGNED_CERT'), 'h:1'), /not trusted .*--certificate-authority/);
  assert.match(describeNetworkError(net('ERR_SSL_WRONG_VERSION_NUMBER'), 'h:1'), /--insecure/);
  assert.equal(describeNetworkError(net('ECONNREFUSED'), 'h:1'), 'cannot connect to h:1: connection refused');
  assert.equal(describeNetworkError(new Error('odd'), 'h:1'), 'request to h:1 failed: odd');
});

test('verifiedDigestOf: only a digest verifier nobody has read from yet counts as verifying', async () => {
  const digest = sha256Digest(Buffer.from('content'));
  assert.equal(verifiedDigestOf(createDigestVerifier(digest)), digest);
  assert.equal(verifiedDigestOf(Readable.from([Buffer.from('content')])), undefined);
  const started = createDigestVerifier(digest);
  started.end(Buffer.from('content'));
  for await (const chunk of started) {
    assert.equal(chunk.toString(), 'content');
    break;
  }
  assert.equal(verifiedDigestOf(started), undefined, 'bytes already taken are not covered by its check');
});
