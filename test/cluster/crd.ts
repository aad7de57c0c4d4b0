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

function openApiSchema(file: string): any {
  return parse(readFileSync(resolve(crdDir, file), 'utf8')).spec.versions[0].schema.openAPIV3Schema;
}

/** A validator for `kind` objects: returns the schema errors, [] when valid. CEL rules are left to celValidator. */
export function crdValidator(file: string): (object: unknown) => string[] {
  // CRD schemas use x-kubernetes-* keywords and formats such as int32: ignore both.
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
  const validate = ajv.compile(openApiSchema(file));
  return (object) => (validate(object) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`));
}

/** JavaScript versions of a CRD's CEL rules, keyed by the rule's exact text; each gets `self`, the value the rule is on. */
export type CelRules = Readonly<Record<string, (self: any) => boolean>>;

/**
 * A validator for the CRD's x-kubernetes-validations (CEL) on the fields an object has: each rule
 * is checked by its translation in `rules`; a rule without one is an error, so a changed CRD is noticed.
 */
export function celValidator(file: string, rules: CelRules): (object: unknown) => string[] {
  const schema = openApiSchema(file);
  return (object) => {
    const errors: string[] = [];
    const visit = (node: any, value: any, path: string): void => {
      if (value === undefined) return;
      for (const { rule, message } of node['x-kubernetes-validations'] ?? []) {
        const check = rules[rule];
        if (check === undefined) errors.push(`${path}: no translation of the CEL rule ${rule}`);
        else if (!check(value)) errors.push(`${path}: ${message}`);
      }
      if (value !== null && typeof value === 'object') {
        for (const [key, child] of Object.entries(node.properties ?? {})) visit(child, value[key], `${path}/${key}`);
        if (node.items && Array.isArray(value)) value.forEach((item, i) => visit(node.items, item, `${path}/${i}`));
      }
    };
    visit(schema, object, '');
    return errors;
  };
}

/** CEL's string.find(regex): the first match, '' when none (RE2 and JavaScript agree on these expressions). */
const celFind = (text: string, regex: RegExp): string => regex.exec(text)?.[0] ?? '';

/** The CEL rules of ClusterCatalog's spec.source, written out in JavaScript. */
export const CLUSTER_CATALOG_CEL: CelRules = {
  "has(self.type) && self.type == 'Image' ? has(self.image) : !has(self.image)":
    (self) => (self.type === 'Image' ? self.image !== undefined : self.image === undefined),
  [String.raw`self.ref.find('(@.*:)') != "" ? !has(self.pollIntervalMinutes) : true`]:
    (self) => (celFind(self.ref, /(@.*:)/) !== '' ? self.pollIntervalMinutes === undefined : true),
  [String.raw`self.matches('^([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])((\\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))+)?(:[0-9]+)?\\b')`]:
    (self) => /^([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])((\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))+)?(:[0-9]+)?\b/.test(self),
  [String.raw`self.find('(\\/[a-z0-9]+((([._]|__|[-]*)[a-z0-9]+)+)?((\\/[a-z0-9]+((([._]|__|[-]*)[a-z0-9]+)+)?)+)?)') != ""`]:
    (self) => celFind(self, /(\/[a-z0-9]+((([._]|__|[-]*)[a-z0-9]+)+)?((\/[a-z0-9]+((([._]|__|[-]*)[a-z0-9]+)+)?)+)?)/) !== '',
  [String.raw`self.find('(@.*:)') != "" || self.find(':.*$') != ""`]:
    (self) => celFind(self, /(@.*:)/) !== '' || celFind(self, /:.*$/) !== '',
  [String.raw`self.find('(@.*:)') == "" ? (self.find(':.*$') != "" ? self.find(':.*$').substring(1).size() <= 127 : true) : true`]:
    (self) => (celFind(self, /(@.*:)/) === '' && celFind(self, /:.*$/) !== '' ? celFind(self, /:.*$/).length - 1 <= 127 : true),
  [String.raw`self.find('(@.*:)') == "" ? (self.find(':.*$') != "" ? self.find(':.*$').matches(':[\\w][\\w.-]*$') : true) : true`]:
    (self) => (celFind(self, /(@.*:)/) === '' && celFind(self, /:.*$/) !== '' ? /:[\w][\w.-]*$/.test(celFind(self, /:.*$/)) : true),
  [String.raw`self.find('(@.*:)') != "" ? self.find('(@.*:)').matches('(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*[:])') : true`]:
    (self) => (celFind(self, /(@.*:)/) !== '' ? /(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*[:])/.test(celFind(self, /(@.*:)/)) : true),
  [String.raw`self.find('(@.*:)') != "" ? self.find(':.*$').substring(1).size() >= 32 : true`]:
    (self) => (celFind(self, /(@.*:)/) !== '' ? celFind(self, /:.*$/).length - 1 >= 32 : true),
  [String.raw`self.find('(@.*:)') != "" ? self.find(':.*$').matches(':[0-9A-Fa-f]*$') : true`]:
    (self) => (celFind(self, /(@.*:)/) !== '' ? /:[0-9A-Fa-f]*$/.test(celFind(self, /:.*$/)) : true),
};

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Independent of src/cluster/names.ts on purpose. */
export function isDns1123Subdomain(name: unknown): boolean {
  return typeof name === 'string' && name.length <= 253 && DNS_SUBDOMAIN.test(name);
}
