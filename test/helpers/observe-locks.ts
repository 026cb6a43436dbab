/** Runs a migration's planned steps one at a time and compares the locks each takes, read from
 *  pg_locks inside its transaction, with the locks it declares. */
import { basename } from 'node:path';
import { runBackfill } from '../../src/backfill/run.js';
import { StepRunner } from '../../src/executor/run.js';
import type { LoadedMigration } from '../../src/migration/load.js';
import type { LockMode, Step } from '../../src/model/step.js';
import { ensureStateSchema } from '../../src/state/layout.js';
import { createTestDatabase } from './db.js';
import { otherTableLocks, strongestLock } from './locks.js';
import { withTidal } from './tidal.js';

const STATE_SCHEMA = 'tidal';

export interface ObservedLocks {
  mismatches: string[];
  /** How many steps were observed. */
  checked: number;
  /** Every observed step, with what it declared and what it took. */
  steps: ObservedStep[];
}

export interface ObservedStep {
  label: string;
  step: Step;
  /** The strongest lock it took on its own table. */
  lock: LockMode;
  /** The strongest lock it took on each other table, keyed `schema.table`. */
  others: Record<string, LockMode>;
}

/**
 * Runs every step of the plans of `files` (start, backfill, after backfill, then complete, or
 * rollback with `end: 'rollback'`), one file after the other on a database `setup` made, and
 * compares the strongest lock each takes on its table with `lock`, and on every other table with
 * `alsoLocks`; a table's file node changing means a rewrite the step must declare. Returns the
 * mismatches and how many steps were observed.
 */
export async function observeLocks(
  files: LoadedMigration[],
  setup: string[] = [],
  { end = 'complete' }: { end?: 'complete' | 'rollback' } = {},
): Promise<ObservedLocks> {
  const db = await createTestDatabase();
  for (const sql of setup) await db.query(sql);
  const client = await db.client('lock observer');
  const mismatches: string[] = [];
  const steps: ObservedStep[] = [];
  try {
    await ensureStateSchema(client, STATE_SCHEMA);
    const runner = new StepRunner(client);
    const observe = async (step: Step, label: string) => {
      const target = step.table;
      const before = target
        ? (
            await client.query<{ oid: number | null; file: number | null }>(
              `SELECT c.oid::int AS oid, pg_relation_filenode(c.oid)::int AS file FROM pg_class c
                WHERE c.oid = to_regclass($1)`,
              [`"${target.schema}"."${target.name}"`],
            )
          ).rows[0]
        : undefined;
      let observed: LockMode = 'none';
      let others: Record<string, LockMode> = {};
      let after: number | null = null;
      await runner.run(step, async (tx) => {
        if (!target || !step.transactional) return;
        const oid =
          before?.oid ??
          (
            await tx.query<{ oid: number }>(`SELECT to_regclass($1)::oid::int AS oid`, [
              `"${target.schema}"."${target.name}"`,
            ])
          ).rows[0]?.oid;
        if (!oid) return;
        observed = await strongestLock(client, oid);
        others = await otherTableLocks(client, oid, [STATE_SCHEMA]);
        after =
          (
            await tx.query<{ file: number | null }>(
              'SELECT pg_relation_filenode($1)::int AS file',
              [oid],
            )
          ).rows[0]?.file ?? null;
      });
      if (!target || !step.transactional) return;
      steps.push({ label, step, lock: observed, others });
      const sql = step.sql.slice(0, 120);
      if (observed !== step.lock)
        mismatches.push(`${label}: declares ${step.lock}, took ${observed}: ${sql}`);
      const declared = Object.fromEntries(
        (step.alsoLocks ?? []).map((l) => [`${l.table.schema}.${l.table.name}`, l.lock]),
      );
      for (const table of new Set([...Object.keys(declared), ...Object.keys(others)])) {
        const declares = declared[table] ?? 'none';
        const took = others[table] ?? 'none';
        if (declares !== took)
          mismatches.push(`${label}: declares ${declares} on ${table}, took ${took}: ${sql}`);
      }
      if (before?.file && after && after !== before.file && step.effect !== 'rewrite')
        mismatches.push(`${label}: rewrote the table without saying so: ${sql}`);
    };
    for (const loaded of files) {
      const file = basename(loaded.file);
      const { plan, versionSteps } = await withTidal(db.url, (t) => t.plan(loaded));
      for (const step of [...plan.start, ...versionSteps]) await observe(step, `${file} start`);
      for (const spec of plan.backfills)
        await runBackfill(client, spec, {
          schema: plan.schema,
          stateSchema: STATE_SCHEMA,
          migration: plan.migration,
          batchSize: 1000,
          lockTimeoutMs: 500,
        });
      for (const step of plan.afterBackfill) await observe(step, `${file} after backfill`);
      for (const step of plan[end]) await observe(step, `${file} ${end}`);
      // tidal's complete of the next migration would drop it; its views would hold the tables.
      await client.query(`DROP SCHEMA IF EXISTS "${plan.version.schema}" CASCADE`);
    }
  } finally {
    await db.dispose();
  }
  return { mismatches, checked: steps.length, steps };
}
