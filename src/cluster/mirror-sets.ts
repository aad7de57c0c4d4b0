// What ImageContentSourcePolicy, ImageDigestMirrorSet and ImageTagMirrorSet have in common: the
// sources of one pull kind (pinned by digest, or by tag only) grouped into {source, mirrors} rules
// at repository or registry scope, sorted, and packed into as few objects as fit under a size limit
// (the API server rejects objects that are too big).
import { Buffer } from 'node:buffer';
import { formatReference, type ImageReference } from '../reference/reference.js';
import type { Mapping } from '../mirror/mapping.js';
import { MAX_MIRROR_SET_SIZE, resourceNameFrom } from './names.js';
import { toYaml } from './yaml.js';

/** `repository`: one rule per source repository; `registry`: one rule per source registry. */
export type MirrorScope = 'repository' | 'registry';

export { MAX_MIRROR_SET_SIZE } from './names.js';

/**
 * Which pulls a kind's mirrors serve: `digest` (ICSP, IDMS) holds the sources pinned by digest,
 * `tag` (ITMS) the sources referenced by tag only; a cluster consults each kind for its pulls only.
 */
export type PullKind = 'digest' | 'tag';

export interface MirrorRule {
  readonly source: string;
  readonly mirrors: readonly string[];
}

export interface MirrorSetOptions {
  /** The catalog's repository name, e.g. `redhat-operators` or `redhat/redhat-operator-index`. */
  catalogName: string;
  mappings: readonly Mapping[];
  scope: MirrorScope;
  /** Maximum bytes of each serialised object, 1..MAX_MIRROR_SET_SIZE. */
  maxSize: number;
}

export interface MirrorSetResult {
  /** YAML documents separated by `---`; '' when no source is of the kind's pull kind. */
  yaml: string;
  objects: number;
  /**
   * Sources of the other pull kind, left out because a cluster consults these mirrors only for its
   * own pull kind. For ICSP and IDMS these are the tag-only sources, for which oc prints
   * `no digest mapping available for <source>, skip writing to ImageContentSourcePolicy`.
   */
  skipped: ImageReference[];
}

/** The parts that differ between the kinds. */
export interface MirrorSetKind {
  readonly apiVersion: string;
  readonly kind: string;
  /** The spec field holding the rules. */
  readonly listField: string;
  readonly pulls: PullKind;
}

export const CATALOG_LABEL = 'operators.openshift.org/catalog';
/** Leaves room for `-<index>` within the 253 characters of a name. */
const BASE_NAME_MAX_LENGTH = 240;
const LIST_INDENT = 2;

/** How `source` is pulled: by digest when it has one (`repo:tag@digest` too), by tag otherwise. */
export function pullKindOf(source: ImageReference): PullKind {
  return source.digest === undefined ? 'tag' : 'digest';
}

/**
 * Rules for the sources pulled by `pulls`, sorted by source with sorted, distinct mirrors; the
 * sources of the other pull kind in `skipped`, deduplicated and sorted.
 */
export function mirrorRules(mappings: readonly Mapping[], scope: MirrorScope, pulls: PullKind)
  : { rules: MirrorRule[]; skipped: ImageReference[] } {
  const mirrorsBySource = new Map<string, Set<string>>();
  const skipped = new Map<string, ImageReference>();
  for (const { source, destination: target } of mappings) {
    if (pullKindOf(source) !== pulls) {
      skipped.set(formatReference(source), source);
      continue;
    }
    const [from, to] = scope === 'registry'
      ? [source.registry, target.registry]
      : [`${source.registry}/${source.repository}`, `${target.registry}/${target.repository}`];
    let mirrors = mirrorsBySource.get(from);
    if (!mirrors) mirrorsBySource.set(from, (mirrors = new Set()));
    mirrors.add(to);
  }
  const rules = [...mirrorsBySource.keys()].sort().map((source) => ({ source, mirrors: [...mirrorsBySource.get(source)!].sort() }));
  const skippedSorted = [...skipped.keys()].sort().map((key) => skipped.get(key)!);
  return { rules, skipped: skippedSorted };
}

export function mirrorSetsYaml(kind: MirrorSetKind, opts: MirrorSetOptions): MirrorSetResult {
  const { maxSize } = opts;
  if (!Number.isInteger(maxSize) || maxSize < 1 || maxSize > MAX_MIRROR_SET_SIZE) {
    throw new RangeError(`maximum ${kind.kind} size must be an integer from 1 to ${MAX_MIRROR_SET_SIZE} bytes, got ${maxSize}`);
  }
  const baseName = resourceNameFrom(opts.catalogName, BASE_NAME_MAX_LENGTH);
  const { rules, skipped } = mirrorRules(opts.mappings, opts.scope, kind.pulls);
  const render = (index: number, list: readonly MirrorRule[]): string => toYaml({
    apiVersion: kind.apiVersion,
    kind: kind.kind,
    metadata: { name: `${baseName}-${index}`, labels: { [CATALOG_LABEL]: 'true' } },
    spec: { [kind.listField]: list },
  });

  // Greedy packing in sorted order. A rule adds exactly its own block to an object, so sizes are
  // summed instead of re-serialising the growing object for every rule.
  const documents: string[] = [];
  let current: MirrorRule[] = [];
  let currentSize = 0;
  for (const rule of rules) {
    const size = ruleSize(rule);
    if (current.length > 0 && currentSize + size <= maxSize) {
      current.push(rule);
      currentSize += size;
      continue;
    }
    if (current.length > 0) documents.push(render(documents.length, current));
    current = [rule];
    currentSize = Buffer.byteLength(render(documents.length, current));
    if (currentSize > maxSize) {
      throw new RangeError(`the ${kind.kind} rule for ${rule.source} (mirrors ${rule.mirrors.join(', ')}) takes ${currentSize} bytes `
        + `in an object of its own, more than the maximum size of ${maxSize} bytes`);
    }
  }
  if (current.length > 0) documents.push(render(documents.length, current));
  return { yaml: documents.join('---\n'), objects: documents.length, skipped };
}

/** Bytes one rule adds to an object: its block as a sequence item, indented under `spec.<listField>`. */
function ruleSize(rule: MirrorRule): number {
  const block = toYaml([rule]);
  const lines = block.split('\n').length - 1;
  return Buffer.byteLength(block) + LIST_INDENT * lines;
}

/** The sources referenced by tag only, deduplicated and sorted: what ImageContentSourcePolicy and ImageDigestMirrorSet leave out. */
export function tagOnlySources(mappings: readonly Mapping[]): ImageReference[] {
  return mirrorRules(mappings, 'repository', 'digest').skipped;
}
