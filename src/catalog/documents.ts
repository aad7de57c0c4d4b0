// Reading catalog files the way upstream's Kubernetes YAML-or-JSON decoder does: a file whose first
// non-blank character is `{` is a stream of JSON values (concatenated or pretty-printed), anything else
// is a stream of YAML documents. YAML is read with YAML 1.1 scalars (yes/on/0777 ...) like go-yaml v2,
// but timestamps and sexagesimal numbers stay strings, as they do when upstream decodes into JSON, and
// a repeated mapping key keeps its last value (go-yaml v2's non-strict decoding) instead of failing.
import { OlmMirrorError } from '../errors.js';
import { Composer, Parser, type Tags } from 'yaml';
import { isPlainObject } from '../util/guards.js';

/** A problem in a catalog's content; the message names the file (and line:column when known). */
export class CatalogError extends OlmMirrorError {
  constructor(message: string) {
    super('input', message);
  }
}

export interface SourceDocument {
  readonly value: unknown;
  /** 1-based line where the document starts. */
  readonly line: number;
}

const yamlOptions = {
  version: '1.1' as const,
  uniqueKeys: false,
  customTags: (tags: Tags) =>
    tags.filter((t) => typeof t === 'string' || !(t.tag.endsWith(':timestamp') || ('format' in t && t.format === 'TIME'))),
};

/**
 * Every non-empty document of `text` (only the first one with `firstOnly`). Syntax errors throw a
 * CatalogError `<file>:<line>:<column>: <reason>`; with `firstOnly`, later documents are not read at all.
 */
export function parseDocuments(source: string, file: string, opts: { firstOnly?: boolean } = {}): SourceDocument[] {
  const text = source.charCodeAt(0) === 0xfeff ? source.slice(1) : source; // a UTF-8 byte order mark
  const lines = new LineIndex(text);
  return /^\s*\{/.test(text) ? parseJsonStream(text, file, lines, opts.firstOnly ?? false) : parseYamlStream(text, file, lines, opts.firstOnly ?? false);
}

function parseYamlStream(text: string, file: string, lines: LineIndex, firstOnly: boolean): SourceDocument[] {
  const docs: SourceDocument[] = [];
  const composer = new Composer(yamlOptions);
  for (const doc of composer.compose(new Parser().parse(text), true)) {
    const error = doc.errors[0];
    if (error) throw new CatalogError(`${file}:${lines.position(error.pos[0])}: ${error.message}`);
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      throw new CatalogError(`${file}:${lines.position(doc.range[0])}: ${(err as Error).message}`);
    }
    if (value === null || value === undefined) continue; // empty document, e.g. after a trailing `---`
    docs.push({ value, line: lines.line(doc.contents?.range?.[0] ?? doc.range[0]) });
    if (firstOnly) break;
  }
  return docs;
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
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

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
  return escapeLikeGo(writeGoJson(value));
}

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
