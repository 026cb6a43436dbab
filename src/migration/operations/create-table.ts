/** create_table: a new table with its columns and table constraints. */
import { z } from 'zod';
import {
  columnSchema,
  identifier,
  indexMethodSchema,
  MAX_TABLE_COLUMNS,
  strictObject,
  tableConstraintSchema,
} from '../fields.js';
import {
  type Checks,
  checkColumn,
  checkIndexParameters,
  checkReferences,
  type OperationFormat,
  reportDuplicates,
} from '../offline-checks.js';
import type { Path } from '../problems.js';
import { checkExcludeElements } from '../sql-text.js';

export const createTableSchema = strictObject({
  name: identifier,
  columns: z.array(columnSchema),
  constraints: z.array(tableConstraintSchema).optional(),
  comment: z.string().optional(),
});
export type CreateTable = z.output<typeof createTableSchema>;

export function checkCreateTable(o: CreateTable, at: Path, c: Checks): void {
  if (o.columns.length === 0) c.problem([...at, 'columns'], 'a table needs at least one column');
  if (o.columns.length > MAX_TABLE_COLUMNS) {
    c.problem(
      [...at, 'columns'],
      `${o.columns.length} columns; PostgreSQL allows at most ${MAX_TABLE_COLUMNS} in a table`,
    );
  }
  const columnNames = o.columns.map((column) => column.name);
  reportDuplicates(columnNames, [...at, 'columns'], 'name', 'column', c);
  o.columns.forEach((column, index) => {
    checkColumn(column, [...at, 'columns', index], c);
  });
  const constraints = o.constraints ?? [];
  reportDuplicates(
    constraints.map((constraint) => constraint.name),
    [...at, 'constraints'],
    'name',
    'constraint',
    c,
  );
  const newTable = { name: `table "${o.name}"`, columns: columnNames };
  constraints.forEach((constraint, index) => {
    const path = [...at, 'constraints', index];
    c.memberOf([...path, 'columns'], constraint.columns, columnNames, newTable.name);
    c.expression([...path, 'check'], constraint.check);
    const parameters = constraint.index_parameters;
    checkIndexParameters(parameters, [...path, 'index_parameters'], newTable, c);
    checkReferences(constraint.references, constraint.columns, [...path, 'references'], c);
    const exclude = constraint.exclude;
    if (exclude) {
      const method = exclude.index_method;
      if (
        method !== undefined &&
        !indexMethodSchema.options.some((m) => m === method.toLowerCase())
      ) {
        c.problem(
          [...path, 'exclude', 'index_method'],
          `expected one of ${indexMethodSchema.options.join(', ')}, got "${method}"`,
        );
      }
      if (exclude.elements === undefined) {
        c.problem([...path, 'exclude', 'elements'], 'required field missing');
      }
      c.sql(
        [...path, 'exclude', 'elements'],
        exclude.elements,
        checkExcludeElements,
        'valid exclusion elements',
      );
      c.expression([...path, 'exclude', 'predicate'], exclude.predicate);
    }
  });
}

/** create_table in the file format. */
export const createTableFormat: OperationFormat<typeof createTableSchema> = {
  schema: createTableSchema,
  check: checkCreateTable,
};
