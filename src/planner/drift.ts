import {
  columnExists,
  constraintExists,
  functionExists,
  indexState,
  relationExists,
  schemaExists,
  tidalNamedObjects,
  triggerState,
} from '../catalog/objects.js';
import { NEEDS_BACKFILL_COLUMN, SYNC_TRIGGER } from '../model/names.js';
import type { Undoable } from '../model/step.js';
import type { Queryable } from '../pg/queryable.js';
import { qualifiedName } from '../pg/quote.js';
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
  const table = o.table === undefined ? null : qualifiedName(schema, o.table);
  switch (o.kind) {
    case 'column': {
      if (await columnExists(db, table, o.name)) return undefined;
      return o.name === NEEDS_BACKFILL_COLUMN
        ? `the backfill mark column "${o.name}" of table "${o.table}" is gone`
        : `column "${o.name}" of table "${o.table}" is gone: it held the new version's values`;
    }
    case 'constraint': {
      const found = await constraintExists(db, table, o.name);
      return found ? undefined : `constraint "${o.name}" of table "${o.table}" is gone`;
    }
    case 'index': {
      const state = await indexState(db, qualifiedName(schema, o.name));
      if (state === 'valid') return undefined;
      return `index "${o.name}" ${state === 'invalid' ? 'is invalid' : 'is gone'}`;
    }
    case 'table': {
      const found = await relationExists(db, qualifiedName(schema, o.name));
      return found ? undefined : `table "${o.name}" is gone`;
    }
    case 'trigger': {
      const state = await triggerState(db, table, o.name);
      if (state === 'enabled') return undefined;
      const what = o.name === SYNC_TRIGGER ? 'the dual-write trigger' : `trigger "${o.name}"`;
      return `${what} of table "${o.table}" ${state === 'disabled' ? 'is disabled' : 'is gone'}: writes since did not reach the other version's columns`;
    }
    case 'function': {
      const found = await functionExists(db, stateSchema, o.name);
      return found ? undefined : `the dual-write function "${stateSchema}"."${o.name}" is gone`;
    }
    case 'schema': {
      const found = await schemaExists(db, o.name);
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
  return tidalNamedObjects(db, schema, NEEDS_BACKFILL_COLUMN, SYNC_TRIGGER);
}
