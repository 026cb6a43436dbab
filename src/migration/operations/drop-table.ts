/** drop_table: removes a table once the migration completes. */
import type { z } from 'zod';
import { identifier, strictObject } from '../fields.js';

export const dropTableSchema = strictObject({ name: identifier });
export type DropTable = z.output<typeof dropTableSchema>;

/** Nothing to check offline: the schema checks the name, the database the rest. */
export function checkDropTable(): void {}
