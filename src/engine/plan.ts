import { readSchema, serverMajor } from '../catalog/read.js';
import { InputError } from '../errors.js';
import { type Step, tableStep } from '../executor/step.js';
import type { Migration } from '../migration/schema.js';
import { mergeAlterColumns } from '../operations/alter-column-merge.js';
import { planOperation } from '../operations/index.js';
import { qualifiedTable } from '../operations/sql.js';
import { CompleteStage, type CompleteStep, emptySteps } from '../operations/types.js';
import type { Queryable } from '../pg/queryable.js';
import { ident, MAX_IDENTIFIER_BYTES } from '../pg/quote.js';
import { ColumnLimit, catalogColumns } from './column-limit.js';
import { DatabaseChecks } from './database-checks.js';
import { type BackfillSpec, VersionModel, type VersionOverlay } from './model.js';
import { NEEDS_BACKFILL_COLUMN, versionSchemaName } from './names.js';
import { installSyncSteps, removeSyncSteps, type VersionName } from './sync.js';
import { dropVersionSchemaStep, versionSchemaSteps, viewsFromModel } from './versions.js';

/** Everything a migration will run, decided before anything runs and stored with the migration
 *  so an interrupted command resumes with the same statements. */
export interface MigrationPlan {
  migration: string;
  schema: string;
  version: VersionName;
  /** The version schema complete drops: the previous migration's, if any. */
  previousVersionSchema: string | null;
  /** Expand: operations' DDL, backfill marks, dual-write triggers, then constraints on new
   *  columns (only once the triggers fill them for old-version writes). */
  start: Step[];
  /** Tables to backfill after expand, in order. */
  backfills: BackfillSpec[];
  /** Validations and index builds once the backfill is done. */
  afterBackfill: Step[];
  /** Contract. */
  complete: Step[];
  /** Undo of start. */
  rollback: Step[];
  /** How the new version maps onto the physical tables; views are built from it at start. */
  overlay: VersionOverlay;
  /** Operations that chose how to make their change, and the choice. */
  paths?: OperationPath[];
}

export interface OperationPath {
  /** `operations[2].alter_column`. */
  operation: string;
  path: string;
}

export interface PlanOptions {
  schema: string;
  stateSchema: string;
  /** The file, for messages. */
  file: string;
  previousVersionSchema: string | null;
}

/** Plans a migration against the live catalog. Runs only read-only checks; throws InputError
 *  naming the file, operation and field on anything invalid. */
