import type { TableInfo } from '../../catalog/types.js';
import type { AlterColumn } from '../../migration/operations/alter-column.js';
import { checkExpressionOver, checkType, storedType } from '../../model/checks.js';
import { currentConstraintName } from '../../model/constraint-names.js';
import { columnsNamedIn } from '../../model/expressions.js';
import { grantStatements } from '../../model/grants.js';
import { newColumnName } from '../../model/names.js';
import { CompleteStage, type OperationSteps, type PlanContext } from '../../model/operation.js';
import { type Step, stepsOn, type TableRef, type Undoable } from '../../model/step.js';
import type { PlannedColumn, PlannedConstraint, PlannedTable } from '../../model/version-model.js';
import { ident, qualifiedName } from '../../pg/quote.js';
import { addColumnStep, dropColumnStep, renameColumnStep } from '../column-steps.js';
import { columnComment } from '../comments.js';
import { newConstraintsOnCopy, notNullOnCopy, rebuildConstraintsOnCopy } from './constraints.js';
import { rebuildIndexesOnCopy } from './indexes.js';
import { carryReferencingKey, dropKeyLocks } from './referencing-keys.js';
import { refuseUnsupported } from './refusals.js';
import { sequenceHandOver } from './sequence.js';
import { type ColumnCopy, type CopyGroup, copyGroup } from './site.js';

export interface CopyOptions {
  /** The columns copied together with this one (default: just this one). */
  group?: CopyGroup;
  /** Constraints of the column not to rebuild on the copy: the caller builds them. */
  skipConstraints?: ReadonlySet<string>;
}

/** Whether an alter_column needs new data, so a copy column: anything but catalog changes. */
export function needsCopyColumn(o: AlterColumn, column: PlannedColumn): boolean {
  return (
    o.type !== undefined ||
    o.unique !== undefined ||
    o.check !== undefined ||
    o.references !== undefined ||
    (o.nullable === false && column.nullable)
  );
}

/**
 * alter_column through a copy column. A new physical column `_tidal_new_<name>` holds the new
 * version's values: `up` (default: the old value) computes it for rows the old version writes
 * and, by the backfill, for existing rows; `down` (default: the new value) computes the old
 * column for rows the new version writes. Constraints on the new column go in NOT VALID once the
 * trigger fills it and are validated after the backfill, so `up` decides what rows that broke
 * them become, and a value `up` leaves broken fails start before anything is visible. Checks,
 * indexes and foreign keys of the old column are rebuilt on the new one (constraints.ts,
 * indexes.ts), and foreign keys that reference it carried over (referencing-keys.ts).
 * Complete drops the old column and gives the new one its name; rollback drops the new column.
 */
export async function planCopyColumn(
  o: AlterColumn,
  ctx: PlanContext,
  table: PlannedTable,
  column: PlannedColumn,
  steps: OperationSteps,
  options: CopyOptions = {},
): Promise<void> {
  const group = options.group ?? copyGroup([column]);
  const { info, referencing } = await refuseUnsupported(ctx, table, column, group);
  const newType = o.type ?? column.type;
  await checkType(ctx, newType, 'type');
  const finalName = o.name ?? column.name;
  const { up, down } = await checkCopyExpressions(o, ctx, table, column, newType);

  const copy: ColumnCopy = {
    ctx,
    table,
    column,
    info,
    steps,
    ref: { schema: ctx.schema, name: table.physical },
    copy: newColumnName(column.name),
    oldName: column.physical,
    finalName,
    newType,
    group,
    rebuildsShared: [...group.keys()][0] === column.physical,
    atComplete: [],
  };
  const made = addCopy(copy, o);
  const notNull = o.nullable === false || (o.nullable === undefined && !column.nullable);
  if (notNull) notNullOnCopy(copy);
  const oldKeysReference = await rebuildConstraintsOnCopy(copy, options.skipConstraints);
  await rebuildIndexesOnCopy(copy);
  const newConstraints = await newConstraintsOnCopy(copy, o);
  fillCopy(copy, up, down);
  await contract(copy, oldKeysReference);
  steps.rollback.push(
    dropColumnStep(copy.ref, copy.copy, `drop the new "${column.name}"`, { undoes: made }),
  );

  // The copy's default is the new version's view's until complete gives it to the table (see
  // defaultsToViews): only the new version's writes fill the copy themselves.
  const defaultValue = o.default !== undefined ? o.default : column.default;
  await copyTakesColumnsPlace(copy, { defaultValue, notNull, newConstraints });

  for (const fk of referencing) {
    await carryReferencingKey(ctx, table, copy.copy, newType, fk, steps, planCopyColumn);
  }
}

