import { InputError } from '../errors.js';
import type { AlterColumn } from '../migration/operations/alter-column.js';
import { checkExpressionOver, defaultIsVolatile, storedType } from '../model/checks.js';
import {
  expressionOverRow,
  isColumnItself,
  parenthesize,
  renameColumnInExpression,
} from '../model/expressions.js';
import { newColumnName, notNullCheckName } from '../model/names.js';
import {
  CompleteStage,
  emptySteps,
  type OperationModule,
  type PlanContext,
} from '../model/operation.js';
import { referencesClause } from '../model/sql-fragments.js';
import { type Step, type TableRef, tableStep, type Undoable } from '../model/step.js';
import type { PlannedColumn, PlannedTable } from '../model/version-model.js';
import { ident, qualifiedName } from '../pg/quote.js';
import {
  addConstraint,
  IN_PLACE_PATH,
  mergeSteps,
  type NewConstraint,
} from '../techniques/add-constraint.js';
import { needsCopyColumn, planCopyColumn } from '../techniques/column-copy/index.js';
import { columnComment } from '../techniques/comments.js';
import { restoredNotNull } from '../techniques/not-null-through-check.js';
import { changesTypeInPlace, changeTypeAtComplete } from '../techniques/type-change.js';
import { renameInVersion } from './rename-column.js';

/**
 * alter_column. Changes that need new data go through a copy column (techniques/column-copy/); the
 * ones that touch only the catalog do not:
 * - `default` and `comment`: the new version's view carries them at start; complete sets them on
 *   the table. The old version keeps the old ones; rollback has nothing to undo.
 * - `nullable: true`: NOT NULL is dropped at start (instant). Rollback gives rows the new version
 *   wrote with NULL their value from `down`, then restores NOT NULL through a validated check.
 * - `name`: as rename_column.
 * - `type`, where PostgreSQL changes it without a rewrite: at complete (techniques/type-change.ts).
 * - `nullable: false`, `unique`, `check`, `references` with `up` absent or the column itself: on
 *   the column as it is (add-constraint.ts).
 */
export const alterColumn: OperationModule<AlterColumn> = {
  async plan(o, ctx) {
    const { model, schema, where } = ctx;
    const table = model.requireTable(o.table, `${where}.table`);
    const column = model.requireColumn(table, o.column, `${where}.column`);
    if (column.copied) {
      throw new InputError(
        `${where}.column: column "${o.column}" is already changed through a copy by an earlier operation of this migration; put both changes in one alter_column, or with no other change of this table between them`,
      );
    }
    if (column.added) {
      throw new InputError(
        `${where}.column: column "${o.column}" is added by this same migration; change the add_column instead`,
      );
    }
    const steps = emptySteps();
    const typeInPlace = await changesTypeInPlace(o, ctx, table, column);
    const constraintsInPlace =
      !typeInPlace && o.type === undefined && (await keepsValue(o, column));
    if (!typeInPlace && !constraintsInPlace && needsCopyColumn(o, column)) {
      await planCopyColumn(o, ctx, table, column, steps);
      steps.path = `copy column "${newColumnName(column.name)}" filled by up, through the dual-write trigger and the backfill of "${table.name}"`;
      return steps;
    }
    steps.path = 'catalog only: no copy column, no backfill, no rewrite';
    if (typeInPlace && o.type !== undefined) {
      const type = storedType(o.type);
      steps.complete.push(changeTypeAtComplete(ctx, table, column, type));
      column.type = type;
      steps.path = `catalog only: PostgreSQL changes the type to ${type} without a rewrite; at complete, so both versions keep the old type until then`;
    }
    if (constraintsInPlace && needsCopyColumn(o, column)) {
      for (const constraint of await constraintsOf(o, ctx, table, column)) {
        mergeSteps(steps, await addConstraint(ctx, table, constraint));
      }
      steps.path = IN_PLACE_PATH;
    }
    const t = qualifiedName(schema, table.physical);
    const ref = { schema, name: table.physical };
    // At complete, earlier operations' renames have run: the column has its name as of now.
    const atComplete = ident(column.name);

    if (o.default !== undefined) {
      if (o.default !== null) await defaultIsVolatile(ctx, column.type, o.default, 'default');
      // A view column without a default of its own falls back to the table's, and PostgreSQL
      // stores no default for a plain NULL: dropping one for the new version only takes a NULL
      // that is not a constant.
      column.viewDefault = o.default ?? noDefault(column.type);
      steps.complete.push({
        stage: CompleteStage.Columns,
        step: tableStep(
          ref,
          'AccessExclusive',
          o.default === null
            ? `ALTER TABLE ${t} ALTER COLUMN ${atComplete} DROP DEFAULT`
            : `ALTER TABLE ${t} ALTER COLUMN ${atComplete} SET DEFAULT ${parenthesize(o.default)}`,
          o.default === null
            ? `drop the default of "${o.column}"`
            : `set the default of "${o.column}"`,
        ),
      });
    }
    if (o.comment !== undefined) {
      column.viewComment = o.comment;
      steps.complete.push({
        stage: CompleteStage.Columns,
        step: columnComment(ref, column.name, o.comment, `comment on "${o.column}"`),
      });
    }
    if (o.nullable === true && !column.nullable) {
      if (table.primaryKey.includes(column.physical)) {
        throw new InputError(
          `${where}.nullable: column "${o.column}" is part of the primary key and cannot be NULL`,
        );
      }
      const allowed: Undoable = {
        kind: 'change',
        table: table.physical,
        name: `NULL allowed in "${column.physical}"`,
      };
      steps.start.push(
        tableStep(
          ref,
          'AccessExclusive',
          `ALTER TABLE ${t} ALTER COLUMN ${ident(column.physical)} DROP NOT NULL`,
          `allow NULL in "${o.column}"`,
          { creates: [allowed] },
        ),
      );
      if (o.down !== undefined) {
        const row = {
          alias: table.name,
          columns: table.columns.map((c) => ({ name: c.name, type: c.type })),
        };
        await checkExpressionOver(ctx, o.down, row, 'down', {
          column: column.name,
          type: column.type,
        });
      }
      steps.rollback.push(
        ...restoreNotNull(table, column, o.down, t, ref).map((s) => ({ ...s, undoes: allowed })),
      );
      column.nullable = true;
    }
    // Contract steps use the name at the time they run: renames come after the rest.
    if (o.name !== undefined && o.name !== column.name) {
      steps.complete.push(renameInVersion(ctx, table, column, o.name, `${where}.name`));
    }
    model.touch(table);
    return steps;
  },
};

