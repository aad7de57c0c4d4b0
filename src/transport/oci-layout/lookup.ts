// Which index.json entry (or manifest reachable from one) an image reference means.
//
// olm-mirror names every entry with its full reference (`org.opencontainers.image.ref.name`):
// `quay.io/ns/app:1.0` when put by tag, `quay.io/ns/app@sha256:…` when put by digest only. Layouts
// written by other tools name entries as they were told (`skopeo copy … oci:DIR:name`), so reading
// falls back step by step:
//   by tag:    an entry whose name is (or parses to) the same registry/repository:tag;
//              reading only: an entry named by a shorter suffix of it, longest first —
//              `ns/app:1.0`, `app:1.0`, then the bare tag `1.0` (skopeo's `oci:DIR:1.0` habit).
//   by digest: an entry of the same repository with that digest, or a manifest reachable from one
//              (a manifest list's child); reading only: any entry or reachable manifest with that
//              digest, whatever its name (content addressing makes that safe).
// Writers (`forPush` lookups) use only the first step of each, so that an image already stored under
// another name still gets its own entry.
import type { Descriptor } from '../../manifest/manifest.js';
import { formatReference, parseReference, type ImageReference } from '../../reference/reference.js';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** The entry name an image is stored under: its full reference, by tag when it has one. */
export function entryName(ref: ImageReference, digest: string): string {
  return ref.tag !== undefined
    ? formatReference({ registry: ref.registry, repository: ref.repository, tag: ref.tag })
    : formatReference({ registry: ref.registry, repository: ref.repository, digest });
}

export function nameOf(entry: Descriptor): string | undefined {
  return entry.annotations?.[REF_NAME_ANNOTATION];
}

/** How to find the manifests an index manifest lists (read from the store's blobs). */
export type ChildrenOf = (index: Descriptor) => Promise<readonly Descriptor[]>;

export class EntryLookup {
  /** Entry names parsed as references (null: not a reference). */
  private readonly parsed = new Map<string, ImageReference | null>();

  constructor(private readonly childrenOf: ChildrenOf) {}

  /** The descriptor `ref` means among `entries` (the last one wins when names repeat), or undefined. */
  async find(entries: readonly Descriptor[], ref: ImageReference, strict: boolean): Promise<Descriptor | undefined> {
    const sameRepository = entries.filter((e) => {
      const named = this.reference(nameOf(e));
      return named !== null && named.registry === ref.registry && named.repository === ref.repository;
    });
    if (ref.digest !== undefined) {
      const digest = ref.digest;
      return await this.reachable(sameRepository, digest) ?? (strict ? undefined : await this.reachable(entries, digest));
    }
    const tag = ref.tag ?? 'latest';
    const tagged = sameRepository.filter((e) => (this.reference(nameOf(e))!.tag ?? 'latest') === tag && this.reference(nameOf(e))!.digest === undefined);
    if (tagged.length > 0) return tagged[tagged.length - 1];
    if (strict) return undefined;
    for (const name of suffixNames(ref.repository, tag)) {
      const named = entries.filter((e) => nameOf(e) === name);
      if (named.length > 0) return named[named.length - 1];
    }
    return undefined;
  }

  /** The entry with `digest` among `roots`, else a manifest reachable from them. */
  private async reachable(roots: readonly Descriptor[], digest: string): Promise<Descriptor | undefined> {
    const seen = new Set<string>();
    let level: readonly Descriptor[] = roots;
    while (level.length > 0) {
      const hit = [...level].reverse().find((d) => d.digest === digest);
      if (hit) return hit;
      const next: Descriptor[] = [];
      for (const d of level) {
        if (seen.has(d.digest)) continue;
        seen.add(d.digest);
        next.push(...await this.childrenOf(d));
      }
      level = next;
    }
    return undefined;
  }

  private reference(name: string | undefined): ImageReference | null {
    if (name === undefined) return null;
    let ref = this.parsed.get(name);
    if (ref === undefined) {
      try {
        ref = parseReference(name);
      } catch {
        ref = null;
      }
      this.parsed.set(name, ref);
    }
    return ref;
  }
}

/** `ns/app:1.0`, `app:1.0`, `1.0` for repository `ns/app` and tag `1.0`: names other tools give, longest first. */
function suffixNames(repository: string, tag: string): string[] {
  const components = repository.split('/');
  return [...components.map((_, i) => `${components.slice(i).join('/')}:${tag}`), tag];
}
