/** add_column: a new column on an existing table. */
import { z } from 'zod';
import { columnSchema, identifier, strictObject } from '../fields.js';
import { type Checks, checkColumn, type OperationFormat } from '../offline-checks.js';
import type { Path } from '../problems.js';

export const addColumnSchema = strictObject({
  table: identifier,
  column: columnSchema,
  up: z.string().optional(),
});
export type AddColumn = z.output<typeof addColumnSchema>;

export function checkAddColumn(o: AddColumn, at: Path, c: Checks): void {
  const { column, up } = o;
  checkColumn(column, [...at, 'column'], c);
  c.expression([...at, 'up'], up);
  if (!column.nullable && column.default === undefined && up === undefined && !column.generated) {
    c.problem(
      [...at, 'column'],
      `column "${column.name}" is NOT NULL with neither a default nor "up": existing rows would have no value for it (give "up" to compute one, a "default", or "nullable: true")`,
    );
  }
}

/** add_column in the file format. */
export const addColumnFormat: OperationFormat<typeof addColumnSchema> = {
  schema: addColumnSchema,
  check: checkAddColumn,
};
