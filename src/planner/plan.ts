import { existingSchemas, relationNames } from '../catalog/objects.js';
import { readSchema, serverMajor } from '../catalog/read.js';
import type { SchemaInfo } from '../catalog/types.js';
import { InputError } from '../errors.js';
import type { Migration } from '../migration/schema.js';
import { type CheckSetting, DatabaseChecks } from '../model/database-checks.js';
import { parenthesize } from '../model/expressions.js';
import { NEEDS_BACKFILL_COLUMN, SYNC_TRIGGER, TIDAL_PREFIX } from '../model/names.js';
import { CompleteStage, type CompleteStep } from '../model/operation.js';
import { doBlock } from '../model/sql-fragments.js';
import { type Step, tableStep, type Undoable } from '../model/step.js';
import {
  type BackfillSpec,
  type PlannedColumn,
  type PlannedTable,
  type SyncSpec,
  VersionModel,
  type VersionOverlay,
} from '../model/version-model.js';
import { planOperation } from '../operations/index.js';
import type { Queryable } from '../pg/queryable.js';
import { ident, MAX_IDENTIFIER_BYTES, qualifiedName } from '../pg/quote.js';
import { versionSchemaName } from '../pg/version-session.js';
import { addColumnStep, dropColumnStep } from '../techniques/column-steps.js';
import { mergeAlterColumns } from './alter-column-merge.js';
import type { OperationSource } from './as-one.js';
import { ColumnLimit, catalogColumns } from './column-limit.js';
import { type Obligation, obligationsOf } from './obligations.js';
import { installSyncSteps, removeSyncSteps, type VersionName, versionOnlyColumns } from './sync.js';
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
  /** What each version sees and must do; stored, as start prints them when it has run. */
  obligations?: Obligation[];
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
  /** Plan against this instead of the live catalog (planner/pending.ts). */
  start?: PlanStart;
  /** For several files planned as one (planner/as-one.ts): where each operation was written,
   *  for messages. Without it, every operation is `file`'s. */
  sources?: readonly OperationSource[];
}

/**
 * Where planning starts for a migration that earlier migrations, not run yet, come before: the
 * schema as they will leave it once complete (planner/catalog-after.ts), not as it is.
 */
export interface PlanStart {
  catalog: SchemaInfo;
  /** Tables of `catalog` the live database has under that name and in that shape now: the only
   *  ones a check may look up in the live database. */
  liveTables: ReadonlySet<string>;
  /** Raw SQL of the earlier migrations that defines types, functions and tables, for checks to
   *  run first (planner/raw-sql-footprint.ts). */
  definitions: readonly string[];
  /** Version schemas the earlier migrations make (the latest stays until this one completes)
   *  and drop (the one of the migration completed before them). */
  versionSchemas: { made: ReadonlySet<string>; gone: ReadonlySet<string> };
}

/** What every check of a plan from `start` makes first in its transaction: the earlier
 *  migrations' raw SQL definitions, and stand-ins for the tables they create or change. */
function checkSetting(start: PlanStart, model: VersionModel): CheckSetting {
  return {
    definitions: start.definitions,
    standIns: [...start.catalog.tables.values()].filter((t) => !model.isLive(t.name)),
  };
}

