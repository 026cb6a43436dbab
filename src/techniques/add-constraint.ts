import { columnsNamedIn, renameColumnInExpression } from '../model/expressions.js';
import { notNullCheckName, prefixedName } from '../model/names.js';
import {
  CompleteStage,
  emptySteps,
  type OperationSteps,
  type PlanContext,
} from '../model/operation.js';
import { checkDefinition } from '../model/sql-fragments.js';
import type { TableRef } from '../model/step.js';
import type { PlannedColumn, PlannedTable } from '../model/version-model.js';
import { ident } from '../pg/quote.js';
import { builtIndex, dropIndexConcurrently } from './concurrent-index.js';
import { uniqueIndexThenConstraint } from './index-constraint.js';
import { addNotNullThroughCheck } from './not-null-through-check.js';
import { addValidatedLater, type LaterConstraint, type LaterPlacement } from './validated-later.js';

/** A constraint to add, over the columns as the model has them now. */
export type NewConstraint =
  | { kind: 'check'; name: string; expression: string; noInherit?: boolean }
  | {
      kind: 'foreign_key';
      name: string;
      clause: string;
      referenced: TableRef;
      /** The key and the referenced columns, for the catalog after the migration. */
      columns: PlannedColumn[];
      references: { table: PlannedTable; columns: PlannedColumn[] };
    }
  | {
      kind: 'unique' | 'primary_key';
      name: string;
      columns: PlannedColumn[];
      /** `INCLUDE (...)`, `WITH (...)` and `TABLESPACE ...` of the index, or ''. */
      indexOptions?: string;
    }
  | { kind: 'not_null'; column: PlannedColumn };

export const IN_PLACE_PATH =
  'in place: up is the column itself, so no copy column and no backfill; the constraint binds both versions from start';

/**
 * Adds a constraint the safe way: a check or foreign key `NOT VALID`, validated once the rows
 * are filled without blocking writes; a unique or primary key as a concurrent unique index,
 * attached at complete; NOT NULL as a validated check, turned into NOT NULL at complete without
 * a scan. Rows that break it fail start, which names them and rolls back.
 *
 * On existing columns (`up` keeps the values: a copy would hold the same values and bind the
 * old version's writes just the same) the constraint goes in at start. On copy columns it goes
 * in once the dual-write triggers fill them (`afterTriggers`), and complete attaches it after the
 * copies have taken the columns' names.
 */
export async function addConstraint(
  ctx: PlanContext,
  table: PlannedTable,
  c: NewConstraint,
  { afterTriggers = false }: { afterTriggers?: boolean } = {},
): Promise<OperationSteps> {
  const { model, schema } = ctx;
  const ref: TableRef = { schema, name: table.physical };
  const steps = emptySteps();
  // Over copies the constraint goes in once the trigger fills them, and a check may reject the
  // NULL they get once the trigger is gone: it goes first.
  const placement: LaterPlacement = afterTriggers
    ? { add: 'afterSync', drop: 'rollbackFirst' }
    : { add: 'start', drop: 'rollback' };
  const later = (constraint: LaterConstraint, what: string) =>
    addValidatedLater(steps, ref, constraint, { what }, placement);

  switch (c.kind) {
    case 'check': {
      // The expression names columns as the new version does; the table holds them physically.
      let expression = c.expression;
      for (const column of table.columns) {
        if (column.name !== column.physical)
          expression = await renameColumnInExpression(expression, column.name, column.physical);
      }
      const definition = checkDefinition(expression, c.noInherit);
      later({ kind: 'check', name: c.name, definition }, `check "${c.name}"`);
      table.constraintNames.add(c.name);
      model.recordConstraint(table, {
        name: c.name,
        type: 'c',
        columns: await columnsNamedIn(table.columns, c.expression),
        expression: c.expression,
      });
      break;
    }
    case 'foreign_key': {
      later(
        { kind: 'foreign_key', name: c.name, definition: c.clause, referenced: c.referenced },
        `foreign key "${c.name}"`,
      );
      table.constraintNames.add(c.name);
      model.recordConstraint(table, {
        name: c.name,
        type: 'f',
        columns: c.columns,
        references: c.references,
      });
      break;
    }
    case 'not_null':
      addNotNull(c.column);
      break;
    case 'unique':
    case 'primary_key': {
      if (c.kind === 'primary_key')
        for (const column of c.columns) if (column.nullable) addNotNull(column);
      const index = prefixedName('_tidal_', c.name);
      const keys = c.columns.map((column) => ident(column.physical)).join(', ');
      const { build, attach } = uniqueIndexThenConstraint(
        ref,
        {
          constraint: c.name,
          kind: c.kind,
          index: { name: index, definition: `(${keys})${c.indexOptions ?? ''}` },
        },
        {
          build: `build the unique index of "${c.name}" without blocking writes`,
          attach: `turn the unique index into ${c.kind === 'unique' ? 'unique constraint' : 'primary key'} "${c.name}"`,
        },
      );
      steps.afterBackfill.push(build);
      // After the SET NOT NULL steps above: a primary key would scan for NULLs otherwise.
      steps.complete.push({ stage: CompleteStage.Columns, step: attach });
      steps.rollback.push(
        dropIndexConcurrently(ref, index, `drop the unique index of "${c.name}"`, {
          undoes: builtIndex(index),
        }),
      );
      table.constraintNames.add(c.name);
      model.addRelationName(c.name);
      model.recordConstraint(table, {
        name: c.name,
        type: c.kind === 'unique' ? 'u' : 'p',
        columns: c.columns,
      });
      if (c.kind === 'primary_key') table.primaryKey = c.columns.map((column) => column.physical);
      break;
    }
  }
  model.touch(table);
  return steps;

  function addNotNull(column: PlannedColumn): void {
    // At complete, earlier operations' renames have run: the column has its name as of now.
    addNotNullThroughCheck(
      steps,
      ref,
      {
        check: notNullCheckName(column.physical),
        column: column.physical,
        columnThen: column.name,
      },
      {
        what: `NOT NULL of "${column.name}"`,
        setNotNull: `set NOT NULL on "${column.name}" (no scan)`,
        dropCheck: 'drop the NOT NULL stand-in check',
      },
      placement,
    );
    column.nullable = false;
  }
}

/** Merges the steps of several parts of one operation, in order. */
export function mergeSteps(into: OperationSteps, from: OperationSteps): void {
  into.start.push(...from.start);
  into.afterSync.push(...from.afterSync);
  into.afterBackfill.push(...from.afterBackfill);
  into.complete.push(...from.complete);
  into.rollback.unshift(...from.rollback);
  into.rollbackFirst.unshift(...from.rollbackFirst);
}
