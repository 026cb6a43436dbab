/** rename_table: a new name for a table. */
import type { z } from 'zod';
import { identifier, strictObject } from '../fields.js';
import { type Checks, checkRenamed, type OperationFormat } from '../offline-checks.js';
import type { Path } from '../problems.js';

export const renameTableSchema = strictObject({
  from: identifier,
  to: identifier,
});
export type RenameTable = z.output<typeof renameTableSchema>;

export function checkRenameTable(o: RenameTable, at: Path, c: Checks): void {
  checkRenamed(o.from, o.to, at, c);
}

/** rename_table in the file format. */
export const renameTableFormat: OperationFormat<typeof renameTableSchema> = {
  schema: renameTableSchema,
  check: checkRenameTable,
};
