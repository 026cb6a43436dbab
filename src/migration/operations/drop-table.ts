/** drop_table: removes a table once the migration completes. */
import type { z } from 'zod';
import { identifier, strictObject } from '../fields.js';
import type { OperationFormat } from '../offline-checks.js';

export const dropTableSchema = strictObject({ name: identifier });
export type DropTable = z.output<typeof dropTableSchema>;

/** Nothing to check offline: the schema checks the name, the database the rest. */
export function checkDropTable(): void {}

/** drop_table in the file format. */
export const dropTableFormat: OperationFormat<typeof dropTableSchema> = {
  schema: dropTableSchema,
  check: checkDropTable,
};
