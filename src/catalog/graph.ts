// A channel's upgrade graph as upstream's SQLite loader lays it out in `channel_entry`: the head at
// depth 0, then down the `replaces` chain; every skip of a walked bundle adds a row for the skipped
// name plus a synthetic row of the skipping bundle that replaces it, each skip one level deeper.
import { CatalogError } from './documents.js';
import type { ChannelEntry } from './model.js';
import { compareCodeUnits } from '../util/compare.js';

export interface GraphNode {
  readonly replaces?: string;
  readonly skips: readonly string[];
}

/** One `channel_entry` row; `replaces` is the index of the replaced row in the same array. */
export interface ChannelEntryRow {
  readonly bundle: string;
  readonly depth: number;
  replaces?: number;
}

/**
 * The rows of one channel. `lookup` answers for bundles that exist; errors name the bundles:
 * `Cycle detected, X replaces Y` and `Invalid bundle X, replaces nonexistent bundle Y`, then `(<where>)`.
 */
export function channelEntryRows(where: string, head: string, lookup: (name: string) => GraphNode | undefined): ChannelEntryRow[] {
  let node = lookup(head);
  if (!node) throw new CatalogError(`${where}: head bundle ${head} not found`);
  const rows: ChannelEntryRow[] = [{ bundle: head, depth: 0 }];
  const visited = new Set([head]);
  let current = 0;
  let name = head;
  let depth = 1;
  for (;;) {
    for (const skip of node.skips) {
      rows.push({ bundle: skip, depth });
      rows.push({ bundle: name, depth, replaces: rows.length - 1 });
      depth++;
    }
    const replaced = node.replaces;
    if (!replaced) return rows;
    if (visited.has(replaced)) throw new CatalogError(`Cycle detected, ${name} replaces ${replaced} (${where})`);
    visited.add(replaced);
    const next = lookup(replaced);
    if (!next) throw new CatalogError(`Invalid bundle ${name}, replaces nonexistent bundle ${replaced} (${where})`);
    rows.push({ bundle: replaced, depth });
    rows[current]!.replaces = rows.length - 1;
    current = rows.length - 1;
    name = replaced;
    node = next;
    depth++;
  }
}

/**
 * The channel's bundles from its rows: every row naming an existing bundle (skipped names that are
 * not bundles drop out), at its smallest depth, ordered by depth then name.
 */
export function entriesFromRows(rows: readonly ChannelEntryRow[], lookup: (name: string) => (GraphNode & { skipRange?: string }) | undefined): ChannelEntry[] {
  const depths = new Map<string, number>();
  for (const row of rows) {
    if (!lookup(row.bundle)) continue;
    const seen = depths.get(row.bundle);
    if (seen === undefined || row.depth < seen) depths.set(row.bundle, row.depth);
  }
  return sortEntries(
    [...depths].map(([bundle, depth]) => {
      const node = lookup(bundle)!;
      return { bundle, depth, skips: [...node.skips], ...(node.replaces ? { replaces: node.replaces } : {}), ...(node.skipRange ? { skipRange: node.skipRange } : {}) };
    }),
  );
}

export function sortEntries(entries: ChannelEntry[]): ChannelEntry[] {
  return entries.sort((a, b) => a.depth - b.depth || compareCodeUnits(a.bundle, b.bundle));
}
