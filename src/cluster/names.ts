// Kubernetes object names derived from image repository names.

/** DNS-1123 subdomain: what the API server accepts as metadata.name for these kinds. */
const DNS_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const MAX_NAME_LENGTH = 253;

export function isDnsSubdomain(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && DNS_SUBDOMAIN_RE.test(name);
}

/**
 * A DNS-1123 subdomain made from `text`, e.g. a catalog repository `redhat/redhat-operator-index`
 * -> `redhat-redhat-operator-index` (oc replaces `/` with `-`; `_` and other characters that
 * repository names allow but object names do not are replaced too), at most `maxLength` long.
 */
export function resourceNameFrom(text: string, maxLength = MAX_NAME_LENGTH): string {
  const name = text
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/[-.]*\.[-.]*/g, '.')
    .slice(0, maxLength)
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  if (!isDnsSubdomain(name)) {
    throw new Error(`cannot derive a Kubernetes object name from "${text}": it has no letters or digits`);
  }
  return name;
}

/** oc's upper bound for --max-icsp-size. */
export const MAX_MIRROR_SET_SIZE = 250_000;
