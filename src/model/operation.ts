import type { Queryable } from '../pg/queryable.js';
import type { DatabaseChecks } from './database-checks.js';
import type { Step } from './step.js';
import type { VersionModel } from './version-model.js';

/**
 * Where a contract step runs among all operations' contract steps. Steps name tables by their
 * physical name during the migration, so table renames come after every column change and drop;
 * raw SQL of `onComplete` sees the final names.
 */
export enum CompleteStage {
  /** Before the dual-write triggers go: old columns stop enforcing what only their triggers
   *  kept true (NOT NULL, the old foreign key between two copied keys), so writes of the new
   *  version do not fail in the moment between the triggers going and the old columns going. */
  Relax = 0,
  Columns = 1,
  Drops = 2,
  Tables = 3,
  RawSql = 4,
}

export interface CompleteStep {
  stage: CompleteStage;
  step: Step;
}

/** What one operation contributes to each phase, as steps. */
export interface OperationSteps {
  /** Expand: run by `start` before the dual-write triggers and the backfill. */
  start: Step[];
  /** Run by `start` once the dual-write triggers are in place: constraints on new columns, which
   *  rows the old version writes from then on already satisfy. */
  afterSync: Step[];
  /** Run by `start` after the backfill: validations and index builds over filled columns. */
  afterBackfill: Step[];
  /** Contract: run by `complete`. */
  complete: CompleteStep[];
  /** Undo: run by `rollback`, operations in reverse order. */
  rollback: Step[];
  /** Undo that runs before the dual-write triggers go: a NOT NULL stand-in check on a new column
   *  holds for the old version's writes only while the trigger fills that column. */
  rollbackFirst: Step[];
  /** How the change is made, in words, where the operation has a choice: catalog only, or a
   *  copy column and a backfill. Shown by start and plan. */
  path?: string;
}

export function emptySteps(): OperationSteps {
  return {
    start: [],
    afterSync: [],
    afterBackfill: [],
    complete: [],
    rollback: [],
    rollbackFirst: [],
  };
}

/** What an operation plans against. */
export interface PlanContext {
  model: VersionModel;
  /** The application schema. */
  schema: string;
  /** Names the operation in messages, e.g. `m.yaml: operations[2].add_column`. */
  where: string;
  /** A connection for read-only checks against the live database. */
  db: Queryable;
  /** The plan's checks against the database, batched (model/database-checks.ts). */
  checks: DatabaseChecks;
  /** True once a raw `sql` operation came earlier in the migration: the catalog does not yet show
   *  what it will do, so checks that need the catalog are left to the database at run time. */
  afterRawSql: boolean;
  /** The version schema of the latest completed migration: its views use the tables' columns
   *  until complete drops it. */
  previousVersionSchema: string | null;
  /** Version schemas that exist now and that earlier migrations, not run yet, drop before this
   *  one starts: their views will not hold on to a column either. */
  goneVersionSchemas: readonly string[];
}

/** One operation kind: plan turns its options plus the model into steps, and records its effect
 *  on the new version in the model. */
export interface OperationModule<Options> {
  plan(options: Options, ctx: PlanContext): Promise<OperationSteps>;
}
