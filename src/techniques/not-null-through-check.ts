/**
 * NOT NULL without a scan under an exclusive lock: `CHECK (column IS NOT NULL)` goes in NOT
 * VALID and is validated without blocking writes (validated-later.ts), then `SET NOT NULL`
 * (ACCESS EXCLUSIVE) finds the validated check and skips its scan, and the check, no longer
 * needed, is dropped (ACCESS EXCLUSIVE, instant). Every operation that makes a column NOT NULL
 * on a table with rows gets its steps from here.
 */

import { CompleteStage, type OperationSteps } from '../model/operation.js';
import { type Step, type TableRef, tableStep } from '../model/step.js';
import { ident, qualifiedName } from '../pg/quote.js';
import {
  addValidatedLater,
  type LaterConstraint,
  type LaterPlacement,
  type LaterSummaries,
  restoredLater,
} from './validated-later.js';

/** `CHECK (column IS NOT NULL)` under `name`: NOT NULL of a physical column until complete. */
export function notNullStandIn(name: string, column: string): LaterConstraint {
  return { kind: 'check', name, definition: `CHECK (${ident(column)} IS NOT NULL)` };
}

/** The stand-in check and the column it stands in for. */
export interface NotNullTarget {
  /** The stand-in check's name. */
  check: string;
  /** The column's name when the check goes in. */
  column: string;
  /** The column's name when SET NOT NULL runs (complete runs after earlier renames). */
  columnThen: string;
}

/** What SET NOT NULL and the check's drop at the end say in plan output; `ifExists` drops the
 *  check with `IF EXISTS`. */
export interface FinishSummaries {
  setNotNull: string;
  dropCheck: string;
  ifExists?: boolean;
}

/** `SET NOT NULL`, proved by the validated check, then the check's drop. */
export function finishNotNull(table: TableRef, n: NotNullTarget, s: FinishSummaries): Step[] {
  const t = qualifiedName(table.schema, table.name);
  return [
    tableStep(
      table,
      'AccessExclusive',
      `ALTER TABLE ${t} ALTER COLUMN ${ident(n.columnThen)} SET NOT NULL`,
      s.setNotNull,
    ),
    tableStep(
      table,
      'AccessExclusive',
      `ALTER TABLE ${t} DROP CONSTRAINT ${s.ifExists ? 'IF EXISTS ' : ''}${ident(n.check)}`,
      s.dropCheck,
    ),
  ];
}

/** Adds the technique to an operation's steps: the check where `placement` puts it, validated
 *  after the backfill; SET NOT NULL and the check's drop at complete. */
export function addNotNullThroughCheck(
  steps: OperationSteps,
  table: TableRef,
  n: NotNullTarget,
  summaries: LaterSummaries & FinishSummaries,
  placement: LaterPlacement,
): void {
  addValidatedLater(steps, table, notNullStandIn(n.check, n.column), summaries, placement);
  steps.complete.push(
    ...finishNotNull(table, n, summaries).map((step) => ({ stage: CompleteStage.Columns, step })),
  );
}

/** For rollback bringing back a NOT NULL start dropped: the whole technique in a row. */
export function restoredNotNull(
  table: TableRef,
  n: NotNullTarget,
  summaries: LaterSummaries & FinishSummaries,
): Step[] {
  const { add, validate } = restoredLater(table, notNullStandIn(n.check, n.column), summaries);
  return [add, validate, ...finishNotNull(table, n, summaries)];
}
