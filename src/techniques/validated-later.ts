/**
 * The one way tidal adds a check or foreign key to a table with rows and traffic: `ADD
 * CONSTRAINT ... NOT VALID` (a short lock, no scan: rows written from then on must satisfy it),
 * `VALIDATE CONSTRAINT` once every row is filled (a scan that blocks neither reads nor writes),
 * and `DROP CONSTRAINT IF EXISTS` when rollback undoes it. NOT NULL goes in the same way, as a
 * check that stands in for it until SET NOT NULL (not-null-through-check.ts).
 *
 * Every operation that uses the technique gets its steps from here, so each statement declares
 * the same locks wherever it comes from.
 */

import type { OperationSteps } from '../model/operation.js';
import type { LockMode, Step, TableRef, Undoable } from '../model/step.js';
import { tableStep } from '../model/step.js';
import { ident, qualifiedName } from '../pg/quote.js';

/** What decides a constraint's locks: a foreign key locks the table it references too. */
export type ConstraintKind = { kind: 'check' } | { kind: 'foreign_key'; referenced: TableRef };

/** A constraint as `ADD CONSTRAINT <name> <definition>` takes it. */
export type LaterConstraint = ConstraintKind & { name: string; definition: string };

/** The steps of the technique: `add` makes the constraint, `drop` undoes it. */
export interface ValidatedLater {
  add: Step;
  validate: Step;
  drop: Step;
}

/** What the steps say in plan output: `what` names the constraint ("check \"positive\""); each
 *  step's summary can be given in full instead. */
export interface LaterSummaries {
  what: string;
  add?: string;
  validate?: string;
  drop?: string;
}

/** The statements of the technique. */
export type LaterStatement = keyof ValidatedLater;

/**
 * The locks each statement takes, as observed in pg_locks on PostgreSQL 15 (and checked by
 * test/integration/foreign-key-locks.test.ts): on the table, and on the table a foreign key
 * references. Validating a foreign key reads the referenced table for every row under ROW SHARE;
 * dropping one removes its triggers from both tables under ACCESS EXCLUSIVE.
 */
const LOCKS: Record<
  LaterConstraint['kind'],
  Record<LaterStatement, { table: LockMode; referenced?: LockMode }>
> = {
  check: {
    add: { table: 'AccessExclusive' },
    validate: { table: 'ShareUpdateExclusive' },
    drop: { table: 'AccessExclusive' },
  },
  foreign_key: {
    add: { table: 'ShareRowExclusive', referenced: 'ShareRowExclusive' },
    validate: { table: 'ShareUpdateExclusive', referenced: 'RowShare' },
    drop: { table: 'AccessExclusive', referenced: 'AccessExclusive' },
  },
};

/** The locks `statement` takes on `table` for constraint `c`, as a step declares them. */
export function constraintLocks(
  statement: LaterStatement,
  table: TableRef,
  c: ConstraintKind,
): Pick<Step, 'lock' | 'alsoLocks'> {
  const locks = LOCKS[c.kind][statement];
  // A key that references its own table locks just that one table.
  if (c.kind === 'check' || locks.referenced === undefined || sameTable(c.referenced, table))
    return { lock: locks.table };
  return { lock: locks.table, alsoLocks: [{ table: c.referenced, lock: locks.referenced }] };
}

function sameTable(a: TableRef, b: TableRef): boolean {
  return a.schema === b.schema && a.name === b.name;
}

/** The three statements with their locks, recording nothing yet. */
function statements(table: TableRef, c: LaterConstraint, s: LaterSummaries): ValidatedLater {
  const t = qualifiedName(table.schema, table.name);
  const name = ident(c.name);
  const step = (
    statement: LaterStatement,
    sql: string,
    summary: string,
    effect: Step['effect'],
  ) => {
    const { lock, alsoLocks } = constraintLocks(statement, table, c);
    return tableStep(table, lock, sql, summary, { effect, ...(alsoLocks ? { alsoLocks } : {}) });
  };
  return {
    add: step(
      'add',
      `ALTER TABLE ${t} ADD CONSTRAINT ${name} ${c.definition} NOT VALID`,
      s.add ?? `add ${s.what} for new rows`,
      'none',
    ),
    validate: step(
      'validate',
      `ALTER TABLE ${t} VALIDATE CONSTRAINT ${name}`,
      s.validate ?? `validate ${s.what}`,
      'scan',
    ),
    drop: step(
      'drop',
      `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${name}`,
      s.drop ?? `drop ${s.what}`,
      'none',
    ),
  };
}

/** The technique's steps for a constraint start makes: `add` records it, `drop` undoes only
 *  what `add` made. */
export function validatedLater(
  table: TableRef,
  c: LaterConstraint,
  summaries: LaterSummaries,
): ValidatedLater {
  const { add, validate, drop } = statements(table, c, summaries);
  const made: Undoable = { kind: 'constraint', table: table.name, name: c.name };
  return { add: { ...add, creates: [made] }, validate, drop: { ...drop, undoes: made } };
}

/** Where an operation's steps go. */
export interface LaterPlacement {
  /** `start` on columns both versions write as they are; `afterSync` on columns the dual-write
   *  trigger fills, once it does. Validation always follows the backfill. */
  add: 'start' | 'afterSync';
  /** `rollbackFirst` for a check on a column the dual-write trigger fills: it may reject the
   *  NULL the column gets once the trigger is gone. `rollback` otherwise, before the column's
   *  own drop. */
  drop: 'rollback' | 'rollbackFirst';
}

/** Adds the technique's steps for `c` to an operation's steps. */
export function addValidatedLater(
  steps: OperationSteps,
  table: TableRef,
  c: LaterConstraint,
  summaries: LaterSummaries,
  placement: LaterPlacement,
): void {
  const drop =
    summaries.drop ??
    (placement.drop === 'rollbackFirst'
      ? `drop ${summaries.what} before the dual-write trigger goes`
      : undefined);
  const later = validatedLater(table, c, { ...summaries, drop });
  steps[placement.add].push(later.add);
  steps.afterBackfill.push(later.validate);
  steps[placement.drop].push(later.drop);
}

/** For rollback bringing back a constraint start removed: add it NOT VALID, then validate.
 *  Nothing to record: rollback steps make nothing a later rollback undoes. */
export function restoredLater(
  table: TableRef,
  c: LaterConstraint,
  summaries: LaterSummaries,
): Pick<ValidatedLater, 'add' | 'validate'> {
  const { add, validate } = statements(table, c, summaries);
  return { add, validate };
}
