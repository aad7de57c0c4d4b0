// oc-mirror's ImageSetConfiguration (apiVersion mirror.openshift.io/v2alpha1), the parts olm-mirror
// implements: mirror.operators[] (catalog, packages with channels and version ranges, defaultChannel,
// full, skipDependencies, targetCatalog, targetTag), mirror.additionalImages[], mirror.blockedImages[]
// and archiveSize. Any other field, known to oc-mirror (platform, helm, ...) or not, is an error naming
// it with its file and line: a configuration is never half applied.
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { OlmMirrorError } from '../errors.js';
import { checkSelection, FilterError, type CatalogSelection, type ChannelSelection, type PackageSelection } from '../catalog/filter/selection.js';

export const IMAGESET_API_VERSION = 'mirror.openshift.io/v2alpha1';
export const IMAGESET_KIND = 'ImageSetConfiguration';

export interface OperatorCatalogConfig {
  /** The catalog image (or path) as written. */
  readonly catalog: string;
  readonly targetCatalog?: string;
  readonly targetTag?: string;
  readonly selection: CatalogSelection;
  /** Where the entry starts, `file:line`, for messages. */
  readonly at: string;
}

export interface BlockedImage {
  /** The regular expression as written. */
  readonly name: string;
  readonly pattern: RegExp;
}

export interface ImageSetConfiguration {
  readonly operators: readonly OperatorCatalogConfig[];
  readonly additionalImages: readonly string[];
  readonly blockedImages: readonly BlockedImage[];
  /** Archive segment size in GiB (for file:// destinations). */
  readonly archiveSize?: number;
}

/** The file cannot be used (nothing is done); the message lists every problem with `file:line`. */
export class ImageSetConfigError extends OlmMirrorError {
  constructor(message: string) {
    super('usage', message);
  }
}

export async function loadImageSetConfiguration(file: string): Promise<ImageSetConfiguration> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ImageSetConfigError(`cannot read ImageSetConfiguration ${file}: ${(err as Error).message}`);
  }
  return parseImageSetConfiguration(text, file);
}

/** Fields oc-mirror has that olm-mirror does not implement, with what to do instead. */
const NOT_IMPLEMENTED: Record<string, string> = {
  'mirror.platform': 'release images are not mirrored by olm-mirror',
  'mirror.helm': 'Helm charts are not mirrored by olm-mirror',
  'mirror.samples': 'sample images are not mirrored by olm-mirror',
  'mirror.operators[].targetCatalogSourceTemplate': 'CatalogSource templates are not supported',
  'mirror.operators[].packages[].bundles': 'selecting single bundles is not supported; use minVersion/maxVersion',
  'delete': 'DeleteImageSetConfiguration is not supported',
};

/** Repository path components, as oc-mirror checks targetCatalog. */
const TARGET_CATALOG = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TARGET_TAG = /^[\w][\w.-]{0,127}$/;

type Shape =
  | { readonly kind: 'string' | 'version' | 'boolean' | 'integer' }
  | { readonly kind: 'list'; readonly item: Shape }
  | { readonly kind: 'map'; readonly fields: Readonly<Record<string, Shape>> };

const str = { kind: 'string' } as const;
const version = { kind: 'version' } as const;
const bool = { kind: 'boolean' } as const;
const map = (fields: Record<string, Shape>): Shape => ({ kind: 'map', fields });
const list = (item: Shape): Shape => ({ kind: 'list', item });

const SCHEMA = map({
  apiVersion: str,
  kind: str,
  archiveSize: { kind: 'integer' },
  mirror: map({
    operators: list(map({
      catalog: str,
      targetCatalog: str,
      targetTag: str,
      full: bool,
      skipDependencies: bool,
      packages: list(map({
        name: str,
        defaultChannel: str,
        minVersion: version,
        maxVersion: version,
        channels: list(map({ name: str, minVersion: version, maxVersion: version })),
      })),
    })),
    additionalImages: list(map({ name: str })),
    blockedImages: list(map({ name: str })),
  }),
});

