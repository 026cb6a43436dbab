/** create_index: an index built concurrently. */
import { z } from 'zod';
import { identifier, indexMethodSchema, strictObject } from '../fields.js';
import type { Checks, OperationFormat } from '../offline-checks.js';
import type { Path } from '../problems.js';

export const indexFieldSchema = strictObject({
  column: identifier,
  collate: identifier.optional(),
  sort: z.enum(['ASC', 'DESC']).optional(),
  nulls: z.enum(['FIRST', 'LAST']).optional(),
  opclass: strictObject({
    name: identifier.optional(),
    params: z.array(z.string()).optional(),
  }).optional(),
});
export type IndexField = z.output<typeof indexFieldSchema>;

export const createIndexSchema = strictObject({
  name: identifier,
  table: identifier,
  columns: z.array(indexFieldSchema),
  method: indexMethodSchema.default('btree'),
  unique: z.boolean().default(false),
  predicate: z.string().optional(),
  storage_parameters: z.string().optional(),
});
export type CreateIndex = z.output<typeof createIndexSchema>;

export function checkCreateIndex(o: CreateIndex, at: Path, c: Checks): void {
  if (o.columns.length === 0) {
    c.problem([...at, 'columns'], 'an index needs at least one column');
  }
  o.columns.forEach((field, index) => {
    field.opclass?.params?.forEach((param, p) => {
      c.storageParameters([...at, 'columns', index, 'opclass', 'params', p], param);
    });
  });
  c.expression([...at, 'predicate'], o.predicate);
  c.storageParameters([...at, 'storage_parameters'], o.storage_parameters);
}

/** create_index in the file format. */
export const createIndexFormat: OperationFormat<typeof createIndexSchema> = {
  schema: createIndexSchema,
  check: checkCreateIndex,
};
