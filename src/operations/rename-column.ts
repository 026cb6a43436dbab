import { InputError } from '../errors.js';
import { tableStep } from '../executor/step.js';
import type { RenameColumn } from '../migration/schema.js';
import { ident } from '../pg/quote.js';
import { qualifiedTable } from './sql.js';
import { CompleteStage, emptySteps, type OperationModule } from './types.js';

/** rename_column: the new version's view shows the new name at start; complete renames the
 *  physical column. Nothing to undo on rollback. */
export const renameColumn: OperationModule<RenameColumn> = {
  async plan(o, ctx) {
    const { model, schema, where } = ctx;
    const table = model.requireTable(o.table, `${where}.table`);
    const column = model.requireColumn(table, o.from, `${where}.from`);
    if (table.columns.some((c) => c.name === o.to)) {
      throw new InputError(`${where}.to: column "${o.to}" already exists on table "${table.name}"`);
    }
    // Renames run in order at complete, each from the name the column has by then: its physical
    // name, the name add_column gave it, or an earlier rename's.
    const from = column.name;
    column.name = o.to;
    model.touch(table);
    const steps = emptySteps();
    steps.complete.push({
      stage: CompleteStage.Columns,
      step: tableStep(
        { schema, name: table.physical },
        'AccessExclusive',
        `ALTER TABLE ${qualifiedTable(schema, table.physical)} RENAME COLUMN ${ident(from)} TO ${ident(o.to)}`,
        `rename column "${from}" of "${table.name}" to "${o.to}"`,
      ),
    });
    return steps;
  },
};
