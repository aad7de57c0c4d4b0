// Validates generated objects against the openAPIV3Schema of the upstream CRDs in the shared folder.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import AjvModule from 'ajv';
import { parse } from 'yaml';
import { sharedDir } from '../support/paths.js';

const Ajv = AjvModule.default;
export const crdDir = resolve(sharedDir, 'crds');

export function crdsMissing(): string | false {
  return existsSync(crdDir) ? false : `upstream CRDs not found at ${crdDir}`;
}

/** A validator for `kind` objects: returns the schema errors, [] when valid. */
export function crdValidator(file: string): (object: unknown) => string[] {
  const crd = parse(readFileSync(resolve(crdDir, file), 'utf8'));
  // CRD schemas use x-kubernetes-* keywords and formats such as int32: ignore both.
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
  const validate = ajv.compile(crd.spec.versions[0].schema.openAPIV3Schema);
  return (object) => (validate(object) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`));
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Independent of src/cluster/names.ts on purpose. */
export function isDns1123Subdomain(name: unknown): boolean {
  return typeof name === 'string' && name.length <= 253 && DNS_SUBDOMAIN.test(name);
}
