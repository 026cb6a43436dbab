import { catalogStep, type Step } from '../executor/step.js';
import type { RawSql } from '../migration/schema.js';
import {
  splitStatements,
  statementNeedsNoTransaction,
  tryParseStatements,
} from '../migration/sql-text.js';
import { undoOfCreate } from './raw-sql-undo.js';
import { CompleteStage, emptySteps, type OperationModule } from './types.js';

/**
 * sql: `up` runs at start (or at complete with onComplete), `down` at rollback. Each statement
 * is its own step: sent alone, never as one multi-statement string, which PostgreSQL would run
 * as one implicit transaction. Without `down`, rollback drops what the CREATE statements of `up`
 * made, newest first; other statements stay.
 */
export const rawSql: OperationModule<RawSql> = {
  async plan(o) {
    const steps = emptySteps();
    const up = statementSteps(o.up, 'run SQL');
    if (o.onComplete) {
      steps.complete.push(...up.map((step) => ({ stage: CompleteStage.RawSql, step })));
    } else {
      steps.start.push(...up);
    }
    if (o.down !== undefined) steps.rollback.push(...statementSteps(o.down, 'undo SQL'));
    else if (!o.onComplete) steps.rollback.push(...undoOfCreates(o.up));
    return steps;
  },
};

function statementSteps(sql: string, summary: string): Step[] {
  return splitStatements(sql).map((statement) => ({
    ...catalogStep(statement, summary),
    transactional: !statementNeedsNoTransaction(statement),
  }));
}

function undoOfCreates(sql: string): Step[] {
  const parsed = tryParseStatements(sql);
  if (typeof parsed === 'string') return [];
  return parsed
    .map(({ node }) => undoOfCreate(node))
    .filter((step): step is Step => step !== undefined)
    .reverse();
}
