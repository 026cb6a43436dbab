import { InputError } from '../errors.js';
import type { DropTable } from '../migration/operations/drop-table.js';
import { CompleteStage, emptySteps, type OperationModule } from '../model/operation.js';
import { tableStep } from '../model/step.js';
import { qualifiedName } from '../pg/quote.js';

/** drop_table: the new version stops showing the table at start; the old version keeps using
 *  it until complete drops it, so rollback has nothing to undo. */
export const dropTable: OperationModule<DropTable> = {
  async plan(o, ctx) {
    const { model, schema, where } = ctx;
    const table = model.requireTable(o.name, `${where}.name`);
    // A foreign key from a table that stays would make complete fail (or need CASCADE).
    for (const { table: other, key } of model.foreignKeysReferencing(table.physical)) {
      if (other.name === table.physical || !model.showsCatalogTable(other.name)) continue;
      throw new InputError(
        `${where}.name: table "${o.name}" is referenced by foreign key "${key.name}" of table "${other.name}"; drop that constraint or table first`,
      );
    }
    model.dropTable(table);
    const steps = emptySteps();
    steps.complete.push({
      stage: CompleteStage.Drops,
      step: tableStep(
        { schema, name: table.physical },
        'AccessExclusive',
        `DROP TABLE IF EXISTS ${qualifiedName(schema, table.physical)}`,
        `drop table "${o.name}"`,
      ),
    });
    if (table.created)
      throw new InputError(`${where}.name: table "${o.name}" is created by this same migration`);
    return steps;
  },
};
