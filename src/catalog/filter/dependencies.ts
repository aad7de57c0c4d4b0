// What a bundle needs from other bundles: olm.package.required (a package in a version range) and
// olm.gvk.required (an API some bundle provides; for package manifests the CSV's required CRDs and
// API services), as the catalog readers record them in `dependencies` and `requiredApis`.
import type { Api, Bundle, Catalog } from '../model.js';
import { isMapping } from '../documents.js';
import { parseRange, type Version, type VersionRange } from './semver.js';

export type Requirement =
  | { readonly kind: 'package'; readonly packageName: string; readonly range: string; readonly accepts: VersionRange }
  | { readonly kind: 'api'; readonly api: Pick<Api, 'group' | 'version' | 'kind'> }
  /** A dependency this tool does not resolve (olm.constraint, olm.label, or one it cannot read). */
  | { readonly kind: 'unresolved'; readonly type: string; readonly value: string; readonly why: string };

/** The bundle's requirements, each API once. */
export function requirementsOf(bundle: Bundle): Requirement[] {
  const out: Requirement[] = [];
  const apis = new Set<string>();
  const addApi = (api: Pick<Api, 'group' | 'version' | 'kind'>) => {
    const key = apiKey(api);
    if (apis.has(key)) return;
    apis.add(key);
    out.push({ kind: 'api', api: { group: api.group, version: api.version, kind: api.kind } });
  };
  for (const dep of bundle.dependencies) {
    let value: unknown;
    try {
      value = JSON.parse(dep.value);
    } catch {
      out.push({ kind: 'unresolved', type: dep.type, value: dep.value, why: 'its value is not JSON' });
      continue;
    }
    if (dep.type === 'olm.package' && isMapping(value) && typeof value.packageName === 'string') {
      const range = typeof value.version === 'string' ? value.version : '';
      try {
        out.push({ kind: 'package', packageName: value.packageName, range, accepts: range.trim() === '' ? () => true : parseRange(range) });
      } catch (err) {
        out.push({ kind: 'unresolved', type: dep.type, value: dep.value, why: (err as Error).message });
      }
    } else if (dep.type === 'olm.gvk' && isMapping(value)) {
      addApi({ group: String(value.group ?? ''), version: String(value.version ?? ''), kind: String(value.kind ?? '') });
    } else {
      out.push({ kind: 'unresolved', type: dep.type, value: dep.value, why: 'this kind of dependency is not resolved' });
    }
  }
  for (const api of bundle.requiredApis) addApi(api);
  return out;
}

export function describeRequirement(r: Requirement): string {
  switch (r.kind) {
    case 'package': return `package ${r.packageName}${r.range.trim() ? ` ${r.range.trim()}` : ''}`;
    case 'api': return `API ${r.api.group}/${r.api.version} ${r.api.kind}`;
    case 'unresolved': return `${r.type} ${r.value}`;
  }
}

/** Which packages provide which APIs, for finding a provider fast. */
export class ApiProviders {
  private readonly packagesByApi = new Map<string, Set<string>>();

  constructor(catalog: Catalog) {
    for (const pkg of catalog.packages) {
      for (const bundle of pkg.bundles) {
        for (const api of bundle.providedApis) {
          const key = apiKey(api);
          const set = this.packagesByApi.get(key) ?? new Set<string>();
          set.add(pkg.name);
          this.packagesByApi.set(key, set);
        }
      }
    }
  }

  packages(api: Pick<Api, 'group' | 'version' | 'kind'>): string[] {
    return [...(this.packagesByApi.get(apiKey(api)) ?? [])];
  }
}

/** The test a bundle must pass to meet the requirement. */
export function satisfies(r: Requirement, bundle: Bundle, version: Version | undefined): boolean {
  switch (r.kind) {
    case 'package': return bundle.package === r.packageName && (r.range.trim() === '' || (version !== undefined && r.accepts(version)));
    case 'api': return bundle.providedApis.some((a) => a.group === r.api.group && a.version === r.api.version && a.kind === r.api.kind);
    case 'unresolved': return false;
  }
}

function apiKey(api: Pick<Api, 'group' | 'version' | 'kind'>): string {
  return `${api.group}\0${api.version}\0${api.kind}`;
}
