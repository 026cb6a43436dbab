/** A step is one SQL statement tidal runs, described as data: `plan` prints steps, `start`,
 *  `complete` and `rollback` run the same steps. Steps are stored in the state schema as JSON so
 *  an interrupted command resumes with exactly the statements it planned. */

/** PostgreSQL's table lock modes, weakest first. */
export const LOCK_MODES = [
  'AccessShare',
  'RowShare',
  'RowExclusive',
  'ShareUpdateExclusive',
  'Share',
  'ShareRowExclusive',
  'Exclusive',
  'AccessExclusive',
] as const;
export type LockMode = (typeof LOCK_MODES)[number] | 'none';

export interface TableRef {
  schema: string;
  name: string;
}

/**
 * Something a step of start makes that rollback undoes: an object it creates, or a change it
 * makes to an existing one (`change`, named by what it changes). Rollback runs a step that
 * undoes one only when the state shows the step that made it ran, so it never drops or changes
 * what tidal did not make (a user's column that happens to have the name tidal wanted, a table
 * a raw `sql` operation never got to create).
 */
export interface Undoable {
  kind: 'column' | 'constraint' | 'index' | 'table' | 'trigger' | 'function' | 'schema' | 'change';
  /** The physical table it belongs to, for columns, constraints, triggers and changes. */
  table?: string;
  name: string;
}

/** One string per Undoable, for sets. */
export function undoableKey(u: Undoable): string {
  return JSON.stringify([u.kind, u.table ?? null, u.name]);
}

export interface Step {
  /** Exactly one SQL statement. */
  sql: string;
  /** What the step does, in words, for plan output and progress. */
  summary: string;
  /** The table whose lock the step takes, if any. */
  table?: TableRef;
  /** The strongest lock the step takes on `table`. */
  lock: LockMode;
  /** Whether the statement reads every row (scan) or writes a new copy of the table (rewrite). */
  effect: 'none' | 'scan' | 'rewrite';
  /** False for statements that cannot run inside a transaction block (CONCURRENTLY). */
  transactional: boolean;
  /** Locks the step also takes on other tables (a foreign key locks the referenced table). */
  alsoLocks?: { table: TableRef; lock: LockMode }[];
  /** For CREATE INDEX CONCURRENTLY: the index a failed build leaves invalid, dropped before a retry. */
  invalidIndex?: TableRef;
  /** A step of start: what it makes that rollback undoes. */
  creates?: Undoable[];
  /** A step of rollback: what it undoes; it runs only if start made it. */
  undoes?: Undoable;
}

/** Shorthand for a step that takes a lock on one table. */
export function tableStep(
  table: TableRef,
  lock: LockMode,
  sql: string,
  summary: string,
  extra: TableStepExtra = {},
): Step {
  return { sql, summary, table, lock, effect: 'none', transactional: true, ...extra };
}

/** Options of a table step beyond its lock, SQL and summary. */
export type TableStepExtra = Partial<
  Pick<Step, 'effect' | 'transactional' | 'invalidIndex' | 'alsoLocks' | 'creates' | 'undoes'>
>;

/** `tableStep` bound to one table, for an operation that emits several steps on it. */
export function stepsOn(
  table: TableRef,
): (lock: LockMode, sql: string, summary: string, extra?: TableStepExtra) => Step {
  return (lock, sql, summary, extra = {}) => tableStep(table, lock, sql, summary, extra);
}

/** Shorthand for a step that touches no application table (schemas, views, functions). */
export function catalogStep(
  sql: string,
  summary: string,
  lock: LockMode = 'none',
  extra: Pick<Step, 'creates' | 'undoes'> = {},
): Step {
  return { sql, summary, lock, effect: 'none', transactional: true, ...extra };
}
