// Sizes as people write them on command lines: `4GiB`, `700MiB`, `1.5G`, `100M`, `65536`.

/**
 * Bytes of `text`: binary units (K, M, G, T, with or without `iB`/`B`, mean powers of 1024), rounded
 * down to a whole number; undefined when `text` is no size.
 */
export function parseSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!match) return undefined;
  const power = ['', 'k', 'm', 'g', 't'].indexOf(match[2]!.toLowerCase());
  return Math.floor(Number(match[1]) * 1024 ** power);
}
