/** drop_multicolumn_constraint: removes a constraint over several columns, each rewritten. */
import type { z } from 'zod';
import { columnExpressions, identifier, strictObject } from '../fields.js';
import { type Checks, checkColumnExpressions, type OperationFormat } from '../offline-checks.js';
import type { Path } from '../problems.js';

export const dropMultiColumnConstraintSchema = strictObject({
  table: identifier,
  name: identifier,
  up: columnExpressions.optional(),
  down: columnExpressions,
});
export type DropMultiColumnConstraint = z.output<typeof dropMultiColumnConstraintSchema>;

export function checkDropMultiColumnConstraint(
  o: DropMultiColumnConstraint,
  at: Path,
  c: Checks,
): void {
  // Which columns the constraint covers is known only to the database.
  checkColumnExpressions(o.up, undefined, [...at, 'up'], c);
  checkColumnExpressions(o.down, undefined, [...at, 'down'], c);
}

/** drop_multicolumn_constraint in the file format. */
export const dropMultiColumnConstraintFormat: OperationFormat<
  typeof dropMultiColumnConstraintSchema
> = {
  schema: dropMultiColumnConstraintSchema,
  check: checkDropMultiColumnConstraint,
};
