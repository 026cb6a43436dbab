import type pg from 'pg';
import type { TableInfo } from '../catalog/types.js';
import { InputError, isConnectionLost, messageOf } from '../errors.js';
import type { Queryable } from '../pg/queryable.js';
import { ident } from '../pg/quote.js';
import { rolledBack } from '../pg/rolled-back.js';
import { identifiersIn } from './expressions.js';

/** Checks sent in one round trip; a failure is then found by halving, a few round trips more. */
const CHECKS_PER_ROUND_TRIP = 500;

interface Check {
  /** A statement that changes nothing (a `SELECT ... LIMIT 0`, a cast of NULL). */
  sql: string;
  /** The message of bad input, from the database's message. */
  describe: (message: string) => string;
}

/**
 * What a plan's checks see besides the live schema, when earlier migrations not run yet come
 * before the planned one (planner/pending.ts): what those will have made by the time it starts.
 */
export interface CheckSetting {
  /** Raw SQL of the earlier migrations that defines types, functions and tables
   *  (planner/raw-sql-footprint.ts). */
  definitions: readonly string[];
  /** Tables the earlier migrations create or change, as they will be. */
  standIns: readonly TableInfo[];
}

/**
 * Raw SQL definitions as a check's transaction runs them: as the SQL will run, in the session's
 * search_path, with function bodies unchecked since they may use tables its migrations create.
 * Each ends its line, so a trailing `-- comment` cannot swallow the `;` after it.
 */
export function definitionStatements(definitions: readonly string[]): string[] {
  if (definitions.length === 0) return [];
  return ['SET LOCAL check_function_bodies = off', ...definitions.map((d) => `${d}\n`)];
}

/** A temporary table of `table`'s columns: unqualified names find it before the application
 *  schema's table of that name. */
export function standInStatement(table: TableInfo): string {
  const columns = table.columns.map((c) => `${ident(c.name)} ${c.type}`);
  return `CREATE TEMPORARY TABLE ${ident(table.name)} (${columns.join(', ')})`;
}

/**
 * The checks planning makes against the live database, as few round trips as it takes. A check
 * whose outcome planning does not depend on (an expression is valid over a row, a type exists)
 * is queued and run with the others in one rolled-back transaction (`run`), before anything is
 * executed; the same statement is checked once. A probe whose answer planning needs is one
 * round trip (`rolledBack`) instead of one per statement.
 *
 * One serves one plan: its answers hold for the catalog and the setting that plan starts from.
 */
export class DatabaseChecks {
  private pending: Check[] = [];
  private readonly queued = new Set<string>();
  private readonly answers = new Map<string, unknown>();
  /** Every transaction's first statements after BEGIN: the setting's definitions and the
   *  search_path. */
  private readonly preamble: string[];
  private readonly standIns: readonly TableInfo[];
  /** Names the definitions use (a function body may read a table that stands in). */
  private definitionNames: Promise<Set<string>> | undefined;

  constructor(
    private readonly db: Queryable,
    /** Unqualified names in checked SQL resolve here first, as in the triggers and views. */
    schema: string,
    private readonly setting?: CheckSetting,
  ) {
    this.preamble = [
      ...definitionStatements(setting?.definitions ?? []),
      `SET LOCAL search_path = ${ident(schema)}, pg_catalog`,
    ];
    this.standIns = setting?.standIns ?? [];
  }

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
   * Runs `statements` in one round trip, in a transaction that is always rolled back, after the
   * preamble, and returns each statement's result. An error is the database's (rolled back as
   * well).
   */
  async rolledBack(statements: string[]): Promise<pg.QueryResult[]> {
    const preamble = [...this.preamble, ...(await this.standInsFor(statements))];
    const results = await rolledBack(this.db, [...preamble, ...statements]);
    return results.slice(preamble.length);
  }

  /** The stand-ins `statements` (or the definitions) name: each costs a temporary table in
   *  every round trip, and most checks name none. Each statement is scanned alone, so one that
   *  does not scan (an unclosed quote) hides no other's names. */
  private async standInsFor(statements: string[]): Promise<string[]> {
    if (this.standIns.length === 0) return [];
    const definitions = this.setting?.definitions ?? [];
    this.definitionNames ??=
      definitions.length > 0 ? identifiersIn(definitions.join('\n')) : Promise.resolve(new Set());
    const named = new Set(await this.definitionNames);
    for (const statement of statements)
      for (const name of await identifiersIn(statement)) named.add(name);
    return this.standIns.filter((t) => named.has(t.name)).map(standInStatement);
  }

  /** The answer of `probe` for `key`, asked of the database once per plan (see the class). */
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
