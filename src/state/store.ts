import { MADE_A_VERSION } from '../client/live.js';
import { OperationError } from '../errors.js';
import type { Migration } from '../migration/schema.js';
import type { Queryable } from '../pg/queryable.js';
import { ident } from '../pg/quote.js';
import type { MigrationPlan } from '../planner/plan.js';

export type Phase = 'starting' | 'active' | 'completing' | 'completed' | 'rolling_back';

/** How far each phase's stored steps have run, so an interrupted command resumes exactly. */
export interface Progress {
  start?: number;
  versionSchema?: boolean;
  backfill?: boolean;
  afterBackfill?: number;
  complete?: number;
  rollback?: number;
}

/** What the events table records of a migration: each command's beginning or end. */
export type MigrationEventKind = 'start' | 'started' | 'completed' | 'rolled_back' | 'baseline';

/** One command's beginning or end, as the events table records it. */
export interface MigrationEvent {
  at: string;
  migration: string | null;
  kind: MigrationEventKind;
}

/** How a stored step of a migration ran (`step_runs`). */
export interface StepRunRecord {
  migration: string;
  /** The part of the migration it belongs to: start, afterBackfill, complete or rollback. */
  phase: string;
  /** Its index among the steps of that part. */
  step: number;
  summary: string;
  lock: string;
  /** The table it locks, as `schema.name`; null for none. */
  table: string | null;
  startedAt: string | Date;
  ms: number;
  attempts: number;
  waitedMs: number;
}

/** A migration file as the history records it: what `migrate` compares a file with, and what
 *  `pull` writes back. */
export interface AppliedFile {
  name: string;
  checksum: string;
  content: string;
}

/** A migration as the state records it. */
export interface MigrationRecord {
  schema: string;
  name: string;
  versionSchema: string;
  parent: string | null;
  checksum: string;
  content: string;
  plan: MigrationPlan;
  phase: Phase;
  progress: Progress;
  lastError: string | null;
  startedAt: string;
  completedAt: string | null;
  /** The files started as one with this one (`migrate --as-one`), before it in file order;
   *  empty for a migration of one file. The record carries the last file's name and content. */
  members: AppliedFile[];
}

/** Every file `records` applied, in order: each record's members, then its own file. */
export function appliedFiles(records: readonly MigrationRecord[]): AppliedFile[] {
  return records.flatMap((r) => [
    ...r.members,
    { name: r.name, checksum: r.checksum, content: r.content },
  ]);
}

export interface BackfillRecord {
  table: string;
  rowsDone: number;
  rowsTotal: number | null;
  done: boolean;
  updatedAt: string;
  batchSize: number | null;
  rowsPerSecond: number | null;
  /** Why the backfill is slowed or stopped, as of its last batch. */
  throttle: string | null;
  /** Rows the verification pass has checked, and whether it has checked them all. */
  rowsVerified: number;
  verified: boolean;
  /** Workers the last batch ran beside (null before a batch of this tidal ran). */
  workers: number | null;
}

/** SQLSTATE of a table that does not exist. */
const UNDEFINED_TABLE = '42P01';

type BigintColumn = 'rowsDone' | 'rowsTotal' | 'rowsVerified';

// `members` came with layout 5; read-only commands (plan, pull, latest) read a state schema
// they do not upgrade, so it is read through the row's JSON, absent before then.
const COLUMNS = `schema, name, version_schema AS "versionSchema", parent, checksum, content, plan, phase,
  progress, last_error AS "lastError", started_at::text AS "startedAt", completed_at::text AS "completedAt",
  COALESCE(to_jsonb(migrations) -> 'members', '[]') AS members`;

/** Reads and writes tidal's state for one application schema. */
export class StateStore {
  private readonly s: string;

  constructor(
    private readonly db: Queryable,
    readonly stateSchema: string,
    readonly schema: string,
  ) {
    this.s = ident(stateSchema);
  }

  /** The migration started and not yet completed, if any. */
  async active(): Promise<MigrationRecord | undefined> {
    const { rows } = await this.db.query<MigrationRecord>(
      `SELECT ${COLUMNS} FROM ${this.s}.migrations WHERE schema = $1 AND phase <> 'completed'`,
      [this.schema],
    );
    return rows[0];
  }

