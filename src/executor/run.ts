import type pg from 'pg';
import { LockTimeoutError, OperationError } from '../errors.js';
import type { Queryable } from '../pg/queryable.js';
import { ident, literal } from '../pg/quote.js';
import { backoffDelay, sleep } from './backoff.js';
import type { Step, TableRef } from './step.js';
import { SAMPLE_SIZE, sampleViolations } from './violations.js';

export interface LockPolicy {
  /** How long one statement may wait for a lock (`lock_timeout`). */
  lockTimeoutMs: number;
  /** How long a step keeps retrying after lock timeouts before tidal gives up. */
  retryDeadlineMs: number;
}

export const DEFAULT_LOCK_POLICY: LockPolicy = { lockTimeoutMs: 500, retryDeadlineMs: 120_000 };

export type StepEvent =
  | { type: 'step-start'; step: Step }
  | { type: 'step-done'; step: Step; ms: number; attempts: number }
  | { type: 'lock-retry'; step: Step; attempt: number; waitMs: number; blockers: Blocker[] };

/** A session that held a lock tidal waited for. */
export interface Blocker {
  pid: number;
  applicationName: string;
  state: string | null;
  transactionStart: string | null;
  queryStart: string | null;
  query: string;
  mode: string | null;
}

const LOCK_NOT_AVAILABLE = '55P03';
const DEADLOCK_DETECTED = '40P01';

/** Runs steps one statement at a time on a dedicated connection, each with `lock_timeout`,
 *  retrying lock timeouts with jittered exponential backoff until a deadline. */
export class StepRunner {
  constructor(
    private readonly client: pg.Client,
    private readonly policy: LockPolicy = DEFAULT_LOCK_POLICY,
    private readonly onEvent: (event: StepEvent) => void = () => {},
  ) {}

  /**
   * Runs one step. `record` runs after the statement: in the same transaction for transactional
   * steps (so the statement and the record of it commit together), right after it otherwise.
   */
  async run(step: Step, record?: (db: Queryable) => Promise<void>): Promise<void> {
    this.onEvent({ type: 'step-start', step });
    const started = Date.now();
    const deadline = started + this.policy.retryDeadlineMs;
    let lastBlockers: Blocker[] = [];
    for (let attempt = 1; ; attempt++) {
      try {
        if (step.transactional) await this.runInTransaction(step, record);
        else await this.runAlone(step, record);
        this.onEvent({ type: 'step-done', step, ms: Date.now() - started, attempts: attempt });
        return;
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code !== LOCK_NOT_AVAILABLE && code !== DEADLOCK_DETECTED) {
          throw stepFailure(step, error);
        }
        if (step.invalidIndex) await this.dropIfInvalid(step.invalidIndex);
        lastBlockers = await this.blockers(step.table);
        const waitMs = backoffDelay(attempt - 1);
        if (Date.now() + waitMs > deadline) {
          throw new LockTimeoutError(lockGiveUpMessage(step, attempt, this.policy, lastBlockers));
        }
        this.onEvent({ type: 'lock-retry', step, attempt, waitMs, blockers: lastBlockers });
        await sleep(waitMs);
      }
    }
  }

  private async runInTransaction(
    step: Step,
    record?: (db: Queryable) => Promise<void>,
  ): Promise<void> {
    await this.client.query('BEGIN');
    try {
      await this.client.query(`SET LOCAL lock_timeout = ${this.policy.lockTimeoutMs}`);
      await this.client.query(step.sql);
      if (record) await record(this.client);
      await this.client.query('COMMIT');
    } catch (error) {
      await this.client.query('ROLLBACK').catch(() => {});
      throw await this.withSample(step, error);
    }
  }

  private async runAlone(step: Step, record?: (db: Queryable) => Promise<void>): Promise<void> {
    await this.client.query(`SET lock_timeout = ${this.policy.lockTimeoutMs}`);
    try {
      await this.client.query(step.sql);
    } catch (error) {
      // Before the failed index is dropped: the sample reads its columns.
      await this.withSample(step, error);
      if (step.invalidIndex) await this.dropIfInvalid(step.invalidIndex).catch(() => {});
      throw error;
    } finally {
      await this.client.query('RESET lock_timeout').catch(() => {});
    }
    if (record) await record(this.client);
  }

  /** Names rows that break the constraint a failed step was validating (see violations.ts). */
  private async withSample(step: Step, error: unknown): Promise<unknown> {
    if (step.table && typeof error === 'object' && error !== null) {
      const offending = await sampleViolations(this.client, step.table, error);
      if (offending.length > 0) Object.assign(error, { offending });
    }
    return error;
  }

  /** A failed CREATE INDEX CONCURRENTLY leaves an invalid index that still slows writes. */
  private async dropIfInvalid(index: TableRef): Promise<void> {
    const { rows } = await this.client.query<{ valid: boolean }>(
      `SELECT i.indisvalid AS valid FROM pg_index i
        WHERE i.indexrelid = to_regclass(${literal(`${ident(index.schema)}.${ident(index.name)}`)})`,
    );
    if (rows[0] && !rows[0].valid) {
      await this.client.query(
        `DROP INDEX CONCURRENTLY IF EXISTS ${ident(index.schema)}.${ident(index.name)}`,
      );
    }
  }

  /** Sessions holding a lock on the table (or, with no table, the oldest open transactions). */
  private async blockers(table: TableRef | undefined): Promise<Blocker[]> {
    const columns = `a.pid, coalesce(a.application_name, '') AS "applicationName", a.state,
        a.xact_start::text AS "transactionStart", a.query_start::text AS "queryStart",
        left(a.query, 200) AS query`;
    const sql = table
      ? // Oldest transaction first: the long-running holder, not the busy short ones.
        `SELECT * FROM (
           SELECT DISTINCT ON (a.pid) ${columns}, l.mode, a.xact_start
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid()
              AND l.relation = to_regclass(${literal(`${ident(table.schema)}.${ident(table.name)}`)})
            ORDER BY a.pid) holders
          ORDER BY xact_start NULLS LAST LIMIT 5`
      : `SELECT ${columns}, NULL AS mode FROM pg_stat_activity a
          WHERE a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL
            AND a.datname = current_database()
          ORDER BY a.xact_start LIMIT 5`;
    try {
      const { rows } = await this.client.query<Blocker>(sql);
      return rows;
    } catch {
      return [];
    }
  }
}