type Value = string | boolean | number | Value[] | { [key: string]: Value };

export function parseImageSetConfiguration(text: string, file: string): ImageSetConfiguration {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (node: { range?: [number, number, number] | null } | null | undefined): string =>
    `${file}:${node?.range ? lines.linePos(node.range[0]).line : 1}`;
  const problem = doc.errors[0];
  if (problem) throw new ImageSetConfigError(`${file}:${lines.linePos(problem.pos[0]).line}: ${problem.message}`);
  const problems: string[] = [];
  const root = check(doc.contents, SCHEMA, '', text, at, problems);
  if (problems.length > 0) throw new ImageSetConfigError(problemsMessage(file, problems));
  const config = (root ?? {}) as Record<string, Value>;
  if (config.apiVersion !== IMAGESET_API_VERSION) problems.push(`${at(doc.contents as Node)}: apiVersion must be ${IMAGESET_API_VERSION}, got ${JSON.stringify(config.apiVersion ?? null)}`);
  if (config.kind !== IMAGESET_KIND) problems.push(`${at(doc.contents as Node)}: kind must be ${IMAGESET_KIND}, got ${JSON.stringify(config.kind ?? null)}`);
  const mirror = (config.mirror ?? {}) as Record<string, Value>;
  const itemAt = (field: string, i: number): string => {
    const seq = nodeAt(doc.contents, ['mirror', field]);
    return at(isSeq(seq) ? (seq.items[i] as Node) : undefined);
  };
  const operators = ((mirror.operators ?? []) as Record<string, Value>[]).map((op, i) => {
    const where = itemAt('operators', i);
    if (typeof op.catalog !== 'string' || op.catalog === '') problems.push(`${where}: mirror.operators[${i}].catalog is required`);
    const operator = toOperator(op, where);
    if (operator.targetCatalog !== undefined && !TARGET_CATALOG.test(operator.targetCatalog)) {
      problems.push(`${where}: mirror.operators[${i}].targetCatalog ${JSON.stringify(operator.targetCatalog)} must be repository path components (no registry, tag or digest), e.g. my-org/redhat-operators`);
    }
    if (operator.targetTag !== undefined && !TARGET_TAG.test(operator.targetTag)) {
      problems.push(`${where}: mirror.operators[${i}].targetTag ${JSON.stringify(operator.targetTag)} is not a valid tag`);
    }
    try {
      checkSelection(operator.selection);
    } catch (err) {
      if (!(err instanceof FilterError)) throw err;
      problems.push(`${where}: mirror.operators[${i}] (${operator.catalog}): ${err.message}`);
    }
    return operator;
  });
  const additionalImages = ((mirror.additionalImages ?? []) as Record<string, Value>[]).map((img, i) => {
    if (typeof img.name !== 'string' || img.name === '') problems.push(`${itemAt('additionalImages', i)}: mirror.additionalImages[${i}].name is required`);
    return String(img.name ?? '');
  });
  const blockedImages = ((mirror.blockedImages ?? []) as Record<string, Value>[]).flatMap((img, i) => {
    const name = String(img.name ?? '');
    try {
      if (name === '') throw new Error('it is empty');
      return [{ name, pattern: new RegExp(name) }];
    } catch (err) {
      problems.push(`${itemAt('blockedImages', i)}: mirror.blockedImages[${i}].name ${JSON.stringify(name)} is not a usable regular expression: ${(err as Error).message}`);
      return [];
    }
  });
  if (problems.length > 0) throw new ImageSetConfigError(problemsMessage(file, problems));
  return {
    operators,
    additionalImages,
    blockedImages,
    ...(typeof config.archiveSize === 'number' ? { archiveSize: config.archiveSize } : {}),
  };
}

function problemsMessage(file: string, problems: string[]): string {
  return problems.length === 1 ? problems[0]! : `${problems.length} problems in ImageSetConfiguration ${file}:\n${problems.join('\n')}`;
}