  async get(name: string): Promise<MigrationRecord | undefined> {
    const { rows } = await this.db.query<MigrationRecord>(
      `SELECT ${COLUMNS} FROM ${this.s}.migrations WHERE schema = $1 AND name = $2`,
      [this.schema, name],
    );
    return rows[0];
  }

  /** The record of a migration this command has recorded (and holds the lock for). */
  async recorded(name: string): Promise<MigrationRecord> {
    const record = await this.get(name);
    if (!record) {
      throw new OperationError(
        `migration "${name}" is not recorded in state schema ${this.s} (removed by hand?)`,
      );
    }
    return record;
  }

  /** The newest migration, active or completed. */
  async latest(): Promise<MigrationRecord | undefined> {
    const { rows } = await this.db.query<MigrationRecord>(
      `SELECT ${COLUMNS} FROM ${this.s}.migrations WHERE schema = $1 AND ${MADE_A_VERSION}
        ORDER BY (phase <> 'completed') DESC, completed_at DESC NULLS LAST, started_at DESC LIMIT 1`,
      [this.schema],
    );
    return rows[0];
  }

  /** Completed migrations, oldest first. */
  async completed(): Promise<MigrationRecord[]> {
    const { rows } = await this.db.query<MigrationRecord>(
      `SELECT ${COLUMNS} FROM ${this.s}.migrations
        WHERE schema = $1 AND phase = 'completed' AND ${MADE_A_VERSION}
        ORDER BY completed_at, started_at`,
      [this.schema],
    );
    return rows;
  }

  /** The baseline (`tidal baseline`), if the schema was adopted from another tool. */
  async baseline(): Promise<MigrationRecord | undefined> {
    const { rows } = await this.db.query<MigrationRecord>(
      `SELECT ${COLUMNS} FROM ${this.s}.migrations WHERE schema = $1 AND NOT (${MADE_A_VERSION})`,
      [this.schema],
    );
    return rows[0];
  }

  /** Whether any migration or baseline is recorded for the schema. */
  async hasHistory(): Promise<boolean> {
    const { rows } = await this.db.query<{ any: boolean }>(
      `SELECT EXISTS (SELECT FROM ${this.s}.migrations WHERE schema = $1) AS any`,
      [this.schema],
    );
    return !!rows[0]?.any;
  }

