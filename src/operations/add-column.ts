import { InputError } from '../errors.js';
import type { Column } from '../migration/fields.js';
import type { AddColumn } from '../migration/operations/add-column.js';
import {
  checkExpressionOver,
  checkType,
  defaultIsVolatile,
  isSerialType,
  storedType,
} from '../model/checks.js';
import { columnsNamedIn, parenthesize, renameColumnInExpression } from '../model/expressions.js';
import { newColumnName, notNullCheckName, prefixedName } from '../model/names.js';
import {
  CompleteStage,
  emptySteps,
  type OperationModule,
  type OperationSteps,
  type PlanContext,
} from '../model/operation.js';
import { checkDefinition, generatedClause, referencesClause } from '../model/sql-fragments.js';
import type { TableRef, Undoable } from '../model/step.js';
import type { PlannedColumn, PlannedTable } from '../model/version-model.js';
import { ident } from '../pg/quote.js';
import { addColumnStep, dropColumnStep, renameColumnStep } from '../techniques/column-steps.js';
import { columnComment } from '../techniques/comments.js';
import { uniqueIndexThenConstraint } from '../techniques/index-constraint.js';
import { addNotNullThroughCheck } from '../techniques/not-null-through-check.js';
import { addValidatedLater } from '../techniques/validated-later.js';
import { generationOf } from './create-table.js';

/**
 * add_column: the column is added under a temporary name (`_tidal_new_<name>`) so the old
 * version, and anything reading the table directly, does not see it. Rows the old version
 * writes get `up` from the dual-write trigger; existing rows get it from the backfill. A NOT
 * NULL column is enforced through a NOT VALID check until complete sets NOT NULL, which then
 * needs no scan. Complete renames the column to its final name; rollback drops it. On a table
 * the same migration creates, which no version has seen yet, the column takes its final name at
 * once, as create_table's columns do (a generated or identity column is allowed only there).
 */
export const addColumn: OperationModule<AddColumn> = {
  async plan(o, ctx) {
    const { model, schema, where } = ctx;
    const c = o.column;
    const table = model.requireTable(o.table, `${where}.table`);
    await checkAddColumn(o, ctx, table);

    const volatileDefault =
      c.default !== undefined &&
      (await defaultIsVolatile(ctx, c.type, c.default, 'column.default'));
    // Existing rows need a value computed per row: from `up`, or from a volatile default.
    const fillExisting = !table.created && (o.up !== undefined || volatileDefault);
    // (A NOT NULL column with neither `up` nor `default` is refused when the file is read.)
    // NOT NULL can go on at once when every existing row gets a non-null constant default.
    const notNullNow = !c.nullable && !fillExisting && (c.default !== undefined || table.created);
    // A volatile default would rewrite a table that has rows; one this migration creates has none.
    const defaultOnTable = c.default !== undefined && (!volatileDefault || table.created);
    const physical = table.created ? c.name : newColumnName(c.name);
    const ref = { schema, name: table.physical };
    const steps = emptySteps();

    const added = addPhysicalColumn(table, c, physical, { notNullNow, defaultOnTable }, steps, ref);
    // Otherwise a volatile default is not the table's until complete: existing rows get it from
    // the backfill, rows the old version writes from the dual-write trigger, rows the new
    // version writes from its view (see defaultsToViews).
    if (c.comment !== undefined)
      steps.start.push(columnComment(ref, physical, c.comment, `comment on column "${c.name}"`));
    await addColumnConstraints(ctx, table, c, physical, !c.nullable && !notNullNow, steps);
    fillNewColumn(ctx, table, o, physical, fillExisting, steps);
    finishNewColumn(c, physical, added, steps, ref);

    const column: PlannedColumn = {
      name: c.name,
      physical,
      type: storedType(c.type),
      ...(isSerialType(c.type) ? { serial: true } : {}),
      nullable: c.nullable,
      default: c.default ?? null,
      ...generationOf(c),
      added: true,
      defaultOnTable,
    };
    table.columns.push(column);
    for (const name of [c.check?.name, c.references?.name])
      if (name) table.constraintNames.add(name);
    await recordConstraints(ctx, table, column, c);
    model.touch(table);
    return steps;
  },
};

