// mapping.txt: the `SRC=DST` file `oc image mirror -f` and `olm-mirror image mirror -f` read.
import { formatReference, type ImageReference } from '../reference/reference.js';

export interface MappingEntry {
  readonly source: ImageReference;
  readonly target: ImageReference;
}

/** `SRC=DST` lines, deduplicated and sorted (code-unit order), with a trailing newline; '' when empty. */
export function formatMappingFile(entries: readonly MappingEntry[]): string {
  const lines = new Set(entries.map((e) => `${formatReference(e.source)}=${formatReference(e.target)}`));
  return [...lines].sort().map((line) => `${line}\n`).join('');
}
