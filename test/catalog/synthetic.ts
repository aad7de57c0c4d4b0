// Small package-manifest catalogs written from code, for tests and the catalog-load benchmark.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';

export interface SyntheticBundle {
  name: string;
  version: string;
  replaces?: string;
  skips?: string[];
  /** Owned CRD plurals (group example.com, kind = capitalised plural, version v1); a CRD file is written for each unless `omitCrds`. */
  owns?: string[];
  /** Required CRD plurals (group example.com, version v1): an olm.gvk.required dependency. */
  requires?: string[];
  omitCrds?: boolean;
  operatorImage?: string;
  relatedImages?: string[];
}

export function csvDoc(b: SyntheticBundle): Record<string, unknown> {
  const owned = (b.owns ?? []).map((plural) => ({ name: `${plural}.example.com`, version: 'v1', kind: kindOf(plural) }));
  return {
    apiVersion: 'operators.coreos.com/v1alpha1',
    kind: 'ClusterServiceVersion',
    metadata: { name: b.name, annotations: { 'olm.skipRange': `<${b.version}` } },
    spec: {
      version: b.version,
      ...(b.replaces ? { replaces: b.replaces } : {}),
      ...(b.skips ? { skips: b.skips } : {}),
      customresourcedefinitions: {
        owned,
        ...(b.requires ? { required: b.requires.map((plural) => ({ name: `${plural}.example.com`, version: 'v1', kind: kindOf(plural) })) } : {}),
      },
      install: {
        strategy: 'deployment',
        spec: {
          deployments: [
            {
              name: `${b.name}-operator`,
              spec: { template: { spec: { containers: [{ name: 'operator', image: b.operatorImage ?? `registry.example.com/op/${b.name}:latest` }] } } },
            },
          ],
        },
      },
      relatedImages: (b.relatedImages ?? []).map((image, i) => ({ name: `related-${i}`, image })),
    },
  };
}

export function crdDoc(plural: string): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.example.com` },
    spec: { group: 'example.com', names: { kind: kindOf(plural), plural }, scope: 'Namespaced', versions: [{ name: 'v1', served: true, storage: true }] },
  };
}

/** Writes `<root>/<pkg>/<pkg>.package.yaml` and one folder per bundle (CSV + its CRDs). */
export async function writePackage(root: string, pkg: string, channels: Record<string, string>, bundles: SyntheticBundle[], defaultChannel?: string): Promise<void> {
  const dir = join(root, pkg);
  await mkdir(dir, { recursive: true });
  const manifest = {
    packageName: pkg,
    channels: Object.entries(channels).map(([name, currentCSV]) => ({ name, currentCSV })),
    ...(defaultChannel ? { defaultChannel } : {}),
  };
  await writeFile(join(dir, `${pkg}.package.yaml`), stringify(manifest));
  for (const b of bundles) {
    const bundleDir = join(dir, b.version);
    await mkdir(bundleDir, { recursive: true });
    await writeFile(join(bundleDir, `${b.name}.clusterserviceversion.yaml`), stringify(csvDoc(b)));
    if (b.omitCrds) continue;
    for (const plural of b.owns ?? []) await writeFile(join(bundleDir, `${plural}.crd.yaml`), stringify(crdDoc(plural)));
  }
}

/** `packages` packages of `versions` bundles each, one channel, a replaces chain, 1 CRD + 1 related image per bundle. */
export async function writeSyntheticCatalog(root: string, packages: number, versions: number): Promise<void> {
  for (let p = 0; p < packages; p++) {
    const pkg = `operator-${p}`;
    const bundles: SyntheticBundle[] = [];
    for (let v = 0; v < versions; v++) {
      bundles.push({
        name: `${pkg}.v1.${v}.0`,
        version: `1.${v}.0`,
        ...(v > 0 ? { replaces: `${pkg}.v1.${v - 1}.0` } : {}),
        owns: [`widgets${p}`],
        operatorImage: `registry.example.com/${pkg}/operator@sha256:${hex(p, v, 1)}`,
        relatedImages: [`registry.example.com/${pkg}/operand@sha256:${hex(p, v, 2)}`],
      });
    }
    await writePackage(root, pkg, { stable: bundles[bundles.length - 1]!.name }, bundles);
  }
}

function kindOf(plural: string): string {
  return plural.charAt(0).toUpperCase() + plural.slice(1, -1);
}

function hex(...parts: number[]): string {
  return parts.map((n) => n.toString(16).padStart(8, '0')).join('').padEnd(64, '0');
}
