import { InputError } from '../errors.js';
import type { RenameTable } from '../migration/operations/rename-table.js';
import { CompleteStage, emptySteps, type OperationModule } from '../model/operation.js';
import { tableStep } from '../model/step.js';
import { ident, qualifiedName } from '../pg/quote.js';

/** rename_table: the new version's view carries the new name at start; complete renames the
 *  physical table. Nothing to undo on rollback. */
export const renameTable: OperationModule<RenameTable> = {
  async plan(o, ctx) {
    const { model, schema, where } = ctx;
    const table = model.requireTable(o.from, `${where}.from`);
    if (model.relationExists(o.to)) {
      throw new InputError(
        `${where}.to: a table or index named "${o.to}" already exists in schema "${schema}"`,
      );
    }
    const physical = table.physical;
    model.renameTable(table, o.to);
    const steps = emptySteps();
    steps.complete.push({
      stage: CompleteStage.Tables,
      step: tableStep(
        { schema, name: physical },
        'AccessExclusive',
        `ALTER TABLE ${qualifiedName(schema, physical)} RENAME TO ${ident(o.to)}`,
        `rename table "${physical}" to "${o.to}"`,
      ),
    });
    return steps;
  },
};