/** Plans a migration against the live catalog, or `options.start`. Runs only read-only
 *  checks; throws InputError naming the file, operation and field on anything invalid. */
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
  // A session names its version by the version's name or schema (tidal.version): a version
  // named like a schema sessions already use would be claimed by them.
  if (version.name === schema || version.name === stateSchema) {
    throw new InputError(
      `${file}: version "${version.name}" is named like the ${version.name === schema ? 'application' : 'state'} schema; rename the file or set version_schema`,
    );
  }
  const { start: from } = options;
  const schemas = await existingSchemas(db, [version.schema, schema]);
  const exists = schemas.includes(version.schema);
  const taken = from
    ? from.versionSchemas.made.has(version.schema) ||
      (exists && !from.versionSchemas.gone.has(version.schema))
    : exists;
  if (taken) {
    throw new InputError(
      `${file}: schema "${version.schema}" already exists; choose another version_schema (tidal never takes over a schema it did not create)`,
    );
  }
  if (!schemas.includes(schema)) throw new InputError(`schema "${schema}" does not exist`);

  const catalog = from?.catalog ?? (await readSchema(db, schema));
  const major = await serverMajor(db);
  const model = new VersionModel(catalog, from?.liveTables);
  const checks = new DatabaseChecks(db, schema, from && checkSetting(from, model));
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
  const { sources } = options;
  const operationAt = (index: number) => {
    const source = sources?.[index];
    return source ? `${source.file}: operations[${source.index}]` : `${file}: operations[${index}]`;
  };
  const planned = await mergeAlterColumns(migration.operations, operationAt);
  for (const [at, { operation, indexes }] of planned.entries()) {
    // Paths are shown under the plan's heading, which names the file; a whole of several
    // files names each operation's own.
    const label = sources
      ? `${indexes.map(operationAt).join(' and ')}.${operation.kind}`
      : `operations[${indexes.join('] and [')}].${operation.kind}`;
    const where = sources ? label : `${file}: ${label}`;
    const steps = await planOperation(operation, {
      model,
      schema,
      where,
      db,
      checks,
      afterRawSql,
      previousVersionSchema: options.previousVersionSchema,
      goneVersionSchemas: [...(from?.versionSchemas.gone ?? [])],
    }).catch(async (error: unknown) => {
      // What earlier operations queued comes first, as if each check had run at once.
      await checks.run();
      throw error instanceof InputError
        ? error
        : new InputError(`${where}: ${(error as Error).message}`);
    });
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
  const mark = (table: string): Undoable => ({
    kind: 'column',
    table,
    name: NEEDS_BACKFILL_COLUMN,
  });
  const markSteps = backfills.map((b) =>
    addColumnStep(
      { schema, name: b.table },
      `${ident(NEEDS_BACKFILL_COLUMN)} boolean DEFAULT true`,
      `mark the rows of "${b.table}" the backfill must visit`,
      { ifNotExists: true, creates: [mark(b.table)] },
    ),
  );
  const dropMarkSteps = backfills.map((b) =>
    dropColumnStep(
      { schema, name: b.table },
      NEEDS_BACKFILL_COLUMN,
      `remove the backfill mark from "${b.table}"`,
      { undoes: mark(b.table) },
    ),
  );
  const over = columnLimit.count(markSteps);
  if (over !== undefined) throw columnLimit.refusal(over);
  await checks.run();

  const byPhysical = new Map(model.versionTables().map((t) => [t.physical, t]));
  // Every table whose writes the trigger must see: expressions to compute, or marks to clear.
  const synced = new Map<string, SyncSpec>();
  for (const [physical, spec] of model.sync) {
    if (spec.up.length > 0 || spec.down.length > 0) synced.set(physical, spec);
  }
  for (const b of backfills) if (!synced.has(b.table)) synced.set(b.table, model.syncFor(b.table));
  const syncInstall: Step[] = [];
  const syncRemove: Step[] = [];
  const restoreDefaults: Step[] = [];
  const rollbackDefaults: Step[] = [];
  const walkKeys = new Map(backfills.map((b) => [b.table, b.key]));
  const rawSqlFirst = migration.operations.some((o) => o.kind === 'sql' && !o.options.onComplete);
  for (const [physical, spec] of synced) {
    const table = byPhysical.get(physical);
    if (!table) continue;
    const defaults = defaultsToViews(schema, table, spec);
    const [fn, trigger] = await installSyncSteps(schema, stateSchema, table, spec, version, {
      walkKey: walkKeys.get(physical),
      userTriggers: (catalog.tables.get(physical)?.beforeUpdateTriggers ?? []).filter(
        (name) => name !== SYNC_TRIGGER,
      ),
      rawSqlFirst,
      checks,
    });
    syncInstall.push(fn as Step, withDefaultsMoved(trigger as Step, defaults?.move));
    syncRemove.push(...removeSyncSteps(schema, stateSchema, physical));
    if (defaults) {
      restoreDefaults.push(defaults.restore);
      // At rollback, only what start moved comes back (complete gives every column its default).
      if (defaults.move)
        rollbackDefaults.push({ ...defaults.restore, undoes: defaults.undoRestore });
    }
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
      ...restoreDefaults,
      ...syncRemove,
      ...dropMarkSteps,
      ...rest,
    ],
    rollback: [
      { ...dropVersionSchemaStep(version.schema), undoes: versionSchemaMade(version) },
      ...undoFirst.reverse().flat(),
      ...rollbackDefaults,
      ...syncRemove,
      ...undo.reverse().flat(),
      ...dropMarkSteps,
    ],
    overlay: model.overlay(),
    paths,
  };
  plan.obligations = obligationsOf(plan, model);
  await refuseTakenNames(db, catalog, [...plan.start, ...plan.afterBackfill], file);
  return { plan, model, serverMajor: major };
}

