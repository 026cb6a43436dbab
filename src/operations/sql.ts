import type { RawSql } from '../migration/operations/sql.js';
import {
  splitStatements,
  statementNeedsNoTransaction,
  tryParseStatements,
} from '../migration/sql-text.js';
import { CompleteStage, emptySteps, type OperationModule } from '../model/operation.js';
import { catalogStep, type Step, type Undoable } from '../model/step.js';
import { undoOfCreate } from '../techniques/raw-sql-undo.js';

/**
 * sql: `up` runs at start (or at complete with onComplete), `down` at rollback. Each statement
 * is its own step: sent alone, never as one multi-statement string, which PostgreSQL would run
 * as one implicit transaction. Without `down`, rollback drops what the CREATE statements of `up`
 * made, newest first; other statements stay. Rollback runs `down` only if some statement of
 * `up` ran, and drops only what a CREATE that ran made.
 */
export const rawSql: OperationModule<RawSql> = {
  async plan(o, ctx) {
    const steps = emptySteps();
    const ran: Undoable = { kind: 'change', name: `${ctx.where}: up` };
    const statement = (i: number): Undoable => ({ kind: 'change', name: `${ctx.where}: up[${i}]` });
    const up = statementSteps(o.up, 'run SQL').map((step, i) => ({
      ...step,
      creates: [ran, statement(i)],
    }));
    if (o.onComplete) {
      steps.complete.push(...up.map((step) => ({ stage: CompleteStage.RawSql, step })));
      return steps;
    }
    steps.start.push(...up);
    if (o.down !== undefined) {
      steps.rollback.push(
        ...statementSteps(o.down, 'undo SQL').map((step) => ({ ...step, undoes: ran })),
      );
    } else {
      const parsed = tryParseStatements(o.up);
      if (typeof parsed !== 'string') {
        const undo = parsed.flatMap(({ node }, i) => {
          const step = undoOfCreate(node);
          return step ? [{ ...step, undoes: statement(i) }] : [];
        });
        steps.rollback.push(...undo.reverse());
      }
    }
    return steps;
  },
};

function statementSteps(sql: string, summary: string): Step[] {
  return splitStatements(sql).map((statement) => ({
    ...catalogStep(statement, summary),
    transactional: !statementNeedsNoTransaction(statement),
  }));
}
