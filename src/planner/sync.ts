import type { ColumnInfo } from '../catalog/types.js';
import { isImmutableOver } from '../model/checks.js';
import type { DatabaseChecks } from '../model/database-checks.js';
import { identifiersIn, isColumnItself, parenthesize } from '../model/expressions.js';
import { NEEDS_BACKFILL_COLUMN, SYNC_TRIGGER, syncFunctionName } from '../model/names.js';
import { catalogStep, type Step, tableStep, type Undoable } from '../model/step.js';
import { alwaysFits } from '../model/type-fit.js';
import type {
  PlannedColumn,
  PlannedTable,
  SyncAssignment,
  SyncSpec,
} from '../model/version-model.js';
import { dollarQuoted, ident, literal, qualifiedName } from '../pg/quote.js';

/** The version a migration creates, as triggers and sessions name it. */
export interface VersionName {
  /** The migration name or its version_schema. */
  name: string;
  /** `<schema>_<name>`. */
  schema: string;
}

/**
 * Whether the writing session says it is the new version: `tidal.version` names it (by version
 * name or version schema), else the first schema of its search_path is the version schema. NULL
 * when the session says nothing (it then counts as the old version). Only the version schema
 * is compared with search_path: a version named like a schema already on the path (`public`)
 * must not claim every default session.
 */
function claimsNewVersion(version: VersionName): string {
  const setting = `nullif(current_setting('tidal.version', true), '')`;
  return `coalesce(${setting} IN (${literal(version.name)}, ${literal(version.schema)}), (current_schemas(false))[1] = ${literal(version.schema)})`;
}

/** True except in the backfill's own transactions (`tidal.backfill`), which the trigger skips. */
const BACKFILL_OFF = `current_setting('tidal.backfill', true) IS DISTINCT FROM 'on'`;

/** The trigger's own variable: true when the row is the new version's write. */
const FROM_NEW = '_tidal_from_new';

interface RowVariable {
  name: string;
  physical: string;
  type: string;
}

function declareRow(schema: string, table: string, row: RowVariable[]): string {
  return row
    .map(
      (v) =>
        `      ${ident(v.name)} ${ident(schema)}.${ident(table)}.${ident(v.physical)}%TYPE := NEW.${ident(v.physical)};`,
    )
    .join('\n');
}

/** `NEW`'s columns are `OLD`'s, byte for byte: works for every type (json has no `=`). */
function unchanged(columns: string[]): string {
  const row = (record: string) =>
    `ROW(${columns.map((c) => `${record}.${ident(c)}`).join(', ')})::record`;
  return `(${row('NEW')} *= ${row('OLD')})`;
}

function changed(columns: string[]): string {
  return `NOT ${unchanged(columns)}`;
}

/** What one direction of the trigger computes, over which row. */
interface Direction {
  items: SyncAssignment[];
  /** The writing version's row: variables under its names, over physical columns. */
  row: RowVariable[];
  /** Which version wrote, for messages when a value does not fit the other's column. */
  writer: 'old' | 'new';
}

/** The variables of the writer's row that `items`' expressions name: only these are declared,
 *  copying every column of a wide row into a variable on every write is most of what a trigger
 *  like this costs. */
async function variablesNamedBy(
  direction: Direction,
  items: readonly SyncAssignment[],
): Promise<RowVariable[]> {
  const names = new Set<string>();
  for (const { expression } of items)
    for (const name of await identifiersIn(expression)) names.add(name);
  return direction.row.filter((v) => names.has(v.name));
}