function describeBlocker(b: Blocker): string {
  const parts = [`pid ${b.pid}`];
  if (b.applicationName) parts.push(`application "${b.applicationName}"`);
  if (b.state) parts.push(`state ${b.state}`);
  if (b.transactionStart) parts.push(`transaction started ${b.transactionStart}`);
  if (b.queryStart) parts.push(`query started ${b.queryStart}`);
  if (b.mode) parts.push(`holds ${b.mode}`);
  if (b.query) parts.push(`last query: ${b.query.replace(/\s+/g, ' ').trim()}`);
  return parts.join(', ');
}

function lockGiveUpMessage(
  step: Step,
  attempts: number,
  policy: LockPolicy,
  blockers: Blocker[],
): string {
  const target = step.table ? ` on ${ident(step.table.schema)}.${ident(step.table.name)}` : '';
  const held =
    blockers.length > 0
      ? `; blocked by ${blockers.map(describeBlocker).join('; ')}`
      : '; the blocking session had ended by the time tidal looked';
  return (
    `could not obtain the lock${target} within ${Math.round(policy.retryDeadlineMs / 1000)}s ` +
    `(${attempts} attempts, lock_timeout ${policy.lockTimeoutMs}ms) for: ${step.sql}${held}`
  );
}

function stepFailure(step: Step, error: unknown): OperationError {
  const e = error as { message?: string; detail?: string; hint?: string; offending?: string[] };
  const detail = [e.detail, e.hint].filter(Boolean).join(' ');
  const rows = e.offending?.length
    ? `\n  rows that break it: ${e.offending.join('; ')}${e.offending.length === SAMPLE_SIZE ? ', ...' : ''}`
    : '';
  return new OperationError(
    `${step.summary} failed: ${e.message ?? String(error)}${detail ? ` (${detail})` : ''}${rows}\n  statement: ${step.sql}`,
    { cause: error },
  );
}
