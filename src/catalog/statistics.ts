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

/** SQL for the relations that hold the rows of table `regclass` (SQL giving its oid), as
 *  `relid`: the table itself, or its leaf partitions. */
function rowHoldersSql(regclass: string): string {
  return `(SELECT c.oid AS relid FROM pg_class c WHERE c.oid = ${regclass} AND c.relkind <> 'p'
           UNION ALL SELECT p.relid FROM pg_partition_tree(${regclass}) p WHERE p.isleaf)`;
}

/** SQL for the files that hold the rows of table `regclass` (SQL giving its oid), in one text.
 *  A rewrite (VACUUM FULL, CLUSTER, pg_repack) gives a table a new file, and attaching or
 *  detaching a partition changes the set. */
export function tableFilesSql(regclass: string): string {
  return `(SELECT coalesce(string_agg(pg_relation_filenode(h.relid)::text, ',' ORDER BY h.relid), '')
             FROM ${rowHoldersSql(regclass)} h)`;
}

/**
 * What a walk by location of `table` (a quoted qualified name) covers: the pages of its file,
 * or of its largest leaf partition (a TID range selects those pages of every partition at
 * once); the rows a page holds by the last statistics (null when they have none); and its files
 * (tableFilesSql). Undefined when there is no such table.
 */
export async function locationExtent(
  db: Queryable,
  table: string,
): Promise<{ pages: number; rowsPerPage: number | null; files: string } | undefined> {
  const { rows } = await db.query<{
    pages: string;
    rows_per_page: number | null;
    files: string;
  }>(
    `SELECT coalesce(max(pg_relation_size(c.oid)), 0) / current_setting('block_size')::int AS pages,
            sum(c.reltuples) FILTER (WHERE c.reltuples > 0)
              / nullif(sum(c.relpages) FILTER (WHERE c.reltuples > 0), 0) AS rows_per_page,
            ${tableFilesSql('to_regclass($1)')} AS files
       FROM ${rowHoldersSql('to_regclass($1)')} h JOIN pg_class c ON c.oid = h.relid
     HAVING to_regclass($1) IS NOT NULL`,
    [table],
  );
  const row = rows[0];
  return row && { pages: Number(row.pages), rowsPerPage: row.rows_per_page, files: row.files };
}

/** The planner's estimate of the rows of `table` (a quoted qualified name), 0 when it has none;
 *  null when there is no such table. A table never analysed (reltuples -1, as after a bulk
 *  load) is estimated as the planner does then: from its size on disk and its rows' width. */
export async function estimatedRows(db: Queryable, table: string): Promise<number | null> {
  const { rows } = await db.query<{ rows: number }>(
    `SELECT reltuples::float8 AS rows FROM pg_class WHERE oid = to_regclass($1)`,
    [table],
  );
  const row = rows[0];
  if (!row) return null;
  if (row.rows >= 0) return Math.round(row.rows);
  const { rows: plan } = await db.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(
    `EXPLAIN (FORMAT JSON) SELECT FROM ${table}`,
  );
  return Math.round(plan[0]?.['QUERY PLAN'][0]?.Plan['Plan Rows'] ?? 0);
}