  /** Records the schema as it is as the starting point `name`: completed, with no version
   *  schema (MADE_A_VERSION), nothing run. */
  async insertBaseline(name: string): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.s}.migrations (schema, name, version_schema, checksum, content, migration, plan, phase, completed_at)
       VALUES ($1, $2, '', '', '', '{"baseline": true}', '{}', 'completed', now())`,
      [this.schema, name],
    );
  }

  async insert(
    record: Omit<MigrationRecord, 'phase' | 'progress' | 'lastError' | 'startedAt' | 'completedAt'>,
    migration: Migration,
  ): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.s}.migrations (schema, name, version_schema, parent, checksum, content, migration, plan, members, phase)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'starting')`,
      [
        record.schema,
        record.name,
        record.versionSchema,
        record.parent,
        record.checksum,
        record.content,
        JSON.stringify(migration),
        JSON.stringify(record.plan),
        JSON.stringify(record.members),
      ],
    );
  }

  async setPhase(name: string, phase: Phase, db: Queryable = this.db): Promise<void> {
    await db.query(
      `UPDATE ${this.s}.migrations SET phase = $3, last_error = NULL, updated_at = now(),
              completed_at = CASE WHEN $3 = 'completed' THEN now() ELSE completed_at END
        WHERE schema = $1 AND name = $2`,
      [this.schema, name, phase],
    );
  }

  /** Records progress; pass the step's transaction as `db` to commit both together. */
  async setProgress(name: string, progress: Progress, db: Queryable = this.db): Promise<void> {
    await db.query(
      `UPDATE ${this.s}.migrations SET progress = progress || $3::jsonb, updated_at = now()
        WHERE schema = $1 AND name = $2`,
      [this.schema, name, JSON.stringify(progress)],
    );
  }

  async setError(name: string, message: string): Promise<void> {
    await this.db.query(
      `UPDATE ${this.s}.migrations SET last_error = $3, updated_at = now() WHERE schema = $1 AND name = $2`,
      [this.schema, name, message],
    );
  }

  /** Forgets a rolled-back migration, its backfill checkpoints and its step runs. */
  async remove(name: string): Promise<void> {
    await this.clearBackfills(name);
    await this.db.query(`DELETE FROM ${this.s}.step_runs WHERE schema = $1 AND migration = $2`, [
      this.schema,
      name,
    ]);
    await this.db.query(`DELETE FROM ${this.s}.migrations WHERE schema = $1 AND name = $2`, [
      this.schema,
      name,
    ]);
  }

  async clearBackfills(name: string): Promise<void> {
    for (const table of ['backfills', 'backfill_segments', 'backfill_control']) {
      await this.db.query(`DELETE FROM ${this.s}.${table} WHERE schema = $1 AND migration = $2`, [
        this.schema,
        name,
      ]);
    }
  }

  async backfills(name: string): Promise<BackfillRecord[]> {
    // bigint columns arrive as text.
    const { rows } = await this.db.query<
      Omit<BackfillRecord, BigintColumn> & {
        rowsDone: string;
        rowsTotal: string | null;
        rowsVerified: string;
      }
    >(
      `SELECT table_name AS "table", rows_done AS "rowsDone", rows_total AS "rowsTotal", done,
              updated_at::text AS "updatedAt", batch_size AS "batchSize",
              rows_per_second AS "rowsPerSecond", throttle,
              rows_verified AS "rowsVerified", verified, workers
         FROM ${this.s}.backfills WHERE schema = $1 AND migration = $2 ORDER BY table_name`,
      [this.schema, name],
    );
    return rows.map((r) => ({
      ...r,
      rowsDone: Number(r.rowsDone),
      rowsTotal: r.rowsTotal === null ? null : Number(r.rowsTotal),
      rowsVerified: Number(r.rowsVerified),
    }));
  }

  async event(migration: string, kind: MigrationEventKind): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.s}.events (schema, migration, kind) VALUES ($1, $2, $3)`,
      [this.schema, migration, kind],
    );
  }

  /** Records how a stored step ran. */
  async logStepRun(run: StepRunRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.s}.step_runs
         (schema, migration, phase, step, summary, lock, table_name, started_at, ms, attempts, waited_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        this.schema,
        run.migration,
        run.phase,
        run.step,
        run.summary,
        run.lock,
        run.table,
        run.startedAt,
        run.ms,
        run.attempts,
        run.waitedMs,
      ],
    );
  }

  /** How the stored steps of `migration` ran, in order. */
  async stepRuns(migration: string): Promise<StepRunRecord[]> {
    // Read by the dashboard, which upgrades nothing: a state schema before layout 6 has none.
    const { rows } = await this.db
      .query<StepRunRecord>(
        `SELECT migration, phase, step, summary, lock, table_name AS "table",
              started_at::text AS "startedAt", ms, attempts, waited_ms AS "waitedMs"
         FROM ${this.s}.step_runs WHERE schema = $1 AND migration = $2 ORDER BY id`,
        [this.schema, migration],
      )
      .catch((error: { code?: string }) => {
        if (error.code === UNDEFINED_TABLE) return { rows: [] };
        throw error;
      });
    return rows;
  }

  /** The newest events of this schema's migrations, newest first. */
  async recentEvents(limit: number): Promise<MigrationEvent[]> {
    const { rows } = await this.db.query<MigrationEvent>(
      `SELECT at::text AS at, migration, kind FROM ${this.s}.events
        WHERE schema = $1 ORDER BY id DESC LIMIT $2`,
      [this.schema, limit],
    );
    return rows;
  }

  /** Whether `name` was rolled back and not started again since (its record is gone then). */
  async wasRolledBack(name: string): Promise<boolean> {
    const { rows } = await this.db.query<{ kind: MigrationEventKind }>(
      `SELECT kind FROM ${this.s}.events WHERE schema = $1 AND migration = $2 ORDER BY id DESC LIMIT 1`,
      [this.schema, name],
    );
    return rows[0]?.kind === 'rolled_back';
  }
}