/** Checks `up` over the old version's row and `down` over the new version's; returns them,
 *  defaults filled in. */
async function checkCopyExpressions(
  o: AlterColumn,
  ctx: PlanContext,
  table: PlannedTable,
  column: PlannedColumn,
  newType: string,
): Promise<{ up: string; down: string }> {
  const oldName = column.physical; // the old version's name for it
  const finalName = o.name ?? column.name;
  const up = o.up ?? ident(oldName);
  const down = o.down ?? ident(finalName);
  const oldRow = table.oldColumns.map((c) => ({ name: c.name, type: c.type }));
  await checkExpressionOver(ctx, up, { alias: table.name, columns: oldRow }, 'up', {
    column: finalName,
    type: newType,
  });
  const newRow = table.columns.map((c) =>
    c === column ? { name: finalName, type: newType } : { name: c.name, type: c.type },
  );
  await checkExpressionOver(ctx, down, { alias: table.name, columns: newRow }, 'down', {
    column: oldName,
    type: column.type,
  });
  return { up, down };
}

/** The copy column at start, with the column's own privileges and comment; returns what
 *  rollback undoes. */
function addCopy(copy: ColumnCopy, o: AlterColumn): Undoable {
  const { ctx, table, column, ref } = copy;
  const t = qualifiedName(ctx.schema, table.physical);
  const step = stepsOn(ref);
  const made: Undoable = { kind: 'column', table: table.physical, name: copy.copy };
  copy.steps.start.push(
    addColumnStep(
      ref,
      `${ident(copy.copy)} ${copy.newType}`,
      `add column ${copy.copy} for the new version of "${column.name}"`,
      { creates: [made] },
    ),
  );
  // Privileges on the column alone go to the copy, which takes the column's place at complete
  // (and is what the new version's view of a table with row-level security reads as the role).
  for (const sql of grantStatements(t, [], [{ name: copy.copy, grants: column.grants ?? [] }])) {
    copy.steps.start.push(
      step('none', sql, `give ${copy.copy} the privileges on "${column.name}"`),
    );
  }
  const comment = o.comment !== undefined ? o.comment : commentOf(copy.info, copy.oldName);
  // Views show no comment of their own unless given one.
  if (comment !== null) {
    column.viewComment = comment;
    copy.steps.start.push(columnComment(ref, copy.copy, comment, `comment on ${copy.copy}`));
  }
  return made;
}

function commentOf(info: TableInfo, column: string): string | null {
  return info.columns.find((c) => c.name === column)?.comment ?? null;
}

/** `up` fills the copy through the dual-write trigger and the backfill; `down` fills the old
 *  column for rows the new version writes. */
function fillCopy(copy: ColumnCopy, up: string, down: string): void {
  const { ctx, table, column, finalName } = copy;
  const type = storedType(copy.newType);
  const typeChange =
    type !== column.type
      ? { typeChange: { name: finalName, oldType: column.type, newType: type } }
      : {};
  ctx.model.syncFor(table.physical).up.push({ column: copy.copy, expression: up, ...typeChange });
  ctx.model
    .syncFor(table.physical)
    .down.push({ column: copy.oldName, expression: down, ...typeChange });
  ctx.model.backfillFor(table).set.push({ column: copy.copy, name: column.name, expression: up });
}

