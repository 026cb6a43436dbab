import { InputError } from '../errors.js';
import type { AlterColumn, Operation } from '../migration/schema.js';
import { ident } from '../pg/quote.js';

/** An operation to plan, and the indexes of the file's operations it stands for. */
export interface PlannedOperation {
  operation: Operation;
  indexes: number[];
}

/**
 * Two alter_column operations in a row on the same column become one, so the column is copied
 * (and its table backfilled) once: the second's `up` applies to what the first's `up` made, and
 * the first's `down` to what the second's `down` made. What the second sets wins; two checks,
 * two unique constraints or two foreign keys cannot be merged and are refused.
 */
export function mergeAdjacentAlterColumns(
  operations: Operation[],
  file: string,
): PlannedOperation[] {
  const planned: PlannedOperation[] = [];
  for (const [index, operation] of operations.entries()) {
    const last = planned.at(-1);
    if (
      last?.operation.kind === 'alter_column' &&
      operation.kind === 'alter_column' &&
      sameColumn(last.operation.options, operation.options)
    ) {
      const where = `${file}: operations[${index}].alter_column`;
      last.operation = {
        kind: 'alter_column',
        options: merge(last.operation.options, operation.options, where),
      };
      last.indexes.push(index);
      continue;
    }
    planned.push({ operation, indexes: [index] });
  }
  return planned;
}

/** Whether `second` names the column `first` changes, by the name `first` gives it. */
function sameColumn(first: AlterColumn, second: AlterColumn): boolean {
  return first.table === second.table && (first.name ?? first.column) === second.column;
}

function merge(first: AlterColumn, second: AlterColumn, where: string): AlterColumn {
  for (const field of ['unique', 'check', 'references'] as const) {
    if (first[field] !== undefined && second[field] !== undefined) {
      throw new InputError(
        `${where}.${field}: the operation before changes the same column and also adds a ${field === 'references' ? 'foreign key' : field === 'unique' ? 'unique constraint' : 'check'}; put one in a migration of its own`,
      );
    }
  }
  const pick = <K extends keyof AlterColumn>(key: K) =>
    second[key] !== undefined ? second[key] : first[key];
  return {
    table: first.table,
    column: first.column,
    name: pick('name'),
    type: pick('type'),
    nullable: pick('nullable'),
    default: pick('default'),
    comment: pick('comment'),
    unique: pick('unique'),
    check: pick('check'),
    references: pick('references'),
    up: compose(second.up, second.column, first.up, first.type),
    down: compose(first.down, first.name ?? first.column, second.down, first.type),
  };
}

/**
 * `outer` applied to the value `inner` gives: the column (`column`) is `inner`'s result inside,
 * and the row's other columns are the outer row's (a derived table of that one column).
 */
function compose(
  outer: string | undefined,
  column: string,
  inner: string | undefined,
  innerType: string | undefined,
): string | undefined {
  if (inner === undefined) return outer;
  const value = innerType ? `CAST((${inner}\n) AS ${innerType})` : `(${inner}\n)`;
  return `SELECT (${outer ?? ident(column)}\n) FROM (SELECT ${value} AS ${ident(column)}) AS _tidal_prior`;
}
