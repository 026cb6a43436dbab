import { constraintDefinition, indexKeyColumns, primaryKeyColumns } from '../catalog/keys.js';
import { breaksCheck, breaksForeignKey, repeatsKey } from '../model/breaking-rows.js';
import type { TableRef } from '../model/step.js';
import type { Queryable } from '../pg/queryable.js';
import { ident, literal, qualifiedName } from '../pg/quote.js';

const CHECK_VIOLATION = '23514';
const FOREIGN_KEY_VIOLATION = '23503';
const UNIQUE_VIOLATION = '23505';

/** How many offending rows a failure names. */
export const SAMPLE_SIZE = 5;

/**
 * When validating a constraint or building a unique index fails, PostgreSQL says that some row
 * breaks it, at most naming one value. This finds the primary keys of up to five rows that break
 * it, so whoever runs tidal can look at them. Best effort: returns [] when it cannot tell.
 */
export async function sampleViolations(
  db: Queryable,
  table: TableRef,
  error: { code?: string; constraint?: string },
): Promise<string[]> {
  const { code, constraint } = error;
  if (
    !constraint ||
    ![CHECK_VIOLATION, FOREIGN_KEY_VIOLATION, UNIQUE_VIOLATION].includes(code ?? '')
  )
    return [];
  const t = qualifiedName(table.schema, table.name);
  try {
    const key = await keyExpression(db, t);
    const where =
      code === UNIQUE_VIOLATION
        ? await duplicated(db, t, constraint)
        : await breaks(db, t, constraint);
    if (!where) return [];
    const { rows } = await db.query<{ key: string }>(
      `SELECT ${key} AS key FROM ${t} AS _tidal_row WHERE ${where} ORDER BY 1 LIMIT ${SAMPLE_SIZE}`,
    );
    return rows.map((r) => r.key);
  } catch {
    return [];
  }
}

/** The row's primary key as text, `id = 1` or `(a, b) = (1,x)`; its physical location (ctid)
 *  without one. */
async function keyExpression(db: Queryable, t: string): Promise<string> {
  const names = await primaryKeyColumns(db, t);
  if (names.length === 0) return `'ctid ' || _tidal_row.ctid::text`;
  const list = names.join(', ');
  const values = names.map((name) => `_tidal_row.${ident(name)}`).join(', ');
  return names.length === 1
    ? `${literal(`${list} = `)} || coalesce(${values}::text, 'NULL')`
    : `${literal(`(${list}) = `)} || ROW(${values})::text`;
}

/** A condition over `_tidal_row` for rows that break check or foreign key `name`. */
async function breaks(db: Queryable, t: string, name: string): Promise<string | null> {
  const c = await constraintDefinition(db, t, name);
  if (!c) return null;
  if (c.type === 'c') return breaksCheck(c.definition);
  if (c.type === 'f' && c.referencedTable && c.referencedColumns) {
    return breaksForeignKey(c.columns, c.referencedTable, c.referencedColumns);
  }
  return null;
}

/** A condition over `_tidal_row` for rows whose key columns of unique index `name` repeat. */
async function duplicated(db: Queryable, t: string, name: string): Promise<string | null> {
  const columns = await indexKeyColumns(db, t, name);
  // Expression indexes have no column to compare.
  if (columns.length === 0 || columns.some((c) => c === null)) return null;
  return repeatsKey(t, columns as string[], 'every');
}
