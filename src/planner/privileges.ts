import { createPrivileges, currentRole, tableOwnership } from '../catalog/privileges.js';
import type { TableRef } from '../model/step.js';
import type { Queryable } from '../pg/queryable.js';
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
  const rows = await tableOwnership(db, tables);
  const missing: string[] = [];
  const role = await currentRole(db);
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
  const place = await createPrivileges(db, stateSchema, plan.schema);
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
