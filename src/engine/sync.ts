import { catalogStep, type Step, tableStep } from '../executor/step.js';
import { ident, literal } from '../pg/quote.js';
import { identifiersIn, parenthesize } from './expressions.js';
import type { PlannedTable, SyncSpec } from './model.js';
import { NEEDS_BACKFILL_COLUMN, SYNC_TRIGGER, syncFunctionName } from './names.js';

/** The version a migration creates, as triggers and sessions name it. */
export interface VersionName {
  /** The migration name or its version_schema. */
  name: string;
  /** `<schema>_<name>`. */
  schema: string;
}

/**
 * The SQL expression a session's version is read from: `tidal.version` when set, else the first
 * schema of its search_path. Either the version name or the version schema's name selects it.
 */
const WRITER_VERSION = `coalesce(nullif(current_setting('tidal.version', true), ''), (current_schemas(false))[1])`;

/** True except in the backfill's own transactions (`tidal.backfill`), which the trigger skips. */
const BACKFILL_OFF = `current_setting('tidal.backfill', true) IS DISTINCT FROM 'on'`;

interface RowVariable {
  name: string;
  physical: string;
}

function declareRow(schema: string, table: string, row: RowVariable[]): string {
  return row
    .map(
      (v) =>
        `      ${ident(v.name)} ${ident(schema)}.${ident(table)}.${ident(v.physical)}%TYPE := NEW.${ident(v.physical)};`,
    )
    .join('\n');
}

function assignments(
  items: { column: string; expression: string }[],
  onlyIfUnchanged = false,
): string {
  return items
    .map(({ column, expression }) => {
      const assign = `NEW.${ident(column)} := ${parenthesize(expression)};`;
      return onlyIfUnchanged
        ? `        IF NEW.${ident(column)} IS NOT DISTINCT FROM OLD.${ident(column)} THEN ${assign} END IF;`
        : `        ${assign}`;
    })
    .join('\n');
}

/**
 * The body of a table's dual-write trigger function. A write from the old version gets the new
 * version's columns from `up`; a write from the new version gets the old version's columns from
 * `down`. Expressions see the writing version's columns under that version's names, as
 * PL/pgSQL variables (`use_column` makes a column of a table in a subquery win over them).
 * With a backfill running, every write clears the row's needs-backfill mark, and an update
 * through the new version of a row the backfill has not reached fills what it left alone.
 */
export async function syncFunctionSql(
  schema: string,
  stateSchema: string,
  table: PlannedTable,
  spec: SyncSpec,
  version: VersionName,
  backfilled: boolean,
): Promise<string> {
  // Only the columns the expressions name become variables: copying every column of a wide
  // row into a variable on every write is most of what a trigger like this costs.
  const named = async (items: { expression: string }[]) => {
    const names = new Set<string>();
    for (const { expression } of items)
      for (const name of await identifiersIn(expression)) names.add(name);
    return (v: RowVariable) => names.has(v.name);
  };
  const oldRow: RowVariable[] = table.oldColumns
    .map((c) => ({ name: c.name, physical: c.name }))
    .filter(await named(spec.up));
  const newNames = new Set(table.columns.map((c) => c.name));
  const newRow: RowVariable[] = [
    ...table.columns.map((c) => ({ name: c.name, physical: c.physical })),
    // Columns the new version no longer shows keep their current value under their own name.
    ...table.oldColumns
      .filter((c) => !newNames.has(c.name) && !table.columns.some((n) => n.physical === c.name))
      .map((c) => ({ name: c.name, physical: c.name })),
  ].filter(await named(spec.down));
  const upBlock = (onlyIfUnchanged: boolean) =>
    spec.up.length === 0
      ? ''
      : `    DECLARE\n${declareRow(schema, table.physical, oldRow)}\n    BEGIN\n${assignments(spec.up, onlyIfUnchanged)}\n    END;`;
  const downBlock =
    spec.down.length === 0
      ? ''
      : `    DECLARE\n${declareRow(schema, table.physical, newRow)}\n    BEGIN\n${assignments(spec.down)}\n    END;`;
  const mark = ident(NEEDS_BACKFILL_COLUMN);
  const catchUp =
    backfilled && spec.up.length > 0
      ? `    IF TG_OP = 'UPDATE' AND OLD.${mark} THEN\n${upBlock(true)}\n    END IF;`
      : '';
  // One expression decides the direction: each PL/pgSQL statement costs every write.
  const body = [
    `#variable_conflict use_column`,
    `BEGIN`,
    `  IF NOT coalesce(${WRITER_VERSION} IN (${literal(version.name)}, ${literal(version.schema)}), false) THEN`,
    upBlock(false),
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
    `CREATE OR REPLACE FUNCTION ${ident(stateSchema)}.${ident(syncFunctionName(schema, table.physical))}() ` +
    `RETURNS trigger LANGUAGE plpgsql AS $tidal_sync$\n${body}\n$tidal_sync$`
  );
}

/** Steps that install a table's dual-write trigger (idempotent, so a resumed start reruns them). */
export async function installSyncSteps(
  schema: string,
  stateSchema: string,
  table: PlannedTable,
  spec: SyncSpec,
  version: VersionName,
  backfilled: boolean,
): Promise<Step[]> {
  const fn = `${ident(stateSchema)}.${ident(syncFunctionName(schema, table.physical))}`;
  return [
    catalogStep(
      await syncFunctionSql(schema, stateSchema, table, spec, version, backfilled),
      `create the dual-write function of "${table.name}"`,
    ),
    tableStep(
      { schema, name: table.physical },
      'ShareRowExclusive',
      // The backfill writes the new columns itself; the condition is checked without calling
      // the function, which is most of what the trigger costs a write.
      `CREATE OR REPLACE TRIGGER ${ident(SYNC_TRIGGER)} BEFORE INSERT OR UPDATE ON ${ident(schema)}.${ident(table.physical)} FOR EACH ROW WHEN (${BACKFILL_OFF}) EXECUTE FUNCTION ${fn}()`,
      `install the dual-write trigger on "${table.name}"`,
    ),
  ];
}

/** Steps that remove a table's dual-write trigger and function. */
export function removeSyncSteps(
  schema: string,
  stateSchema: string,
  physicalTable: string,
): Step[] {
  return [
    tableStep(
      { schema, name: physicalTable },
      'AccessExclusive',
      `DROP TRIGGER IF EXISTS ${ident(SYNC_TRIGGER)} ON ${ident(schema)}.${ident(physicalTable)}`,
      `remove the dual-write trigger from "${physicalTable}"`,
    ),
    catalogStep(
      `DROP FUNCTION IF EXISTS ${ident(stateSchema)}.${ident(syncFunctionName(schema, physicalTable))}()`,
      `drop the dual-write function of "${physicalTable}"`,
    ),
  ];
}
