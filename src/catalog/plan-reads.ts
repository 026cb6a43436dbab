/**
 * Catalog reads that operations make while they plan, one question each (catalog/read.ts reads
 * a whole schema at once). None changes anything.
 */

import type { Queryable } from '../pg/queryable.js';
import { literal } from '../pg/quote.js';

/** The foreign keys that depend on the index of constraint `name` of table `qualified` (quoted
 *  `schema.table`): the unique constraint or primary key they reference. */
export async function foreignKeysOnConstraintIndex(
  db: Queryable,
  qualified: string,
  name: string,
): Promise<{ fk: string; on: string; schema: string; table: string }[]> {
  const { rows } = await db.query<{ fk: string; on: string; schema: string; table: string }>(
    `SELECT fk.conname AS fk, fk.conrelid::regclass::text AS on, n.nspname AS schema,
            r.relname AS table
       FROM pg_catalog.pg_constraint u
       JOIN pg_catalog.pg_constraint fk ON fk.contype = 'f' AND fk.conindid = u.conindid
       JOIN pg_catalog.pg_class r ON r.oid = fk.conrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
      WHERE u.conrelid = pg_catalog.to_regclass($1) AND u.conname = $2`,
    [qualified, name],
  );
  return rows;
}

/** The relkind of relation `name` of `schema` (any kind: tables, indexes, views, sequences),
 *  or null when there is none. */
export async function relationKind(
  db: Queryable,
  schema: string,
  name: string,
): Promise<string | null> {
  const { rows } = await db.query<{ kind: string }>(
    `SELECT c.relkind AS kind FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2`,
    [schema, name],
  );
  return rows[0]?.kind ?? null;
}

/** What decides whether an index can be a replica identity. */
export interface IdentityIndexFacts {
  unique: boolean;
  immediate: boolean;
  partial: boolean;
  expression: boolean;
  valid: boolean;
  /** Key columns without NOT NULL. */
  nullable: string[];
}

/** The facts of index `name` of the table with oid `table`, or null when it has none such. */
export async function identityIndexFacts(
  db: Queryable,
  table: number,
  name: string,
): Promise<IdentityIndexFacts | null> {
  const { rows } = await db.query<IdentityIndexFacts>(
    `SELECT i.indisunique AS unique, i.indimmediate AS immediate, i.indpred IS NOT NULL AS partial,
            i.indexprs IS NOT NULL AS expression, i.indisvalid AS valid,
            coalesce((SELECT array_agg(a.attname::text ORDER BY k.ord)
               FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE k.ord <= i.indnkeyatts AND NOT a.attnotnull), '{}') AS nullable
       FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
      WHERE i.indrelid = $1 AND ic.relname = $2`,
    [table, name],
  );
  return rows[0] ?? null;
}

/** The name of the index the table with oid `table` has as its replica identity, if any. */
export async function replicaIdentityIndex(db: Queryable, table: number): Promise<string | null> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT ic.relname AS name
       FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
      WHERE i.indrelid = $1 AND i.indisreplident`,
    [table],
  );
  return rows[0]?.name ?? null;
}

/**
 * A query for the files of relation `name` and its indexes and the scans of it in this
 * transaction: it returns the same rows before and after a statement that neither rewrote
 * anything nor scanned. By the relation's oid: the statistics views and an OR over pg_class
 * read every table's row.
 */
export function filesAndScansQuery(name: string): string {
  const oid = `${literal(name)}::regclass`;
  return `SELECT c.relname, c.relfilenode, pg_catalog.pg_stat_get_xact_numscans(${oid}) AS scans
       FROM pg_catalog.pg_class c WHERE c.oid = ${oid}
     UNION ALL
     SELECT c.relname, c.relfilenode, NULL FROM pg_catalog.pg_index i
       JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = ${oid}
     ORDER BY 1`;
}
