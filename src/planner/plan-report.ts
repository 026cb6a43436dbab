/**
 * What `tidal plan` shows before anything runs: every statement of every phase with the lock it
 * takes and whether it reads or rewrites the table, estimates from the tables' statistics of how
 * long the backfill and the scans will take, and the transactions open right now that the
 * first lock would wait for. Built from the same steps start, complete and rollback run.
 */
import { type OpenTransaction, openTransactions } from '../catalog/activity.js';
import { type TableStatistics, tableStatistics } from '../catalog/statistics.js';
import type { Step } from '../model/step.js';
import type { Queryable } from '../pg/queryable.js';
import type { Obligation } from './obligations.js';
import type { MigrationPlan, OperationPath } from './plan.js';

/** Assumed speeds for the estimates; `npm run bench:backfill` measures a machine's own. */
export const ESTIMATE_RATES = {
  backfillRowsPerSecond: 100_000,
  scanBytesPerSecond: 200 * 2 ** 20,
} as const;

/** Transactions older than this are reported: the first lock of start may wait for them. */
const OLD_TRANSACTION_SECONDS = 1;

export type PlanPhase =
  | 'start'
  | 'version schema'
  | 'backfill'
  | 'after backfill'
  | 'complete'
  | 'rollback';

export interface PlannedStep extends Step {
  phase: PlanPhase;
  /** Rough duration of a scan or rewrite from the table's size; null when it does not scan. */
  estimatedSeconds: number | null;
}

export interface PlannedBackfill extends TableStatistics {
  /** The columns the backfill walks rows by; empty: by physical location. */
  walkKey: string[];
  columns: string[];
  estimatedSeconds: number | null;
}

export interface PlanReport {
  migration: string;
  schema: string;
  versionSchema: string;
  paths: OperationPath[];
  steps: PlannedStep[];
  backfills: PlannedBackfill[];
  openTransactions: OpenTransaction[];
  /** What each version sees and must do while the migration is active, and after. */
  obligations: Obligation[];
  assumptions: typeof ESTIMATE_RATES;
  /** What the connected role lacks to run it (start refuses until it has it). */
  missingPrivileges?: string[];
}

/** The report of `plan`: its steps in the order they run, with estimates and open transactions. */
export async function planReport(
  db: Queryable,
  plan: MigrationPlan,
  versionSteps: Step[],
): Promise<PlanReport> {
  // In the order they run.
  const phases: [PlanPhase, Step[]][] = [
    ['start', plan.start],
    ['version schema', versionSteps],
    ['after backfill', plan.afterBackfill],
    ['complete', plan.complete],
    ['rollback', plan.rollback],
  ];
  const tables = new Set<string>(plan.backfills.map((b) => b.table));
  for (const [, list] of phases)
    for (const step of list) if (step.table?.schema === plan.schema) tables.add(step.table.name);
  const statistics = new Map(
    (await tableStatistics(db, plan.schema, [...tables])).map((s) => [s.table, s]),
  );
  const sizeOf = (table: string) => statistics.get(table)?.bytes ?? 0;
  const steps: PlannedStep[] = phases.flatMap(([phase, list]) =>
    list.map((step) => ({
      ...step,
      phase,
      estimatedSeconds:
        step.effect === 'none' || !step.table
          ? null
          : sizeOf(step.table.name) / ESTIMATE_RATES.scanBytesPerSecond,
    })),
  );

  return {
    migration: plan.migration,
    schema: plan.schema,
    versionSchema: plan.version.schema,
    paths: plan.paths ?? [],
    steps,
    backfills: plan.backfills.map((b) => {
      const stats = statistics.get(b.table) ?? {
        table: b.table,
        rows: null,
        bytes: 0,
      };
      return {
        ...stats,
        walkKey: b.key,
        columns: b.set.map((s) => s.name ?? s.column),
        estimatedSeconds:
          stats.rows === null ? null : stats.rows / ESTIMATE_RATES.backfillRowsPerSecond,
      };
    }),
    openTransactions: await openTransactions(db, plan.schema, [...tables], OLD_TRANSACTION_SECONDS),
    obligations: plan.obligations ?? [],
    assumptions: ESTIMATE_RATES,
  };
}

/** `AccessExclusive` as PostgreSQL's documentation writes it: `ACCESS EXCLUSIVE`. */
export function lockName(mode: Step['lock']): string {
  return mode === 'none' ? 'no table lock' : mode.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
}
