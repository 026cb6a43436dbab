import { InputError } from '../errors.js';
import type { AlterColumn } from '../migration/operations/alter-column.js';
import type { Operation } from '../migration/schema.js';
import { isColumnItself } from '../model/expressions.js';
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
export async function mergeAlterColumns(
  operations: Operation[],
  /** Names operation `index` in messages: `m.yaml: operations[2]`. */
  operationAt: (index: number) => string,
): Promise<PlannedOperation[]> {
  const planned: PlannedOperation[] = [];
  // The latest planned operation that touches each table, and the latest that may touch any
  // (raw SQL): an alter_column merges into the first only when nothing came after it.
  const lastTouching = new Map<string, number>();
  let lastTouchingAny = -1;
  const touch = (operation: Operation, at: number) => {
    const tables = tablesTouched(operation);
    if (tables === null) lastTouchingAny = at;
    else
      for (const table of tables)
        lastTouching.set(table, Math.max(at, lastTouching.get(table) ?? -1));
  };
  for (const [index, operation] of operations.entries()) {
    if (operation.kind === 'alter_column') {
      const at = lastTouching.get(operation.options.table) ?? -1;
      const earlier = at > lastTouchingAny ? planned[at] : undefined;
      if (
        earlier?.operation.kind === 'alter_column' &&
        sameColumn(earlier.operation.options, operation.options)
      ) {
        const where = `${operationAt(index)}.alter_column`;
        earlier.operation = {
          kind: 'alter_column',
          options: await merge(earlier.operation.options, operation.options, where),
        };
        earlier.indexes.push(index);
        // What the merged operation refers to now (a foreign key's table, say).
        touch(earlier.operation, at);
        continue;
      }
    }
    planned.push({ operation, indexes: [index] });
    touch(operation, planned.length - 1);
  }
  return planned;
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

async function merge(first: AlterColumn, second: AlterColumn, where: string): Promise<AlterColumn> {
  for (const field of ['unique', 'check', 'references'] as const) {
    if (first[field] !== undefined && second[field] !== undefined) {
      throw new InputError(
        `${where}.${field}: the operation before changes the same column and also adds a ${field === 'references' ? 'foreign key' : field === 'unique' ? 'unique constraint' : 'check'}; put one in a migration of its own`,
      );
    }
  }
  const pick = <K extends keyof AlterColumn>(key: K) =>
    second[key] !== undefined ? second[key] : first[key];
  const between = first.name ?? first.column;
  const last = second.name ?? second.column;
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
    // From the old row: the second's up over the first's result, held in the first's type.
    up: await compose(
      { expression: second.up, column: second.column, retyped: second.type !== undefined },
      await given(first.up, first.column, first.type === undefined),
      first.type,
    ),
    // From the new row: the first's down over the second's result, held in the first's type
    // (which the column has already when the second changes no type).
    down: await compose(
      { expression: first.down, column: between, retyped: true },
      await given(second.down, last, second.type === undefined),
      first.type,
    ),
  };
}

/** What one operation's `up` or `down` gives: an expression, or its column kept as it is
 *  (`up`/`down` absent or the column itself), which has the type in between (`hasType`) or not. */
type Value = { expression: string } | { kept: string; hasType: boolean };

async function given(
  expression: string | undefined,
  column: string,
  hasType: boolean,
): Promise<Value> {
  if (expression === undefined || (await isColumnItself(expression, column))) {
    return { kept: column, hasType };
  }
  return { expression };
}

/**
 * `outer` applied to the value `inner` gives, `inner`'s result held in `type` (the column's type
 * between the two operations, when the first changes it): the column (`outer.column`) is that
 * value inside, and the row's other columns are the outer row's (a derived table of that one
 * column). Undefined when both keep the value, so the merged change keeps it too and takes the
 * path (catalog only, say) each would have alone. When `outer` keeps the value and nothing
 * changes its type after (`retyped`), the value goes into a column of `type` as it is: the
 * assignment casts it, as it would for the single operation.
 */
async function compose(
  outer: { expression: string | undefined; column: string; retyped: boolean },
  inner: Value,
  type: string | undefined,
): Promise<string | undefined> {
  const keepsOuter =
    outer.expression === undefined || (await isColumnItself(outer.expression, outer.column));
  const kept = 'kept' in inner;
  const cast = type !== undefined && (!keepsOuter || outer.retyped) && !(kept && inner.hasType);
  const source = kept ? ident(inner.kept) : `(${inner.expression}\n)`;
  const value = cast ? `CAST(${source} AS ${type})` : source;
  if (keepsOuter) {
    if (cast) return value;
    if (kept) return inner.kept === outer.column ? undefined : value;
    return inner.expression;
  }
  if (kept && !cast && inner.kept === outer.column) return outer.expression;
  return `SELECT (${outer.expression}\n) FROM (SELECT ${value} AS ${ident(outer.column)}) AS _tidal_prior`;
}
