// Small package-manifest catalogs written from code, for tests and the catalog-load benchmark.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dump } from 'js-yaml';
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

/**
 * Real-sized bundles for the catalog benchmark and the golden test: every CSV 20-100 KB (description,
 * alm-examples, permissions, several deployments), two CRDs with OpenAPI schemas beside it, and the
 * YAML features real catalogs use (block and folded scalars, quoted multi-line scalars, YAML 1.1 booleans).
 */
export function realisticCsvYaml(pkg: string, p: number, v: number, kilobytes = 20 + ((p * 7 + v * 13) % 81)): string {
  const name = `${pkg}.v1.${v}.0`;
  const targetBytes = kilobytes * 1024;
  const kinds = [`Widget${p}`, `Gadget${p}`];
  const examples = JSON.stringify(kinds.map((kind) => ({ apiVersion: `example${p}.com/v1`, kind, metadata: { name: `example-${kind.toLowerCase()}` }, spec: { size: 3, version: `1.${v}.0` } })), null, 2);
  const lines: string[] = [
    'apiVersion: operators.coreos.com/v1alpha1',
    'kind: ClusterServiceVersion',
    'metadata:',
    '  annotations:',
    `    alm-examples: '${examples.replace(/'/g, "''").replace(/\n/g, '\n      ')}'`,
    '    capabilities: Full Lifecycle',
    "    categories: 'Database, Integration &",
    "      Delivery'",
    `    containerImage: registry.example.com/${pkg}/operator@sha256:${hex(p, v, 1)}`,
    `    olm.skipRange: '>=1.0.0 <1.${v}.0'`,
    '    certified: "false"',
    `    description: Manages ${pkg} instances`,
    `  name: ${name}`,
    `  namespace: placeholder`,
    'spec:',
    `  version: 1.${v}.0`,
    ...(v > 0 ? [`  replaces: ${pkg}.v1.${v - 1}.0`] : []),
    ...(v > 1 ? ['  skips:', `  - ${pkg}.v1.${v - 2}.1`] : []),
    `  displayName: Operator ${p}`,
    '  maturity: stable',
    '  provider:',
    '    name: Example, Inc.',
    '  keywords: [operator, example, "1.0"]',
    '  customresourcedefinitions:',
    '    owned:',
    ...kinds.flatMap((kind) => [
      `    - name: ${kind.toLowerCase()}s.example${p}.com`,
      '      version: v1',
      `      kind: ${kind}`,
      `      displayName: ${kind}`,
      '      description: >-',
      `        A ${kind} managed by the operator,`,
      '        folded over two lines.',
      '      specDescriptors:',
      '      - path: size',
      '        displayName: Size',
      '        x-descriptors:',
      "        - 'urn:alm:descriptor:com.tectonic.ui:podCount'",
    ]),
    '    required:',
    `    - name: databases.shared.example.com`,
    '      version: v1alpha1',
    '      kind: Database',
    '  installModes:',
    '  - type: OwnNamespace',
    '    supported: true',
    '  - type: AllNamespaces',
    '    supported: yes',
    '  install:',
    '    strategy: deployment',
    '    spec:',
    '      clusterPermissions:',
    `      - serviceAccountName: ${pkg}-operator`,
    '        rules:',
  ];
  const tail: string[] = [
    '      deployments:',
    `      - name: ${pkg}-operator`,
    '        spec:',
    '          replicas: 1',
    '          selector:',
    '            matchLabels:',
    `              name: ${pkg}-operator`,
    '          template:',
    '            metadata:',
    '              labels:',
    `                name: ${pkg}-operator`,
    '            spec:',
    `              serviceAccountName: ${pkg}-operator`,
    '              containers:',
    '              - name: operator',
    `                image: registry.example.com/${pkg}/operator@sha256:${hex(p, v, 1)}`,
    '                command: ["/manager"]',
    '                args:',
    '                - --leader-elect',
    '                - "--metrics-addr=:8080"',
    '                env:',
    '                - name: WATCH_NAMESPACE',
    '                  valueFrom:',
    '                    fieldRef:',
    "                      fieldPath: metadata.annotations['olm.targetNamespaces']",
    `                - name: RELATED_IMAGE_OPERAND`,
    `                  value: registry.example.com/${pkg}/operand@sha256:${hex(p, v, 2)}`,
    '                resources:',
    '                  limits: {cpu: 500m, memory: 512Mi}',
    '              initContainers:',
    '              - name: init',
    `                image: registry.example.com/${pkg}/init:1.${v}.0`,
    '  relatedImages:',
    '  - name: operand',
    `    image: registry.example.com/${pkg}/operand@sha256:${hex(p, v, 2)}`,
    '  - name: proxy',
    `    image: "registry.example.com/shared/proxy:v4.${v}"`,
    '  description: |',
  ];
  let size = [...lines, ...tail].join('\n').length;
  for (let r = 0; size < targetBytes * 0.6; r++) {
    const rule = [
      `        - apiGroups: ["example${p}.com", ""]`,
      `          resources: [widgets, gadgets, configmaps-${r}, secrets, services]`,
      '          verbs: [get, list, watch, create, update, patch, delete]',
    ];
    lines.push(...rule);
    size += rule.join('\n').length + 1;
  }
  const description: string[] = [];
  for (let i = 0; size < targetBytes; i++) {
    const line = `    Paragraph ${i} of the ${pkg} operator's documentation: it installs, upgrades and backs up instances, with "quotes", 'apostrophes' & <tags>.`;
    description.push(line, '');
    size += line.length + 2;
  }
  return `${[...lines, ...tail, ...description].join('\n')}\n`;
}

