/** drop_constraint: removes a single-column constraint, `up`/`down` rewriting the column. */
import { z } from 'zod';
import { identifier, strictObject } from '../fields.js';
import type { Checks, OperationFormat } from '../offline-checks.js';
import type { Path } from '../problems.js';

export const dropConstraintSchema = strictObject({
  table: identifier,
  name: identifier,
  up: z.string(),
  down: z.string(),
});
export type DropConstraint = z.output<typeof dropConstraintSchema>;

export function checkDropConstraint(o: DropConstraint, at: Path, c: Checks): void {
  c.expression([...at, 'up'], o.up);
  c.expression([...at, 'down'], o.down);
}

/** drop_constraint in the file format. */
export const dropConstraintFormat: OperationFormat<typeof dropConstraintSchema> = {
  schema: dropConstraintSchema,
  check: checkDropConstraint,
};
