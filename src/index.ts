/** tidal's public API: zero-downtime schema migrations for PostgreSQL. Every type the methods
 *  of `Tidal` take or return, and the types those name, is exported here
 *  (test/unit/public-api.test.ts checks it). */

export type { BackfillPass } from './backfill/checkpoint.js';
export { CriticalLoadError } from './backfill/gate.js';
export type { BackfillProgress } from './backfill/run.js';
export type { SignalStatus } from './backfill/throttle.js';
export type { BackfillWorkers } from './backfill/workers.js';
export type { Blocker, OpenTransaction } from './catalog/activity.js';
export type {
  DatabaseCounters,
  LockWait,
  LongestTransaction,
} from './catalog/health.js';
export type { TableStatistics } from './catalog/statistics.js';
export {
  type Conversion,
  type ConvertNote,
  convertSql,
  type SqlSource,
  type UnwrittenField,
} from './convert/convert.js';
export { BusyError, InputError, LockTimeoutError, OperationError, TidalError } from './errors.js';
export type { StepEvent } from './executor/run.js';
export type {
  BackfillControlResult,
  BackfillRequest,
} from './lifecycle/backfill-control.js';
export type { DrainOptions } from './lifecycle/drain.js';
export type { PlannedMigration } from './lifecycle/plan.js';
export type { PulledMigration } from './lifecycle/pull.js';
export type {
  ConnectedSession,
  SessionGroup,
  SessionsByVersion,
  VersionSessions,
} from './lifecycle/sessions.js';
export type { BackfillStanding, BackfillStatus, LatestMigration } from './lifecycle/status.js';
export type { DatabaseValidation } from './lifecycle/validate.js';
export type { LiveVersion } from './lifecycle/versions.js';
export { type LoadedMigration, listMigrationFiles, loadMigrationFile } from './migration/load.js';
export type {
  Migration,
  Operation,
  OperationInFile,
  OperationKind,
  OperationOptions,
  OperationOptionsInFile,
} from './migration/schema.js';
export type { LockMode, Step, TableRef, Undoable } from './model/step.js';
export type { BackfillSpec, OverlayColumn, VersionOverlay } from './model/version-model.js';
// A throwaway PostgreSQL in a temporary directory, as `tidal demo`, the tests and examples/ use.
export {
  type EmbeddedOptions,
  type EmbeddedServer,
  startEmbeddedPostgres,
} from './pg/embedded.js';
export type {
  Obligation,
  ObligationConcerns,
  ObligationKind,
} from './planner/obligations.js';
export type { MigrationPlan, OperationPath } from './planner/plan.js';
export type {
  PlannedBackfill,
  PlannedStep,
  PlanPhase,
  PlanReport,
} from './planner/plan-report.js';
export type { VersionName } from './planner/sync.js';
export type {
  AppliedFile,
  BackfillRecord,
  MigrationEvent,
  MigrationEventKind,
  MigrationRecord,
  Phase,
  Progress,
  StepRunRecord,
} from './state/store.js';
export {
  type CriticalLoad,
  type DatabaseHealth,
  DEFAULT_DRAIN_WAIT_MS,
  DEFAULT_OPTIONS,
  LOAD_SIGNALS,
  type LoadSignal,
  type MigrationStatus,
  Tidal,
  type TidalEvent,
  type TidalOptions,
  type WatchSnapshot,
} from './tidal.js';