/** A CRD of about 10 KB with an OpenAPI schema, for realisticCsvYaml's owned kinds. */
export function realisticCrdYaml(p: number, kind: string): string {
  const plural = `${kind.toLowerCase()}s`;
  const properties = Array.from({ length: 60 }, (_, i) => [
    `              field${i}:`,
    `                description: Field ${i} of the ${kind} spec, which configures part ${i} of the instance.`,
    `                type: ${i % 3 === 0 ? 'integer' : i % 3 === 1 ? 'string' : 'boolean'}`,
  ].join('\n'));
  return `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${plural}.example${p}.com
spec:
  group: example${p}.com
  names:
    kind: ${kind}
    listKind: ${kind}List
    plural: ${plural}
    singular: ${kind.toLowerCase()}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
${properties.join('\n')}
  - name: v1beta1
    served: true
    storage: false
`;
}

/** `packages` packages of `versions` real-sized bundles each (see realisticCsvYaml), one channel, replaces chains. */
export async function writeRealisticCatalog(root: string, packages: number, versions: number): Promise<void> {
  for (let p = 0; p < packages; p++) {
    const pkg = `operator-${p}`;
    const dir = join(root, pkg);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `${pkg}.package.yaml`), `packageName: ${pkg}\nchannels:\n- name: stable\n  currentCSV: ${pkg}.v1.${versions - 1}.0\ndefaultChannel: stable\n`);
    for (let v = 0; v < versions; v++) {
      const bundleDir = join(dir, `1.${v}.0`);
      await mkdir(bundleDir, { recursive: true });
      await writeFile(join(bundleDir, `${pkg}.v1.${v}.0.clusterserviceversion.yaml`), realisticCsvYaml(pkg, p, v));
      for (const kind of [`Widget${p}`, `Gadget${p}`]) await writeFile(join(bundleDir, `${kind.toLowerCase()}s.crd.yaml`), realisticCrdYaml(p, kind));
    }
  }
}

/**
 * A file-based catalog the size of a real operator index: per package one `catalog.json` stream of
 * pretty-printed olm.package, olm.channel and olm.bundle objects (every other package a `catalog.yaml`), each bundle carrying its CSV as a
 * olm.csv.metadata property (about 28 KB of many small values a bundle), as `opm render` writes them.
 */