/** Each direction of a table's trigger: `up` over the old version's row, `down` over the new's. */
function directionsOf(table: PlannedTable, spec: SyncSpec): { up: Direction; down: Direction } {
  const oldRow: RowVariable[] = table.oldColumns.map((c) => ({
    name: c.name,
    physical: c.name,
    type: c.type,
  }));
  const newNames = new Set(table.columns.map((c) => c.name));
  const newRow: RowVariable[] = [
    ...table.columns.map((c) => ({ name: c.name, physical: c.physical, type: c.type })),
    // Columns the new version no longer shows keep their current value under their own name.
    ...table.oldColumns
      .filter((c) => !newNames.has(c.name) && !table.columns.some((n) => n.physical === c.name))
      .map((c) => ({ name: c.name, physical: c.name, type: c.type })),
  ];
  return {
    up: { items: spec.up, row: oldRow, writer: 'old' },
    down: { items: spec.down, row: newRow, writer: 'new' },
  };
}

/** The assignments of one direction. `onlyIfUnchanged` sets only columns the write left
 *  alone; otherwise a column given only its default is set only while the row has no value of
 *  it yet (`unset`), never over one the new version wrote. */
async function assignments(
  direction: Direction,
  version: VersionName,
  table: PlannedTable,
  { onlyIfUnchanged = false, unset }: { onlyIfUnchanged?: boolean; unset?: string } = {},
): Promise<string> {
  const lines: string[] = [];
  for (const item of direction.items) {
    let assign = `NEW.${ident(item.column)} := ${parenthesize(item.expression)};`;
    if (await mayNotFit(item, direction.writer))
      assign = explainedAssignment(assign, item, direction.writer, version, table);
    const guard = onlyIfUnchanged ? unchanged([item.column]) : item.defaultOnly ? unset : undefined;
    lines.push(guard ? `        IF ${guard} THEN ${assign} END IF;` : `        ${assign}`);
  }
  return lines.join('\n');
}

/** Whether a value the writer gives may not fit the other version's column. The guard that
 *  explains the failure is a subtransaction per write, so it is left out where the value is a
 *  column copied as it is into a type that holds every value of it (integer into bigint). */
async function mayNotFit(item: SyncAssignment, writer: 'old' | 'new'): Promise<boolean> {
  const change = item.typeChange;
  if (!change) return false;
  const [from, to] =
    writer === 'old' ? [change.oldType, change.newType] : [change.newType, change.oldType];
  if (!alwaysFits(from, to)) return true;
  const [only, ...rest] = await identifiersIn(item.expression);
  return only === undefined || rest.length > 0 || !(await isColumnItself(item.expression, only));
}

/** An assignment between columns of different types, whose failure names the column, the
 *  versions and why: until complete, both versions' columns hold every row. */
function explainedAssignment(
  assign: string,
  item: SyncAssignment,
  writer: 'old' | 'new',
  version: VersionName,
  table: PlannedTable,
): string {
  const change = item.typeChange as NonNullable<SyncAssignment['typeChange']>;
  const [wrote, target] =
    writer === 'new'
      ? [`version "${version.name}"`, `the previous version's column (${change.oldType})`]
      : ['the previous version', `version "${version.name}"'s column (${change.newType})`];
  const message = `tidal: ${wrote} wrote a value of "${table.name}"."${change.name}" that ${target} cannot hold: until the migration to "${version.name}" completes, every row is kept in both versions' columns`;
  return `BEGIN ${assign} EXCEPTION WHEN data_exception THEN RAISE EXCEPTION USING ERRCODE = SQLSTATE, MESSAGE = ${literal(message)}, DETAIL = SQLERRM; END;`;
}

/**
 * The body of a table's dual-write trigger function. A write from the old version gets the new
 * version's columns from `up`; a write from the new version gets the old version's columns from
 * `down`. Expressions see the writing version's columns under that version's names, as
 * PL/pgSQL variables (`use_column` makes a column of a table in a subquery win over them).
 *
 * Which version wrote is told first by what the write holds, then by what the session says:
 * - an INSERT that gives a value to a column only the new version shows came through the new
 *   version (tidal leaves those columns without a table default while the migration is active,
 *   so only the new version's views fill them);
 * - an UPDATE that changes a column only the new version shows is the new version's, one that
 *   changes a column only the old version shows is the old version's, and one that changes both
 *   cannot be told: it fails, saying so, rather than overwrite either;
 * - otherwise `tidal.version`, else the first schema of search_path (claimsNewVersion); a
 *   session that says nothing counts as the old version.
 * So a write through a version schema's view is that version's, however the table is named.
 *
 * With a backfill running, every write the trigger sees clears the row's needs-backfill mark,
 * and an update through the new version of a row the backfill has not reached fills what it
 * left alone. (An update the trigger does not see leaves the mark: see updatesThatFire.)
 */
