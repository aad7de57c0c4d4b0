// A small Package Manifest Format catalog for the demo: one operator in two versions on two
// channels, whose CSVs reference images by digest (as real catalogs do) and one by tag.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface SampleImages {
  /** The operator image, pinned by digest. */
  operator: string;
  /** An operand image, a multi-arch manifest list pinned by digest. */
  operand: string;
  /** A helper image referenced by tag (shows oc's "no digest mapping" for ICSP). */
  helper: string;
}

const CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: democlusters.demo.example.com
spec:
  group: demo.example.com
  names: {kind: DemoCluster, listKind: DemoClusterList, plural: democlusters, singular: democluster}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`;

function csv(version: string, replaces: string | undefined, images: SampleImages): string {
  return `apiVersion: operators.coreos.com/v1alpha1
kind: ClusterServiceVersion
metadata:
  name: demo-operator.v${version}
  annotations:
    containerImage: ${images.operator}
spec:
  displayName: Demo Operator
  version: ${version}
${replaces ? `  replaces: ${replaces}\n` : ''}  customresourcedefinitions:
    owned:
    - name: democlusters.demo.example.com
      version: v1
      kind: DemoCluster
  install:
    strategy: deployment
    spec:
      deployments:
      - name: demo-operator
        spec:
          template:
            spec:
              containers:
              - name: operator
                image: ${images.operator}
              initContainers:
              - name: prepare
                image: ${images.helper}
  relatedImages:
  - name: operand
    image: ${images.operand}
`;
}

/** Writes `<dir>/demo-operator/{demo-operator.package.yaml, 1.0.0/, 1.1.0/}` and returns dir. */
export async function writeSampleCatalog(dir: string, images: SampleImages): Promise<string> {
  const pkg = join(dir, 'demo-operator');
  await mkdir(join(pkg, '1.0.0'), { recursive: true });
  await mkdir(join(pkg, '1.1.0'), { recursive: true });
  await writeFile(join(pkg, 'demo-operator.package.yaml'), `packageName: demo-operator
channels:
- name: stable
  currentCSV: demo-operator.v1.1.0
- name: candidate
  currentCSV: demo-operator.v1.1.0
defaultChannel: stable
`);
  await writeFile(join(pkg, '1.0.0', 'demo-operator.clusterserviceversion.yaml'), csv('1.0.0', undefined, images));
  await writeFile(join(pkg, '1.0.0', 'democluster.crd.yaml'), CRD);
  await writeFile(join(pkg, '1.1.0', 'demo-operator.clusterserviceversion.yaml'), csv('1.1.0', 'demo-operator.v1.0.0', images));
  await writeFile(join(pkg, '1.1.0', 'democluster.crd.yaml'), CRD);
  return dir;
}
