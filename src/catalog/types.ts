/** The parts of PostgreSQL's catalog that tidal plans against, for one application schema. */

/** One privilege a role holds on a table or column (from its ACL; the owner's implicit ones
 *  included). */
export interface Grant {
  /** The role's name, or null for PUBLIC. */
  grantee: string | null;
  /** `SELECT`, `INSERT`, `UPDATE`, `DELETE`, `TRUNCATE`, `REFERENCES`, `TRIGGER`, ... */
  privilege: string;
  /** Held WITH GRANT OPTION. */
  grantable: boolean;
}

export interface ColumnInfo {
  name: string;
  attnum: number;
  /** `format_type(atttypid, atttypmod)`, e.g. `character varying(255)`. */
  type: string;
  /** The column's collation (`"C"`, `"default"`); null for a type without one. */
  collation: string | null;
  nullable: boolean;
  /** `pg_get_expr` of the default, or null. */
  default: string | null;
  /** '' none, 'a' GENERATED ALWAYS AS IDENTITY, 'd' BY DEFAULT. */
  identity: '' | 'a' | 'd';
  /** '' none, 's' STORED generated column (also 'v' virtual on PostgreSQL 18). */
  generated: '' | 's' | 'v';
  comment: string | null;
  /** Privileges granted on this column alone (table-wide ones are on the table). */
  grants: Grant[];
}

export interface ConstraintInfo {
  name: string;
  /** pg_constraint.contype: p primary, u unique, c check, f foreign key, x exclusion, n not null. */
  type: 'p' | 'u' | 'c' | 'f' | 'x' | 'n' | 't';
  columns: string[];
  definition: string;
  validated: boolean;
  /** For foreign keys: the referenced table's schema and name. */
  referencedTable: { schema: string; name: string } | null;
  /** For foreign keys: the referenced columns, in the order of `columns`. */
  referencedColumns: string[];
}

export interface IndexInfo {
  name: string;
  unique: boolean;
  primary: boolean;
  valid: boolean;
  definition: string;
  /** Key columns first, then INCLUDE columns. */
  columns: string[];
  /** How many of `columns` are key columns (the rest are INCLUDE columns). */
  keyColumns: number;
  /** No predicate and no expression: a key over plain columns. */
  plain: boolean;
}

export interface TriggerInfo {
  name: string;
  definition: string;
  enabled: string;
}

export interface TableInfo {
  schema: string;
  name: string;
  oid: number;
  kind: 'r' | 'p';
  comment: string | null;
  columns: ColumnInfo[];
  constraints: ConstraintInfo[];
  indexes: IndexInfo[];
  triggers: TriggerInfo[];
  /** The row-level BEFORE UPDATE triggers on it and on its partitions, by name: PostgreSQL
   *  fires an `UPDATE OF` trigger by the columns a statement writes, not by what such a trigger
   *  changes in the row. */
  beforeUpdateTriggers: string[];
  replicaIdentity: string;
  /** The table's owner. */
  owner: string;
  /** Row-level security is enabled on it (relrowsecurity). */
  rowSecurity: boolean;
  /** Privileges on the whole table, the owner's included. */
  grants: Grant[];
  /** Attribute numbers in use (pg_class.relnatts): the columns and the dropped ones, which keep
   *  theirs until the table is made anew (VACUUM FULL keeps them). */
  attributes: number;
  /** Dropped columns among `attributes`. */
  droppedColumns: number;
  /** Estimated rows (pg_class.reltuples; -1 when never analysed). */
  estimatedRows: number;
}

export interface SchemaInfo {
  schema: string;
  tables: Map<string, TableInfo>;
}
