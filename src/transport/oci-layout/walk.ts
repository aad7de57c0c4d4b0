// The tree of one image: its manifest, a list's child manifests, each image's config and layers.
import type { Descriptor, ParsedManifest } from '../../manifest/manifest.js';

export type TreeRole = 'manifest' | 'config' | 'layer';

/**
 * Visits `root` and everything below it, depth first in manifest order. `visit` returns the parsed
 * manifest for a manifest it wants descended into (undefined: stop there).
 */
export async function walkTree(root: Descriptor, visit: (d: Descriptor, role: TreeRole) => Promise<ParsedManifest | undefined>): Promise<void> {
  const parsed = await visit(root, 'manifest');
  if (parsed === undefined) return;
  if (parsed.kind === 'index') {
    for (const child of parsed.manifests) await walkTree(child, visit);
    return;
  }
  await visit(parsed.config, 'config');
  for (const layer of parsed.layers) await visit(layer, 'layer');
}
