/** Reads of the session's own temporary tables (pg_temp), which planning's probes make. */
import type { Queryable } from '../pg/queryable.js';
import { ident, literal } from '../pg/quote.js';
import type { ColumnInfo } from './types.js';

/** The columns of temporary table `table`, as readSchema reads a table's (no comments or
 *  grants: a temporary table has none). */
export async function temporaryColumns(db: Queryable, table: string): Promise<ColumnInfo[]> {
  const { rows } = await db.query<ColumnInfo>(
    `SELECT a.attname AS name, a.attnum::int AS attnum,
            format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
            pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity AS identity,
            a.attgenerated AS generated, NULL::text AS comment,
            CASE WHEN a.attcollation <> 0 THEN a.attcollation::regcollation::text END AS collation,
            '[]'::json AS grants
       FROM pg_attribute a
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [`pg_temp.${ident(table)}`],
  );
  return rows;
}

/** The row a `missingValueQuery` returns. */
export interface MissingValueRow {
  /** The column's value for rows older than it is stored once in the catalog (atthasmissing):
   *  adding it did not rewrite the table. */
  missing: boolean;
}

/** A query of whether column `column` of temporary table `table` has a "missing value", for a
 *  probe that sends it with the statements it asks about (one MissingValueRow). */
export function missingValueQuery(table: string, column: string): string {
  return `SELECT atthasmissing AS missing FROM pg_attribute
          WHERE attrelid = ${literal(`pg_temp.${ident(table)}`)}::regclass AND attname = ${literal(column)}`;
}
