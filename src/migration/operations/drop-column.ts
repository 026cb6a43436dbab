/** drop_column: removes a column, `down` filling it for the old version meanwhile. */
import { z } from 'zod';
import { identifier, strictObject } from '../fields.js';
import type { Checks, OperationFormat } from '../offline-checks.js';
import type { Path } from '../problems.js';

export const dropColumnSchema = strictObject({
  table: identifier,
  column: identifier,
  down: z.string().optional(),
});
export type DropColumn = z.output<typeof dropColumnSchema>;

export function checkDropColumn(o: DropColumn, at: Path, c: Checks): void {
  c.expression([...at, 'down'], o.down);
}

/** drop_column in the file format. */
export const dropColumnFormat: OperationFormat<typeof dropColumnSchema> = {
  schema: dropColumnSchema,
  check: checkDropColumn,
};