/** Refuses what add_column cannot do, and checks the type and expressions against the database. */
async function checkAddColumn(o: AddColumn, ctx: PlanContext, table: PlannedTable): Promise<void> {
  const { where } = ctx;
  const c = o.column;
  if (table.columns.some((existing) => existing.name === c.name)) {
    throw new InputError(
      `${where}.column.name: column "${c.name}" already exists on table "${table.name}"`,
    );
  }
  if (c.pk) {
    throw new InputError(
      `${where}.column.pk: adding a primary key column is not supported; add the column, then use create_constraint`,
    );
  }
  if (c.generated && !table.created) {
    throw new InputError(
      `${where}.column.generated: adding a generated or identity column to an existing table rewrites it under an exclusive lock; add a plain column with \`up\` instead`,
    );
  }
  await checkType(ctx, c.type, 'column.type');
  // A table this migration created has no old version: `up` sees its columns as planned.
  const oldColumns = table.created ? table.columns : table.oldColumns;
  if (o.up !== undefined)
    await checkExpressionOver(ctx, o.up, { alias: table.name, columns: oldColumns }, 'up', {
      column: c.name,
      type: c.type,
    });
  if (c.check) {
    const newRow = { alias: table.name, columns: [...table.columns, c] };
    await checkExpressionOver(ctx, c.check.constraint, newRow, 'column.check.constraint');
  }
}

/** The ADD COLUMN step of start; returns what rollback undoes. */
function addPhysicalColumn(
  table: PlannedTable,
  c: Column,
  physical: string,
  { notNullNow, defaultOnTable }: { notNullNow: boolean; defaultOnTable: boolean },
  steps: OperationSteps,
  ref: TableRef,
): Undoable {
  let definition = `${ident(physical)} ${c.type}${generatedClause(c)}`;
  if (defaultOnTable) definition += ` DEFAULT ${parenthesize(c.default as string)}`;
  // Named as PostgreSQL 18 would name it after the final column (earlier majors ignore it).
  const notNullName = prefixedName('', `${table.name}_${c.name}_not_null`);
  if (notNullNow) definition += ` CONSTRAINT ${ident(notNullName)} NOT NULL`;
  const added: Undoable = { kind: 'column', table: table.physical, name: physical };
  steps.start.push(
    addColumnStep(
      ref,
      definition,
      `add column "${c.name}" to "${table.name}"${physical === c.name ? '' : ` as ${physical}`}`,
      // An identity or generated column is computed for every row: the (new, empty) table is
      // written again.
      { effect: c.generated ? 'rewrite' : 'none', creates: [added] },
    ),
  );
  return added;
}

/**
 * The column's constraints. They go on the new column once the trigger fills it; a check may
 * reject the NULL it gets once the trigger is gone, so rollback drops checks first. NOT NULL the
 * column could not get at once goes through a stand-in check; uniqueness through a unique index
 * built after the backfill.
 */
