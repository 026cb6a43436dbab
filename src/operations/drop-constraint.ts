import { InputError } from '../errors.js';
import type { DropConstraint } from '../migration/operations/drop-constraint.js';
import type { OperationModule } from '../model/operation.js';
import { findConstraint, planConstraintDrop } from '../techniques/constraint-drop.js';

/**
 * drop_constraint (drop_multicolumn_constraint is the same over several columns). Dropping a check, foreign key or unique
 * constraint needs no new data: start drops it in place (an instant ACCESS EXCLUSIVE lock; a
 * unique constraint's index goes with it), so the new version may write what it forbade, and no
 * copy column or backfill is made. The old version then writes without the constraint too.
 *
 * Rollback brings it back without a scan under an exclusive lock: rows that break it (written
 * while it was gone) get their values from `down`, then a check or foreign key is added NOT VALID
 * and validated, a unique constraint is rebuilt as a concurrent unique index and attached with
 * `USING INDEX`. If `down` leaves rows that break it, rollback stops with the database's error
 * naming the constraint and the migration stays active: nothing is lost, and rollback can run
 * again once the rows are fixed.
 */
export const dropConstraint: OperationModule<DropConstraint> = {
  async plan(o, ctx) {
    const { table, constraint } = findConstraint(o, ctx);
    if (constraint.columns.length > 1) {
      throw new InputError(
        `${ctx.where}.name: constraint "${o.name}" covers ${constraint.columns.length} columns (${constraint.columns.join(', ')}); drop it with drop_multicolumn_constraint, which takes up and down per column`,
      );
    }
    const [physical] = constraint.columns;
    const column = table.columns.find((c) => c.physical === physical);
    const up = column ? { [column.name]: o.up } : {};
    const down = column ? { [column.name]: o.down } : {};
    return planConstraintDrop({ ...o, up, down }, ctx, table, constraint);
  },
};
