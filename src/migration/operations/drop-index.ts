/** drop_index: removes an index, concurrently. */
import type { z } from 'zod';
import { identifier, strictObject } from '../fields.js';
import type { OperationFormat } from '../offline-checks.js';

export const dropIndexSchema = strictObject({ name: identifier });
export type DropIndex = z.output<typeof dropIndexSchema>;

/** Nothing to check offline: the schema checks the name, the database the rest. */
export function checkDropIndex(): void {}

/** drop_index in the file format. */
export const dropIndexFormat: OperationFormat<typeof dropIndexSchema> = {
  schema: dropIndexSchema,
  check: checkDropIndex,
};