/**
 * While the dual-write trigger tells the versions apart, a column only the new version shows
 * takes its default from the new version's view, not from the table: only a write through the
 * new version then gives it a value (see syncFunctionSql). The old version's rows get the
 * default from the trigger, as `up` of a column that has none. The table's default is moved
 * once the trigger is in (rows inserted before then have it) and comes back before the trigger
 * goes, at complete and at rollback alike.
 */
function defaultsToViews(
  schema: string,
  table: PlannedTable,
  spec: SyncSpec,
): { move: Step | undefined; restore: Step; undoRestore: Undoable } | undefined {
  const columns = versionOnlyColumns(table).newOnly.filter((c) => c.default !== null);
  if (columns.length === 0) return undefined;
  for (const column of columns) {
    column.viewDefault ??= column.default;
    if (!spec.up.some((u) => u.column === column.physical))
      spec.up.push({
        column: column.physical,
        expression: column.default as string,
        defaultOnly: true,
      });
  }
  const ref = { schema, name: table.physical };
  const t = qualifiedName(schema, table.physical);
  const names = (list: PlannedColumn[]) => list.map((c) => `"${c.name}"`).join(', ');
  const onTable = columns.filter((c) => c.defaultOnTable);
  const moved: Undoable = {
    kind: 'change',
    table: table.physical,
    name: 'defaults moved to the view',
  };
  return {
    move:
      onTable.length > 0
        ? tableStep(
            ref,
            'AccessExclusive',
            `ALTER TABLE ${t} ${onTable.map((c) => `ALTER COLUMN ${ident(c.physical)} DROP DEFAULT`).join(', ')}`,
            `leave the default of ${names(onTable)} to the new version's view while both versions write`,
            { creates: [moved] },
          )
        : undefined,
    restore: tableStep(
      ref,
      'AccessExclusive',
      `ALTER TABLE ${t} ${columns.map((c) => `ALTER COLUMN ${ident(c.physical)} SET DEFAULT ${parenthesize(c.default as string)}`).join(', ')}`,
      `give ${names(columns)} their table default`,
    ),
    undoRestore: moved,
  };
}

/**
 * Refuses, before anything runs, a name tidal would give an object of its own (`_tidal_...`,
 * the dual-write trigger) that the schema already uses. Going on would fail midway, or worse,
 * take the user's object for tidal's and drop it at rollback.
 */
async function refuseTakenNames(
  db: Queryable,
  catalog: SchemaInfo,
  steps: Step[],
  file: string,
): Promise<void> {
  const own = (name: string) => name.startsWith(TIDAL_PREFIX) || name === SYNC_TRIGGER;
  const wanted = steps.flatMap((s) => s.creates ?? []).filter((u) => own(u.name));
  if (wanted.length === 0) return;
  const relations = new Set(await relationNames(db, catalog.schema));
  for (const u of wanted) {
    const table = u.table === undefined ? undefined : catalog.tables.get(u.table);
    const taken =
      u.kind === 'column'
        ? table?.columns.some((c) => c.name === u.name)
        : u.kind === 'constraint'
          ? table?.constraints.some((c) => c.name === u.name)
          : u.kind === 'trigger'
            ? table?.triggers.some((t) => t.name === u.name)
            : u.kind === 'index'
              ? relations.has(u.name)
              : false;
    if (!taken) continue;
    const where = u.kind === 'index' ? `schema "${catalog.schema}"` : `table "${u.table}"`;
    throw new InputError(
      `${file}: tidal needs the name "${u.name}" for a ${u.kind} of its own on ${where}, and ${where} already has one of that name; rename it first (tidal never takes over or drops what it did not create)`,
    );
  }
}

/**
 * The trigger's install and the move of the new columns' defaults to the view, in one statement:
 * a write between the two would find the trigger telling versions apart by values the table's
 * defaults still gave (or, the other way round, a NOT NULL column without its default and
 * without the trigger that fills it).
 */
function withDefaultsMoved(trigger: Step, move: Step | undefined): Step {
  if (!move) return trigger;
  return {
    ...trigger,
    lock: 'AccessExclusive',
    sql: doBlock(`${trigger.sql}; ${move.sql};`),
    summary: `${trigger.summary}, and ${move.summary}`,
    creates: [...(trigger.creates ?? []), ...(move.creates ?? [])],
  };
}

/** The version schema start makes after its steps (see Tidal.runStart), for rollback. */
export function versionSchemaMade(version: VersionName): Undoable {
  return { kind: 'schema', name: version.schema };
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
