// What upstream derives from a bundle's ClusterServiceVersion and CRDs (pkg/registry/bundle.go,
// csv.go, pkg/sqlite/load.go): related images, provided/required APIs, properties, dependencies.
import { CatalogError, escapeLikeGo, FieldError, goJson, isMapping, optionalString, stringList } from '../documents.js';
import type { Api, RelatedImage, TypedValue } from '../model.js';

export type KubeObject = Record<string, unknown>;

/** Fields of a CSV that the catalog keeps. */
export interface CsvFacts {
  readonly name: string;
  readonly version: string;
  readonly replaces?: string;
  readonly skips: string[];
  readonly skipRange?: string;
  readonly relatedImages: RelatedImage[];
  /** Indexes of spec.relatedImages entries without an image (upstream stores them as the image ''). */
  readonly relatedImagesWithoutImage: number[];
  readonly providedApis: Api[];
  readonly requiredApis: Api[];
  readonly properties: TypedValue[];
  readonly dependencies: TypedValue[];
}

const SKIP_RANGE_ANNOTATION = 'olm.skipRange';
const PROPERTIES_ANNOTATION = 'olm.properties';

export function csvName(csv: KubeObject): string | undefined {
  const name = field(csv, 'metadata', 'name');
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/**
 * Reads a CSV and the other objects of its bundle. `where` (e.g. `bundle X (path)`) prefixes errors.
 * Fails like upstream does on a CSV whose fields have the wrong type, and when an owned CRD is missing.
 */
export function csvFacts(csv: KubeObject, objects: readonly KubeObject[], where: string, bundleFolder: string): CsvFacts {
  const spec = isMapping(csv.spec) ? csv.spec : {};
  const annotations = field(csv, 'metadata', 'annotations');
  const annotation = (key: string): string | undefined => {
    const value = isMapping(annotations) ? annotations[key] : undefined;
    return typeof value === 'string' ? value : undefined;
  };
  const version = optionalString(spec.version, `${where}: spec.version`) ?? '';
  const replaces = optionalString(spec.replaces, `${where}: spec.replaces`);
  const skips = stringList(spec.skips, `${where}: spec.skips`);
  const skipRange = annotation(SKIP_RANGE_ANNOTATION);

  const providedApis = providedApisOf(objects, spec, where);
  checkOwnedCrds(spec, providedApis, where, bundleFolder);
  const requiredApis = requiredApisOf(spec, where);

  const properties = unique([
    ...providedApis.map((api) => gvkProperty(api)),
    ...annotationProperties(annotation(PROPERTIES_ANNOTATION), where),
  ]);
  const dependencies = unique(requiredApis.map((api) => gvkProperty(api)));
  const related = relatedImagesOf(spec, where);

  return {
    name: csvName(csv)!,
    version,
    ...(replaces ? { replaces } : {}),
    skips,
    ...(skipRange !== undefined && skipRange !== '' ? { skipRange } : {}),
    relatedImages: related.images,
    relatedImagesWithoutImage: related.unset,
    providedApis,
    requiredApis,
    properties,
    dependencies,
  };
}

/** `olm.package` property, written when the bundle is placed in its package's channels. */
export function packageProperty(packageName: string, version: string): TypedValue {
  return { type: 'olm.package', value: goJson({ packageName, version }) };
}

function gvkProperty(api: Api): TypedValue {
  return { type: 'olm.gvk', value: goJson({ group: api.group, kind: api.kind, version: api.version }) };
}

/** Entries of the olm.properties annotation: a JSON list of {type, value}; values keep their key order. */
function annotationProperties(text: string | undefined, where: string): TypedValue[] {
  if (text === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CatalogError(`${where}: annotation ${PROPERTIES_ANNOTATION} is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new CatalogError(`${where}: annotation ${PROPERTIES_ANNOTATION} must be a JSON list of {type, value}`);
  return parsed.map((p, i) => {
    if (!isMapping(p) || typeof p.type !== 'string') throw new CatalogError(`${where}: annotation ${PROPERTIES_ANNOTATION}[${i}] needs a string "type"`);
    return { type: p.type, value: compactJson(p.value ?? null) };
  });
}

/**
 * Operator images (containers and initContainers of the install deployments, only for the
 * `deployment` strategy) then spec.relatedImages; one entry per image, named when the CSV names it.
 * As upstream, an entry without an image gives the image '' (which nothing mirrors); `unset` lists
 * the spec.relatedImages indexes without one.
 */
function relatedImagesOf(spec: KubeObject, where: string): { images: RelatedImage[]; unset: number[] } {
  const images = new Map<string, string | undefined>();
  const add = (image: string, name?: string): void => {
    if (!images.has(image) || (images.get(image) === undefined && name)) images.set(image, name);
  };
  const install = isMapping(spec.install) ? spec.install : {};
  if (install.strategy === 'deployment') {
    const deployments = list(field(install, 'spec', 'deployments'));
    deployments.forEach((deployment, d) => {
      const podSpec = field(deployment, 'spec', 'template', 'spec');
      for (const kind of ['containers', 'initContainers'] as const) {
        list(isMapping(podSpec) ? podSpec[kind] : undefined).forEach((container, c) => {
          const path = `${where}: spec.install.spec.deployments[${d}].spec.template.spec.${kind}[${c}]`;
          checkContainer(container, path);
          add(optionalString((container as KubeObject).image, `${path}.image`) ?? '');
        });
      }
    });
  }
  const related = spec.relatedImages ?? [];
  if (!Array.isArray(related)) throw new FieldError('relatedImages', where, `spec.relatedImages: expected a list of {name, image}, got ${JSON.stringify(related)}`);
  const unset: number[] = [];
  related.forEach((entry, i) => {
    if (!isMapping(entry)) throw new CatalogError(`${where}: spec.relatedImages[${i}] must be a mapping with "image"`);
    const image = optionalString(entry.image, `${where}: spec.relatedImages[${i}].image`) ?? '';
    const name = optionalString(entry.name, `${where}: spec.relatedImages[${i}].name`);
    if (image === '') unset.push(i);
    add(image, name || undefined);
  });
  return { images: [...images].map(([image, name]) => (name ? { name, image } : { image })), unset };
}

/**
 * Upstream decodes the install deployments into Kubernetes types, so a container whose strings are
 * written as numbers or booleans (e.g. `value: 1.0` in env) makes the whole load fail.
 */
function checkContainer(container: unknown, path: string): void {
  if (!isMapping(container)) throw new CatalogError(`${path}: must be a mapping`);
  optionalString(container.image, `${path}.image`);
  optionalString(container.name, `${path}.name`);
  stringList(container.command, `${path}.command`);
  stringList(container.args, `${path}.args`);
  list(container.env).forEach((env, i) => {
    if (!isMapping(env)) throw new CatalogError(`${path}.env[${i}]: must be a mapping`);
    optionalString(env.name, `${path}.env[${i}].name`);
    optionalString(env.value, `${path}.env[${i}].value`);
  });
}

/** Every version of every CRD among the objects, plus owned API service definitions. */
function providedApisOf(objects: readonly KubeObject[], spec: KubeObject, where: string): Api[] {
  const apis = new ApiSet();
  for (const obj of objects) {
    if (obj.kind !== 'CustomResourceDefinition') continue;
    const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion.slice(obj.apiVersion.lastIndexOf('/') + 1) : '';
    if (apiVersion !== 'v1' && apiVersion !== 'v1beta1') continue;
    const crdSpec = isMapping(obj.spec) ? obj.spec : {};
    const group = String(crdSpec.group ?? '');
    const kind = String(field(crdSpec, 'names', 'kind') ?? '');
    const plural = String(field(crdSpec, 'names', 'plural') ?? '');
    for (const v of list(crdSpec.versions)) {
      if (isMapping(v) && typeof v.name === 'string') apis.add({ group, version: v.name, kind, plural });
    }
    if (apiVersion === 'v1beta1' && typeof crdSpec.version === 'string' && crdSpec.version !== '') {
      apis.add({ group, version: crdSpec.version, kind, plural });
    }
  }
  for (const def of definitions(spec, 'apiservicedefinitions', 'owned', where)) apis.add(apiServiceApi(def));
  return apis.values();
}

function requiredApisOf(spec: KubeObject, where: string): Api[] {
  const apis = new ApiSet();
  for (const def of definitions(spec, 'customresourcedefinitions', 'required', where)) apis.add(crdDefinitionApi(def, where));
  for (const def of definitions(spec, 'apiservicedefinitions', 'required', where)) apis.add(apiServiceApi(def));
  return apis.values();
}

function checkOwnedCrds(spec: KubeObject, provided: readonly Api[], where: string, bundleFolder: string): void {
  const have = new Set(provided.map(apiKey));
  for (const def of definitions(spec, 'customresourcedefinitions', 'owned', where)) {
    const api = crdDefinitionApi(def, where);
    if (!have.has(apiKey(api))) {
      throw new CatalogError(`${where}: owned CRD ${String(def.name)}/${api.version} (kind ${api.kind}) not found in ${bundleFolder}`);
    }
  }
}

type Definition = { name?: unknown; version?: unknown; kind?: unknown; group?: unknown };

function definitions(spec: KubeObject, section: string, which: 'owned' | 'required', where: string): Definition[] {
  return list(field(spec, section, which)).map((def, i) => {
    if (!isMapping(def)) throw new CatalogError(`${where}: spec.${section}.${which}[${i}] must be a mapping`);
    return def;
  });
}

/** A CRD definition names the CRD `<plural>.<group>`. */
function crdDefinitionApi(def: Definition, where: string): Api {
  const name = String(def.name ?? '');
  const dot = name.indexOf('.');
  if (dot < 0) throw new CatalogError(`${where}: couldn't parse plural.group from crd name: ${name}`);
  return { group: name.slice(dot + 1), version: String(def.version ?? ''), kind: String(def.kind ?? ''), plural: name.slice(0, dot) };
}

function apiServiceApi(def: Definition): Api {
  return { group: String(def.group ?? ''), version: String(def.version ?? ''), kind: String(def.kind ?? ''), plural: String(def.name ?? '') };
}

class ApiSet {
  private readonly byKey = new Map<string, Api>();
  add(api: Api): void {
    const key = apiKey(api);
    if (!this.byKey.has(key)) this.byKey.set(key, api);
  }
  values(): Api[] {
    return [...this.byKey.values()];
  }
}

function apiKey(api: Api): string {
  return `${api.group}\0${api.version}\0${api.kind}\0${api.plural}`;
}

function unique(values: TypedValue[]): TypedValue[] {
  const seen = new Set<string>();
  return values.filter((v) => {
    const key = `${v.type}\0${v.value}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Compact JSON keeping key order, as upstream re-encodes a json.RawMessage. */
function compactJson(value: unknown): string {
  return escapeLikeGo(JSON.stringify(value));
}

function field(obj: unknown, ...path: string[]): unknown {
  let current = obj;
  for (const key of path) {
    if (!isMapping(current)) return undefined;
    current = current[key];
  }
  return current;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