export async function writeRealisticFileBasedCatalog(root: string, packages: number, bundlesPerPackage: number): Promise<void> {
  for (let p = 0; p < packages; p++) {
    const pkg = `operator-${p}`;
    const names = Array.from({ length: bundlesPerPackage }, (_, v) => `${pkg}.v1.${v}.0`);
    const docs: unknown[] = [
      { schema: 'olm.package', name: pkg, defaultChannel: 'stable', description: `Operator ${p}` },
      { schema: 'olm.channel', package: pkg, name: 'stable', entries: names.map((name, v) => ({ name, ...(v > 0 ? { replaces: names[v - 1] } : {}), skipRange: `<1.${v}.0` })) },
      ...names.map((name, v) => ({
        schema: 'olm.bundle',
        name,
        package: pkg,
        image: `registry.example.com/${pkg}/bundle@sha256:${hex(p, v, 3)}`,
        properties: [
          { type: 'olm.package', value: { packageName: pkg, version: `1.${v}.0` } },
          { type: 'olm.gvk', value: { group: `example${p}.com`, kind: `Widget${p}`, version: 'v1' } },
          { type: 'olm.csv.metadata', value: csvMetadata(pkg, p, v) },
        ],
        relatedImages: [
          { name: 'operator', image: `registry.example.com/${pkg}/operator@sha256:${hex(p, v, 1)}` },
          { name: 'operand', image: `registry.example.com/${pkg}/operand@sha256:${hex(p, v, 2)}` },
        ],
      })),
    ];
    await mkdir(join(root, pkg), { recursive: true });
    // Half the packages in YAML, as catalogs assembled from several sources have them.
    if (p % 2 === 0) await writeFile(join(root, pkg, 'catalog.json'), docs.map((d) => JSON.stringify(d, null, 2)).join('\n'));
    else await writeFile(join(root, pkg, 'catalog.yaml'), docs.map((d) => `---\n${dump(d, { lineWidth: -1 })}`).join(''));
  }
}

/** The olm.csv.metadata value `opm render` derives from a CSV: descriptors, annotations, a long description. */
function csvMetadata(pkg: string, p: number, v: number): Record<string, unknown> {
  const owned = [`Widget${p}`, `Gadget${p}`].map((kind) => ({
    name: `${kind.toLowerCase()}s.example${p}.com`, version: 'v1', kind, displayName: kind, description: `A ${kind} managed by the operator.`,
    specDescriptors: Array.from({ length: 33 }, (_, i) => ({
      path: `spec.field${i}`, displayName: `Field ${i}`, description: `Field ${i} of the ${kind} spec.`,
      'x-descriptors': ['urn:alm:descriptor:com.tectonic.ui:fieldGroup:config', `urn:alm:descriptor:com.tectonic.ui:number`],
    })),
  }));
  return {
    annotations: { 'alm-examples': JSON.stringify(owned.map((o) => ({ apiVersion: `example${p}.com/v1`, kind: o.kind, spec: { size: 3 } }))), capabilities: 'Full Lifecycle', categories: 'Database' },
    crdDescriptions: { owned },
    description: Array.from({ length: 40 }, (_, i) => `Paragraph ${i} about ${pkg} 1.${v}.0: it installs, upgrades and backs up instances.`).join('\n\n'),
    displayName: `Operator ${p}`,
    installModes: ['OwnNamespace', 'SingleNamespace', 'MultiNamespace', 'AllNamespaces'].map((type) => ({ type, supported: type !== 'MultiNamespace' })),
    keywords: ['operator', 'example', pkg],
    links: [{ name: 'Documentation', url: `https://example.com/${pkg}` }],
    maintainers: [{ name: 'Example', email: 'ops@example.com' }],
    maturity: 'stable',
    provider: { name: 'Example, Inc.' },
  };
}
