// One YAML style for every generated resource: keys sorted and sequences not indented, as
// sigs.k8s.io/yaml (oc) writes them, and no line folding, so output is byte-for-byte reproducible.
import { stringify } from 'yaml';

export function toYaml(value: unknown): string {
  return stringify(value, { sortMapEntries: true, indentSeq: false, lineWidth: 0 });
}
