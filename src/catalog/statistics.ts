/** Reads of the planner's statistics of tables (pg_class's estimates) and of their sizes. */
import type { Queryable } from '../pg/queryable.js';

export interface TableStatistics {
  table: string;
  /** pg_class.reltuples (null when never analysed) and the table's size with indexes and TOAST. */
  rows: number | null;
  bytes: number;
}

/** The statistics of the ordinary and partitioned tables among `tables` of `schema`. */
export async function tableStatistics(
  db: Queryable,
  schema: string,
  tables: string[],
): Promise<TableStatistics[]> {
  const { rows } = await db.query<{ table: string; rows: number | null; bytes: string }>(
    `SELECT c.relname AS table, CASE WHEN c.reltuples >= 0 THEN c.reltuples::float8 END AS rows,
            pg_total_relation_size(c.oid) AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND c.relkind IN ('r', 'p')`,
    [schema, tables],
  );
  return rows.map((r) => ({ table: r.table, rows: r.rows, bytes: Number(r.bytes) }));
}

/** How many pages table `table` (a quoted qualified name) takes now, and the rows a page holds
 *  by the last statistics (null when they have none); undefined when there is no such table. */
export async function tablePages(
  db: Queryable,
  table: string,
): Promise<{ pages: number; rowsPerPage: number | null } | undefined> {
  const { rows } = await db.query<{ pages: string; rows_per_page: number | null }>(
    `SELECT pg_relation_size(c.oid) / current_setting('block_size')::int AS pages,
            CASE WHEN c.relpages > 0 AND c.reltuples > 0 THEN c.reltuples / c.relpages END AS rows_per_page
       FROM pg_class c WHERE c.oid = to_regclass($1)`,
    [table],
  );
  const row = rows[0];
  return row && { pages: Number(row.pages), rowsPerPage: row.rows_per_page };
}

/** The planner's estimate of the rows of `table` (a quoted qualified name), 0 when it has none;
 *  null when there is no such table. */
export async function estimatedRows(db: Queryable, table: string): Promise<number | null> {
  const { rows } = await db.query<{ rows: string }>(
    `SELECT greatest(reltuples, 0)::bigint AS rows FROM pg_class WHERE oid = to_regclass($1)`,
    [table],
  );
  const row = rows[0];
  return row ? Number(row.rows) : null;
}
