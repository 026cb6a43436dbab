/** alter_column: changes to one column (name, type, nullability, default, constraints...). */
import { z } from 'zod';
import {
  checkConstraintSchema,
  foreignKeyReferenceSchema,
  identifier,
  strictObject,
  uniqueConstraintSchema,
} from '../fields.js';
import type { Checks, OperationFormat } from '../offline-checks.js';
import type { Path } from '../problems.js';
import { checkTypeName } from '../sql-text.js';

/** What alter_column may change; at least one must be given. */
const alterColumnChanges = [
  'name',
  'type',
  'nullable',
  'default',
  'comment',
  'unique',
  'check',
  'references',
] as const;

export const alterColumnSchema = strictObject({
  table: identifier,
  column: identifier,
  /** tidal's addition: a new name for the column, as rename_column does. */
  name: identifier.optional(),
  type: z.string().optional(),
  nullable: z.boolean().optional(),
  /** null drops the default; absent leaves it alone. */
  default: z.string().nullable().optional(),
  /** null removes the comment; absent leaves it alone. */
  comment: z.string().nullable().optional(),
  unique: uniqueConstraintSchema.optional(),
  check: checkConstraintSchema.optional(),
  references: foreignKeyReferenceSchema.optional(),
  up: z.string().optional(),
  down: z.string().optional(),
}).superRefine((value, ctx) => {
  if (!alterColumnChanges.some((field) => value[field] !== undefined)) {
    ctx.addIssue({
      code: 'custom',
      message: `nothing to change: give at least one of ${alterColumnChanges.join(', ')}`,
    });
  }
});
export type AlterColumn = z.output<typeof alterColumnSchema>;

export function checkAlterColumn(o: AlterColumn, at: Path, c: Checks): void {
  c.sql([...at, 'type'], o.type, checkTypeName, 'a valid type');
  c.expression([...at, 'default'], o.default ?? undefined);
  c.expression([...at, 'check', 'constraint'], o.check?.constraint);
  c.expression([...at, 'up'], o.up);
  c.expression([...at, 'down'], o.down);
}

/** alter_column in the file format. */
export const alterColumnFormat: OperationFormat<typeof alterColumnSchema> = {
  schema: alterColumnSchema,
  check: checkAlterColumn,
};
