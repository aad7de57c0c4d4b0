import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatMappingFile, parseMappingText } from '../../src/mirror/mapping.js';
import { parseReference } from '../../src/reference/reference.js';

const entry = (source: string, target: string) => ({ source: parseReference(source), origin: 'test', destination: parseReference(target) });

test('SRC=DST lines, sorted and deduplicated, with a trailing newline', () => {
  const text = formatMappingFile([
    entry(`quay.io/b/img@sha256:${'1'.repeat(64)}`, 'host:5000/b/img:7c2f31a'),
    entry('quay.io/a/img:v1', 'host:5000/a/img:v1'),
    entry('nginx:1', 'host:5000/library/nginx:1'),
    entry('quay.io/a/img:v1', 'host:5000/a/img:v1'),
  ]);
  assert.equal(text, [
    'docker.io/library/nginx:1=host:5000/library/nginx:1',
    'quay.io/a/img:v1=host:5000/a/img:v1',
    `quay.io/b/img@sha256:${'1'.repeat(64)}=host:5000/b/img:7c2f31a`,
    '',
  ].join('\n'));
});

test('the same entries in any order give the same bytes; no entries give an empty file', () => {
  const entries = ['a', 'b', 'c', 'd'].map((r) => entry(`quay.io/x/${r}:v1`, `h/x/${r}:v1`));
  assert.equal(formatMappingFile([...entries].reverse()), formatMappingFile(entries));
  assert.equal(formatMappingFile([]), '');
});

test('a source named from the catalog text is written as oc writes it', () => {
  const text = formatMappingFile([{ ...entry('index.docker.io/a/img:v1', 'host:5000/a/img:v1'), sourceText: 'index.docker.io/a/img:v1' }]);
  assert.equal(text, 'index.docker.io/a/img:v1=host:5000/a/img:v1\n');
});

test('what formatMappingFile writes, parseMappingText reads back as the same mappings', () => {
  const written = [
    entry(`quay.io/b/img@sha256:${'1'.repeat(64)}`, 'host:5000/b/img:7c2f31a'),
    entry('quay.io/a/img:v1', 'host:5000/a/img:v1'),
  ];
  const read = parseMappingText(formatMappingFile(written), 'mapping.txt');
  const show = (ms: readonly { source: unknown; destination: unknown }[]) => ms.map((m) => JSON.stringify([m.source, m.destination])).sort();
  assert.deepEqual(show(read), show(written));
});
