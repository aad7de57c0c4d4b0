// Catalog YAML read as upstream (Kubernetes' decoder on go-yaml v2) reads it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { goJson, keyLine, parseDocuments } from '../../src/catalog/documents.js';

const first = (text: string): unknown => parseDocuments(text, 'f.yaml', { firstOnly: true })[0]?.value;

describe('continuation lines go-yaml v2 accepts', () => {
  test('a quoted scalar continued on an under-indented line (as in real CSVs)', () => {
    const text = "metadata:\n  annotations:\n    categories: 'Database, Integration &\n    Delivery'\n    capabilities: Basic Install\n";
    assert.deepEqual(first(text), { metadata: { annotations: { categories: 'Database, Integration & Delivery', capabilities: 'Basic Install' } } });
    assert.deepEqual(first('a:\n  b: "one\ntwo"\n  c: 1\n'), { a: { b: 'one two', c: 1 } });
  });

  test('a quoted scalar continued on a line starting with a tab', () => {
    assert.deepEqual(first("a:\n  b: 'one\n\ttwo'\n"), { a: { b: 'one two' } });
    assert.deepEqual(first('a:\n  b: "one\n\t  two\n\n  three"\n'), { a: { b: 'one two\nthree' } });
  });

  test('a plain scalar continued on more-indented lines, a tab after the indentation', () => {
    assert.deepEqual(first('a:\n  b: one\n   two\n   \tthree\n  c: x\n'), { a: { b: 'one two three', c: 'x' } });
  });

  test('what go-yaml v2 refuses stays an error naming file, line and column', () => {
    assert.throws(() => first('a:\n    b: one\n   two\n'), /^CatalogError: f\.yaml:3:4: bad indentation of a mapping entry$/);
    assert.throws(() => first('a:\n  b: one\n\ttwo\n'), /^CatalogError: f\.yaml:3:1: tab characters must not be used in indentation$/);
  });
});

describe('YAML 1.1 scalars as go-yaml v2 reads them', () => {
  test('booleans, nulls, octal, hex, binary, underscores, floats; timestamps and sexagesimals stay strings', () => {
    const text = [
      'a: yes', 'b: On', 'c: n', 'd: OFF', 'e: ~', 'f: Null', 'g: 0777', 'h: 0x1F', 'i: 0b101', 'j: 1_000', 'k: -12', 'l: 1.5e3',
      'm: .inf', 'nn: 1.0', 'o: 2001-12-14', 'p: 1:20', 'q: "yes"', 'r: 09', 's: +7', 't: 0o17', 'u: 1.2.3', 'v:',
    ].join('\n');
    assert.deepEqual(first(text), {
      a: true, b: true, c: false, d: false, e: null, f: null, g: 511, h: 31, i: 5, j: 1000, k: -12, l: 1500,
      m: Infinity, nn: 1, o: '2001-12-14', p: '1:20', q: 'yes', r: 9, s: 7, t: '0o17', u: '1.2.3', v: null,
    });
  });

  test('a repeated key keeps its last value; merge keys merge', () => {
    assert.deepEqual(first('a: 1\nb: 2\na: 3\n'), { a: 3, b: 2 });
    assert.deepEqual(first('base: &b {x: 1, z: 2}\nc:\n  <<: *b\n  z: 3\n'), { base: { x: 1, z: 2 }, c: { x: 1, z: 3 } });
    // As in go-yaml v2, a key `y` or `n` is a boolean, which becomes the JSON key "true" or "false".
    assert.deepEqual(first('y: 1\nn: 2\n'), { true: 1, false: 2 });
  });

  test('explicit tags: the standard ones apply, unknown ones leave the value as it is', () => {
    assert.deepEqual(first('a: !!str 12\nb: !!int "7"\nc: !foo 12\nd: !foo [1, x]\ne: !foo {f: on}\n'), { a: '12', b: 7, c: '12', d: [1, 'x'], e: { f: true } });
  });

  test('aliases that expand a small file enormously are refused', () => {
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => {
      const prev = String.fromCharCode(97 + i);
      const next = String.fromCharCode(98 + i);
      return `${next}: &${next} [*${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}]`;
    })].join('\n');
    assert.throws(() => first(laughs), /^CatalogError: f\.yaml:1: aliases expand the document beyond 1000000 values$/);
  });
});

describe('document streams', () => {
  test('documents split at --- lines; empty ones skipped; lines point at the content', () => {
    const docs = parseDocuments('# comment\n---\n---\nkind: A\n--- {kind: B}\n...\n%YAML 1.1\n---\n# c\nkind: C\n', 'f.yaml');
    assert.deepEqual(docs, [{ value: { kind: 'A' }, line: 4 }, { value: { kind: 'B' }, line: 5 }, { value: { kind: 'C' }, line: 10 }]);
  });

  test('CRLF line ends', () => {
    assert.deepEqual(parseDocuments('kind: A\r\nlist:\r\n- x\r\n---\r\nkind: B\r\n', 'f.yaml').map((d) => d.value), [{ kind: 'A', list: ['x'] }, { kind: 'B' }]);
  });

  test('with firstOnly, a broken later document is never read; errors in later documents name their own line', () => {
    assert.deepEqual(first('kind: A\n---\na: [\n'), { kind: 'A' });
    assert.throws(() => parseDocuments('kind: A\n---\nb: 1\na: [\n', 'f.yaml'), /^CatalogError: f\.yaml:5:1: unexpected end of the stream within a flow collection$/);
  });
});

test('goJson sorts keys bytewise, integer-like keys included, and escapes as Go', () => {
  assert.equal(goJson({ b: 1, a: [{ d: '<&>', c: null }], 10: 'x', 9: 'y', '-': 0 }), '{"-":0,"10":"x","9":"y","a":[{"c":null,"d":"\\u003c\\u0026\\u003e"}],"b":1}');
  assert.equal(goJson({ z: { y: 1, x: [2, undefined] } }), '{"z":{"x":[2,null],"y":1}}');
});

test('keyLine finds a YAML or JSON key', () => {
  assert.equal(keyLine('a: 1\nspec:\n  relatedImages: x\n', 'relatedImages'), 3);
  assert.equal(keyLine('{\n  "spec": {\n    "relatedImages": "x"}}', 'relatedImages'), 3);
  assert.equal(keyLine('a: 1\n', 'relatedImages'), undefined);
});