async function addColumnConstraints(
  ctx: PlanContext,
  table: PlannedTable,
  c: Column,
  physical: string,
  notNullLater: boolean,
  steps: OperationSteps,
): Promise<void> {
  const { model, schema, where } = ctx;
  const ref = { schema, name: table.physical };
  const onNewColumn = { add: 'afterSync', drop: 'rollbackFirst' } as const;
  if (notNullLater) {
    addNotNullThroughCheck(
      steps,
      ref,
      { check: notNullCheckName(c.name), column: physical, columnThen: c.name },
      {
        what: `NOT NULL of "${c.name}"`,
        setNotNull: `set NOT NULL on "${c.name}" (proved by the validated check, no scan)`,
        dropCheck: `drop the NOT NULL stand-in check of "${c.name}"`,
        ifExists: true,
      },
      onNewColumn,
    );
  }
  if (c.check) {
    const expression = await renameColumnInExpression(c.check.constraint, c.name, physical);
    const definition = checkDefinition(expression, c.check.no_inherit);
    addValidatedLater(
      steps,
      ref,
      { kind: 'check', name: c.check.name, definition },
      { what: `check "${c.check.name}"` },
      onNewColumn,
    );
  }
  if (c.references) {
    const r = c.references;
    const refTable = model.requireTable(r.table, `${where}.column.references.table`);
    const references = referencesClause(schema, { ...r, table: refTable.physical });
    addValidatedLater(
      steps,
      ref,
      {
        kind: 'foreign_key',
        name: r.name,
        definition: `FOREIGN KEY (${ident(physical)}) ${references}`,
        referenced: { schema, name: refTable.physical },
      },
      { what: `foreign key "${r.name}"` },
      { add: 'afterSync', drop: 'rollback' },
    );
  }
  if (c.unique) {
    const constraint = uniqueConstraintName(table, c);
    const { build, attach } = uniqueIndexThenConstraint(
      ref,
      {
        constraint,
        kind: 'unique',
        index: { name: prefixedName('_tidal_uniq_', c.name), definition: `(${ident(physical)})` },
      },
      {
        build: `build unique index on "${c.name}" without blocking writes`,
        attach: `turn the unique index on "${c.name}" into constraint "${constraint}"`,
      },
    );
    steps.afterBackfill.push(build);
    steps.complete.push({ stage: CompleteStage.Columns, step: attach });
  }
}

/** `up` for rows the old version writes (the dual-write trigger), and for existing rows (the
 *  backfill) where they need a value computed per row. */
function fillNewColumn(
  ctx: PlanContext,
  table: PlannedTable,
  o: AddColumn,
  physical: string,
  fillExisting: boolean,
  steps: OperationSteps,
): void {
  const { model } = ctx;
  const c = o.column;
  if (o.up !== undefined)
    model.syncFor(table.physical).up.push({ column: physical, expression: o.up });
  if (fillExisting) {
    const expression = o.up ?? c.default;
    if (expression !== undefined) {
      model.backfillFor(table).set.push({ column: physical, name: c.name, expression });
      steps.path = `new column filled for existing rows by the backfill of "${table.name}"`;
    }
  }
}

/** Complete gives the column its final name; rollback drops it. */
function finishNewColumn(
  c: Column,
  physical: string,
  added: Undoable,
  steps: OperationSteps,
  ref: TableRef,
): void {
  // First, so what complete creates next carries the final name (PostgreSQL 18 names a NOT
  // NULL constraint after its column).
  if (physical !== c.name) {
    steps.complete.unshift({
      stage: CompleteStage.Columns,
      step: renameColumnStep(ref, physical, c.name, `give "${c.name}" its final name`),
    });
  }
  steps.rollback.push(
    dropColumnStep(ref, physical, `drop new column "${c.name}"`, { undoes: added }),
  );
}

function uniqueConstraintName(table: PlannedTable, c: Column): string {
  return prefixedName('', `${table.name}_${c.name}_key`);
}

/** The column's constraints as complete leaves them, for the catalog after the migration. */
async function recordConstraints(
  ctx: PlanContext,
  table: PlannedTable,
  column: PlannedColumn,
  c: Column,
): Promise<void> {
  const { model } = ctx;
  if (c.check) {
    model.recordConstraint(table, {
      name: c.check.name,
      type: 'c',
      columns: await columnsNamedIn(table.columns, c.check.constraint),
      expression: c.check.constraint,
    });
  }
  if (c.references) {
    const target = model.table(c.references.table);
    const targetColumn = target?.columns.find((t) => t.name === c.references?.column);
    model.recordConstraint(table, {
      name: c.references.name,
      type: 'f',
      columns: [column],
      references: target && targetColumn && { table: target, columns: [targetColumn] },
    });
  }
  if (c.unique) {
    model.recordConstraint(table, {
      name: uniqueConstraintName(table, c),
      type: 'u',
      columns: [column],
    });
  }
}
