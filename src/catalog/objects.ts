/**
 * Reads of whether named objects exist, and in what state: schemas, relations, columns,
 * constraints, indexes, triggers and functions. Tables are given as quoted qualified names.
 */
import type { Queryable } from '../pg/queryable.js';

async function stateOf(db: Queryable, sql: string, params: unknown[]): Promise<string | null> {
  return (await db.query<{ state: string | null }>(sql, params)).rows[0]?.state ?? null;
}

export async function columnExists(
  db: Queryable,
  table: string | null,
  column: string,
): Promise<boolean> {
  const found = await stateOf(
    db,
    `SELECT 'ok' AS state FROM pg_catalog.pg_attribute
      WHERE attrelid = pg_catalog.to_regclass($1) AND attname = $2 AND NOT attisdropped`,
    [table, column],
  );
  return found !== null;
}

export async function constraintExists(
  db: Queryable,
  table: string | null,
  name: string,
): Promise<boolean> {
  const found = await stateOf(
    db,
    `SELECT 'ok' AS state FROM pg_catalog.pg_constraint
      WHERE conrelid = pg_catalog.to_regclass($1) AND conname = $2`,
    [table, name],
  );
  return found !== null;
}

/** Whether index `index` (a quoted qualified name) can be used; undefined when it is gone. */
export async function indexState(
  db: Queryable,
  index: string,
): Promise<'valid' | 'invalid' | undefined> {
  const state = await stateOf(
    db,
    `SELECT CASE WHEN i.indisvalid THEN 'valid' ELSE 'invalid' END AS state
       FROM pg_catalog.pg_index i WHERE i.indexrelid = pg_catalog.to_regclass($1)`,
    [index],
  );
  return state === 'valid' || state === 'invalid' ? state : undefined;
}

/** Whether `relation` (a quoted qualified name) exists. */
export async function relationExists(db: Queryable, relation: string): Promise<boolean> {
  const found = await stateOf(
    db,
    `SELECT 'ok' AS state WHERE pg_catalog.to_regclass($1) IS NOT NULL`,
    [relation],
  );
  return found !== null;
}

/** Whether trigger `name` of `table` fires; undefined when it is gone. */
export async function triggerState(
  db: Queryable,
  table: string | null,
  name: string,
): Promise<'enabled' | 'disabled' | undefined> {
  const state = await stateOf(
    db,
    `SELECT CASE WHEN tgenabled = 'D' THEN 'disabled' ELSE 'enabled' END AS state
       FROM pg_catalog.pg_trigger WHERE tgrelid = pg_catalog.to_regclass($1) AND tgname = $2`,
    [table, name],
  );
  return state === 'enabled' || state === 'disabled' ? state : undefined;
}

/** Whether `schema` has a function named `name` (of any arguments). */
export async function functionExists(
  db: Queryable,
  schema: string,
  name: string,
): Promise<boolean> {
  const found = await stateOf(
    db,
    `SELECT 'ok' AS state FROM pg_catalog.pg_proc p
       JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = $1 AND p.proname = $2`,
    [schema, name],
  );
  return found !== null;
}

export async function schemaExists(db: Queryable, schema: string): Promise<boolean> {
  const found = await stateOf(
    db,
    `SELECT 'ok' AS state FROM pg_catalog.pg_namespace WHERE nspname = $1`,
    [schema],
  );
  return found !== null;
}

/** Those of `schemas` that exist. */
export async function existingSchemas(db: Queryable, schemas: string[]): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT nspname AS name FROM pg_namespace WHERE nspname = ANY($1::text[])`,
    [schemas],
  );
  return rows.map((r) => r.name);
}

/** The names of the relations (tables, indexes, sequences, views...) of `schema`. */
export async function relationNames(db: Queryable, schema: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`,
    [schema],
  );
  return rows.map((r) => r.name);
}

/**
 * Objects on the tables of `schema` named like tidal's own, one phrase each (`column "x" of
 * table "t"`): new and copy columns (`_tidal_new_...`) and `markColumn`, NOT NULL stand-in checks
 * (`_tidal_nn_...`), and triggers named `trigger`.
 */
export async function tidalNamedObjects(
  db: Queryable,
  schema: string,
  markColumn: string,
  trigger: string,
): Promise<string[]> {
  const { rows } = await db.query<{ what: string }>(
    `SELECT format('column "%s" of table "%s"', a.attname, c.relname) AS what
       FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT a.attisdropped AND a.attnum > 0
        AND (a.attname LIKE '\\_tidal\\_new\\_%' OR a.attname = $2)
     UNION ALL
     SELECT format('check "%s" of table "%s"%s: every write it rejects fails', con.conname, c.relname,
                   CASE WHEN con.convalidated THEN '' ELSE ' (NOT VALID)' END)
       FROM pg_catalog.pg_constraint con JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND con.conname LIKE '\\_tidal\\_nn\\_%'
     UNION ALL
     SELECT format('trigger "%s" of table "%s"', t.tgname, c.relname)
       FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND t.tgname = $3
      ORDER BY 1`,
    [schema, markColumn, trigger],
  );
  return rows.map((r) => r.what);
}
