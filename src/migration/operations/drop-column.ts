/** drop_column: removes a column, `down` filling it for the old version meanwhile. */
import { z } from 'zod';
import { identifier, strictObject } from '../fields.js';
import type { Checks } from '../offline-checks.js';
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
