// imageContentSourcePolicy.yaml (operator.openshift.io/v1alpha1), as `oc adm catalog mirror` writes it.
import { mirrorSetsYaml, type MirrorSetOptions, type MirrorSetResult } from './mirror-sets.js';

export function imageContentSourcePolicies(opts: MirrorSetOptions): MirrorSetResult {
  return mirrorSetsYaml(
    { apiVersion: 'operator.openshift.io/v1alpha1', kind: 'ImageContentSourcePolicy', listField: 'repositoryDigestMirrors', pulls: 'digest' },
    opts,
  );
}
