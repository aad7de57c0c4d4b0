// catalogSource.yaml: the CatalogSource that points a cluster at the mirrored catalog image.
import { formatReference, type ImageReference } from '../reference/reference.js';
import { isDnsSubdomain } from './names.js';
import { toYaml } from './yaml.js';

export interface CatalogSourceOptions {
  /** metadata.name, e.g. `redhat-operators` (see resourceNameFrom). */
  name: string;
  /** The mirrored catalog image. */
  image: ImageReference | string;
  namespace?: string;
  displayName?: string;
  publisher?: string;
}

export function catalogSourceYaml(opts: CatalogSourceOptions): string {
  const namespace = opts.namespace ?? 'openshift-marketplace';
  for (const [what, value] of [['name', opts.name], ['namespace', namespace]] as const) {
    if (!isDnsSubdomain(value)) {
      throw new Error(`CatalogSource ${what} "${value}" is not a valid Kubernetes name (lowercase letters, digits, "-" and ".")`);
    }
  }
  const spec: Record<string, string> = {
    image: typeof opts.image === 'string' ? opts.image : formatReference(opts.image),
    sourceType: 'grpc',
  };
  if (opts.displayName !== undefined) spec.displayName = opts.displayName;
  if (opts.publisher !== undefined) spec.publisher = opts.publisher;
  return toYaml({
    apiVersion: 'operators.coreos.com/v1alpha1',
    kind: 'CatalogSource',
    metadata: { name: opts.name, namespace },
    spec,
  });
}
