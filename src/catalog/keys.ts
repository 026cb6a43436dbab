/**
 * Reads of the columns a table's keys and constraints cover: its primary key, a constraint's
 * definition with its columns and those it references, a unique index's key columns. Tables are
 * given as quoted qualified names.
 */
import type { Queryable } from '../pg/queryable.js';
import { literal } from '../pg/quote.js';

/** The columns of `table`'s primary key, in key order; none without one. */
export async function primaryKeyColumns(db: Queryable, table: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT a.attname AS name
       FROM pg_catalog.pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_catalog.pg_attribute a ON a.attnum = k.attnum
      WHERE i.indrelid = ${literal(table)}::regclass AND i.indisprimary AND a.attrelid = i.indrelid
      ORDER BY k.ord`,
  );
  return rows.map((r) => r.name);
}

/** A constraint as pg_constraint has it. */
export interface ConstraintDefinition {
  /** pg_constraint.contype: `c` check, `f` foreign key, `p`, `u`, `x`... */
  type: string;
  /** pg_get_constraintdef. */
  definition: string;
  columns: string[];
  /** The referenced table of a foreign key, quoted and qualified; null for other types. */
  referencedTable: string | null;
  referencedColumns: string[] | null;
}

/** Constraint `name` of `table`, or undefined. */
export async function constraintDefinition(
  db: Queryable,
  table: string,
  name: string,
): Promise<ConstraintDefinition | undefined> {
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
      WHERE con.conrelid = ${literal(table)}::regclass AND con.conname = ${literal(name)}`,
  );
  const row = rows[0];
  return (
    row && {
      type: row.type,
      definition: row.definition,
      columns: row.columns,
      referencedTable: row.ref_table,
      referencedColumns: row.ref_columns,
    }
  );
}

/** The key columns of index `name` on `table`, in order; null for an expression. */
export async function indexKeyColumns(
  db: Queryable,
  table: string,
  name: string,
): Promise<(string | null)[]> {
  const { rows } = await db.query<{ name: string | null }>(
    `SELECT a.attname AS name
       FROM pg_catalog.pg_index i
       JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid AND ic.relname = ${literal(name)}
       CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
       LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = ${literal(table)}::regclass AND k.ord <= i.indnkeyatts
      ORDER BY k.ord`,
  );
  return rows.map((r) => r.name);
}
