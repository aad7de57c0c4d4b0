// `file://DIR`: a folder on disk where a registry reference would otherwise be (light: no store is loaded).

const FILE_SCHEME = 'file://';

/** The folder of a `file://DIR` location; undefined for anything else (a registry reference). */
export function diskLocation(text: string): string | undefined {
  if (!text.startsWith(FILE_SCHEME)) return undefined;
  const dir = text.slice(FILE_SCHEME.length);
  return dir === '' ? '.' : dir;
}
