// A filtered catalog as an SQLite database: upstream's final schema (what `opm index prune` left after
// migrating), written by the catalog database writer. A kept bundle may replace one the filter
// dropped; its channel's replaces chain ends there, as it would in a catalog that never had it.
import type { Catalog, ChannelEntry } from '../model.js';
import { writeCatalogDatabase } from './write.js';

export function writePrunedDatabase(filtered: Catalog, targetPath: string): void {
  writeCatalogDatabase({
    packages: filtered.packages.map((pkg) => ({
      ...pkg,
      channels: pkg.channels.map((channel) => {
        const kept = new Set(channel.entries.map((e) => e.bundle));
        return { ...channel, entries: channel.entries.map((e) => (e.replaces !== undefined && !kept.has(e.replaces) ? withoutReplaces(e) : e)) };
      }),
    })),
    ...(filtered.looseBundles ? { looseBundles: filtered.looseBundles } : {}),
  }, targetPath);
}

function withoutReplaces({ replaces: _dropped, ...entry }: ChannelEntry): ChannelEntry {
  return entry;
}
