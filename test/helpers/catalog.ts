/** A comparable picture of a database's schema, for "the catalog is exactly as before" checks. */
import { SYNC_TRIGGER } from '../../src/model/names.js';
import type { Queryable } from '../../src/pg/queryable.js';
import { rows } from './cycle.js';

export interface CatalogSnapshot {
  schemas: string[];
  columns: string[];
  constraints: string[];
  indexes: string[];
  triggers: string[];
  views: string[];
  functions: string[];
  comments: string[];
  types: string[];
  sequences: string[];
}

/**
 * Everything of the schema that a migration may touch, as sorted text lines: schemas (other
 * than system ones), columns with type, nullability, default, identity and generation,
 * constraints with their definition and validity, indexes with definition and validity,
 * triggers, views, functions (of every non-system schema), comments, user types and sequences.
 * `except` leaves out schemas that should not be compared (tidal's state schema holds history).
 */
export async function snapshotCatalog(
  db: Queryable,
  except: string[] = ['tidal'],
): Promise<CatalogSnapshot> {
  const schemaFilter = `NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%' AND n.nspname <> ALL($1::text[])`;
  const lines = async (sql: string) =>
    (await db.query<{ line: string }>(sql, [except])).rows.map((r) => r.line).sort();
  return {
    schemas: await lines(
      `SELECT n.nspname AS line FROM pg_namespace n WHERE n.nspname ${schemaFilter}`,
    ),
    columns: await lines(
      `SELECT format('%s.%s.%s %s null=%s default=%s identity=%s generated=%s', n.nspname, c.relname, a.attname,
              format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
              a.attidentity, a.attgenerated) AS line
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname ${schemaFilter} AND c.relkind IN ('r', 'p', 'v') AND a.attnum > 0 AND NOT a.attisdropped`,
    ),
    constraints: await lines(
      `SELECT format('%s.%s %s %s validated=%s', n.nspname, c.relname, con.conname, pg_get_constraintdef(con.oid), con.convalidated) AS line
         FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname ${schemaFilter}`,
    ),
    indexes: await lines(
      `SELECT format('%s valid=%s', pg_get_indexdef(i.indexrelid), i.indisvalid) AS line
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname ${schemaFilter}`,
    ),
    triggers: await lines(
      `SELECT pg_get_triggerdef(t.oid) AS line
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname ${schemaFilter} AND NOT t.tgisinternal`,
    ),
    views: await lines(
      `SELECT format('%s.%s %s', n.nspname, c.relname, pg_get_viewdef(c.oid)) AS line
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname ${schemaFilter} AND c.relkind = 'v'`,
    ),
    functions: await lines(
      `SELECT format('%s.%s(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS line
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname ${schemaFilter}`,
    ),
    comments: await lines(
      `SELECT format('%s.%s.%s %s', n.nspname, c.relname, d.objsubid, d.description) AS line
         FROM pg_description d JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname ${schemaFilter}`,
    ),
    types: await lines(
      `SELECT format('%s.%s %s %s', n.nspname, t.typname, t.typtype,
              (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid)) AS line
         FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname ${schemaFilter} AND t.typtype IN ('e', 'd', 'r')
           OR (n.nspname ${schemaFilter} AND t.typtype = 'c'
               AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')`,
    ),
    sequences: await lines(
      `SELECT format('%s.%s', n.nspname, c.relname) AS line
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname ${schemaFilter} AND c.relkind = 'S'`,
    ),
  };
}

/** A column as the catalog has it. */
export async function columnOf(db: Queryable, table: string, column: string) {
  return rows(
    db,
    `SELECT format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull,
            pg_get_expr(d.adbin, d.adrelid) AS default, col_description(a.attrelid, a.attnum) AS comment
       FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = $1::regclass AND a.attname = $2 AND NOT a.attisdropped`,
    [table, column],
  );
}

/** The table's column names, in order. */
export async function columnNamesOf(db: Queryable, table: string): Promise<string[]> {
  const columns = await rows<{ name: string }>(
    db,
    `SELECT attname AS name FROM pg_attribute
      WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [table],
  );
  return columns.map((c) => c.name);
}

/** The table's constraints (without PostgreSQL 18's not-null entries), by name. */
export async function constraintsOf(db: Queryable, table: string) {
  return rows<{ name: string; def: string; validated: boolean }>(
    db,
    `SELECT conname AS name, pg_get_constraintdef(oid) AS def, convalidated AS validated
       FROM pg_constraint WHERE conrelid = $1::regclass AND contype <> 'n' ORDER BY conname`,
    [table],
  );
}

/** The table's indexes, by name. */
export async function indexesOf(db: Queryable, table: string) {
  return rows<{ name: string; def: string; valid: boolean }>(
    db,
    `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def, i.indisvalid AS valid
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = $1::regclass ORDER BY c.relname`,
    [table],
  );
}

/** The columns whose UPDATE fires tidal's dual-write trigger on the table (pg_trigger.tgattr),
 *  in the trigger's order; empty when every UPDATE fires it. */
export async function syncTriggerColumns(db: Queryable, table: string): Promise<string[]> {
  const columns = await rows<{ name: string }>(
    db,
    `SELECT a.attname AS name
       FROM pg_trigger t CROSS JOIN unnest(t.tgattr::int2[]) WITH ORDINALITY AS k(attnum, i)
       JOIN pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = k.attnum
      WHERE t.tgrelid = $1::regclass AND t.tgname = $2 ORDER BY k.i`,
    [table, SYNC_TRIGGER],
  );
  return columns.map((c) => c.name);
}
