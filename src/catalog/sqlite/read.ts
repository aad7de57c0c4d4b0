// Reads an upstream SQLite catalog of any schema version found in the wild. Tables and columns are
// detected, not assumed: version 5 has no replaces/skips columns, no properties, dependencies or
// deprecated tables, and ties provided APIs to channel entries instead of bundles.
import Database from 'better-sqlite3';
import { CatalogError, isMapping } from '../documents.js';
import { sortEntries } from '../graph.js';
import type { Api, Bundle, Catalog, Channel, ChannelEntry, Package, RelatedImage, TypedValue } from '../model.js';

export interface ReadDatabaseOptions {
  /** Keep each bundle's CSV and manifests (csvJson, objects); default true. Mirroring needs neither. */
  manifests?: boolean;
}

interface EntryRow {
  entry_id: number;
  channel_name: string;
  package_name: string;
  operatorbundle_name: string;
  replaces: number | null;
  depth: number;
}

interface BundleRow {
  name: string;
  csv: string | null;
  bundle: string | null;
  bundlepath: string | null;
  skiprange: string | null;
  version: string | null;
  replaces: string | null;
  skips: string | null;
}

/** Entry-level upgrade edges of one channel, recovered from its channel_entry rows. */
interface Edges {
  replaces?: string;
  skips: string[];
  depth: number;
}

export function readCatalogDatabase(path: string, opts: ReadDatabaseOptions = {}): Catalog {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new CatalogError(`cannot open catalog database ${path}: ${(err as Error).message}`);
  }
  try {
    return readCatalog(new Schema(db, path), opts.manifests ?? true);
  } catch (err) {
    if (err instanceof CatalogError) throw err;
    throw new CatalogError(`reading catalog database ${path}: ${(err as Error).message}`);
  } finally {
    db.close();
  }
}

/** What tables and columns this database has. */
class Schema {
  private readonly columns = new Map<string, Set<string>>();

  constructor(
    readonly db: Database.Database,
    readonly path: string,
  ) {
    const tables = db.prepare("select name from sqlite_master where type = 'table'").pluck().all() as string[];
    for (const table of tables) {
      const cols = db.prepare(`pragma table_info("${table.replace(/"/g, '""')}")`).all() as { name: string }[];
      this.columns.set(table, new Set(cols.map((c) => c.name)));
    }
    for (const required of ['package', 'channel', 'channel_entry', 'operatorbundle']) {
      if (!this.columns.has(required)) throw new CatalogError(`${path} is not an operator catalog database: it has no ${required} table`);
    }
  }

  has(table: string, column?: string): boolean {
    const cols = this.columns.get(table);
    return cols !== undefined && (column === undefined || cols.has(column));
  }

  /** `column`, or NULL under the same name when this schema version lacks it. */
  column(table: string, column: string): string {
    return this.has(table, column) ? column : `NULL AS ${column}`;
  }

  /** Rows of a query; upstream stores some text as BLOBs (Go []byte), read back as strings. */
  all<T>(sql: string): T[] {
    const rows = this.db.prepare(sql).all() as Record<string, unknown>[];
    for (const row of rows) {
      for (const key in row) if (Buffer.isBuffer(row[key])) row[key] = (row[key] as Buffer).toString('utf8');
    }
    return rows as T[];
  }
}

