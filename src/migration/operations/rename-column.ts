/** rename_column: a new name for a column. */
import type { z } from 'zod';
import { identifier, strictObject } from '../fields.js';
import { type Checks, checkRenamed, type OperationFormat } from '../offline-checks.js';
import type { Path } from '../problems.js';

export const renameColumnSchema = strictObject({
  table: identifier,
  from: identifier,
  to: identifier,
});
export type RenameColumn = z.output<typeof renameColumnSchema>;

export function checkRenameColumn(o: RenameColumn, at: Path, c: Checks): void {
  checkRenamed(o.from, o.to, at, c);
}

/** rename_column in the file format. */
export const renameColumnFormat: OperationFormat<typeof renameColumnSchema> = {
  schema: renameColumnSchema,
  check: checkRenameColumn,
};
