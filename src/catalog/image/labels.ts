// Image labels that tell OLM tooling where a catalog image keeps its catalog.

/** Folder of a file-based catalog, e.g. `/configs`. */
export const CONFIGS_LABEL = 'operators.operatorframework.io.index.configs.v1';
/** Path of an SQLite catalog database, e.g. `/database/index.db`. */
export const DATABASE_LABEL = 'operators.operatorframework.io.index.database.v1';

/** The most catalog extraction writes unless told otherwise: well above real catalogs, far below a full disk. */
export const DEFAULT_MAX_EXTRACT_BYTES = 4 * 1024 ** 3;

/** The platform of a catalog manifest list that is read unless told otherwise. */
export const DEFAULT_CATALOG_PLATFORM = 'linux/amd64';
