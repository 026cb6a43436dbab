import { NEEDS_BACKFILL_COLUMN, SYNC_TRIGGER } from '../model/names.js';
import type { Undoable } from '../model/step.js';
import type { Queryable } from '../pg/queryable.js';
import { ident } from '../pg/quote.js';
import { madeByStart, type StartProgress } from './made.js';
import type { MigrationPlan } from './plan.js';

/**
 * What start made that is gone or no longer works (dropped or disabled by hand), one sentence
 * each; empty when all is there. Complete checks it before its first destructive step: dropping
 * the old columns when the new ones, or the trigger that kept them in step, are gone would lose
 * data. `tidal status` reports it too.
 */
export async function driftOf(
  db: Queryable,
  plan: MigrationPlan,
  progress: StartProgress,
  stateSchema: string,
): Promise<string[]> {
  const drift: string[] = [];
  for (const object of madeByStart(plan, progress).values()) {
    const problem = await problemOf(db, plan.schema, stateSchema, object);
    if (problem) drift.push(problem);
  }
  return drift;
}

async function problemOf(
  db: Queryable,
  schema: string,
  stateSchema: string,
  o: Undoable,
): Promise<string | undefined> {
  const table = o.table === undefined ? null : `${ident(schema)}.${ident(o.table)}`;
  const one = async (sql: string, params: unknown[]) =>
    (await db.query<{ state: string | null }>(sql, params)).rows[0]?.state ?? null;
  switch (o.kind) {
    case 'column': {
      const found = await one(
        `SELECT 'ok' AS state FROM pg_catalog.pg_attribute
          WHERE attrelid = pg_catalog.to_regclass($1) AND attname = $2 AND NOT attisdropped`,
        [table, o.name],
      );
      if (found) return undefined;
      return o.name === NEEDS_BACKFILL_COLUMN
        ? `the backfill mark column "${o.name}" of table "${o.table}" is gone`
        : `column "${o.name}" of table "${o.table}" is gone: it held the new version's values`;
    }
    case 'constraint': {
      const found = await one(
        `SELECT 'ok' AS state FROM pg_catalog.pg_constraint
          WHERE conrelid = pg_catalog.to_regclass($1) AND conname = $2`,
        [table, o.name],
      );
      return found ? undefined : `constraint "${o.name}" of table "${o.table}" is gone`;
    }
    case 'index': {
      const state = await one(
        `SELECT CASE WHEN i.indisvalid THEN 'ok' ELSE 'invalid' END AS state
           FROM pg_catalog.pg_index i WHERE i.indexrelid = pg_catalog.to_regclass($1)`,
        [`${ident(schema)}.${ident(o.name)}`],
      );
      if (state === 'ok') return undefined;
      return `index "${o.name}" ${state === 'invalid' ? 'is invalid' : 'is gone'}`;
    }
    case 'table': {
      const found = await one(`SELECT 'ok' AS state WHERE pg_catalog.to_regclass($1) IS NOT NULL`, [
        `${ident(schema)}.${ident(o.name)}`,
      ]);
      return found ? undefined : `table "${o.name}" is gone`;
    }
    case 'trigger': {
      const state = await one(
        `SELECT CASE WHEN tgenabled = 'D' THEN 'disabled' ELSE 'ok' END AS state
           FROM pg_catalog.pg_trigger WHERE tgrelid = pg_catalog.to_regclass($1) AND tgname = $2`,
        [table, o.name],
      );
      if (state === 'ok') return undefined;
      const what = o.name === SYNC_TRIGGER ? 'the dual-write trigger' : `trigger "${o.name}"`;
      return `${what} of table "${o.table}" ${state === 'disabled' ? 'is disabled' : 'is gone'}: writes since did not reach the other version's columns`;
    }
    case 'function': {
      const found = await one(
        `SELECT 'ok' AS state FROM pg_catalog.pg_proc p
           JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = $1 AND p.proname = $2`,
        [stateSchema, o.name],
      );
      return found ? undefined : `the dual-write function "${stateSchema}"."${o.name}" is gone`;
    }
    case 'schema': {
      const found = await one(
        `SELECT 'ok' AS state FROM pg_catalog.pg_namespace WHERE nspname = $1`,
        [o.name],
      );
      return found ? undefined : `version schema "${o.name}" is gone`;
    }
    case 'change':
      return undefined;
  }
}

/**
 * Objects named like tidal's own (new and copy columns, backfill marks, NOT NULL stand-in checks,
 * dual-write triggers) on the tables of `schema`, for when no migration is recorded: left by one
 * whose state is gone (a dropped state schema). Only reported: with no record, tidal cannot tell
 * them from the application's own, and never drops what it did not create.
 */
export async function tidalLookalikes(db: Queryable, schema: string): Promise<string[]> {
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
    [schema, NEEDS_BACKFILL_COLUMN, SYNC_TRIGGER],
  );
  return rows.map((r) => r.what);
}
