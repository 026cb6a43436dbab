import type pg from 'pg';
import { InputError, isConnectionLost, messageOf } from '../errors.js';
import type { Queryable } from '../pg/queryable.js';
import { ident } from '../pg/quote.js';

/** Checks sent in one round trip; a failure is then found by halving, a few round trips more. */
const CHECKS_PER_ROUND_TRIP = 500;

interface Check {
  /** A statement that changes nothing (a `SELECT ... LIMIT 0`, a cast of NULL). */
  sql: string;
  /** The message of bad input, from the database's message. */
  describe: (message: string) => string;
}

/**
 * The checks planning makes against the live database, as few round trips as it takes. A check
 * whose outcome planning does not depend on (an expression is valid over a row, a type exists)
 * is queued and run with the others in one rolled-back transaction (`run`), before anything is
 * executed; the same statement is checked once. A probe whose answer planning needs is one
 * round trip (`rolledBack`) instead of one per statement.
 */
export class DatabaseChecks {
  private pending: Check[] = [];
  private readonly queued = new Set<string>();
  private readonly answers = new Map<string, unknown>();

  constructor(
    private readonly db: Queryable,
    /** Unqualified names in checked SQL resolve here first, as in the triggers and views. */
    private readonly schema: string,
  ) {}

  /** Queues a check; `run` reports it, in the order checks were queued. */
  add(sql: string, describe: (message: string) => string): void {
    if (this.queued.has(sql)) return;
    this.queued.add(sql);
    this.pending.push({ sql, describe });
  }

  /** Runs the queued checks; throws the InputError of the first that fails. */
  async run(): Promise<void> {
    const checks = this.pending;
    this.pending = [];
    for (let at = 0; at < checks.length; at += CHECKS_PER_ROUND_TRIP) {
      const failed = await this.firstFailing(checks.slice(at, at + CHECKS_PER_ROUND_TRIP));
      if (failed) throw new InputError(failed.check.describe(failed.message));
    }
  }

  /**
   * Runs `statements` in one round trip, in a transaction that is always rolled back, and
   * returns each statement's result. An error is the database's (rolled back as well).
   */
  async rolledBack(statements: string[]): Promise<pg.QueryResult[]> {
    // A multi-statement string stops at its first error, leaving the transaction to roll back;
    // nothing in it is kept either way.
    const text = [
      'BEGIN',
      `SET LOCAL search_path = ${ident(this.schema)}, pg_catalog`,
      ...statements,
      'ROLLBACK',
    ].join(';\n');
    try {
      const results = (await this.db.query(text)) as unknown as pg.QueryResult[];
      return results.slice(2, 2 + statements.length);
    } catch (error) {
      await this.db.query('ROLLBACK').catch(() => {});
      throw error;
    }
  }

  /** The answer of `probe` for `key`, asked of the database once per plan. */
  async answer<T>(key: string, probe: () => Promise<T>): Promise<T> {
    if (this.answers.has(key)) return this.answers.get(key) as T;
    const value = await probe();
    this.answers.set(key, value);
    return value;
  }

  private async firstFailing(
    checks: Check[],
  ): Promise<{ check: Check; message: string } | undefined> {
    try {
      await this.rolledBack(checks.map((c) => c.sql));
      return undefined;
    } catch (error) {
      if (isConnectionLost(error)) throw error;
      const [only] = checks;
      if (checks.length === 1 && only) return { check: only, message: messageOf(error) };
      const half = Math.ceil(checks.length / 2);
      const failed =
        (await this.firstFailing(checks.slice(0, half))) ??
        (await this.firstFailing(checks.slice(half)));
      // Each passes alone, yet not together: report the database's error as it came.
      if (!failed) throw error;
      return failed;
    }
  }
}
