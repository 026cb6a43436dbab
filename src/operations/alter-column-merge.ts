import { InputError } from '../errors.js';
import type { AlterColumn, Operation } from '../migration/schema.js';
import { ident } from '../pg/quote.js';

/** An operation to plan, and the indexes of the file's operations it stands for. */
export interface PlannedOperation {
  operation: Operation;
  indexes: number[];
}

/**
 * Two alter_column operations on the same column become one, so the column is copied (and its
 * table backfilled) once: the second's `up` applies to what the first's `up` made, and the
 * first's `down` to what the second's `down` made. What the second sets wins; two checks, two
 * unique constraints or two foreign keys cannot be merged and are refused. Only operations on
 * other tables may stand between them (anything else could depend on the first's result).
 */
export function mergeAlterColumns(operations: Operation[], file: string): PlannedOperation[] {
  const planned: PlannedOperation[] = [];
  for (const [index, operation] of operations.entries()) {
    const earlier =
      operation.kind === 'alter_column' ? earlierChange(planned, operation.options) : undefined;
    if (earlier?.operation.kind === 'alter_column' && operation.kind === 'alter_column') {
      const where = `${file}: operations[${index}].alter_column`;
      earlier.operation = {
        kind: 'alter_column',
        options: merge(earlier.operation.options, operation.options, where),
      };
      earlier.indexes.push(index);
      continue;
    }
    planned.push({ operation, indexes: [index] });
  }
  return planned;
}

/** The latest alter_column of the same column, if only operations on other tables follow it. */
function earlierChange(planned: PlannedOperation[], o: AlterColumn): PlannedOperation | undefined {
  for (let i = planned.length - 1; i >= 0; i--) {
    const p = planned[i] as PlannedOperation;
    if (p.operation.kind === 'alter_column' && sameColumn(p.operation.options, o)) return p;
    const touched = tablesTouched(p.operation);
    if (touched === null || touched.includes(o.table)) return undefined;
  }
  return undefined;
}

/** The tables an operation changes or refers to; null when that cannot be told (raw SQL). */
function tablesTouched(operation: Operation): string[] | null {
  const o = operation.options as Record<string, unknown>;
  switch (operation.kind) {
    case 'sql':
    case 'drop_index':
      return null;
    case 'create_table':
    case 'drop_table':
      return [o.name as string];
    case 'rename_table':
      return [o.from as string, o.to as string];
    default: {
      const references = (o.references as { table?: string } | undefined)?.table;
      const column = (o.column as { references?: { table?: string } } | undefined)?.references;
      return [o.table as string, references, column?.table].filter(
        (t): t is string => typeof t === 'string',
      );
    }
  }
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
