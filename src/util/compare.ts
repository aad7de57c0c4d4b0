// Sort order that does not depend on the locale, so generated files and listings are the same on every machine.

/**
 * Orders strings by UTF-16 code units, the order of Array.prototype.sort() without a comparator
 * (byte order for ASCII), for sorting by a field: `entries.sort((a, b) => compareCodeUnits(a.name, b.name))`.
 */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
