// Mappings as `catalog mirror` makes them, for the tests of the resource writers.
import type { Mapping } from '../../src/mirror/mapping.js';
import { mirrorTarget, parseMirrorDestination } from '../../src/reference/naming.js';
import { parseReference } from '../../src/reference/reference.js';

/** A well-formed sha256 digest made from `i`. */
export const digest = (i: number): string => `sha256:${i.toString(16).padStart(64, '0')}`;

/** Each source mapped to oc's target name under `dest` (mount(source, dest, 2)). */
export function catalogMappings(sources: readonly string[], dest = 'host:5000/olm'): Mapping[] {
  const d = parseMirrorDestination(dest);
  return sources.map((s) => {
    const source = parseReference(s);
    return { source, origin: 'test', destination: mirrorTarget(source, d, 2) };
  });
}