/**
 * Complete: before the triggers go, the old column stops requiring a value; then the sequence
 * goes to the copy, the old column goes, and the copy takes its name and what was rebuilt on it
 * takes the old names (`atComplete`). At complete, earlier operations' renames have run: the
 * old column has its name as of now. Dropping the old column drops its foreign keys, which
 * locks the tables they reference (`oldKeysReference`).
 */
async function contract(copy: ColumnCopy, oldKeysReference: TableRef[]): Promise<void> {
  const { column, ref, finalName } = copy;
  const relax = relaxOldColumn(copy);
  const droppedKeyLocks = new Map(
    oldKeysReference
      .flatMap((referenced) => dropKeyLocks(ref, referenced).alsoLocks ?? [])
      .map((l) => [`${l.table.schema}.${l.table.name}`, l]),
  );
  const steps = [
    ...(await sequenceHandOver(copy)),
    dropColumnStep(ref, column.name, `drop the old "${column.name}"`, {
      ifExists: false,
      ...(droppedKeyLocks.size > 0 ? { alsoLocks: [...droppedKeyLocks.values()] } : {}),
    }),
    renameColumnStep(ref, copy.copy, finalName, `give the new column the name "${finalName}"`),
    ...copy.atComplete,
  ];
  copy.steps.complete.push(
    ...relax.map((s) => ({ stage: CompleteStage.Relax, step: s })),
    ...steps.map((s) => ({ stage: CompleteStage.Columns, step: s })),
  );
}

/** Before the triggers go, the old column stops requiring a value (renames have not run yet):
 *  a primary key of it without a default gives way to the copy's unique index. */
function relaxOldColumn(copy: ColumnCopy): Step[] {
  const { ctx, table, column, info, oldName, ref } = copy;
  if (column.nullable) return [];
  const t = qualifiedName(ref.schema, ref.name);
  const step = stepsOn(ref);
  const relax: Step[] = [];
  const pkey = info.constraints.find((c) => c.type === 'p' && c.columns.includes(oldName));
  if (pkey && column.default === null && column.identity === '') {
    relax.push(
      step(
        'AccessExclusive',
        `ALTER TABLE ${t} DROP CONSTRAINT ${ident(currentConstraintName(ctx.model, table, pkey.name))}`,
        `drop the old primary key (the new column's unique index holds)`,
      ),
    );
  }
  if (!pkey || relax.length > 0) {
    relax.push(
      step(
        'AccessExclusive',
        `ALTER TABLE ${t} ALTER COLUMN ${ident(oldName)} DROP NOT NULL`,
        `let the old "${column.name}" be NULL until it is dropped`,
      ),
    );
  }
  return relax;
}

/** The model from here on: the copy is the column, with the new version's name, type, default
 *  and constraints. */
async function copyTakesColumnsPlace(
  copy: ColumnCopy,
  a: { defaultValue: string | null; notNull: boolean; newConstraints: PlannedConstraint[] },
): Promise<void> {
  const { ctx, table, column, oldName } = copy;
  if (table.primaryKey.includes(oldName))
    table.primaryKey = table.primaryKey.map((k) => (k === oldName ? copy.copy : k));
  column.physical = copy.copy;
  column.name = copy.finalName;
  // The copy's own default, which the new version's view takes (plan shows it from here).
  column.default = a.defaultValue;
  column.type = storedType(copy.newType);
  column.nullable = !a.notNull;
  column.added = true;
  column.copied = true;
  column.copyOf = oldName;
  ctx.model.touch(table);
  // Recorded once the column has its new name: a check names the columns by the new version's.
  for (const constraint of a.newConstraints) {
    if (constraint.type === 'c' && constraint.expression !== undefined)
      constraint.columns = await columnsNamedIn(table.columns, constraint.expression);
    ctx.model.recordConstraint(table, constraint);
  }
}
