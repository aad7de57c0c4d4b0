// The entries of an index.json, and which of them (or which manifest reachable from one) an image
// reference means.
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

/** One entry: its JSON as found (unknown fields survive a rewrite) and its parsed descriptor. */
export interface IndexEntry { raw: Record<string, unknown>; descriptor: Descriptor }

interface Row extends IndexEntry { ref: ImageReference | null }

/**
 * The entries in index.json order, one per name (a later entry of the same name replaces the earlier,
 * and moves to the end), with lookups that cost no more than the entries of one repository.
 */
export class EntryTable {
  /** By name; entries without a name under keys no name can have. */
  private readonly rows = new Map<string, Row>();
  private readonly byRepository = new Map<string, Set<string>>();
  private unnamed = 0;

  constructor(entries: Iterable<IndexEntry>, private readonly childrenOf: ChildrenOf) {
    for (const entry of entries) this.set(entry);
  }

  /** Adds an entry, replacing the one of the same name. */
  set(entry: IndexEntry): void {
    const name = nameOf(entry.descriptor);
    if (name === undefined) {
      this.rows.set(`\u0000${this.unnamed++}`, { ...entry, ref: null });
      return;
    }
    this.rows.delete(name);
    const ref = parseName(name);
    this.rows.set(name, { ...entry, ref });
    if (ref !== null) {
      const key = repositoryKey(ref);
      let names = this.byRepository.get(key);
      if (names === undefined) this.byRepository.set(key, names = new Set());
      names.add(name);
    }
  }

  get(name: string): IndexEntry | undefined {
    return this.rows.get(name);
  }

  entries(): IndexEntry[] {
    return [...this.rows.values()];
  }

  /** The descriptor `ref` means, or undefined; `strict` for writers (see the top of this module). */
  async find(ref: ImageReference, strict: boolean): Promise<Descriptor | undefined> {
    const sameRepository = [...this.byRepository.get(repositoryKey(ref)) ?? []].map((name) => this.rows.get(name)!);
    if (ref.digest !== undefined) {
      const digest = ref.digest;
      const roots = (rows: Row[]): Descriptor[] => rows.map((r) => r.descriptor);
      return await this.reachable(roots(sameRepository), digest) ?? (strict ? undefined : await this.reachable(roots([...this.rows.values()]), digest));
    }
    const tag = ref.tag ?? 'latest';
    const tagged = sameRepository.filter((r) => r.ref!.digest === undefined && (r.ref!.tag ?? 'latest') === tag);
    if (tagged.length > 0) return tagged[tagged.length - 1]!.descriptor;
    if (strict) return undefined;
    for (const name of suffixNames(ref.repository, tag)) {
      const row = this.rows.get(name);
      if (row) return row.descriptor;
    }
    return undefined;
  }

  /** The descriptor with `digest` among `roots` (the latest first), else a manifest reachable from them. */
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
}

function repositoryKey(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

function parseName(name: string): ImageReference | null {
  try {
    return parseReference(name);
  } catch {
    return null;
  }
}

/** `ns/app:1.0`, `app:1.0`, `1.0` for repository `ns/app` and tag `1.0`: names other tools give, longest first. */
function suffixNames(repository: string, tag: string): string[] {
  const components = repository.split('/');
  return [...components.map((_, i) => `${components.slice(i).join('/')}:${tag}`), tag];
}
