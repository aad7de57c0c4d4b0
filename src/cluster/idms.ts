// imageDigestMirrorSet.yaml (config.openshift.io/v1), the successor of ImageContentSourcePolicy.
import { mirrorSetsYaml, type MirrorSetOptions, type MirrorSetResult } from './mirror-sets.js';

export function imageDigestMirrorSets(opts: MirrorSetOptions): MirrorSetResult {
  return mirrorSetsYaml(
    { apiVersion: 'config.openshift.io/v1', kind: 'ImageDigestMirrorSet', listField: 'imageDigestMirrors', pulls: 'digest' },
    opts,
  );
}
