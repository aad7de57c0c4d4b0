// Reading catalog files the way upstream's Kubernetes YAML-or-JSON decoder does: a file whose first
// non-blank character is `{` is a stream of JSON values (concatenated or pretty-printed), anything else
// is a stream of YAML documents, split at `---` lines as Kubernetes' YAML reader splits them.
// YAML is read with js-yaml (fast, and as lenient as go-yaml v2 with continuation lines of quoted
// scalars that are under-indented or start with a tab) and a schema with go-yaml v2's YAML 1.1
// scalars (yes/on/0777 ...); timestamps and sexagesimal numbers stay strings, as they do when upstream
// decodes into JSON, and a repeated mapping key keeps its last value (go-yaml v2's non-strict decoding).
import yaml from 'js-yaml';
import { isPlainObject } from '../util/guards.js';

export { CatalogError } from './errors.js';
import { CatalogError } from './errors.js';

/** A wrong value under a mapping key: the reader that has the file's text adds the key's line to `detail`. */
export class FieldError extends CatalogError {
  constructor(readonly key: string, readonly where: string, readonly detail: string) {
    super(`${where}: ${detail}`);
  }
}

/** 1-based line of the first `key:` (YAML) or `"key":` (JSON) in `text`, undefined when there is none. */
export function keyLine(text: string, key: string): number | undefined {
  const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`^[ \\t]*(?:- )?(?:"${escaped}"|'${escaped}'|${escaped})[ \\t]*:|"${escaped}"\\s*:`, 'm').exec(text);
  return match ? text.slice(0, match.index).split('\n').length : undefined;
}

export interface SourceDocument {
  readonly value: unknown;
  /** 1-based line where the document starts. */
  readonly line: number;
}

/**
 * Every non-empty document of `text` (only the first one with `firstOnly`). Syntax errors throw a
 * CatalogError `<file>:<line>:<column>: <reason>`; with `firstOnly`, later documents are not read at all.
 */
