/**
 * What `tidal plan` shows before anything runs: every statement of every phase with the lock it
 * takes and whether it reads or rewrites the table, estimates from the tables' statistics of how
 * long the backfill and the scans will take, and the transactions open right now that the
 * first lock would wait for. Built from the same steps start, complete and rollback run.
 */
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

export interface TableStatistics {
  table: string;
  /** pg_class.reltuples (null when never analysed) and the table's size with indexes and TOAST. */
  rows: number | null;
  bytes: number;
}

export interface PlannedBackfill extends TableStatistics {
  /** The columns the backfill walks rows by; empty: by physical location. */
  walkKey: string[];
  columns: string[];
  estimatedSeconds: number | null;
}

export interface OpenTransaction {
  pid: number;
  application: string;
  state: string;
  ageSeconds: number;
  query: string;
  /** Tables of this migration it holds a lock on: ACCESS EXCLUSIVE on them waits for it. */
  locks: { table: string; mode: string }[];
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
    openTransactions: await openTransactions(db, plan.schema, [...tables]),
    obligations: plan.obligations ?? [],
    assumptions: ESTIMATE_RATES,
  };
}

async function tableStatistics(
  db: Queryable,
  schema: string,
  tables: string[],
): Promise<TableStatistics[]> {
  const { rows } = await db.query<{ table: string; rows: number | null; bytes: string }>(
    `SELECT c.relname AS table, CASE WHEN c.reltuples >= 0 THEN c.reltuples::float8 END AS rows,
            pg_total_relation_size(c.oid) AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND c.relkind IN ('r', 'p')`,
    [schema, tables],
  );
  return rows.map((r) => ({ table: r.table, rows: r.rows, bytes: Number(r.bytes) }));
}

/** Transactions of other sessions open longer than a second, and their locks on `tables`. */
async function openTransactions(
  db: Queryable,
  schema: string,
  tables: string[],
): Promise<OpenTransaction[]> {
  const { rows } = await db.query<{
    pid: number;
    application: string;
    state: string;
    age: number;
    query: string;
    locks: { table: string; mode: string }[] | null;
  }>(
    `SELECT a.pid, a.application_name AS application, coalesce(a.state, '') AS state,
            extract(epoch FROM now() - a.xact_start)::float8 AS age, coalesce(a.query, '') AS query,
            (SELECT json_agg(json_build_object('table', c.relname, 'mode', l.mode) ORDER BY c.relname)
               FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE l.pid = a.pid AND l.granted AND n.nspname = $1 AND c.relname = ANY($2::text[])) AS locks
       FROM pg_stat_activity a
      WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL
        AND now() - a.xact_start > make_interval(secs => $3)
      ORDER BY a.xact_start`,
    [schema, tables, OLD_TRANSACTION_SECONDS],
  );
  return rows.map((r) => ({
    pid: r.pid,
    application: r.application,
    state: r.state,
    ageSeconds: r.age,
    query: r.query,
    locks: r.locks ?? [],
  }));
}

/** `AccessExclusive` as PostgreSQL's documentation writes it: `ACCESS EXCLUSIVE`. */
export function lockName(mode: Step['lock']): string {
  return mode === 'none' ? 'no table lock' : mode.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
}
