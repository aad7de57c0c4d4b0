// mapping.txt, read and written: which source image goes to which destination(s), for `image mirror`
// (files and arguments) and as `catalog mirror` writes it.
// Format (compatible with oc): `#` starts a comment, blank lines are skipped, each line is
// `SRC=DST [SRC=DST...]` or `SRC DST [DST...]`; ours accepts any whitespace between fields.
import { quoted } from '../util/quote.js';
import { OlmMirrorError } from '../errors.js';
import { readFile } from 'node:fs/promises';
import { formatReference, parseReference, type ImageReference } from '../reference/reference.js';

export interface Mapping {
  /** Has a tag, a digest or both (the digest wins when resolving). */
  readonly source: ImageReference;
  /** Never has a digest. Without a tag the image is pushed by digest only. */
  readonly destination: ImageReference;
  /** Where the mapping was written, for messages: `mapping.txt, line 7` or `arguments`. */
  readonly origin: string;
  /** The source as oc writes it in mapping.txt (e.g. `index.docker.io/...` kept), when it was named from a catalog's text. */
  readonly sourceText?: string;
}

/** mapping.txt: `SRC=DST` lines, deduplicated and sorted (code-unit order), with a trailing newline; '' when empty. */
export function formatMappingFile(mappings: readonly Pick<Mapping, 'source' | 'destination' | 'sourceText'>[]): string {
  const lines = new Set(mappings.map((m) => `${m.sourceText ?? formatReference(m.source)}=${formatReference(m.destination)}`));
  return [...lines].sort().map((line) => `${line}\n`).join('');
}

/** `SRC -> DST`: how messages name a mapped image. */
export function describeMapping(m: Mapping): string {
  return `${formatReference(m.source)} -> ${formatReference(m.destination)}`;
}

/** A mapping file or argument that cannot be used; the message names the file and line. */
export class MappingError extends OlmMirrorError {
  constructor(message: string) {
    super('usage', message);
  }
}

/** Parses the text of one mapping file; `fileName` is only used in messages. */
export function parseMappingText(text: string, fileName: string): Mapping[] {
  const mappings: Mapping[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const hash = lines[i].indexOf('#');
    const content = (hash === -1 ? lines[i] : lines[i].slice(0, hash)).trim();
    if (content === '') continue;
    mappings.push(...mappingsFromFields(content.split(/\s+/), `${fileName}, line ${i + 1}`));
  }
  return mappings;
}

/** Reads mapping files in order; `-` is standard input (named `stdin` in messages). */
export async function readMappingFiles(paths: readonly string[], stdin: NodeJS.ReadableStream = process.stdin): Promise<Mapping[]> {
  if (paths.filter((p) => p === '-').length > 1) throw new MappingError('standard input (-f -) can be read only once');
  const mappings: Mapping[] = [];
  for (const path of paths) {
    const isStdin = path === '-';
    let text: string;
    try {
      text = isStdin ? await readAll(stdin) : await readFile(path, 'utf8');
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new MappingError(`cannot read mapping file ${isStdin ? 'stdin' : path}: ${reason}`);
    }
    mappings.push(...parseMappingText(text, isStdin ? 'stdin' : path));
  }
  return mappings;
}

/** Mappings from command line arguments: `SRC DST [DST...]` or `SRC=DST [SRC=DST...]`. */
export function mappingsFromArgs(args: readonly string[]): Mapping[] {
  return args.length === 0 ? [] : mappingsFromFields(args, 'arguments');
}

/**
 * The mappings of a mirror to disk: every source once, stored under its own reference (its tag, or
 * by digest only when it has none), so the far side finds each image by the name it had.
 */
export function storedUnderSource(mappings: readonly Mapping[]): Mapping[] {
  const seen = new Set<string>();
  const out: Mapping[] = [];
  for (const m of mappings) {
    const key = formatReference(m.source);
    if (seen.has(key)) continue;
    seen.add(key);
    const { digest: _digest, ...name } = m.source;
    out.push({ source: m.source, destination: name, origin: m.origin });
  }
  return out;
}

/**
 * Joins mappings from several places: drops exact repeats and refuses two different sources
 * for the same destination tag (the later one would silently overwrite the earlier one).
 */
export function mergeMappings(...lists: Mapping[][]): Mapping[] {
  const byDestination = new Map<string, Mapping>();
  const merged: Mapping[] = [];
  for (const m of lists.flat()) {
    const source = formatReference(m.source);
    // Untagged destinations are pushed by digest: several sources may share one repository.
    const key = m.destination.tag === undefined ? `${formatReference(m.destination)} ${source}` : formatReference(m.destination);
    const earlier = byDestination.get(key);
    if (earlier === undefined) {
      byDestination.set(key, m);
      merged.push(m);
    } else if (formatReference(earlier.source) !== source) {
      throw new MappingError(`${m.origin}: destination ${formatReference(m.destination)} is already the target of ` +
        `${formatReference(earlier.source)} (${earlier.origin}); each destination tag may be used once`);
    }
  }
  return merged;
}

function mappingsFromFields(fields: readonly string[], origin: string): Mapping[] {
  const pairs = fields.filter((f) => f.includes('='));
  if (pairs.length > 0 && pairs.length !== fields.length) {
    throw new MappingError(`${origin}: mixes SRC=DST pairs with plain fields; use either SRC=DST [SRC=DST...] or SRC DST [DST...]`);
  }
  if (pairs.length > 0) {
    return pairs.map((pair) => {
      const at = pair.indexOf('=');
      const [src, dst] = [pair.slice(0, at), pair.slice(at + 1)];
      if (src === '' || dst === '') throw new MappingError(`${origin}: ${quoted(pair)} is not a SRC=DST mapping (one side is empty)`);
      return buildMapping(src, dst, origin);
    });
  }
  if (fields.length < 2) {
    throw new MappingError(`${origin}: ${quoted(fields[0])} has no destination; write SRC DST [DST...] or SRC=DST`);
  }
  return fields.slice(1).map((dst) => buildMapping(fields[0], dst, origin));
}

function buildMapping(src: string, dst: string, origin: string): Mapping {
  const source = parseSide(src, 'source', origin);
  if (source.tag === undefined && source.digest === undefined) {
    throw new MappingError(`${origin}: source ${quoted(src)} needs a tag or a digest (for example :latest at its end)`);
  }
  const parsedDestination = parseSide(dst, 'destination', origin);
  if (parsedDestination.digest !== undefined) {
    throw new MappingError(`${origin}: destination ${quoted(dst)} has a digest; give it a tag, or no tag to push by digest only`);
  }
  // Like oc: an untagged destination takes the source's tag; a digest-only source stays untagged (push by digest).
  const destination = parsedDestination.tag === undefined && source.tag !== undefined
    ? { ...parsedDestination, tag: source.tag }
    : parsedDestination;
  if (destination.registry === source.registry && destination.repository === source.repository
    && (destination.tag === undefined || destination.tag === source.tag)) {
    throw new MappingError(`${origin}: source and destination are the same image, ${quoted(src)}`);
  }
  return { source, destination, origin };
}

function parseSide(text: string, side: 'source' | 'destination', origin: string): ImageReference {
  const scheme = /^([a-z0-9]+):\/\//.exec(text);
  if (scheme) {
    throw new MappingError(`${origin}: ${side} ${quoted(text)}: ${scheme[1]}:// locations are not supported, only registries`);
  }
  try {
    return parseReference(text);
  } catch (err) {
    throw new MappingError(`${origin}: ${side}: ${(err as Error).message}`);
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}
