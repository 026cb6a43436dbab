import { InputError } from '../errors.js';
import type { DropColumn } from '../migration/operations/drop-column.js';
import { checkExpressionOver } from '../model/checks.js';
import { CompleteStage, emptySteps, type OperationModule } from '../model/operation.js';
import { tableStep } from '../model/step.js';
import { ident, qualifiedName } from '../pg/quote.js';
import { dropColumnStep } from '../techniques/column-steps.js';

/**
 * drop_column: the new version stops showing the column at start; the data stays until
 * complete drops it, so rollback has nothing to undo. Rows the new version writes get the
 * column's value from `down`, computed over the new version's columns.
 */
export const dropColumn: OperationModule<DropColumn> = {
  async plan(o, ctx) {
    const { model, schema, where } = ctx;
    const table = model.requireTable(o.table, `${where}.table`);
    const column = model.requireColumn(table, o.column, `${where}.column`);
    if (column.added) {
      throw new InputError(
        `${where}.column: column "${o.column}" is added by this same migration; remove it from the add_column instead`,
      );
    }
    const needsValue =
      !column.nullable &&
      column.default === null &&
      column.identity === '' &&
      column.generated === '';
    if (needsValue && o.down === undefined) {
      throw new InputError(
        `${where}.down: column "${o.column}" is NOT NULL without a default, so rows inserted through the new version need a value for it: give \`down\` (an expression over the new version's columns)`,
      );
    }
    table.columns = table.columns.filter((c) => c !== column);
    // Column renames run before drops at complete, so the column then has its current name.
    if (o.down !== undefined) {
      // `down` sees the new version's columns, plus the dropped column itself (its current value).
      const row = {
        alias: table.name,
        columns: [...table.columns, column].map((c) => ({ name: c.name, type: c.type })),
      };
      await checkExpressionOver(ctx, o.down, row, 'down', {
        column: column.name,
        type: column.type,
      });
      model.syncFor(table.physical).down.push({ column: column.physical, expression: o.down });
    }
    model.touch(table);

    const steps = emptySteps();
    if (!column.nullable && !table.primaryKey.includes(column.physical)) {
      steps.complete.push({
        stage: CompleteStage.Relax,
        step: tableStep(
          { schema, name: table.physical },
          'AccessExclusive',
          `ALTER TABLE ${qualifiedName(schema, table.physical)} ALTER COLUMN ${ident(column.physical)} DROP NOT NULL`,
          `let "${o.column}" be NULL until it is dropped (the new version no longer fills it)`,
        ),
      });
    }
    steps.complete.push({
      stage: CompleteStage.Drops,
      step: dropColumnStep(
        { schema, name: table.physical },
        column.name,
        `drop column "${o.column}" of "${table.name}"`,
      ),
    });
    return steps;
  },
};
