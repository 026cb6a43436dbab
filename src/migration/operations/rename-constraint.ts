/** rename_constraint: a new name for a constraint. */
import type { z } from 'zod';
import { identifier, strictObject } from '../fields.js';
import { type Checks, checkRenamed, type OperationFormat } from '../offline-checks.js';
import type { Path } from '../problems.js';

export const renameConstraintSchema = strictObject({
  table: identifier,
  from: identifier,
  to: identifier,
});
export type RenameConstraint = z.output<typeof renameConstraintSchema>;

export function checkRenameConstraint(o: RenameConstraint, at: Path, c: Checks): void {
  checkRenamed(o.from, o.to, at, c);
}

/** rename_constraint in the file format. */
export const renameConstraintFormat: OperationFormat<typeof renameConstraintSchema> = {
  schema: renameConstraintSchema,
  check: checkRenameConstraint,
};
