import { InputError } from '../errors.js';
import type { RenameColumn } from '../migration/operations/rename-column.js';
import {
  CompleteStage,
  type CompleteStep,
  emptySteps,
  type OperationModule,
  type PlanContext,
} from '../model/operation.js';
import type { PlannedColumn, PlannedTable } from '../model/version-model.js';
import { renameColumnStep } from '../techniques/column-steps.js';

/** rename_column: the new version's view shows the new name at start; complete renames the
 *  physical column. Nothing to undo on rollback. */
export const renameColumn: OperationModule<RenameColumn> = {
  async plan(o, ctx) {
    const table = ctx.model.requireTable(o.table, `${ctx.where}.table`);
    const column = ctx.model.requireColumn(table, o.from, `${ctx.where}.from`);
    const steps = emptySteps();
    steps.complete.push(renameInVersion(ctx, table, column, o.to, `${ctx.where}.to`));
    return steps;
  },
};

/**
 * Gives a column a new name in the new version and returns the contract step that renames it.
 * Renames run in order at complete, each from the name the column has by then: its physical
 * name, the name add_column gave it, or an earlier rename's.
 */
export function renameInVersion(
  ctx: PlanContext,
  table: PlannedTable,
  column: PlannedColumn,
  to: string,
  field: string,
): CompleteStep {
  if (table.columns.some((c) => c.name === to)) {
    throw new InputError(`${field}: column "${to}" already exists on table "${table.name}"`);
  }
  const from = column.name;
  column.name = to;
  ctx.model.touch(table);
  return {
    stage: CompleteStage.Columns,
    step: renameColumnStep(
      { schema: ctx.schema, name: table.physical },
      from,
      to,
      `rename column "${from}" of "${table.name}" to "${to}"`,
    ),
  };
}
