import type { DropMultiColumnConstraint } from '../migration/operations/drop-multicolumn-constraint.js';
import type { OperationModule } from '../model/operation.js';
import { findConstraint, planConstraintDrop } from '../techniques/constraint-drop.js';

/**
 * drop_multicolumn_constraint: drop_constraint for a constraint over several columns, with `up`
 * and `down` per column (techniques/constraint-drop.ts).
 */
export const dropMultiColumnConstraint: OperationModule<DropMultiColumnConstraint> = {
  async plan(o, ctx) {
    const { table, constraint } = findConstraint(o, ctx);
    return planConstraintDrop({ ...o, up: o.up ?? {} }, ctx, table, constraint);
  },
};
