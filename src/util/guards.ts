// Type guards for values read from JSON (manifests, credential files, catalog documents).

/** A JSON object: not null and not an array, so its keys can be read as fields. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