/** A view column's default that stands for none (see alter_column `default: null`). */
export function noDefault(type: string): string {
  return `CASE WHEN false THEN NULL::${type} END`;
}

/** Whether `up` and `down` leave the value as it is (absent, or the column itself). */
async function keepsValue(o: AlterColumn, column: PlannedColumn): Promise<boolean> {
  if (o.up !== undefined && !(await isColumnItself(o.up, column.name))) return false;
  return o.down === undefined || isColumnItself(o.down, o.name ?? column.name);
}

/** The constraints an alter_column adds, for adding them to the column as it is. */
async function constraintsOf(
  o: AlterColumn,
  ctx: PlanContext,
  table: PlannedTable,
  column: PlannedColumn,
): Promise<NewConstraint[]> {
  const { model, schema, where } = ctx;
  const taken = (name: string, field: string) => {
    if (table.constraintNames.has(name) || model.relationExists(name))
      throw new InputError(
        `${where}.${field}: "${name}" is already taken on table "${table.name}"`,
      );
  };
  const constraints: NewConstraint[] = [];
  if (o.nullable === false && column.nullable) constraints.push({ kind: 'not_null', column });
  if (o.unique) {
    taken(o.unique.name, 'unique.name');
    constraints.push({ kind: 'unique', name: o.unique.name, columns: [column] });
  }
  if (o.check) {
    taken(o.check.name, 'check.name');
    // The check may name the column by the name this operation gives it.
    const expression =
      o.name !== undefined
        ? await renameColumnInExpression(o.check.constraint, o.name, column.name)
        : o.check.constraint;
    const row = table.columns.map((c) => ({ name: c.name, type: c.type }));
    await checkExpressionOver(
      ctx,
      expression,
      { alias: table.name, columns: row },
      'check.constraint',
    );
    constraints.push({
      kind: 'check',
      name: o.check.name,
      expression,
      noInherit: o.check.no_inherit,
    });
  }
  if (o.references) {
    const r = o.references;
    taken(r.name, 'references.name');
    const target = model.requireTable(r.table, `${where}.references.table`);
    const targetColumn = model.requireColumn(target, r.column, `${where}.references.column`);
    const clause = `FOREIGN KEY (${ident(column.physical)}) ${referencesClause(schema, { ...r, table: target.physical, column: targetColumn.physical })}`;
    constraints.push({
      kind: 'foreign_key',
      name: r.name,
      clause,
      referenced: { schema, name: target.physical },
      columns: [column],
      references: { table: target, columns: [targetColumn] },
    });
  }
  return constraints;
}

/**
 * Rollback of a dropped NOT NULL: rows the new version wrote with NULL get `down` (over the new
 * version's columns), then NOT NULL comes back through a NOT VALID check, validated without
 * blocking writes, so SET NOT NULL needs no scan under its exclusive lock.
 */
function restoreNotNull(
  table: PlannedTable,
  column: PlannedColumn,
  down: string | undefined,
  t: string,
  ref: TableRef,
): Step[] {
  const col = ident(column.physical);
  const steps: Step[] = [];
  if (down !== undefined) {
    const value = expressionOverRow(down, '_tidal_row', table.columns, table.name);
    steps.push(
      tableStep(
        ref,
        'RowExclusive',
        `UPDATE ${t} AS _tidal_row SET ${col} = ${value} WHERE ${col} IS NULL`,
        `give rows with NULL in "${column.name}" their value from down`,
        { effect: 'scan' },
      ),
    );
  }
  steps.push(
    ...restoredNotNull(
      ref,
      {
        check: notNullCheckName(column.physical),
        column: column.physical,
        columnThen: column.physical,
      },
      {
        what: `NOT NULL of "${column.name}"`,
        add: `forbid NULL in "${column.name}" again for new rows`,
        validate: `check no row has NULL in "${column.name}"`,
        setNotNull: `restore NOT NULL on "${column.name}" (no scan)`,
        dropCheck: `drop the stand-in check`,
      },
    ),
  );
  return steps;
}