export async function planMigration(
  db: Queryable,
  migration: Migration,
  options: PlanOptions,
): Promise<{ plan: MigrationPlan; model: VersionModel; serverMajor: number }> {
  const { schema, stateSchema, file } = options;
  const version: VersionName = {
    name: migration.versionSchema,
    schema: versionSchemaName(schema, migration.versionSchema),
  };
  if (Buffer.byteLength(version.schema) > MAX_IDENTIFIER_BYTES) {
    throw new InputError(
      `${file}: version schema name "${version.schema}" is longer than ${MAX_IDENTIFIER_BYTES} bytes; shorten the file name or set version_schema`,
    );
  }
  const { rows: schemas } = await db.query<{ name: string }>(
    `SELECT nspname AS name FROM pg_namespace WHERE nspname = ANY($1::text[])`,
    [[version.schema, schema]],
  );
  if (schemas.some((s) => s.name === version.schema)) {
    throw new InputError(
      `${file}: schema "${version.schema}" already exists; choose another version_schema`,
    );
  }
  if (!schemas.some((s) => s.name === schema))
    throw new InputError(`schema "${schema}" does not exist`);

  const catalog = await readSchema(db, schema);
  const major = await serverMajor(db);
  const model = new VersionModel(catalog);
  const checks = new DatabaseChecks(db, schema);
  const start: Step[] = [];
  const afterSync: Step[] = [];
  const afterBackfill: Step[] = [];
  const complete: CompleteStep[] = [];
  const undo: Step[][] = [];
  const undoFirst: Step[][] = [];
  const paths: OperationPath[] = [];
  /** Columns of the tables this migration creates, by physical name. */
  const createdColumns = new Map<string, number>();
  const columnLimit = new ColumnLimit(file, (name) => {
    const info = catalog.tables.get(name);
    if (info) return catalogColumns(info);
    const created = createdColumns.get(name);
    return created === undefined ? undefined : { live: created, dropped: 0 };
  });
  let afterRawSql = false;
  const planned = await mergeAlterColumns(migration.operations, file);
  for (const [at, { operation, indexes }] of planned.entries()) {
    const label = `operations[${indexes.join('] and [')}].${operation.kind}`;
    const where = `${file}: ${label}`;
    const steps =
      (await planOperation(operation, {
        model,
        schema,
        where,
        db,
        checks,
        afterRawSql,
        previousVersionSchema: options.previousVersionSchema,
      }).catch(async (error: unknown) => {
        // What earlier operations queued comes first, as if each check had run at once.
        await checks.run();
        throw error instanceof InputError
          ? error
          : new InputError(`${where}: ${(error as Error).message}`);
      })) ?? emptySteps();
    start.push(...steps.start);
    afterSync.push(...steps.afterSync);
    afterBackfill.push(...steps.afterBackfill);
    complete.push(...steps.complete);
    undo.push(steps.rollback);
    undoFirst.push(steps.rollbackFirst);
    if (steps.path) paths.push({ operation: label, path: steps.path });
    if (operation.kind === 'sql' && !operation.options.onComplete) afterRawSql = true;
    if (operation.kind === 'create_table') {
      const created = model.table(operation.options.name);
      if (created) createdColumns.set(created.physical, operation.options.columns.length);
    }
    // Refused here, before the checks against the database and before planning the rest.
    const over = columnLimit.count(steps.start);
    if (over !== undefined) {
      const name = model.versionTables().find((t) => t.physical === over)?.name;
      const more = planned
        .slice(at + 1)
        .filter((p) => p.operation.kind === 'add_column' && p.operation.options.table === name);
      throw columnLimit.refusal(over, more.length);
    }
  }

  // Rows the backfill must visit carry a mark that any write clears (added with a constant
  // default: no rewrite, existing rows read it as true).
  const backfills = [...model.backfills.values()];
  const markSteps = backfills.map((b) =>
    tableStep(
      { schema, name: b.table },
      'AccessExclusive',
      `ALTER TABLE ${qualifiedTable(schema, b.table)} ADD COLUMN IF NOT EXISTS ${ident(NEEDS_BACKFILL_COLUMN)} boolean DEFAULT true`,
      `mark the rows of "${b.table}" the backfill must visit`,
    ),
  );
  const dropMarkSteps = backfills.map((b) =>
    tableStep(
      { schema, name: b.table },
      'AccessExclusive',
      `ALTER TABLE ${qualifiedTable(schema, b.table)} DROP COLUMN IF EXISTS ${ident(NEEDS_BACKFILL_COLUMN)}`,
      `remove the backfill mark from "${b.table}"`,
    ),
  );
  const over = columnLimit.count(markSteps);
  if (over !== undefined) throw columnLimit.refusal(over);
  await checks.run();

  const backfilled = new Set(backfills.map((b) => b.table));
  const byPhysical = new Map(model.versionTables().map((t) => [t.physical, t]));
  const syncInstall: Step[] = [];
  const syncRemove: Step[] = [];
  for (const [physical, spec] of model.sync) {
    const table = byPhysical.get(physical);
    if (!table || (spec.up.length === 0 && spec.down.length === 0 && !backfilled.has(physical)))
      continue;
    syncInstall.push(
      ...(await installSyncSteps(
        schema,
        stateSchema,
        table,
        spec,
        version,
        backfilled.has(physical),
      )),
    );
    syncRemove.push(...removeSyncSteps(schema, stateSchema, physical));
  }
  // A backfilled table without expressions of its own still needs its mark cleared on writes.
  for (const b of backfills) {
    if (model.sync.has(b.table)) continue;
    const table = byPhysical.get(b.table);
    if (!table) continue;
    syncInstall.push(
      ...(await installSyncSteps(schema, stateSchema, table, { up: [], down: [] }, version, true)),
    );
    syncRemove.push(...removeSyncSteps(schema, stateSchema, b.table));
  }

  const contract = complete.map((c, order) => ({ ...c, order }));
  contract.sort((a, b) => a.stage - b.stage || a.order - b.order);
  const relax = contract.filter((c) => c.stage === CompleteStage.Relax).map((c) => c.step);
  const rest = contract.filter((c) => c.stage !== CompleteStage.Relax).map((c) => c.step);
  const plan: MigrationPlan = {
    migration: migration.name,
    schema,
    version,
    previousVersionSchema: options.previousVersionSchema,
    start: [...start, ...markSteps, ...syncInstall, ...afterSync],
    backfills,
    afterBackfill,
    complete: [
      ...(options.previousVersionSchema && options.previousVersionSchema !== version.schema
        ? [dropVersionSchemaStep(options.previousVersionSchema)]
        : []),
      ...relax,
      ...syncRemove,
      ...dropMarkSteps,
      ...rest,
    ],
    rollback: [
      dropVersionSchemaStep(version.schema),
      ...undoFirst.reverse().flat(),
      ...syncRemove,
      ...undo.reverse().flat(),
      ...dropMarkSteps,
    ],
    overlay: model.overlay(),
    paths,
  };
  return { plan, model, serverMajor: major };
}

/** The version schema steps as `plan` shows them (start builds them from the live catalog). */
export function plannedVersionSteps(
  plan: MigrationPlan,
  model: VersionModel,
  serverMajor: number,
): Step[] {
  return versionSchemaSteps(
    plan.schema,
    plan.version.schema,
    viewsFromModel(model.versionTables()),
    serverMajor,
  );
}
