// Image labels that tell OLM tooling where a catalog image keeps its catalog.

/** Folder of a file-based catalog, e.g. `/configs`. */
export const CONFIGS_LABEL = 'operators.operatorframework.io.index.configs.v1';
/** Path of an SQLite catalog database, e.g. `/database/index.db`. */
export const DATABASE_LABEL = 'operators.operatorframework.io.index.database.v1';
