import type { TableRef } from '../model/step.js';
import type { Queryable } from '../pg/queryable.js';
import { ident } from '../pg/quote.js';
import type { MigrationPlan } from './plan.js';

/**
 * What the connected role lacks to run every phase of a plan, one sentence each; empty when it
 * has it all. Read before the first statement, so a migration never stops midway on a missing
 * privilege (and its rollback on the same one). Raw SQL is the user's own: not looked into.
 *
 * - Every existing table a step changes: its owner (or a member of the owning role), since
 *   ALTER TABLE, CREATE INDEX and triggers need it.
 * - A table only referenced (by a foreign key): REFERENCES on it.
 * - CREATE on the database (the version schema, and the state schema if it is not there yet),
 *   CREATE on the state schema (the dual-write functions), CREATE on the application schema
 *   when the migration creates a table in it.
 */
export async function missingPrivileges(
  db: Queryable,
  plan: MigrationPlan,
  stateSchema: string,
): Promise<string[]> {
  const steps = [...plan.start, ...plan.afterBackfill, ...plan.complete, ...plan.rollback];
  const created = new Set(
    steps.flatMap((s) => s.creates ?? []).flatMap((u) => (u.kind === 'table' ? [u.name] : [])),
  );
  const changed = new Map<string, TableRef>();
  const referenced = new Map<string, TableRef>();
  const key = (t: TableRef) => JSON.stringify([t.schema, t.name]);
  for (const step of steps) {
    if (step.table && !created.has(step.table.name)) changed.set(key(step.table), step.table);
    for (const also of step.alsoLocks ?? [])
      if (!created.has(also.table.name)) referenced.set(key(also.table), also.table);
  }
  for (const k of changed.keys()) referenced.delete(k);
  const tables = [...changed.values(), ...referenced.values()];
  const { rows } = await db.query<{
    schema: string;
    name: string;
    owner: string;
    owns: boolean;
    references: boolean;
  }>(
    `SELECT n.nspname AS schema, c.relname AS name, pg_get_userbyid(c.relowner) AS owner,
            pg_has_role(c.relowner, 'USAGE') AS owns,
            has_table_privilege(c.oid, 'REFERENCES') AS references
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN unnest($1::text[], $2::text[]) AS t(schema, name) ON t.schema = n.nspname AND t.name = c.relname`,
    [tables.map((t) => t.schema), tables.map((t) => t.name)],
  );
  const missing: string[] = [];
  const role = (await db.query<{ role: string }>('SELECT current_user AS role')).rows[0]?.role;
  for (const row of rows) {
    const table = `"${row.schema}"."${row.name}"`;
    if (changed.has(key(row))) {
      if (!row.owns)
        missing.push(
          `${table} is owned by "${row.owner}", and "${role}" is not a member of that role: changing it (ALTER TABLE, CREATE INDEX, triggers) needs its owner`,
        );
    } else if (!row.references && !row.owns) {
      missing.push(`REFERENCES on ${table}, which a new foreign key references`);
    }
  }
  const { rows: places } = await db.query<{
    database: string;
    createInDatabase: boolean;
    stateExists: boolean;
    createInState: boolean | null;
    createInSchema: boolean;
  }>(
    `SELECT current_database() AS database,
            has_database_privilege(current_database(), 'CREATE') AS "createInDatabase",
            to_regnamespace($1) IS NOT NULL AS "stateExists",
            CASE WHEN to_regnamespace($1) IS NOT NULL THEN has_schema_privilege($2, 'CREATE') END AS "createInState",
            has_schema_privilege($3, 'CREATE') AS "createInSchema"`,
    [ident(stateSchema), stateSchema, plan.schema],
  );
  const place = places[0];
  if (place && !place.createInDatabase) {
    missing.push(
      `CREATE on database "${place.database}", for version schema "${plan.version.schema}"${place.stateExists ? '' : ` and state schema "${stateSchema}"`}`,
    );
  }
  if (place?.createInState === false)
    missing.push(`CREATE on schema "${stateSchema}", for the dual-write functions`);
  if (place && !place.createInSchema && created.size > 0)
    missing.push(
      `CREATE on schema "${plan.schema}", for table ${[...created].map((t) => `"${t}"`).join(', ')}`,
    );
  return missing;
}
