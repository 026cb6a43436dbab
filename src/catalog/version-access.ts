/** Whether the connected role can use a version, and read tidal's record of the versions. */
import type { Queryable } from '../pg/queryable.js';
import { ident, qualifiedName } from '../pg/quote.js';

export interface VersionAccess {
  /** The version schema exists. */
  versionSchemaExists: boolean;
  /** The role has USAGE on it: without it, search_path silently skips it. */
  versionSchemaUsable: boolean;
  /** The state schema exists (whether or not the role may use it). */
  stateExists: boolean;
  /** The role may read `<stateSchema>.migrations` (USAGE on the schema, SELECT on the table). */
  stateReadable: boolean;
}

export async function versionAccess(
  db: Queryable,
  versionSchema: string,
  stateSchema: string,
): Promise<VersionAccess> {
  // Guarded so that nothing raises: to_regclass does when the role lacks USAGE on the schema.
  const { rows } = await db.query<VersionAccess>(
    `SELECT to_regnamespace($1) IS NOT NULL AS "versionSchemaExists",
            coalesce(has_schema_privilege(to_regnamespace($1), 'USAGE'), false) AS "versionSchemaUsable",
            to_regnamespace($2) IS NOT NULL AS "stateExists",
            coalesce(CASE WHEN has_schema_privilege(to_regnamespace($2), 'USAGE')
                          THEN has_table_privilege(to_regclass($3), 'SELECT') END, false) AS "stateReadable"`,
    [ident(versionSchema), ident(stateSchema), qualifiedName(stateSchema, 'migrations')],
  );
  const [access] = rows;
  if (!access) throw new Error('version access: the query returned no row');
  return access;
}
