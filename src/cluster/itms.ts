// imageTagMirrorSet.yaml (config.openshift.io/v1, OpenShift 4.13 and later): the sources referenced
// by tag only, which ImageContentSourcePolicy and ImageDigestMirrorSet cannot hold.
import { mirrorSetsYaml, type MirrorSetOptions, type MirrorSetResult } from './mirror-sets.js';

export function imageTagMirrorSets(opts: MirrorSetOptions): MirrorSetResult {
  return mirrorSetsYaml(
    { apiVersion: 'config.openshift.io/v1', kind: 'ImageTagMirrorSet', listField: 'imageTagMirrors', pulls: 'tag' },
    opts,
  );
}
