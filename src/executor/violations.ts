import { breaksCheck, breaksForeignKey, repeatsKey } from '../model/breaking-rows.js';
import type { TableRef } from '../model/step.js';
import type { Queryable } from '../pg/queryable.js';
import { ident, literal } from '../pg/quote.js';

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
  const t = `${ident(table.schema)}.${ident(table.name)}`;
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
  const { rows } = await db.query<{ name: string }>(
    `SELECT a.attname AS name
       FROM pg_catalog.pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_catalog.pg_attribute a ON a.attnum = k.attnum
      WHERE i.indrelid = ${literal(t)}::regclass AND i.indisprimary AND a.attrelid = i.indrelid
      ORDER BY k.ord`,
  );
  if (rows.length === 0) return `'ctid ' || _tidal_row.ctid::text`;
  const names = rows.map((r) => r.name).join(', ');
  const values = rows.map((r) => `_tidal_row.${ident(r.name)}`).join(', ');
  return rows.length === 1
    ? `${literal(`${names} = `)} || coalesce(${values}::text, 'NULL')`
    : `${literal(`(${names}) = `)} || ROW(${values})::text`;
}

/** A condition over `_tidal_row` for rows that break check or foreign key `name`. */
async function breaks(db: Queryable, t: string, name: string): Promise<string | null> {
  const { rows } = await db.query<{
    type: string;
    definition: string;
    columns: string[];
    ref_table: string | null;
    ref_columns: string[] | null;
  }>(
    `SELECT con.contype AS type, pg_catalog.pg_get_constraintdef(con.oid) AS definition,
            array(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, o)
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n
                   ORDER BY k.o) AS columns,
            (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE c.oid = con.confrelid) AS ref_table,
            array(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, o)
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n
                   ORDER BY k.o) AS ref_columns
       FROM pg_catalog.pg_constraint con
      WHERE con.conrelid = ${literal(t)}::regclass AND con.conname = ${literal(name)}`,
  );
  const c = rows[0];
  if (!c) return null;
  if (c.type === 'c') return breaksCheck(c.definition);
  if (c.type === 'f' && c.ref_table && c.ref_columns) {
    return breaksForeignKey(c.columns, c.ref_table, c.ref_columns);
  }
  return null;
}

/** A condition over `_tidal_row` for rows whose key columns of unique index `name` repeat. */
async function duplicated(db: Queryable, t: string, name: string): Promise<string | null> {
  const { rows } = await db.query<{ name: string | null }>(
    `SELECT a.attname AS name
       FROM pg_catalog.pg_index i
       JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid AND ic.relname = ${literal(name)}
       CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
       LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = ${literal(t)}::regclass AND k.ord <= i.indnkeyatts
      ORDER BY k.ord`,
  );
  // Expression indexes have no column to compare.
  if (rows.length === 0 || rows.some((r) => r.name === null)) return null;
  return repeatsKey(
    t,
    rows.map((r) => r.name as string),
    'every',
  );
}