export async function syncFunctionSql(
  schema: string,
  stateSchema: string,
  table: PlannedTable,
  spec: SyncSpec,
  version: VersionName,
  backfilled: boolean,
): Promise<string> {
  const { newOnly, oldOnly } = versionOnlyColumns(table);
  const { up, down } = directionsOf(table, spec);
  const block = async (direction: Direction, lines: string) => {
    if (direction.items.length === 0) return '';
    const row = await variablesNamedBy(direction, direction.items);
    return `    DECLARE\n${declareRow(schema, table.physical, row)}\n    BEGIN\n${lines}\n    END;`;
  };
  const mark = ident(NEEDS_BACKFILL_COLUMN);
  const claim = `coalesce(${claimsNewVersion(version)}, false)`;
  // A row has no value of a new column yet while being inserted, or (with a backfill) until
  // the backfill reaches it.
  const unset = backfilled ? `TG_OP = 'INSERT' OR OLD.${mark}` : `TG_OP = 'INSERT'`;
  const upBlock = await block(up, await assignments(up, version, table, { unset }));
  const downBlock = await block(down, await assignments(down, version, table));
  const catchUp =
    backfilled && spec.up.length > 0
      ? `    IF TG_OP = 'UPDATE' AND OLD.${mark} THEN\n${await block(up, await assignments(up, version, table, { onlyIfUnchanged: true }))}\n    END IF;`
      : '';
  const newOnlyNames = newOnly
    .map((c) => (c.physical === c.name ? ident(c.name) : `${ident(c.physical)} (its "${c.name}")`))
    .join(', ');
  const oldOnlyNames = oldOnly.map((c) => ident(c.name)).join(', ');
  const undecidable = `tidal: cannot tell which version wrote this row of "${table.name}": the write changed ${oldOnlyNames}, which only the previous version shows, and ${newOnlyNames}, which only version "${version.name}" shows; write through one version, or set tidal.version on the session`;
  const newPhysical = newOnly.map((c) => c.physical);
  const oldPhysical = oldOnly.map((c) => c.name);
  const who = [
    `  IF TG_OP = 'INSERT' THEN`,
    newPhysical.length > 0
      ? `    ${FROM_NEW} := num_nonnulls(${newPhysical.map((c) => `NEW.${ident(c)}`).join(', ')}) > 0 OR ${claim};`
      : `    ${FROM_NEW} := ${claim};`,
    ...(newPhysical.length > 0
      ? [
          `  ELSIF ${changed(newPhysical)} THEN`,
          ...(oldPhysical.length > 0
            ? [
                `    IF ${changed(oldPhysical)} THEN`,
                `      RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = ${literal(undecidable)};`,
                `    END IF;`,
              ]
            : []),
          `    ${FROM_NEW} := true;`,
        ]
      : []),
    ...(oldPhysical.length > 0
      ? [`  ELSIF ${changed(oldPhysical)} THEN`, `    ${FROM_NEW} := false;`]
      : []),
    `  ELSE`,
    `    ${FROM_NEW} := ${claim};`,
    `  END IF;`,
  ];
  const body = [
    `#variable_conflict use_column`,
    `DECLARE`,
    `  ${FROM_NEW} boolean;`,
    `BEGIN`,
    ...who,
    `  IF NOT ${FROM_NEW} THEN`,
    upBlock,
    `  ELSE`,
    downBlock,
    catchUp,
    `  END IF;`,
    backfilled ? `  NEW.${mark} := false;` : '',
    `  RETURN NEW;`,
    `END`,
  ]
    .filter((line) => line !== '')
    .join('\n');
  return (
    `CREATE OR REPLACE FUNCTION ${qualifiedName(stateSchema, syncFunctionName(schema, table.physical))}() ` +
    `RETURNS trigger LANGUAGE plpgsql AS ${dollarQuoted(`\n${body}\n`, 'tidal_sync')}`
  );
}

