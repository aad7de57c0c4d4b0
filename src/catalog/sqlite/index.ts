// SQLite operator catalogs (`bundles.db`, `index.db`): read any schema version, write upstream's final one.
export { readCatalogDatabase, type ReadDatabaseOptions } from './read.js';
export { SCHEMA_STATEMENTS, SCHEMA_VERSION } from './schema.js';
export { writeCatalogDatabase, type WriteDatabaseOptions } from './write.js';