function readCatalog(schema: Schema, withManifests: boolean): Catalog {
  const col = (c: string): string => schema.column('operatorbundle', c);
  const bundleRows = schema.all<BundleRow>(
    `select name, ${withManifests ? `${col('csv')}, ${col('bundle')}` : 'NULL AS csv, NULL AS bundle'}, ${col('bundlepath')}, ${col('skiprange')}, ` +
      `${col('version')}, ${col('replaces')}, ${col('skips')} from operatorbundle order by rowid`,
  );
  const byName = new Map(bundleRows.map((b) => [b.name, b]));
  const entryRows = schema.all<EntryRow>('select entry_id, channel_name, package_name, operatorbundle_name, replaces, depth from channel_entry order by entry_id');
  const channelRows = schema.all<{ name: string; package_name: string; head_operatorbundle_name: string }>(
    'select name, package_name, head_operatorbundle_name from channel order by rowid',
  );
  const extras = bundleExtras(schema);

  const rowsByChannel = groupBy(entryRows, (r) => `${r.package_name}\0${r.channel_name}`);
  const packages: Package[] = [];
  for (const pkg of schema.all<{ name: string; default_channel: string | null }>('select name, default_channel from package order by rowid')) {
    const channelEdges = new Map<string, Map<string, Edges>>();
    const channels: Channel[] = [];
    for (const channel of channelRows.filter((c) => c.package_name === pkg.name)) {
      const edges = channelGraph(rowsByChannel.get(`${pkg.name}\0${channel.name}`) ?? [], channel.head_operatorbundle_name);
      channelEdges.set(channel.name, edges);
      const entries: ChannelEntry[] = [];
      for (const [bundle, e] of edges) {
        if (!byName.has(bundle)) continue;
        const skipRange = byName.get(bundle)!.skiprange;
        entries.push({ bundle, depth: e.depth, skips: e.skips, ...(e.replaces ? { replaces: e.replaces } : {}), ...(skipRange ? { skipRange } : {}) });
      }
      channels.push({ name: channel.name, head: channel.head_operatorbundle_name, entries: sortEntries(entries) });
    }
    const inPackage = new Set(channels.flatMap((c) => c.entries.map((e) => e.bundle)));
    const bundles = bundleRows
      .filter((b) => inPackage.has(b.name))
      .map((b) => toBundle(b, pkg.name, [...channelEdges.values()].map((edges) => edges.get(b.name)), extras));
    packages.push({ name: pkg.name, defaultChannel: pkg.default_channel ?? '', channels, bundles });
  }
  // oc mirrors every related_image row and every bundlepath, channel or not: keep the rest as loose bundles,
  // including bundle names that only related_image rows mention.
  const placed = new Set(packages.flatMap((p) => p.bundles.map((b) => b.name)));
  const unplacedRows = [
    ...bundleRows.filter((b) => !placed.has(b.name)),
    ...[...extras.images.keys()].filter((name) => !byName.has(name)).map((name) => ({ ...NO_COLUMNS, name })),
  ];
  const looseBundles = unplacedRows.map((b) => toBundle(b, packageProperty(extras.properties.get(b.name)), [], extras));
  return looseBundles.length > 0 ? { packages, looseBundles } : { packages };
}

/** A bundle known only by name. */
const NO_COLUMNS: BundleRow = { name: '', csv: null, bundle: null, bundlepath: null, skiprange: null, version: null, replaces: null, skips: null };

/** The packageName of a bundle's olm.package property, '' when it has none. */
function packageProperty(properties: readonly TypedValue[] | undefined): string {
  for (const p of properties ?? []) {
    if (p.type !== 'olm.package') continue;
    try {
      const value: unknown = JSON.parse(p.value);
      if (isMapping(value) && typeof value.packageName === 'string') return value.packageName;
    } catch {
      // a malformed property says nothing about the package
    }
  }
  return '';
}

/**
 * Per bundle name: its replaces/skips in this channel and its smallest depth. A row is a bundle's real
 * row when it is the channel head's first row or another row replaces it; any other row is a synthetic
 * row upstream adds for a skip, and its `replaces` points at the skipped name.
 */
function channelGraph(rows: readonly EntryRow[], head: string): Map<string, Edges> {
  const byId = new Map(rows.map((r) => [r.entry_id, r]));
  const targets = new Set(rows.map((r) => r.replaces).filter((id): id is number => id !== null));
  const headRow = rows.find((r) => r.operatorbundle_name === head && !targets.has(r.entry_id));
  const edges = new Map<string, Edges>();
  for (const row of rows) {
    let e = edges.get(row.operatorbundle_name);
    if (!e) edges.set(row.operatorbundle_name, (e = { skips: [], depth: row.depth }));
    e.depth = Math.min(e.depth, row.depth);
    const target = row.replaces === null ? undefined : byId.get(row.replaces)?.operatorbundle_name;
    if (target === undefined) continue;
    if (row === headRow || targets.has(row.entry_id)) e.replaces = target;
    else if (!e.skips.includes(target)) e.skips.push(target);
  }
  return edges;
}

