/** sql: raw SQL statements, run on start (with an optional `down`) or on complete. */
import { z } from 'zod';
import { strictObject } from '../fields.js';
import type { Checks, OperationFormat } from '../offline-checks.js';
import type { Path } from '../problems.js';

export const rawSqlSchema = strictObject({
  up: z.string(),
  down: z.string().optional(),
  onComplete: z.boolean().default(false),
}).superRefine((value, ctx) => {
  if (value.onComplete && value.down !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['down'],
      message: 'not allowed with onComplete: true (SQL run on complete is never rolled back)',
    });
  }
});
export type RawSql = z.output<typeof rawSqlSchema>;

export function checkRawSql(o: RawSql, at: Path, c: Checks): void {
  c.statements([...at, 'up'], o.up);
  c.statements([...at, 'down'], o.down);
}

/** sql in the file format. */
export const rawSqlFormat: OperationFormat<typeof rawSqlSchema> = {
  schema: rawSqlSchema,
  check: checkRawSql,
};
