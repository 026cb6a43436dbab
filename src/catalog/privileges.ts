/** Reads of what the connected role may do: own or reference tables, create schemas and objects. */
import type { Queryable } from '../pg/queryable.js';
import { ident } from '../pg/quote.js';

/** A table, who owns it, and what the connected role may do with it. */
export interface TableOwnership {
  schema: string;
  name: string;
  owner: string;
  /** The role is the owner or a member of the owning role. */
  owns: boolean;
  /** The role holds REFERENCES on it. */
  references: boolean;
}

/** The ownership of those of `tables` that exist. */
export async function tableOwnership(
  db: Queryable,
  tables: readonly { schema: string; name: string }[],
): Promise<TableOwnership[]> {
  const { rows } = await db.query<TableOwnership>(
    `SELECT n.nspname AS schema, c.relname AS name, pg_get_userbyid(c.relowner) AS owner,
            pg_has_role(c.relowner, 'USAGE') AS owns,
            has_table_privilege(c.oid, 'REFERENCES') AS references
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN unnest($1::text[], $2::text[]) AS t(schema, name) ON t.schema = n.nspname AND t.name = c.relname`,
    [tables.map((t) => t.schema), tables.map((t) => t.name)],
  );
  return rows;
}

/** Whether the connected role may create in the database, in schema `stateSchema` (null when it
 *  does not exist) and in schema `schema`. */
export interface CreatePrivileges {
  database: string;
  createInDatabase: boolean;
  stateExists: boolean;
  createInState: boolean | null;
  createInSchema: boolean;
}

export async function createPrivileges(
  db: Queryable,
  stateSchema: string,
  schema: string,
): Promise<CreatePrivileges | undefined> {
  const { rows } = await db.query<CreatePrivileges>(
    `SELECT current_database() AS database,
            has_database_privilege(current_database(), 'CREATE') AS "createInDatabase",
            to_regnamespace($1) IS NOT NULL AS "stateExists",
            CASE WHEN to_regnamespace($1) IS NOT NULL THEN has_schema_privilege($2, 'CREATE') END AS "createInState",
            has_schema_privilege($3, 'CREATE') AS "createInSchema"`,
    [ident(stateSchema), stateSchema, schema],
  );
  return rows[0];
}

/** The role the session acts as. */
export async function currentRole(db: Queryable): Promise<string | undefined> {
  return (await db.query<{ role: string }>('SELECT current_user AS role')).rows[0]?.role;
}