interface BundleExtras {
  images: Map<string, RelatedImage[]>;
  provided: Map<string, Api[]>;
  required: Map<string, Api[]>;
  properties: Map<string, TypedValue[]>;
  dependencies: Map<string, TypedValue[]>;
  deprecated: Set<string>;
}

function bundleExtras(schema: Schema): BundleExtras {
  const images = schema.has('related_image')
    ? groupBy(schema.all<{ image: string; operatorbundle_name: string }>("select image, coalesce(operatorbundle_name, '') as operatorbundle_name from related_image order by rowid").filter((r) => r.image), (r) => r.operatorbundle_name)
    : new Map();
  const typed = (table: string): Map<string, TypedValue[]> =>
    schema.has(table)
      ? mapValues(
          groupBy(schema.all<TypedValue & { operatorbundle_name: string }>(`select type, value, operatorbundle_name from ${table} order by rowid`), (r) => r.operatorbundle_name),
          (rows) => rows.map((r) => ({ type: r.type, value: r.value })),
        )
      : new Map();
  return {
    images: mapValues(images, (rows: { image: string }[]) => uniqueBy(rows, (r) => r.image).map((r) => ({ image: r.image }))),
    provided: apis(schema, 'api_provider'),
    required: apis(schema, 'api_requirer'),
    properties: typed('properties'),
    dependencies: typed('dependencies'),
    deprecated: new Set(schema.has('deprecated') ? schema.db.prepare('select operatorbundle_name from deprecated').pluck().all() as string[] : []),
  };
}

/** Provided or required APIs per bundle; before migration 006 they hang off channel entries. */
function apis(schema: Schema, table: 'api_provider' | 'api_requirer'): Map<string, Api[]> {
  if (!schema.has(table)) return new Map();
  const owner = schema.has(table, 'operatorbundle_name') ? 't.operatorbundle_name' : 'e.operatorbundle_name';
  const joinEntry = schema.has(table, 'operatorbundle_name') ? '' : 'join channel_entry e on e.entry_id = t.channel_entry_id';
  const plural = schema.has('api', 'plural') ? "coalesce(a.plural, '')" : "''";
  const rows = schema.all<Api & { owner: string }>(
    `select t.group_name as "group", t.version as version, t.kind as kind, ${plural} as plural, ${owner} as owner from ${table} t ${joinEntry} ` +
      'left join api a on a.group_name = t.group_name and a.version = t.version and a.kind = t.kind order by t.rowid',
  );
  return mapValues(
    groupBy(rows, (r) => r.owner),
    (list) => uniqueBy(list, (r) => `${r.group}\0${r.version}\0${r.kind}`).map(({ group, version, kind, plural: p }) => ({ group, version, kind, plural: p })),
  );
}

function toBundle(row: BundleRow, packageName: string, channelEdges: (Edges | undefined)[], extras: BundleExtras): Bundle {
  // Before migration 007 replaces/skips were not columns: take them from the channel graph.
  const fromGraph = channelEdges.find((e) => e !== undefined && (e.replaces !== undefined || e.skips.length > 0));
  const replaces = row.replaces ?? fromGraph?.replaces;
  const skips = row.skips !== null ? row.skips.split(',').filter((s) => s !== '') : (fromGraph?.skips ?? []);
  return {
    name: row.name,
    package: packageName,
    version: row.version ?? '',
    image: row.bundlepath ?? '',
    ...(replaces ? { replaces } : {}),
    skips,
    ...(row.skiprange ? { skipRange: row.skiprange } : {}),
    relatedImages: extras.images.get(row.name) ?? [],
    providedApis: extras.provided.get(row.name) ?? [],
    requiredApis: extras.required.get(row.name) ?? [],
    properties: extras.properties.get(row.name) ?? [],
    dependencies: extras.dependencies.get(row.name) ?? [],
    ...(row.csv ? { csvJson: row.csv.replace(/\n$/, '') } : {}),
    ...(row.bundle ? { objects: row.bundle.split('\n').filter((line) => line !== '') } : {}),
    ...(extras.deprecated.has(row.name) ? { deprecated: true } : {}),
  };
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

function mapValues<T, U>(map: Map<string, T>, fn: (value: T) => U): Map<string, U> {
  return new Map([...map].map(([k, v]) => [k, fn(v)]));
}

function uniqueBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
