import type { Queryable } from '../pg/queryable.js';
import type {
  ColumnInfo,
  ConstraintInfo,
  Grant,
  IndexInfo,
  SchemaInfo,
  TableInfo,
  TriggerInfo,
} from './types.js';

/** Reads every ordinary and partitioned table of `schema`, with columns, constraints, indexes
 *  and triggers, in a few catalog queries (no per-table round trips). */
export async function readSchema(db: Queryable, schema: string): Promise<SchemaInfo> {
  const tables = await db.query<{
    oid: number;
    name: string;
    kind: 'r' | 'p';
    comment: string | null;
    replica_identity: string;
    reltuples: number;
    owner: string;
    row_security: boolean;
    grants: Grant[];
    attributes: number;
    dropped: number;
  }>(
    `SELECT c.oid::int AS oid, c.relname AS name, c.relkind AS kind,
            obj_description(c.oid, 'pg_class') AS comment,
            c.relreplident AS replica_identity, c.reltuples::float8 AS reltuples,
            pg_get_userbyid(c.relowner) AS owner, c.relrowsecurity AS row_security, ${grantsOf(`coalesce(c.relacl, acldefault('r', c.relowner))`)} AS grants,
            c.relnatts::int AS attributes,
            (SELECT count(*)::int FROM pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND a.attisdropped) AS dropped
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      ORDER BY c.relname`,
    [schema],
  );
  const byOid = new Map<number, TableInfo>();
  const result: SchemaInfo = { schema, tables: new Map() };
  for (const row of tables.rows) {
    const table: TableInfo = {
      schema,
      name: row.name,
      oid: row.oid,
      kind: row.kind,
      comment: row.comment,
      columns: [],
      constraints: [],
      indexes: [],
      triggers: [],
      beforeUpdateTriggers: [],
      replicaIdentity: row.replica_identity,
      owner: row.owner,
      rowSecurity: row.row_security,
      grants: row.grants,
      attributes: row.attributes,
      droppedColumns: row.dropped,
      estimatedRows: row.reltuples,
    };
    byOid.set(row.oid, table);
    result.tables.set(row.name, table);
  }
  if (byOid.size === 0) return result;
  const oids = [...byOid.keys()];

  const columns = await db.query<ColumnInfo & { table_oid: number }>(
    `SELECT a.attrelid::int AS table_oid, a.attname AS name, a.attnum::int AS attnum,
            format_type(a.atttypid, a.atttypmod) AS type,
            CASE WHEN a.attcollation <> 0 THEN a.attcollation::regcollation::text END AS collation,
            NOT a.attnotnull AS nullable,
            pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity AS identity,
            a.attgenerated AS generated, col_description(a.attrelid, a.attnum) AS comment,
            ${grantsOf('a.attacl')} AS grants
       FROM pg_attribute a
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attrelid, a.attnum`,
    [oids],
  );
  for (const { table_oid, ...column } of columns.rows) {
    byOid.get(table_oid)?.columns.push(column);
  }

  const constraints = await db.query<{
    table_oid: number;
    name: string;
    type: ConstraintInfo['type'];
    columns: string[] | null;
    definition: string;
    validated: boolean;
    ref_schema: string | null;
    ref_table: string | null;
    ref_columns: string[] | null;
  }>(
    `SELECT con.conrelid::int AS table_oid, con.conname AS name, con.contype AS type,
            (SELECT array_agg(a.attname::text ORDER BY k.ord)
               FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS columns,
            pg_get_constraintdef(con.oid) AS definition, con.convalidated AS validated,
            rn.nspname AS ref_schema, rc.relname AS ref_table,
            (SELECT array_agg(a.attname::text ORDER BY k.ord)
               FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) AS ref_columns
       FROM pg_constraint con
       LEFT JOIN pg_class rc ON rc.oid = con.confrelid
       LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
      WHERE con.conrelid = ANY($1::oid[])
      ORDER BY con.conrelid, con.conname`,
    [oids],
  );
  for (const row of constraints.rows) {
    byOid.get(row.table_oid)?.constraints.push({
      name: row.name,
      type: row.type,
      columns: row.columns ?? [],
      definition: row.definition,
      validated: row.validated,
      referencedTable:
        row.ref_table && row.ref_schema ? { schema: row.ref_schema, name: row.ref_table } : null,
      referencedColumns: row.ref_columns ?? [],
    });
  }

  const indexes = await db.query<IndexInfo & { table_oid: number }>(
    `SELECT i.indrelid::int AS table_oid, ic.relname AS name, i.indisunique AS unique,
            i.indisprimary AS primary, i.indisvalid AS valid,
            pg_get_indexdef(i.indexrelid) AS definition,
            i.indnkeyatts::int AS "keyColumns",
            (i.indpred IS NULL AND i.indexprs IS NULL) AS plain,
            coalesce((SELECT array_agg(a.attname::text ORDER BY k.ord)
               FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum), '{}') AS columns
       FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
      WHERE i.indrelid = ANY($1::oid[])
      ORDER BY i.indrelid, ic.relname`,
    [oids],
  );
  for (const { table_oid, ...index } of indexes.rows) {
    byOid.get(table_oid)?.indexes.push(index);
  }

  const triggers = await db.query<TriggerInfo & { table_oid: number }>(
    `SELECT t.tgrelid::int AS table_oid, t.tgname AS name,
            pg_get_triggerdef(t.oid) AS definition, t.tgenabled AS enabled
       FROM pg_trigger t
      WHERE t.tgrelid = ANY($1::oid[]) AND NOT t.tgisinternal
      ORDER BY t.tgrelid, t.tgname`,
    [oids],
  );
  for (const { table_oid, ...trigger } of triggers.rows) {
    byOid.get(table_oid)?.triggers.push(trigger);
  }

  // tgtype bits: 1 row, 2 before, 16 update. Partitions through pg_inherits, which takes no lock.
  const beforeUpdate = await db.query<{ table_oid: number; name: string }>(
    `WITH RECURSIVE tree(root, relid) AS (
       SELECT oid, oid FROM unnest($1::oid[]) AS oid
       UNION ALL
       SELECT tree.root, i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.relid)
     SELECT DISTINCT tree.root::int AS table_oid, t.tgname AS name
       FROM tree JOIN pg_trigger t ON t.tgrelid = tree.relid
      WHERE NOT t.tgisinternal AND (t.tgtype & 19) = 19
      ORDER BY 1, 2`,
    [oids],
  );
  for (const { table_oid, name } of beforeUpdate.rows) {
    byOid.get(table_oid)?.beforeUpdateTriggers.push(name);
  }
  return result;
}

