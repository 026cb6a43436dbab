/** drop_index: removes an index, concurrently. */
import type { z } from 'zod';
import { identifier, strictObject } from '../fields.js';

export const dropIndexSchema = strictObject({ name: identifier });
export type DropIndex = z.output<typeof dropIndexSchema>;

/** Nothing to check offline: the schema checks the name, the database the rest. */
export function checkDropIndex(): void {}