/**
 * The physical columns only one version shows: the new version's columns this migration adds
 * (new columns and copies), and the old version's columns the new one no longer shows (dropped
 * or replaced by a copy). Only a version that shows a column writes it, which is how the
 * trigger tells the versions apart. A table this migration creates has no old version.
 */
export function versionOnlyColumns(table: PlannedTable): {
  newOnly: PlannedColumn[];
  oldOnly: ColumnInfo[];
} {
  if (table.created) return { newOnly: [], oldOnly: [] };
  const shown = new Set(table.columns.map((c) => c.physical));
  return {
    newOnly: table.columns.filter((c) => c.added),
    oldOnly: table.oldColumns.filter((c) => !shown.has(c.name)),
  };
}

/** What start makes for a table's dual-write trigger, for rollback. */
function syncObjects(schema: string, physicalTable: string): { fn: Undoable; trigger: Undoable } {
  return {
    fn: { kind: 'function', name: syncFunctionName(schema, physicalTable) },
    trigger: { kind: 'trigger', table: physicalTable, name: SYNC_TRIGGER },
  };
}

/** What decides which UPDATEs must fire a table's dual-write trigger (see updatesThatFire). */
export interface TriggerSetting {
  /** The key the backfill walks the table by (empty: by physical location); undefined when the
   *  table has no backfill. */
  walkKey: string[] | undefined;
  /** The application's own row-level BEFORE UPDATE triggers on the table. */
  userTriggers: readonly string[];
  /** The migration runs raw SQL before the trigger goes in. */
  rawSqlFirst: boolean;
  checks: DatabaseChecks;
}

/** The UPDATEs that fire the trigger: those that write one of `columns`, or all (`all` says why). */
type UpdateFiring = { columns: string[] } | { all: string };

/**
 * Which UPDATEs must fire the trigger. One that writes none of the columns the trigger reads,
 * writes or compares leaves the row as it was for the trigger's purpose: a row the backfill has
 * not reached keeps its mark and is filled later; a row filled keeps values that still follow
 * from its columns (or that the new version gave it). So the trigger fires only for those
 * columns (`UPDATE OF`), and for the key the backfill walks by. Where that does not hold it
 * fires on every UPDATE, and says why (each reason below). An INSERT always fires it.
 */
