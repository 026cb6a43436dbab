/** tidal's public API: zero-downtime schema migrations for PostgreSQL. */

export { BusyError, InputError, LockTimeoutError, OperationError, TidalError } from './errors.js';
export { type LoadedMigration, listMigrationFiles, loadMigrationFile } from './migration/load.js';
export type { Migration, Operation } from './migration/schema.js';
export type { Step } from './model/step.js';
export type {
  Obligation,
  ObligationConcerns,
  ObligationKind,
} from './planner/obligations.js';
export { type MigrationStatus, Tidal, type TidalEvent, type TidalOptions } from './tidal.js';
