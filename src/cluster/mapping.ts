// mapping.txt: the `SRC=DST` file `oc image mirror -f` and `olm-mirror image mirror -f` read.
import { formatReference, type ImageReference } from '../reference/reference.js';

export interface MappingEntry {
  readonly source: ImageReference;
  readonly target: ImageReference;
  /** The source as oc writes it (e.g. `index.docker.io/...` kept), when it was named from the catalog's text. */
  readonly sourceText?: string;
}

/** `SRC=DST` lines, deduplicated and sorted (code-unit order), with a trailing newline; '' when empty. */
export function formatMappingFile(entries: readonly MappingEntry[]): string {
  const lines = new Set(entries.map((e) => `${e.sourceText ?? formatReference(e.source)}=${formatReference(e.target)}`));
  return [...lines].sort().map((line) => `${line}\n`).join('');
}