async function updatesThatFire(
  table: PlannedTable,
  spec: SyncSpec,
  setting: TriggerSetting,
): Promise<UpdateFiring> {
  // Any update can move a row to a page the walk has passed.
  if (setting.walkKey?.length === 0)
    return { all: 'the backfill walks the table by physical location' };
  // PostgreSQL fires an `UPDATE OF` trigger by the columns a statement writes, whatever another
  // BEFORE trigger then changes in the row.
  const users = setting.userTriggers;
  if (users.length > 0)
    return {
      all: `the table's own BEFORE UPDATE trigger${users.length > 1 ? 's' : ''} ${users.map((t) => `"${t}"`).join(', ')} may change what it syncs`,
    };
  // Raw SQL runs before the trigger goes in, and tidal cannot see what it makes.
  if (setting.rawSqlFirst) return { all: 'raw SQL of the migration may add such triggers' };
  const { up, down } = directionsOf(table, spec);
  // An expression that is not a function of the row alone (now(), random(), a subquery) is
  // computed again on every write, as before: skipping writes would change what `up` means.
  for (const direction of [up, down]) {
    for (const item of direction.items) {
      // A default is given to a row once, when it has no value yet: how often is no matter.
      if (item.defaultOnly) continue;
      const row = await variablesNamedBy(direction, [item]);
      if (await isImmutableOver(setting.checks, item.expression, row)) continue;
      const name = table.columns.find((c) => c.physical === item.column)?.name ?? item.column;
      return {
        all: `the ${direction.writer === 'old' ? 'up' : 'down'} of "${name}" is not immutable`,
      };
    }
  }
  const { newOnly, oldOnly } = versionOnlyColumns(table);
  const read = [
    ...(await variablesNamedBy(up, up.items)),
    ...(await variablesNamedBy(down, down.items)),
  ];
  const columns = new Set([
    // A row whose key changes moves in the walk's order, perhaps behind it.
    ...(setting.walkKey ?? []),
    // What `up` and `down` read, and what they set.
    ...read.map((v) => v.physical),
    ...[...spec.up, ...spec.down].map((item) => item.column),
    // What tells the versions apart.
    ...newOnly.map((c) => c.physical),
    ...oldOnly.map((c) => c.name),
  ]);
  if (columns.size === 0) return { all: 'it syncs no column' };
  const order = [...table.oldColumns.map((c) => c.name), ...table.columns.map((c) => c.physical)];
  return { columns: [...columns].sort((a, b) => order.indexOf(a) - order.indexOf(b)) };
}

/** Steps that install a table's dual-write trigger (idempotent, so a resumed start reruns them). */
export async function installSyncSteps(
  schema: string,
  stateSchema: string,
  table: PlannedTable,
  spec: SyncSpec,
  version: VersionName,
  setting: TriggerSetting,
): Promise<Step[]> {
  const fn = qualifiedName(stateSchema, syncFunctionName(schema, table.physical));
  const made = syncObjects(schema, table.physical);
  const backfilled = setting.walkKey !== undefined;
  const firing = await updatesThatFire(table, spec, setting);
  const events =
    'columns' in firing
      ? `INSERT OR UPDATE OF ${firing.columns.map(ident).join(', ')}`
      : 'INSERT OR UPDATE';
  const fired =
    'columns' in firing
      ? `fired by INSERT and by UPDATE of ${firing.columns.map((c) => `"${c}"`).join(', ')}`
      : `fired by every INSERT and UPDATE: ${firing.all}`;
  return [
    catalogStep(
      await syncFunctionSql(schema, stateSchema, table, spec, version, backfilled),
      `create the dual-write function of "${table.name}"`,
      'none',
      { creates: [made.fn] },
    ),
    tableStep(
      { schema, name: table.physical },
      'ShareRowExclusive',
      // The backfill writes the new columns itself; the condition is checked without calling
      // the function, which is most of what the trigger costs a write.
      `CREATE OR REPLACE TRIGGER ${ident(SYNC_TRIGGER)} BEFORE ${events} ON ${qualifiedName(schema, table.physical)} FOR EACH ROW WHEN (${BACKFILL_OFF}) EXECUTE FUNCTION ${fn}()`,
      `install the dual-write trigger on "${table.name}", ${fired}`,
      { creates: [made.trigger] },
    ),
  ];
}

/** Steps that remove a table's dual-write trigger and function. */
export function removeSyncSteps(
  schema: string,
  stateSchema: string,
  physicalTable: string,
): Step[] {
  const made = syncObjects(schema, physicalTable);
  return [
    tableStep(
      { schema, name: physicalTable },
      'AccessExclusive',
      `DROP TRIGGER IF EXISTS ${ident(SYNC_TRIGGER)} ON ${qualifiedName(schema, physicalTable)}`,
      `remove the dual-write trigger from "${physicalTable}"`,
      { undoes: made.trigger },
    ),
    catalogStep(
      `DROP FUNCTION IF EXISTS ${qualifiedName(stateSchema, syncFunctionName(schema, physicalTable))}()`,
      `drop the dual-write function of "${physicalTable}"`,
      'none',
      { undoes: made.fn },
    ),
  ];
}
