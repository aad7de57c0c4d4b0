// registries.conf: a containers-registries.conf(5) version 2 drop-in for CRI-O and podman nodes
// outside OpenShift. One [[registry]] per mirrored source repository, and a [[registry.mirror]] per
// mirror and pull kind: `pull-from-mirror = "digest-only"` for the sources pinned by digest (what
// ImageDigestMirrorSet holds), `"tag-only"` for the sources referenced by tag only (ImageTagMirrorSet).
// `mirror-by-digest-only` is never set: containers/image refuses it beside a per-mirror pull-from-mirror.
import { compareCodeUnits } from '../util/compare.js';
import type { Mapping } from '../mirror/mapping.js';
import { mirrorRules, type PullKind } from './mirror-sets.js';

/** The pulls a mirror serves, in the words of containers-registries.conf(5). */
const PULL_FROM_MIRROR: Record<PullKind, string> = { digest: 'digest-only', tag: 'tag-only' };

const HEADER = [
  '# containers-registries.conf(5) version 2 drop-in written by olm-mirror, for CRI-O and podman nodes,',
  '# e.g. as /etc/containers/registries.conf.d/99-olm-mirror.conf. The mirrors serve the pulls they hold:',
  '# by digest for the sources pinned by digest, by tag for the sources referenced by tag only.',
  '',
].join('\n');

interface Mirror {
  readonly location: string;
  readonly pullFromMirror: string;
}

/** The file's text, sorted by source, then mirror location and pull kind; '' when there is no mapping. */
export function registriesConf(mappings: readonly Mapping[]): string {
  const mirrorsBySource = new Map<string, Mirror[]>();
  for (const pulls of ['digest', 'tag'] as const) {
    for (const { source, mirrors } of mirrorRules(mappings, 'repository', pulls).rules) {
      const list = mirrorsBySource.get(source) ?? [];
      list.push(...mirrors.map((location) => ({ location, pullFromMirror: PULL_FROM_MIRROR[pulls] })));
      mirrorsBySource.set(source, list);
    }
  }
  if (mirrorsBySource.size === 0) return '';
  const tables = [...mirrorsBySource.keys()].sort().map((source) => {
    const mirrors = mirrorsBySource.get(source)!
      .sort((a, b) => compareCodeUnits(a.location, b.location) || compareCodeUnits(a.pullFromMirror, b.pullFromMirror));
    return [
      '[[registry]]',
      `prefix = ${tomlString(source)}`,
      `location = ${tomlString(source)}`,
      ...mirrors.flatMap((m) => ['', '[[registry.mirror]]', `location = ${tomlString(m.location)}`, `pull-from-mirror = ${tomlString(m.pullFromMirror)}`]),
      '',
    ].join('\n');
  });
  return `${HEADER}\n${tables.join('\n')}`;
}

/** A TOML basic string: `\` and `"` escaped, control characters as \u escapes (references have none, but a file must never break). */
function tomlString(text: string): string {
  const escaped = text.replace(/[\\"\u0000-\u001f\u007f]/g,
    (c) => (c === '\\' || c === '"' ? `\\${c}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  return `"${escaped}"`;
}
