// clusterCatalog.yaml: the OLM v1 ClusterCatalog (olm.operatorframework.io/v1) that serves the
// mirrored catalog image, pinned by digest so the cluster serves exactly the catalog that was mirrored.
import { formatReference, withDigest, type ImageReference } from '../reference/reference.js';
import { isDnsSubdomain } from './names.js';
import { toYaml } from './yaml.js';

/** catalogd copies the name into the label `olm.operatorframework.io/metadata.name`, whose values are at most 63 characters. */
export const MAX_CLUSTER_CATALOG_NAME_LENGTH = 63;

export interface ClusterCatalogOptions {
  /** metadata.name, e.g. `redhat-operators` (see resourceNameFrom), at most MAX_CLUSTER_CATALOG_NAME_LENGTH long. */
  name: string;
  /** The mirrored catalog image; it must carry a digest (a tag beside it is left out). */
  image: ImageReference;
}

export function clusterCatalogYaml(opts: ClusterCatalogOptions): string {
  if (!isDnsSubdomain(opts.name) || opts.name.length > MAX_CLUSTER_CATALOG_NAME_LENGTH) {
    throw new Error(`ClusterCatalog name "${opts.name}" is not a valid name (a Kubernetes name of at most `
      + `${MAX_CLUSTER_CATALOG_NAME_LENGTH} characters: lowercase letters, digits, "-" and ".")`);
  }
  const { digest } = opts.image;
  if (digest === undefined) throw new Error(`ClusterCatalog image ${formatReference(opts.image)} is not pinned by digest`);
  return toYaml({
    apiVersion: 'olm.operatorframework.io/v1',
    kind: 'ClusterCatalog',
    metadata: { name: opts.name },
    spec: { source: { type: 'Image', image: { ref: formatReference(withDigest(opts.image, digest)) } } },
  });
}