/** The grants of an ACL expression as a JSON array of Grant (empty for a NULL ACL). */
function grantsOf(acl: string): string {
  return `coalesce((SELECT json_agg(json_build_object(
            'grantee', CASE WHEN g.grantee = 0 THEN NULL ELSE pg_get_userbyid(g.grantee) END,
            'privilege', g.privilege_type, 'grantable', g.is_grantable)
            ORDER BY g.grantee, g.privilege_type)
          FROM aclexplode(${acl}) g), '[]')`;
}

/** The server's major version, e.g. 15. */
export async function serverMajor(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ v: string }>(
    `SELECT current_setting('server_version_num') AS v`,
  );
  return Math.floor(Number(rows[0]?.v) / 10000);
}

/** The type of each column of one table (`format_type`, e.g. `character varying(255)`), by
 *  name; empty when the table does not exist. `qualified` is the quoted `schema.table`. */
export async function columnTypes(db: Queryable, qualified: string): Promise<Map<string, string>> {
  const { rows } = await db.query<{ name: string; type: string }>(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
      WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`,
    [qualified],
  );
  return new Map(rows.map((r) => [r.name, r.type]));
}

/** Per table and column, by name. */
export type ByColumn<T> = Map<string, Map<string, T>>;

function setByColumn<T>(map: ByColumn<T>, table: string, column: string, value: T): void {
  let columns = map.get(table);
  if (!columns) {
    columns = new Map();
    map.set(table, columns);
  }
  if (!columns.has(column)) columns.set(column, value);
}

/** The sequence each column of `schema`'s tables owns (a serial's: `OWNED BY`), qualified and
 *  quoted, with its type; one query for the schema. */
export async function ownedSequences(
  db: Queryable,
  schema: string,
): Promise<ByColumn<{ name: string; type: string }>> {
  const { rows } = await db.query<{ table: string; column: string; name: string; type: string }>(
    `SELECT t.relname AS table, a.attname AS column,
            format('%I.%I', sn.nspname, s.relname) AS name, format_type(q.seqtypid, NULL) AS type
       FROM pg_catalog.pg_depend d
       JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
       JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace
       JOIN pg_catalog.pg_sequence q ON q.seqrelid = s.oid
       JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
       JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
       JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
      WHERE d.classid = 'pg_catalog.pg_class'::regclass
        AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'a'
        AND tn.nspname = $1
      ORDER BY 1, 2, 3`,
    [schema],
  );
  const sequences: ByColumn<{ name: string; type: string }> = new Map();
  for (const r of rows) setByColumn(sequences, r.table, r.column, { name: r.name, type: r.type });
  return sequences;
}

/**
 * What uses each column of `schema`'s tables beyond what a copy of it rebuilds (constraints,
 * indexes, its own default) and the version views of `versionSchemas` (tidal replaces them,
 * or drops them before the column goes):
 * generated columns, triggers with `UPDATE OF` or `WHEN` on it, user views, policies. Dropping
 * such a column fails on each of them. One query for the schema; columns used by nothing are
 * left out.
 */
export async function columnDependents(
  db: Queryable,
  schema: string,
  versionSchemas: readonly string[],
): Promise<ByColumn<string[]>> {
  const { rows } = await db.query<{ table: string; column: string; what: string[] }>(
    `WITH col AS (
       SELECT a.attrelid, a.attnum, c.relname, a.attname
         FROM pg_catalog.pg_attribute a
         JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped)
     SELECT col.relname AS table, col.attname AS column,
            array_agg(DISTINCT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid)
                      ORDER BY pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid)) AS what
       FROM pg_catalog.pg_depend d JOIN col
         ON d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = col.attrelid
        AND d.refobjsubid = col.attnum
        -- A generated column depends on the columns it uses: normally through its expression on
        -- recent majors, automatically as a column of the same table on PostgreSQL 14.
      WHERE (d.deptype = 'n' OR (d.deptype = 'a' AND d.classid = 'pg_catalog.pg_class'::regclass
                                 AND d.objid = col.attrelid AND d.objsubid > 0))
        AND d.classid <> 'pg_catalog.pg_constraint'::regclass
        AND NOT (d.classid = 'pg_catalog.pg_class'::regclass
                 AND (SELECT relkind FROM pg_catalog.pg_class WHERE oid = d.objid) IN ('i', 'I'))
        AND NOT (d.classid = 'pg_catalog.pg_attrdef'::regclass
                 AND (SELECT adnum FROM pg_catalog.pg_attrdef WHERE oid = d.objid) = col.attnum)
        AND NOT (d.classid = 'pg_catalog.pg_rewrite'::regclass
                 AND (SELECT n.nspname FROM pg_catalog.pg_rewrite r
                        JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
                        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                       WHERE r.oid = d.objid) = ANY($2::text[]))
      GROUP BY 1, 2`,
    [schema, versionSchemas],
  );
  const dependents: ByColumn<string[]> = new Map();
  for (const r of rows) setByColumn(dependents, r.table, r.column, r.what);
  return dependents;
}

/** The columns of each view of `schema`, in column order, by view name. */
export async function viewColumns(db: Queryable, schema: string): Promise<Map<string, string[]>> {
  const { rows } = await db.query<{ view: string; columns: string[] }>(
    `SELECT c.relname AS view, array_agg(a.attname::text ORDER BY a.attnum) AS columns
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE n.nspname = $1 AND c.relkind = 'v' GROUP BY c.relname`,
    [schema],
  );
  return new Map(rows.map((r) => [r.view, r.columns]));
}