function toOperator(op: Record<string, Value>, at: string): OperatorCatalogConfig {
  const packages = ((op.packages ?? []) as Record<string, Value>[]).map((p): PackageSelection => ({
    name: String(p.name ?? ''),
    ...bounds(p),
    ...(typeof p.defaultChannel === 'string' ? { defaultChannel: p.defaultChannel } : {}),
    ...(Array.isArray(p.channels)
      ? { channels: (p.channels as Record<string, Value>[]).map((c): ChannelSelection => ({ name: String(c.name ?? ''), ...bounds(c) })) }
      : {}),
  }));
  return {
    catalog: String(op.catalog ?? ''),
    ...(typeof op.targetCatalog === 'string' ? { targetCatalog: op.targetCatalog } : {}),
    ...(typeof op.targetTag === 'string' ? { targetTag: op.targetTag } : {}),
    selection: {
      ...(op.full === true ? { full: true } : {}),
      ...(op.skipDependencies === true ? { skipDependencies: true } : {}),
      ...(packages.length > 0 ? { packages } : {}),
    },
    at,
  };
}

function bounds(v: Record<string, Value>): { minVersion?: string; maxVersion?: string } {
  return {
    ...(typeof v.minVersion === 'string' ? { minVersion: v.minVersion } : {}),
    ...(typeof v.maxVersion === 'string' ? { maxVersion: v.maxVersion } : {}),
  };
}

/**
 * The plain value of `node` when it has `shape`; otherwise records a problem (`file:line: path ...`).
 * Versions are taken as written, so `maxVersion: 1.10` stays "1.10" instead of the number 1.1.
 */
function check(node: unknown, shape: Shape, path: string, text: string, at: (n: Node | undefined) => string, problems: string[]): Value | undefined {
  const here = node as Node | undefined;
  const name = path === '' ? 'the document' : path;
  if (node === null || node === undefined || (isScalar(node) && node.value === null)) return undefined;
  switch (shape.kind) {
    case 'map': {
      if (!isMap(node)) {
        problems.push(`${at(here)}: ${name} must be a mapping`);
        return undefined;
      }
      const out: Record<string, Value> = {};
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const fieldPath = path === '' ? key : `${path}.${key}`;
        const generic = fieldPath.replace(/\[\d+\]/g, '[]');
        const field = shape.fields[key];
        if (field === undefined) {
          const reason = NOT_IMPLEMENTED[generic];
          problems.push(`${at(pair.key as Node)}: ${fieldPath}: ${reason ? `not supported (${reason})` : 'unknown field'}`);
          continue;
        }
        const value = check(pair.value, field, fieldPath, text, at, problems);
        if (value !== undefined) out[key] = value;
      }
      return out;
    }
    case 'list': {
      if (!isSeq(node)) {
        problems.push(`${at(here)}: ${name} must be a list`);
        return undefined;
      }
      return node.items.flatMap((item, i) => {
        const value = check(item, shape.item, `${path}[${i}]`, text, at, problems);
        return value === undefined ? [] : [value];
      });
    }
    default: {
      if (!isScalar(node)) {
        problems.push(`${at(here)}: ${name} must be a ${shape.kind}`);
        return undefined;
      }
      const value = node.value;
      if (shape.kind === 'version' && (typeof value === 'string' || typeof value === 'number') && node.range) {
        return typeof value === 'string' ? value : text.slice(node.range[0], node.range[1]);
      }
      const ok = shape.kind === 'integer' ? Number.isInteger(value) : typeof value === (shape.kind === 'version' ? 'string' : shape.kind);
      if (!ok) {
        problems.push(`${at(here)}: ${name} must be a ${shape.kind === 'version' ? 'version' : shape.kind}, got ${JSON.stringify(value)}`);
        return undefined;
      }
      return value as Value;
    }
  }
}

function nodeAt(node: unknown, path: string[]): unknown {
  let current = node;
  for (const key of path) current = isMap(current) ? current.get(key, true) : undefined;
  return current;
}