export function parseDocuments(source: string, file: string, opts: { firstOnly?: boolean } = {}): SourceDocument[] {
  const text = source.charCodeAt(0) === 0xfeff ? source.slice(1) : source; // a UTF-8 byte order mark
  const firstOnly = opts.firstOnly ?? false;
  return /^\s*\{/.test(text) ? parseJsonStream(text, file, new LineIndex(text), firstOnly) : parseYamlStream(text, file, firstOnly);
}

/** YAML 1.1 scalars as go-yaml v2 resolves them (the regular expressions of the YAML 1.1 type repository). */
const yaml11Schema = yaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    new yaml.Type('tag:yaml.org,2002:null', {
      kind: 'scalar',
      resolve: (s: string) => NULLS.has(s),
      construct: () => null,
    }),
    new yaml.Type('tag:yaml.org,2002:bool', {
      kind: 'scalar',
      resolve: (s: string) => TRUES.has(s) || FALSES.has(s),
      construct: (s: string) => TRUES.has(s),
    }),
    new yaml.Type('tag:yaml.org,2002:int', { kind: 'scalar', resolve: (s: string) => NUMBER_START.test(s) && intRadix(s) !== undefined, construct: constructInt }),
    new yaml.Type('tag:yaml.org,2002:float', { kind: 'scalar', resolve: (s: string) => NUMBER_START.test(s) && FLOAT_RE.test(s), construct: constructFloat }),
    // `<<: *base`: js-yaml merges the keys of a mapping whose key resolves to this tag.
    new yaml.Type('tag:yaml.org,2002:merge', { kind: 'scalar', resolve: (s: string) => s === '<<' }),
  ],
  // Any other tag (`!foo`) leaves the node's value as it would be untagged, as the yaml package did.
  explicit: (['scalar', 'sequence', 'mapping'] as const).map((kind) => new yaml.Type('', { kind, multi: true, construct: (data: unknown) => data })),
});
const NULLS = new Set(['', '~', 'null', 'Null', 'NULL']);
const TRUES = new Set(['Y', 'y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON']);
const FALSES = new Set(['N', 'n', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF']);
/** Numbers start with a sign, a digit or a dot: most scalars are ruled out by their first character. */
const NUMBER_START = /^[-+.0-9]/;
const FLOAT_RE = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?[eE][-+]?[0-9]+|[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*)$/;

/** Radix and digits offset of a YAML 1.1 integer, undefined when `s` is none. */
function intRadix(s: string): { radix: number; offset: number } | undefined {
  if (/^[-+]?0b[0-1_]+$/.test(s)) return { radix: 2, offset: 2 };
  if (/^[-+]?0[0-7_]+$/.test(s)) return { radix: 8, offset: 1 };
  if (/^[-+]?[0-9][0-9_]*$/.test(s)) return { radix: 10, offset: 0 };
  if (/^[-+]?0x[0-9a-fA-F_]+$/.test(s)) return { radix: 16, offset: 2 };
  return undefined;
}

function constructInt(s: string): number {
  const { radix, offset } = intRadix(s)!;
  const signed = s[0] === '-' || s[0] === '+';
  const n = parseInt(s.slice(offset + (signed ? 1 : 0)).replace(/_/g, ''), radix);
  return s[0] === '-' ? -n : n;
}

function constructFloat(s: string): number {
  if (/nan$/i.test(s)) return NaN;
  if (/inf$/i.test(s)) return s[0] === '-' ? -Infinity : Infinity;
  return parseFloat(s.replace(/_/g, ''));
}

/** Aliases may repeat a node, but not blow a small file up into gigabytes of JSON (a "billion laughs" file). */
const MAX_EXPANSION = 1_000_000;

function parseYamlStream(text: string, file: string, firstOnly: boolean): SourceDocument[] {
  const docs: SourceDocument[] = [];
  for (const chunk of yamlDocumentChunks(text)) {
    let value: unknown;
    try {
      value = yaml.load(chunk.text, { schema: yaml11Schema, json: true });
    } catch (err) {
      if (!(err instanceof yaml.YAMLException)) throw err;
      const mark = err.mark as { line: number; column: number } | undefined;
      const where = mark ? `${chunk.line + mark.line}:${mark.column + 1}` : `${chunk.line}`;
      throw new CatalogError(`${file}:${where}: ${err.reason}`);
    }
    if (value === null || value === undefined) continue; // empty document, e.g. after a trailing `---`
    if (chunk.text.includes('*') && expandedSize(value, new Map()) > MAX_EXPANSION) {
      throw new CatalogError(`${file}:${chunk.line}: aliases expand the document beyond ${MAX_EXPANSION} values`);
    }
    docs.push({ value, line: chunk.contentLine });
    if (firstOnly) break;
  }
  return docs;
}

/** Values of `value` with every alias expanded, counted once per shared node. */
function expandedSize(value: unknown, seen: Map<object, number>): number {
  if (value === null || typeof value !== 'object') return 1;
  const known = seen.get(value);
  if (known !== undefined) return known;
  seen.set(value, 1); // a cycle counts once
  let size = 1;
  for (const child of Object.values(value)) size = Math.min(size + expandedSize(child, seen), MAX_EXPANSION + 1);
  seen.set(value, size);
  return size;
}

interface YamlChunk {
  readonly text: string;
  /** 1-based line of the chunk's first line. */
  readonly line: number;
  /** 1-based line of the document's content (after comments and the `---` marker). */
  readonly contentLine: number;
}

/**
 * The documents of a YAML stream: a line starting with `---` begins one (the marker line stays in
 * it, it may hold content), a line starting with `...` ends one; documents without content are left
 * out. Splitting first lets `firstOnly` leave later documents unread, as upstream does.
 */
function* yamlDocumentChunks(text: string): Generator<YamlChunk> {
  let chunk = { start: 0, line: 1, contentLine: 0, marked: false };
  for (let pos = 0, line = 1; pos <= text.length; line++) {
    const newline = text.indexOf('\n', pos);
    const lineEnd = newline < 0 ? text.length : newline;
    const marker = (text.startsWith('---', pos) || text.startsWith('...', pos)) && isSpaceOrEnd(text, pos + 3, lineEnd) ? text[pos] : undefined;
    if (marker === '-' && (chunk.contentLine > 0 || chunk.marked)) {
      if (chunk.contentLine > 0) yield { text: text.slice(chunk.start, pos), line: chunk.line, contentLine: chunk.contentLine };
      chunk = { start: pos, line, contentLine: 0, marked: true };
    } else if (marker === '-') {
      chunk.marked = true;
    } else if (marker === '.') {
      if (chunk.contentLine > 0) yield { text: text.slice(chunk.start, pos), line: chunk.line, contentLine: chunk.contentLine };
      chunk = { start: lineEnd + 1, line: line + 1, contentLine: 0, marked: false };
    }
    if (chunk.contentLine === 0 && marker !== '.' && hasContent(text, pos, lineEnd, marker === '-')) chunk.contentLine = line;
    if (newline < 0) break;
    pos = newline + 1;
  }
  if (chunk.contentLine > 0) yield { text: text.slice(chunk.start), line: chunk.line, contentLine: chunk.contentLine };
}

function isSpaceOrEnd(text: string, pos: number, lineEnd: number): boolean {
  return pos >= lineEnd || text[pos] === ' ' || text[pos] === '\t' || text[pos] === '\r';
}

/** A line holding more than blanks, a comment, a directive or a bare document marker. */
function hasContent(text: string, pos: number, lineEnd: number, marker: boolean): boolean {
  let from = marker ? pos + 3 : pos;
  if (!marker && text[pos] === '%') return false;
  while (from < lineEnd && (text[from] === ' ' || text[from] === '\t' || text[from] === '\r')) from++;
  return from < lineEnd && text[from] !== '#';
}

function parseJsonStream(text: string, file: string, lines: LineIndex, firstOnly: boolean): SourceDocument[] {
  const docs: SourceDocument[] = [];
  let pos = 0;
  for (;;) {
    while (pos < text.length && isJsonSpace(text.charCodeAt(pos))) pos++;
    if (pos >= text.length) return docs;
    const end = jsonValueEnd(text, pos);
    if (end < 0) throw new CatalogError(`${file}:${lines.position(pos)}: unterminated JSON object`);
    let value: unknown;
    try {
      value = JSON.parse(text.slice(pos, end));
    } catch (err) {
      const at = /position (\d+)/.exec((err as Error).message);
      const where = at ? pos + Number(at[1]) : pos;
      throw new CatalogError(`${file}:${lines.position(where)}: invalid JSON: ${(err as Error).message.replace(/ in JSON at position \d+.*$/, '')}`);
    }
    docs.push({ value, line: lines.line(pos) });
    if (firstOnly) return docs;
    pos = end;
  }
}

/** Offset just past the JSON object or array starting at `start` (-1 when it never closes). */
function jsonValueEnd(text: string, start: number): number {
  const open = text[start];
  if (open !== '{' && open !== '[') {
    // A scalar between objects: let JSON.parse report it, up to the next whitespace.
    let end = start;
    while (end < text.length && !isJsonSpace(text.charCodeAt(end))) end++;
    return end;
  }
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}
const [BACKSLASH, QUOTE, OPEN_BRACE, OPEN_BRACKET, CLOSE_BRACE, CLOSE_BRACKET] = [...'\\"{[}]'].map((c) => c.charCodeAt(0));

function isJsonSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

/** Offsets to 1-based line:column, computed once per file. */
class LineIndex {
  private starts: number[] | undefined;
  constructor(private readonly text: string) {}

  line(offset: number): number {
    const starts = this.lineStarts();
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }

  position(offset: number): string {
    const line = this.line(offset);
    return `${line}:${offset - this.lineStarts()[line - 1]! + 1}`;
  }

  private lineStarts(): number[] {
    if (!this.starts) {
      this.starts = [0];
      for (let i = this.text.indexOf('\n'); i >= 0; i = this.text.indexOf('\n', i + 1)) this.starts.push(i + 1);
    }
    return this.starts;
  }
}

/** True for a plain JSON/YAML mapping (not null, not an array). */
export const isMapping = isPlainObject;

/** A string field that may be absent (undefined/null); `what` names it in the error, e.g. `file:3: spec.version`. */
export function optionalString(value: unknown, what: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new CatalogError(`${what}: expected a string, got ${typeof value} ${JSON.stringify(value)}`);
  return value;
}

/** A list of strings that may be absent (empty); a null item reads as ''. */
export function stringList(value: unknown, what: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new CatalogError(`${what}: expected a list of strings, got ${JSON.stringify(value)}`);
  return value.map((v, i) => optionalString(v, `${what}[${i}]`) ?? '');
}

/**
 * JSON text as Go's encoding/json writes it (what upstream stores in SQLite): object keys sorted
 * bytewise, `<`, `>`, `&`, U+2028 and U+2029 escaped. Written by hand because JS objects iterate
 * integer-like keys first whatever their order.
 */
export function goJson(value: unknown): string {
  const sorted = withSortedKeys(value);
  return escapeLikeGo(sorted === HAS_INDEX_KEYS ? writeGoJson(value) : JSON.stringify(sorted));
}

const HAS_INDEX_KEYS = Symbol('object with integer-like keys');

/**
 * A copy whose objects have their keys inserted in sorted order, so the native JSON.stringify writes
 * them sorted; HAS_INDEX_KEYS when an object has an integer-like key, which JS always iterates first.
 */
function withSortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      const item = withSortedKeys(value[i]);
      if (item === HAS_INDEX_KEYS) return HAS_INDEX_KEYS;
      out[i] = item;
    }
    return out;
  }
  if (!isMapping(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    if (INDEX_KEY.test(key)) return HAS_INDEX_KEYS;
    const item = withSortedKeys(value[key]);
    if (item === HAS_INDEX_KEYS) return HAS_INDEX_KEYS;
    out[key] = item;
  }
  return out;
}
const INDEX_KEY = /^(?:0|[1-9][0-9]{0,9})$/;

/** Go's encoding/json HTML-safe escaping applied to JSON text (the characters only occur in strings). */
export function escapeLikeGo(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function writeGoJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => writeGoJson(v ?? null)).join(',')}]`;
  if (isMapping(value)) {
    const parts: string[] = [];
    for (const key of Object.keys(value).sort()) {
      if (value[key] !== undefined) parts.push(`${JSON.stringify(key)}:${writeGoJson(value[key])}`);
    }
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
