// The files of the manifests directory, one writer each: adding a resource is adding an entry here.
import { withDigest, type ImageReference } from '../reference/reference.js';
import { catalogSourceYaml } from './catalog-source.js';
import { clusterCatalogYaml, MAX_CLUSTER_CATALOG_NAME_LENGTH } from './cluster-catalog.js';
import { imageContentSourcePolicies } from './icsp.js';
import { imageDigestMirrorSets } from './idms.js';
import { imageTagMirrorSets } from './itms.js';
import { formatMappingFile, type Mapping } from '../mirror/mapping.js';
import type { MirrorScope, MirrorSetOptions } from './mirror-sets.js';
import { resourceNameFrom } from './names.js';
import { registriesConf } from './registries-conf.js';

/** What the writers are made from: the catalog and every image's mapping. */
export interface ManifestsContent {
  /** The catalog's name, the last component of its repository, e.g. `redhat-operator-index`. */
  name: string;
  /** The mirrored catalog: its image as mapping.txt names it (by the source's tag), and the digest it was read and
   * mirrored by (a manifest list's own digest when it is one). Absent for images that belong to no catalog. */
  catalog?: { target: ImageReference; digest: string };
  mappings: readonly Mapping[];
  /** For the mirror sets (ICSP, IDMS, ITMS): --icsp-scope. */
  scope: MirrorScope;
  /** For the mirror sets: the maximum bytes of each object (--max-icsp-size). */
  maxSize: number;
}

export interface ResourceWriter {
  /** The file's name in the manifests directory. */
  readonly file: string;
  /** The file's text; undefined when it would hold nothing (no source of a mirror set's pull kind). */
  produce(content: ManifestsContent): string | undefined;
}

const mirrorSetOptions = (c: ManifestsContent): MirrorSetOptions =>
  ({ catalogName: c.name, mappings: c.mappings, scope: c.scope, maxSize: c.maxSize });

const nonEmpty = (text: string): string | undefined => (text === '' ? undefined : text);

/** Every file of the manifests directory, sorted by file name (code-unit order). */
export const RESOURCE_WRITERS: readonly ResourceWriter[] = [
  { file: 'catalogSource.yaml', produce: (c) => c.catalog && catalogSourceYaml({ name: resourceNameFrom(c.name), image: c.catalog.target }) },
  {
    file: 'clusterCatalog.yaml',
    produce: (c) => c.catalog && clusterCatalogYaml({
      name: resourceNameFrom(c.name, MAX_CLUSTER_CATALOG_NAME_LENGTH), image: withDigest(c.catalog.target, c.catalog.digest),
    }),
  },
  { file: 'imageContentSourcePolicy.yaml', produce: (c) => nonEmpty(imageContentSourcePolicies(mirrorSetOptions(c)).yaml) },
  { file: 'imageDigestMirrorSet.yaml', produce: (c) => nonEmpty(imageDigestMirrorSets(mirrorSetOptions(c)).yaml) },
  { file: 'imageTagMirrorSet.yaml', produce: (c) => nonEmpty(imageTagMirrorSets(mirrorSetOptions(c)).yaml) },
  { file: 'mapping.txt', produce: (c) => nonEmpty(formatMappingFile(c.mappings)) },
  { file: 'registries.conf', produce: (c) => nonEmpty(registriesConf(c.mappings)) },
];
