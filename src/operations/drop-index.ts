import { InputError } from '../errors.js';
import type { DropIndex } from '../migration/operations/drop-index.js';
import { CompleteStage, emptySteps, type OperationModule } from '../model/operation.js';
import { dropIndexConcurrently } from '../techniques/concurrent-index.js';

/** drop_index: the old version may still rely on the index, so it is dropped CONCURRENTLY at
 *  complete; rollback has nothing to undo. */
export const dropIndex: OperationModule<DropIndex> = {
  async plan(o, ctx) {
    const { model, schema, where } = ctx;
    const table = model.indexTable(o.name);
    if (!table)
      throw new InputError(`${where}.name: index "${o.name}" does not exist in schema "${schema}"`);
    const index = table.indexes.find((i) => i.name === o.name);
    if (
      index?.primary ||
      table.constraints.some((c) => c.name === o.name && (c.type === 'u' || c.type === 'x'))
    ) {
      throw new InputError(
        `${where}.name: index "${o.name}" belongs to a constraint; use drop_constraint`,
      );
    }
    model.removeRelationName(o.name);
    const steps = emptySteps();
    steps.complete.push({
      stage: CompleteStage.Drops,
      step: dropIndexConcurrently(
        { schema, name: table.name },
        o.name,
        `drop index "${o.name}" without blocking`,
      ),
    });
    return steps;
  },
};
