// Writes a catalog as the SQLite database upstream's loader produces (`bundles.db` / `index.db`):
// final schema, upstream's row conventions, channel_entry laid out by upstream's graph walk.
// The database is built in a temporary file beside the target and renamed over it only when complete.
import { randomBytes } from 'node:crypto';
import { rmSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { CatalogError } from '../documents.js';
import { channelEntryRows } from '../graph.js';
import type { Bundle, Catalog, ChannelEntry } from '../model.js';
import { SCHEMA_STATEMENTS, SCHEMA_VERSION } from './schema.js';

export interface WriteDatabaseOptions {
  /**
   * The manifests of a bundle that does not hold them (csvJson, objects), asked for one bundle at a
   * time while it is written, so that they need not all be in memory at once.
   */
  manifestsOf?: (bundle: Bundle) => { readonly csvJson?: string; readonly objects?: readonly string[] } | undefined;
}

export function writeCatalogDatabase(catalog: Catalog, targetPath: string, opts: WriteDatabaseOptions = {}): void {
  const tempPath = join(dirname(targetPath), `.${basename(targetPath)}.${randomBytes(6).toString('hex')}.tmp`);
  let db: Database.Database | undefined;
  try {
    db = new Database(tempPath);
    // Atomicity comes from the final rename, so the temporary file needs no durable journal.
    db.pragma('journal_mode = MEMORY');
    db.pragma('synchronous = OFF');
    db.pragma('foreign_keys = ON');
    for (const statement of SCHEMA_STATEMENTS) db.exec(statement);
    db.transaction(() => insertCatalog(db!, catalog, opts))();
    db.close();
    db = undefined;
    renameSync(tempPath, targetPath);
  } catch (err) {
    db?.close();
    for (const leftover of [tempPath, `${tempPath}-journal`]) rmSync(leftover, { force: true });
    if (err instanceof CatalogError) throw err;
    throw new CatalogError(`writing catalog database ${targetPath}: ${(err as Error).message}`);
  }
}

function insertCatalog(db: Database.Database, catalog: Catalog, opts: WriteDatabaseOptions): void {
  const statements = {
    bundle: db.prepare(
      'insert into operatorbundle(name, csv, bundle, bundlepath, version, skiprange, replaces, skips, substitutesfor) values(?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    image: db.prepare('insert into related_image(image, operatorbundle_name) values(?, ?)'),
    dependency: db.prepare('insert into dependencies(type, value, operatorbundle_name, operatorbundle_version, operatorbundle_path) values(?, ?, ?, ?, ?)'),
    property: db.prepare('insert into properties(type, value, operatorbundle_name, operatorbundle_version, operatorbundle_path) values(?, ?, ?, ?, ?)'),
    api: db.prepare('insert or ignore into api(group_name, version, kind, plural) values(?, ?, ?, ?)'),
    provider: db.prepare('insert into api_provider(group_name, version, kind, operatorbundle_name, operatorbundle_version, operatorbundle_path) values(?, ?, ?, ?, ?, ?)'),
    requirer: db.prepare('insert into api_requirer(group_name, version, kind, operatorbundle_name, operatorbundle_version, operatorbundle_path) values(?, ?, ?, ?, ?, ?)'),
    deprecated: db.prepare('insert or replace into deprecated(operatorbundle_name) values(?)'),
    channel: db.prepare('insert into channel(name, package_name, head_operatorbundle_name) values(?, ?, ?)'),
    pkg: db.prepare('insert into package(name, default_channel) values(?, ?)'),
    entry: db.prepare('insert into channel_entry(entry_id, channel_name, package_name, operatorbundle_name, replaces, depth) values(?, ?, ?, ?, ?, ?)'),
  };
  const written = new Set<string>();
  let nextEntryId = 1;
  for (const pkg of catalog.packages) {
    for (const bundle of pkg.bundles) {
      if (written.has(bundle.name)) throw new CatalogError(`bundle ${bundle.name} appears in more than one package (${pkg.name})`);
      written.add(bundle.name);
      insertBundle(statements, bundle, opts);
    }
    for (const channel of pkg.channels) statements.channel.run(channel.name, pkg.name, channel.head);
    statements.pkg.run(pkg.name, pkg.defaultChannel === '' ? null : pkg.defaultChannel);
    for (const channel of pkg.channels) {
      const entries = new Map<string, ChannelEntry>(channel.entries.map((e) => [e.bundle, e]));
      const rows = channelEntryRows(`package ${pkg.name}, channel ${channel.name}`, channel.head, (name) => entries.get(name));
      const firstId = nextEntryId;
      for (const row of rows) {
        statements.entry.run(nextEntryId++, channel.name, pkg.name, row.bundle, row.replaces === undefined ? null : firstId + row.replaces, row.depth);
      }
    }
  }
  for (const bundle of catalog.looseBundles ?? []) {
    if (written.has(bundle.name)) throw new CatalogError(`loose bundle ${bundle.name} is also a bundle of a package`);
    written.add(bundle.name);
    insertBundle(statements, bundle, opts);
  }
  db.prepare('insert into schema_migrations(version) values(?)').run(SCHEMA_VERSION);
}

type Statements = Record<'bundle' | 'image' | 'dependency' | 'property' | 'api' | 'provider' | 'requirer' | 'deprecated', Database.Statement>;

/**
 * Upstream's conventions: absent text is '' in operatorbundle and NULL in the rows that refer to it;
 * csv, bundle and dependency values are BLOBs (Go writes them as []byte).
 */
function insertBundle(statements: Statements, bundle: Bundle, opts: WriteDatabaseOptions): void {
  const version = bundle.version === '' ? null : bundle.version;
  const path = bundle.image === '' ? null : bundle.image;
  const { csvJson, objects } = bundle.csvJson !== undefined || bundle.objects !== undefined ? bundle : opts.manifestsOf?.(bundle) ?? bundle;
  statements.bundle.run(
    bundle.name,
    csvJson === undefined ? null : Buffer.from(`${csvJson}\n`),
    objects === undefined ? null : Buffer.from(objects.map((o) => `${o}\n`).join('')),
    bundle.image,
    bundle.version,
    bundle.skipRange ?? '',
    bundle.replaces ?? '',
    bundle.skips.join(','),
    '',
  );
  const images = new Set(bundle.relatedImages.map((r) => r.image));
  if (bundle.image !== '') images.add(bundle.image);
  for (const image of images) statements.image.run(image, bundle.name);
  for (const d of bundle.dependencies) statements.dependency.run(d.type, Buffer.from(d.value), bundle.name, version, path);
  for (const p of bundle.properties) statements.property.run(p.type, p.value, bundle.name, version, path);
  for (const api of bundle.providedApis) {
    statements.api.run(api.group, api.version, api.kind, api.plural);
    statements.provider.run(api.group, api.version, api.kind, bundle.name, version, path);
  }
  for (const api of bundle.requiredApis) {
    statements.api.run(api.group, api.version, api.kind, api.plural);
    statements.requirer.run(api.group, api.version, api.kind, bundle.name, version, path);
  }
  if (bundle.deprecated) statements.deprecated.run(bundle.name);
}
